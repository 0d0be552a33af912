"""``make demo``: the whole flow on the embedded digits data, in a couple of minutes.

1. Float training of LOCO, NP and BP (rate model), one comparison plot.
2. Fixed-point LOCO (the hardware's arithmetic) trained **on the gateware itself**: its Verilog
   compiled by Verilator, driven through the host driver and the byte protocol on the sample
   stream of ``train_fixed_point``, with the golden model in lockstep (every weight, centroid
   and output word compared after every sample); after every epoch the test set is inferred on
   the gateware.

Writes ``runs/demo/summary.json``, ``runs/demo/rules.png``, ``runs/demo/gateware.png`` and prints
a summary.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from cosim.lockstep import train_gateware
from cosim.verilator import VerilatorTransport
from hw.formats import DEFAULT_NETWORK

from .data import load_digits_split
from .host import LearnerHost
from .plots import learning_curves
from .train import TrainConfig, to_intensity, train

__all__ = ["main"]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m loco_sw.demo", description=__doc__)
    parser.add_argument("--epochs", type=int, default=20, help="float epochs per rule")
    parser.add_argument("--fixed-epochs", type=int, default=3,
                        help="fixed-point epochs on the compiled gateware")
    parser.add_argument("--out", type=Path, default=Path("runs/demo"))
    args = parser.parse_args(argv)
    if args.epochs < 1 or args.fixed_epochs < 1:
        parser.error("--epochs and --fixed-epochs must be at least 1")
    args.out.mkdir(parents=True, exist_ok=True)
    data = load_digits_split()
    summary = {"float": {}, "dataset": "sklearn digits 8x8, 1347 train / 450 test"}

    curves = {}
    for rule in ("loco", "np", "bp"):
        bar = tqdm(total=args.epochs, desc=f"float {rule}", unit="epoch", file=sys.stderr)
        result = train(TrainConfig(rule=rule, epochs=args.epochs), data,
                       progress=lambda done, total, h, bar=bar: bar.update(done - bar.n))
        bar.close()
        curves[rule.upper()] = result["history"]
        summary["float"][rule] = round(result["final_test_accuracy"], 4)
    learning_curves(curves, args.out / "rules.png", title="digits, 64-64-10, rate model")

    net, seed = DEFAULT_NETWORK, 1
    x, y, xt, yt = to_intensity(data[0]), data[1], to_intensity(data[2]), data[3]
    print("compiling the gateware with Verilator (cached under build/verilator/)",
          file=sys.stderr)
    host = LearnerHost(VerilatorTransport(net), net)
    host.ping()
    started = time.perf_counter()
    run = train_gateware(host, net, (x, y, xt, yt), epochs=args.fixed_epochs, seed=seed)
    accuracy, tally = run["test_accuracy_per_epoch"], run["tally"]
    if tally.mismatched_words:
        raise SystemExit(f"error: the gateware differs from the golden model: "
                         f"{tally.first_mismatch}")
    learning_curves({"fixed-point LOCO on the gateware": {"epoch": list(range(len(accuracy))),
                                                          "test_accuracy": accuracy}},
                    args.out / "gateware.png", title="digits, 64-32-10, compiled RTL")
    summary["gateware"] = {
        "simulator": "verilator", "arithmetic": "fixed-point LOCO, online B = 1",
        "samples": tally.samples, "bit_exact": True, "words_compared": tally.words_compared,
        "test_accuracy_per_epoch": [round(a, 4) for a in accuracy],
        "chance": 1 / net.sizes[-1],
        "cycles_per_training_sample": round(sum(tally.train_cycles) / tally.samples),
        "cycles_per_inference": round(sum(tally.infer_cycles) / len(tally.infer_cycles)),
        "seconds": round(time.perf_counter() - started, 1)}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    print(f"plots and summary in {args.out}/ ; bitstreams: make bitstream BOARD=icebreaker")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
