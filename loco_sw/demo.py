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
import time
from pathlib import Path

import torch
from tqdm import tqdm

from hw.formats import DEFAULT_NETWORK

from .data import load_digits_split
from .golden import init_state, predict, refresh_bases, train_step
from .host import LearnerHost, SimulationTransport
from .plots import learning_curves
from .train import TrainConfig, to_intensity, train

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

    x, y, xt, yt = data
    x, xt = to_intensity(x), to_intensity(xt)
    state = init_state(DEFAULT_NETWORK, seed=1)
    initial = [w.flatten().tolist() for w in state.master]
    test_index = range(10 ** 6, 10 ** 6 + len(yt))
    start, accuracy = time.perf_counter(), []
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0)).tolist()
    bar = tqdm(total=args.fixed_epochs * len(y), desc="fixed-point loco", unit="sample",
               file=sys.stderr)
    for step in range(args.fixed_epochs * len(y)):
        if step % 64 == 0:
            refresh_bases(DEFAULT_NETWORK, state)
        i = order[step % len(y)]
        train_step(DEFAULT_NETWORK, state, x[i], int(y[i]), step)
        bar.update(1)
        if (step + 1) % len(y) == 0:
            out = predict(DEFAULT_NETWORK, state, xt, test_index).argmax(1)
            accuracy.append(round(float((out == yt).double().mean()), 4))
            bar.set_postfix(test=accuracy[-1])
    bar.close()
    summary["fixed_point"] = {"test_accuracy_per_epoch": accuracy, "chance": 0.1,
                              "seconds": round(time.perf_counter() - start, 1)}

    golden = init_state(DEFAULT_NETWORK, seed=1)
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
