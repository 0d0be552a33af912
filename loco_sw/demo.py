"""``make demo``: the whole flow on the embedded digits data, in a couple of minutes.

1. Float training of LOCO, NP and BP (rate model), one comparison plot.
2. A few epochs of the bit-exact fixed-point LOCO (the hardware's arithmetic).
3. Hundreds of samples trained on the gateware itself (its Verilog compiled by Verilator) through
   the host driver and the byte protocol, every weight, centroid and output word compared with
   the fixed-point model after every sample; then the test set inferred on the gateware.

Writes ``runs/demo/summary.json``, ``runs/demo/rules.png`` and prints a summary.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from cosim.lockstep import Tally, infer_lockstep, load_weights, train_lockstep
from cosim.verilator import VerilatorTransport
from hw.formats import DEFAULT_NETWORK

from .data import load_digits_split
from .golden import init_state
from .host import LearnerHost
from .plots import learning_curves
from .train import TrainConfig, to_intensity, train, train_fixed_point

__all__ = ["main"]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m loco_sw.demo", description=__doc__)
    parser.add_argument("--epochs", type=int, default=20, help="float epochs per rule")
    parser.add_argument("--fixed-epochs", type=int, default=3, help="fixed-point epochs")
    parser.add_argument("--gateware-samples", type=int, default=300)
    parser.add_argument("--out", type=Path, default=Path("runs/demo"))
    args = parser.parse_args(argv)
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

    bar = tqdm(total=args.fixed_epochs, desc="fixed-point loco", unit="epoch", file=sys.stderr)

    def progress(done, total, history):
        bar.update(done - bar.n)
        bar.set_postfix(test=f"{history['test_accuracy'][-1]:.3f}")

    fixed = train_fixed_point(TrainConfig(rule="loco", epochs=args.fixed_epochs, refresh=64,
                                          seed=1), data, network=DEFAULT_NETWORK,
                              progress=progress)
    bar.close()
    summary["fixed_point"] = {
        "test_accuracy_per_epoch": [round(a, 4) for a in fixed["history"]["test_accuracy"]],
        "chance": 1 / DEFAULT_NETWORK.sizes[-1], "seconds": fixed["history"]["seconds"][-1]}

    x, y, xt = to_intensity(data[0]), data[1], to_intensity(data[2])
    golden, tally = init_state(DEFAULT_NETWORK, seed=1), Tally()
    print("compiling the gateware with Verilator (cached under build/verilator/)",
          file=sys.stderr)
    host = LearnerHost(VerilatorTransport(DEFAULT_NETWORK), DEFAULT_NETWORK)
    host.ping()
    load_weights(host, golden)
    stream = [(step, x[step % len(y)], int(y[step % len(y)]))
              for step in range(args.gateware_samples)]
    started = time.perf_counter()
    with tqdm(total=len(stream), desc="gateware (Verilator)", unit="sample",
              file=sys.stderr) as bar:
        train_lockstep(host, DEFAULT_NETWORK, golden, stream, tally,
                       progress=lambda: bar.update(1))
    seconds = time.perf_counter() - started
    predictions = infer_lockstep(host, DEFAULT_NETWORK, golden, xt,
                                 range(10 ** 6, 10 ** 6 + len(xt)), tally)
    if tally.mismatched_words:
        raise SystemExit(f"error: the gateware differs from the golden model: "
                         f"{tally.first_mismatch}")
    summary["gateware"] = {
        "simulator": "verilator", "samples": tally.samples, "bit_exact": True,
        "words_compared": tally.words_compared,
        "cycles_per_training_sample": round(sum(tally.train_cycles) / tally.samples),
        "cycles_per_inference": round(sum(tally.infer_cycles) / len(tally.infer_cycles)),
        "lockstep_samples_per_s": round(tally.samples / seconds, 1),
        "rtl_test_accuracy": round(float((torch.tensor(predictions) == data[3]).double()
                                         .mean()), 4)}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    print(f"plots and summary in {args.out}/ ; bitstreams: make bitstream BOARD=icebreaker")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
