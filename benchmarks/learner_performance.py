"""On-chip learner performance at the default size (64-32-10, T=16, C=10) on digits.

Trains one whole digits epoch (shuffled, host basis refresh every 64 samples) on the learner
compiled by Verilator, reading each TRAIN reply's cycle count (the gateware's own counter), then
INFERs the test set; converts the epoch averages to samples/s at the board clock and at the
achieved Fmax (read from ``build/<board>/report.json`` when ``make bitstream`` has run) and
compares with the DSP-bound limit (dense operations / multipliers).
``python benchmarks/learner_performance.py [--limit N]``.
"""

import argparse
import json
import statistics

import torch
from _common import ROOT, print_table, write_json

from cosim.lockstep import epoch_stream, load_weights
from cosim.verilator import VerilatorTransport
from hw.formats import DEFAULT_NETWORK as NET
from hw.formats import ENCODER_SEED, TEST_INDEX_BASE
from loco_sw.data import load_digits_split
from loco_sw.golden import init_state, sample_seed
from loco_sw.host import LearnerHost
from loco_sw.train import to_intensity

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


def measure(shared: bool, data, limit) -> dict:
    """Cycles of every training sample of one epoch and of every test inference."""
    x, y, xt, _ = data
    host = LearnerHost(VerilatorTransport(NET, shared_update=shared), NET)
    host.ping()
    load_weights(host, init_state(NET, seed=1))
    train = []
    for step, intensity, label in epoch_stream(x, y, torch.Generator().manual_seed(1), 0, limit):
        if step % 64 == 0:
            host.refresh_bases()
        train.append(host.train_sample(step, intensity.tolist(), label)["cycles"])
    infer = []
    for k, intensity in enumerate(xt[:limit]):
        host.write_input(intensity.tolist())
        infer.append(host.infer(sample_seed(ENCODER_SEED, TEST_INDEX_BASE + k))["cycles"])
    return {"train": train, "infer": infer}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None,
                        help="samples per phase (default: the whole epoch and test set)")
    args = parser.parse_args()
    x, y, xt, yt = load_digits_split()
    data = (to_intensity(x), y, to_intensity(xt), yt)
    cycles = {shared: measure(shared, data, args.limit) for shared in (False, True)}

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
                         "shared_update": shared, "train_cycles_mean": train_cycles,
                         "train_cycles_min_max": [min(cycles[shared]["train"]),
                                                  max(cycles[shared]["train"])],
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
    write_json("learner_performance", {
        "network": list(NET.sizes), "timesteps": NET.timesteps, "clusters": NET.clusters,
        "training_samples": len(cycles[False]["train"]),
        "inferences": len(cycles[False]["infer"]), "infer_cycles_mean": infer_cycles,
        "dense_operations": ops, "boards": boards})


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
