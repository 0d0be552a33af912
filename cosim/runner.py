"""Amaranth -> Verilog -> cocotb on Icarus Verilog, driven from pytest."""

import os
from pathlib import Path

from amaranth.back import verilog
from cocotb_tools.runner import get_runner


__all__ = ["BUILD_ROOT", "run_cocotb"]

BUILD_ROOT = Path(__file__).resolve().parent.parent / "build" / "cosim"

# cocotb's own waveform helper is SystemVerilog, which `-g2005` rejects; dump with this instead.
_DUMP_MODULE = """\
module loco_dump();
  initial begin
    $dumpfile("{toplevel}.vcd");
    $dumpvars(0, {toplevel});
  end
endmodule
"""


def run_cocotb(dut, *, toplevel: str, bench: str, tag: str, extra_env=None, waves=None):
    """Convert ``dut`` to Verilog module ``toplevel`` and run the cocotb module ``bench`` on it.

    Each ``tag`` gets its own build directory (``build/cosim/<toplevel>-<tag>``). A failing cocotb
    test makes this raise. ``LOCO_WAVES=1`` (or ``waves=True``) dumps ``<toplevel>.vcd`` there.
    """
    if waves is None:
        waves = os.environ.get("LOCO_WAVES") == "1"
    build_dir = BUILD_ROOT / f"{toplevel}-{tag}"
    build_dir.mkdir(parents=True, exist_ok=True)
    sources = [build_dir / f"{toplevel}.v"]
    sources[0].write_text(verilog.convert(dut, name=toplevel, emit_src=False))

    # Amaranth's `always @*` blocks only settle at time 0 under Verilog-2005 rules, not with
    # cocotb's default `-g2012` (amaranth-lang/amaranth#1629, steveicarus/iverilog#301).
    build_args = ["-g2005"]
    if waves:
        sources.append(build_dir / "loco_dump.v")
        sources[-1].write_text(_DUMP_MODULE.format(toplevel=toplevel))
        build_args += ["-s", "loco_dump"]

    runner = get_runner("icarus")
    runner.build(sources=sources, hdl_toplevel=toplevel, build_dir=build_dir, always=True,
                 build_args=build_args, timescale=("1ns", "1ps"))  # Amaranth emits no `timescale
    results = runner.test(hdl_toplevel=toplevel, test_module=bench, build_dir=build_dir,
                          test_dir=build_dir, extra_env=dict(extra_env or {}))
    return results
