"""The gateware itself learns: whole digits epochs on the Verilator-compiled learner, bit-exact.

The host driver trains the compiled RTL (``cosim.verilator.VerilatorTransport``) through the byte
protocol on the digits stream that ``loco_sw.train.train_fixed_point`` uses (seeded shuffles,
host basis refresh every ``--refresh`` samples), with the golden model in lockstep: after every
sample the prediction, delta, first-pass outputs and every weight and centroid word are read back
and compared. After every epoch each test sample is INFERred **on the RTL**; the accuracy comes
from those predictions (each also compared with the golden model's).

The variants are the boards' networks (``boards.build.board_config``): the ULX3S's (one update
unit per layer, the full defaults), the iCEBreaker's (one shared unit, no step-size schedule) and,
asked for by name (it is the slowest), the ULX3S's with the rank-4 low-rank part (``rank4``, the
``loco build --board ulx3s-85f --rank 4`` learner). With ``--epochs 10 --seed 0`` the per-layer run
is ``benchmarks/fixed_point.py``'s fixed LOCO seed 0 on the RTL and the rank-4 one its ``rank4``
ablation's seed 0: their last weights were compared word for word, so their accuracies are the
same.

``python benchmarks/rtl_training.py [--epochs 1] [--variants per-layer,shared,rank4] [--seed 0]``
writes ``build/benchmarks/rtl_training.json`` and ``rtl_training.png``; the variants of an earlier
run with the same epochs, seed, refresh period and limit that were not run again are kept.
"""

import argparse
import json
import sys
import time

import torch
from _common import OUT, comma_list, positive_int, print_table, write_json

from cosim.lockstep import train_gateware
from cosim.verilator import VerilatorTransport, verilator_version
from boards.build import board_config, board_gateware, described
from loco_sw.data import load_digits_split
from loco_sw.host import LearnerHost
from loco_sw.plots import learning_curves
from loco_sw.train import to_intensity

# name -> the board whose network and organisation it is, and the low-rank part's rank (None:
# off): the ULX3S's per-layer units and neuron lanes, the UP5K's shared unit (its reduced
# variant: no step-size schedule), the ULX3S's rank-4 build
VARIANTS = {"per-layer": ("ulx3s-85f", None), "shared": ("icebreaker", None),
            "rank4": ("ulx3s-85f", 4)}
DEFAULT_VARIANTS = ["per-layer", "shared"]


class _Timed:
    """A transport wrapper that adds up the wall time spent inside the compiled model, per
    ``phase`` (so training samples/s is not flattered or burdened by the test inferences)."""

    def __init__(self, transport):
        self.transport, self.phase, self.seconds = transport, "train", {"train": 0.0,
                                                                       "infer": 0.0}

    def write(self, data):
        self.transport.write(data)

    def flush(self):
        return self.transport.flush()

    def read(self, count):
        started = time.perf_counter()
        try:
            return self.transport.read(count)
        finally:
            self.seconds[self.phase] += time.perf_counter() - started


def run_variant(name, args, data):
    x, y, xt, yt = data
    board, rank = VARIANTS[name]
    net = board_config(board, rank=rank)
    gateware = board_gateware(board, net)
    transport = _Timed(VerilatorTransport(net, **gateware))
    host = LearnerHost(transport, net)
    host.ping()
    started = time.perf_counter()
    run = train_gateware(host, net, data, epochs=args.epochs, seed=args.seed, limit=args.limit,
                         refresh=args.refresh, label=name,
                         on_phase=lambda phase: setattr(transport, "phase", phase))
    accuracy, tally, state = run["test_accuracy_per_epoch"], run["tally"], run["state"]
    elapsed = time.perf_counter() - started
    model_seconds = sum(transport.seconds.values())
    return {
        "board": board, "rank": net.learning.rank, **described(gateware),
        "samples": tally.samples,
        "final_weight_words": sum(w.numel() for w in state.master),
        "test_inferences": len(tally.infer_cycles),
        "words_compared": tally.words_compared, "mismatched_words": tally.mismatched_words,
        "first_mismatch": tally.first_mismatch,
        "samples_per_s": round(tally.samples / transport.seconds["train"], 1),
        "lockstep_samples_per_s": round(tally.samples / elapsed, 1),
        "simulated_cycles": transport.transport.cycles,
        "cycles_per_s": round(transport.transport.cycles / model_seconds),
        "cycles_per_training_sample": round(sum(tally.train_cycles) / len(tally.train_cycles)),
        "cycles_per_inference": round(sum(tally.infer_cycles) / len(tally.infer_cycles)),
        "test_accuracy_per_epoch": accuracy, "seconds": round(elapsed, 1),
    }


