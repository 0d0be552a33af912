"""``make demo``: the whole flow on the embedded digits data, in a couple of minutes.

1. Float training of LOCO, NP and BP (rate model), one comparison plot.
2. A few epochs of the bit-exact fixed-point LOCO (the hardware's arithmetic).
3. A few samples trained on the simulated gateware through the host driver and the byte
   protocol, every weight word compared with the fixed-point model after every sample.

Writes ``runs/demo/summary.json``, ``runs/demo/rules.png`` and prints a summary.
"""

import argparse
import json
import sys
from pathlib import Path

import torch
from tqdm import tqdm

from hw.formats import DEFAULT_NETWORK

from .data import load_digits_split
from .golden import init_state, refresh_bases, train_step
from .host import LearnerHost, SimulationTransport
from .plots import learning_curves
from .train import TrainConfig, to_intensity, train, train_fixed_point

__all__ = ["main"]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m loco_sw.demo", description=__doc__)
    parser.add_argument("--epochs", type=int, default=20, help="float epochs per rule")
    parser.add_argument("--fixed-epochs", type=int, default=3, help="fixed-point epochs")
    parser.add_argument("--gateware-samples", type=int, default=3)
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

    x, y = to_intensity(data[0]), data[1]
    golden = init_state(DEFAULT_NETWORK, seed=1)
    initial = [w.flatten().tolist() for w in golden.master]
    host = LearnerHost(SimulationTransport(DEFAULT_NETWORK, init=initial), DEFAULT_NETWORK)
    host.ping()
    checked = []
    for step in tqdm(range(args.gateware_samples), desc="gateware (simulated)", unit="sample",
                     file=sys.stderr):
        if step % 64 == 0:
            host.refresh_bases()
            refresh_bases(DEFAULT_NETWORK, golden)
        reply = host.train_sample(step, x[step].tolist(), int(y[step]))
        train_step(DEFAULT_NETWORK, golden, x[step], int(y[step]), step)
        exact = all(host.read_weights(layer) == golden.master[layer].flatten().tolist()
                    for layer in range(DEFAULT_NETWORK.layers))
        if not exact:
            raise SystemExit(f"error: gateware weights differ from the golden model after "
                             f"sample {step}")
        checked.append(reply["cycles"])
    summary["gateware"] = {"samples": len(checked), "bit_exact": True,
                           "cycles_per_sample": checked,
                           "words_compared_per_sample": sum(w.numel() for w in golden.master)}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    print(f"plots and summary in {args.out}/ ; bitstreams: make bitstream BOARD=icebreaker")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
