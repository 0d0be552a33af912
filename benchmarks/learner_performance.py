"""On-chip learner performance at the default size (64-32-10, T=16, C=10) on digits samples.

Measures cycles per training sample and per inference in simulation (the gateware's own cycle
counter), converts them to samples/s at the board clock and at the achieved Fmax (read from
``build/<board>/report.json`` when ``make bitstream`` has run), compares with the DSP-bound
limit (dense operations / multipliers), and times both simulators on the same samples.
``python benchmarks/learner_performance.py [--samples 6]``.
"""

import argparse
import json
import statistics
import sys
import time

import torch
from _common import ROOT, print_table, write_json

sys.path.insert(0, str(ROOT / "tests"))

from blocks import check_learner  # noqa: E402
from cosim.runner import run_cocotb  # noqa: E402
from cosim.vectors import learner_vectors  # noqa: E402
from hw.formats import DEFAULT_NETWORK as NET  # noqa: E402
from hw.learner import LearnerCore  # noqa: E402
from loco_sw.data import load_digits_split  # noqa: E402
from loco_sw.train import to_intensity  # noqa: E402

# device, board clock, one update unit shared by the layers (as boards/build.py builds it)
BOARDS = {"icebreaker": ("iCE40UP5K", 12.0, True), "ulx3s-85f": ("ECP5-85F", 25.0, False)}


def dense_operations(config) -> dict:
    """Multiply-accumulates of one training sample if every synapse were computed densely."""
    layers = list(zip(config.sizes[:-1], config.sizes[1:], strict=True))
    forward = sum((n + 1) * m for n, m in layers) * config.timesteps
    projection = sum(2 * (config.clusters + 1) * (n + 1) for n, _ in layers)
    update = sum((n + 1) * m for n, m in layers)
    return {"forward_pass": forward, "projection": projection, "update": update,
            "delta": config.sizes[-1],
            "training_sample": 2 * forward + projection + update + config.sizes[-1],
            "inference": forward}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=6)
    args = parser.parse_args()
    x, y, _, _ = load_digits_split()
    data = (to_intensity(x[:args.samples]), y[:args.samples])
    vectors = learner_vectors(NET, samples=args.samples, seed=0, refresh=3, data=data)

    started = time.perf_counter()
    cycles = {False: check_learner(NET, vectors, name="performance", infer_every=1)}
    amaranth_s = time.perf_counter() - started
    cycles[True] = check_learner(NET, vectors, name="performance-shared", shared_update=True)
    env = {"LOCO_CONFIG": NET.to_json(), "LOCO_LAYER": "0", "LOCO_SEED": "0",
           "LOCO_COUNT": str(args.samples), "LOCO_REFRESH": "3",
           "COCOTB_TEST_FILTER": "learner_matches_golden"}
    started = time.perf_counter()
    run_cocotb(LearnerCore(NET), toplevel="learner", bench="cosim.tb_blocks", tag="perf",
               extra_env=env)
    cocotb_s = time.perf_counter() - started

    infer_cycles = statistics.fmean(cycles[False]["infer"])
    ops = dense_operations(NET)
    rows, boards = [], {}
    for board, (device, clock, shared) in BOARDS.items():
        train_cycles = statistics.fmean(cycles[shared]["train"])
        report = ROOT / "build" / board / "report.json"
        built = json.loads(report.read_text()) if report.exists() else None
        fmax = min(built["fmax_mhz"].values()) if built else None
        multipliers = 0
        if built:
            use = built["utilisation"]
            multipliers = use.get("MULT18X18D", use.get("ICESTORM_DSP", {})).get("used", 0)
        bound = ops["training_sample"] / multipliers if multipliers else None
        boards[board] = {"device": device, "clock_mhz": clock, "fmax_mhz": fmax,
                         "shared_update": shared, "train_cycles": cycles[shared]["train"],
                         "multipliers": multipliers or None,
                         "train_samples_per_s_at_clock": clock * 1e6 / train_cycles,
                         "train_samples_per_s_at_fmax": fmax * 1e6 / train_cycles
                         if fmax else None,
                         "dsp_bound_cycles": bound,
                         "cycles_over_dsp_bound": train_cycles / bound if bound else None}
        rows.append([board, "shared" if shared else "per layer", f"{train_cycles:.0f}",
                     f"{clock:g}", f"{fmax:.1f}" if fmax else "not built",
                     f"{clock * 1e6 / train_cycles:.0f}",
                     f"{fmax * 1e6 / train_cycles:.0f}" if fmax else "-",
                     multipliers or "-", f"{bound:.0f}" if bound else "-",
                     f"{train_cycles / bound:.1f}" if bound else "-"])
    print(f"cycles per inference {infer_cycles:.0f}; dense operations per training sample "
          f"{ops['training_sample']}")
    print_table(["board", "update units", "cycles/sample", "clock MHz", "Fmax MHz",
                 "samples/s @clock", "samples/s @Fmax", "multipliers", "DSP-bound cycles",
                 "cycles / bound"], rows)
    per_sample = {"amaranth": amaranth_s / args.samples, "cocotb_icarus": cocotb_s / args.samples}
    print(f"simulation: Amaranth {1 / per_sample['amaranth']:.2f} samples/s, cocotb+Icarus "
          f"{1 / per_sample['cocotb_icarus']:.2f} samples/s (each including an inference, a "
          f"full weight read-back per sample and, for cocotb, the Icarus build)")
    write_json("learner_performance", {
        "network": list(NET.sizes), "timesteps": NET.timesteps, "clusters": NET.clusters,
        "samples": args.samples, "infer_cycles": cycles[False]["infer"],
        "dense_operations": ops, "boards": boards,
        "simulation_samples_per_s": {k: 1 / v for k, v in per_sample.items()}})


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
