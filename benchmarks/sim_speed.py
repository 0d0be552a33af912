"""Simulation speed of the LIF core: Amaranth's simulator vs cocotb on Icarus, same vectors.

Writes ``build/benchmarks/sim_speed.json``. Figures include each simulator's start-up (Verilog
conversion + Icarus compile + torch import for cocotb), measured in the same run.
"""

import dataclasses
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from blocks import check_lif  # noqa: E402
from cosim.runner import run_cocotb  # noqa: E402
from cosim.vectors import lif_vectors  # noqa: E402
from hw.formats import DEFAULT_NETWORK  # noqa: E402
from hw.neuron import LIFCore  # noqa: E402

SMALL = dataclasses.replace(DEFAULT_NETWORK, sizes=(12, 6, 3), timesteps=8, clusters=3)


def main():
    results = {}
    for passes in (50, 200):
        vectors = lif_vectors(SMALL, 0, passes=passes, seed=0x10C0)
        steps = len(vectors["steps"])
        started = time.perf_counter()
        check_lif(SMALL, 0, vectors, name="bench")
        amaranth = time.perf_counter() - started
        env = {"LOCO_CONFIG": SMALL.to_json(), "LOCO_LAYER": "0", "LOCO_SEED": str(0x10C0),
               "LOCO_COUNT": str(passes), "COCOTB_TEST_FILTER": "lif_core_matches_golden"}
        started = time.perf_counter()
        run_cocotb(LIFCore(SMALL, 0), toplevel="lif_core", bench="cosim.tb_blocks",
                   tag="bench", extra_env=env)
        cocotb = time.perf_counter() - started
        results[passes] = {"steps": steps, "amaranth_s": round(amaranth, 2),
                           "cocotb_icarus_s": round(cocotb, 2),
                           "amaranth_steps_per_s": round(steps / amaranth, 1),
                           "cocotb_steps_per_s": round(steps / cocotb, 1)}
        print(f"{steps:5d} time steps (x6 neurons): Amaranth {amaranth:6.2f} s "
              f"({steps / amaranth:7.1f}/s)   cocotb+Icarus {cocotb:6.2f} s "
              f"({steps / cocotb:7.1f}/s)   ratio {cocotb / amaranth:.2f}", flush=True)
    out = ROOT / "build" / "benchmarks" / "sim_speed.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