def _earlier_variants(run: dict) -> dict:
    """The variants of the ``rtl_training.json`` already written when it was the same run
    (``run``: epochs, seed, refresh, limit; a JSON without ``limit`` had none), else ``{}``."""
    path = OUT / "rtl_training.json"
    try:
        earlier = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    same = all(earlier.get(key) == value for key, value in run.items())
    return {name: v for name, v in earlier.get("variants", {}).items()
            if name in VARIANTS} if same else {}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=positive_int, default=1)
    parser.add_argument("--variants", type=comma_list(str, VARIANTS), default=DEFAULT_VARIANTS,
                        help="per-layer (ULX3S: one update unit per layer), shared (iCEBreaker), "
                             "rank4 (ULX3S with the rank-4 low-rank part); default "
                             + ",".join(DEFAULT_VARIANTS))
    parser.add_argument("--seed", type=int, default=0,
                        help="initial weights and shuffles (train_fixed_point's seed)")
    parser.add_argument("--refresh", type=positive_int, default=64, help="basis refresh period")
    parser.add_argument("--limit", type=positive_int, default=None,
                        help="train only this many samples per epoch (a quick look)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    x, y, xt, yt = load_digits_split()
    data = (to_intensity(x), y, to_intensity(xt), yt)
    run = {"epochs": args.epochs, "seed": args.seed, "refresh": args.refresh,
           "limit": args.limit}
    merged = {**_earlier_variants(run),
              **{name: run_variant(name, args, data) for name in args.variants}}
    results = {name: merged[name] for name in VARIANTS if name in merged}    # in VARIANTS order
    variant = next(iter(results))
    first = results[variant]
    payload = {"simulator": verilator_version(),
               "network": list(board_config("ulx3s-85f").sizes),
               "dataset": f"sklearn digits, {len(y)} train / {len(yt)} test",
               **run, "variant": variant,
               **{k: first[k] for k in ("samples", "mismatched_words", "samples_per_s",
                                        "cycles_per_training_sample", "cycles_per_inference",
                                        "test_accuracy_per_epoch")},
               "variants": results}
    print_table(["variant", "samples", "mismatched words", "train samples/s", "Mcycles/s",
                 "cycles/train", "cycles/infer", "RTL test accuracy per epoch"],
                [[name, r["samples"], r["mismatched_words"], r["samples_per_s"],
                  round(r["cycles_per_s"] / 1e6, 2), r["cycles_per_training_sample"],
                  r["cycles_per_inference"],
                  " ".join(f"{a:.3f}" for a in r["test_accuracy_per_epoch"])]
                 for name, r in results.items()])
    OUT.mkdir(parents=True, exist_ok=True)
    learning_curves({f"RTL ({name})": {"epoch": list(range(args.epochs + 1)),
                                       "test_accuracy": r["test_accuracy_per_epoch"]}
                     for name, r in results.items()},
                    OUT / "rtl_training.png",
                    title="on-chip LOCO on the compiled RTL, digits, "
                          + "-".join(map(str, board_config("ulx3s-85f").sizes)))
    write_json("rtl_training", payload)
    if any(r["mismatched_words"] for r in results.values()):
        sys.exit("error: the RTL differs from the golden model (see first_mismatch)")


if __name__ == "__main__":
    main()
