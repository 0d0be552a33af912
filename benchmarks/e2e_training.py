"""End-to-end on-chip training in simulation, through the host driver and the byte protocol.

The host (``loco_sw.host.LearnerHost``) loads the initial weights, refreshes the projector bases
every ``--refresh`` samples and trains the simulated gateware (``HostInterface`` in Amaranth's
simulator) on digits samples; after every sample all master weights are read back and compared
with the golden fixed-point training. The golden run then continues for ``--epochs`` epochs
(bit-identical to the gateware as far as it was checked) to show where accuracy goes.
``python benchmarks/e2e_training.py [--samples 20 --epochs 8]``.
"""

import argparse
import time

import torch
from _common import OUT, write_json

from hw.formats import DEFAULT_NETWORK as NET
from loco_sw.data import load_digits_split
from loco_sw.golden import init_state, predict, refresh_bases, train_step
from loco_sw.host import LearnerHost, SimulationTransport
from loco_sw.plots import learning_curves
from loco_sw.train import to_intensity


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=20, help="samples trained in simulation")
    parser.add_argument("--epochs", type=int, default=8, help="golden epochs afterwards")
    parser.add_argument("--refresh", type=int, default=64)
    args = parser.parse_args()
    x, y, xt, yt = load_digits_split()
    x, xt = to_intensity(x), to_intensity(xt)
    test_index = range(10 ** 6, 10 ** 6 + len(yt))
    state = init_state(NET, seed=1)
    host = LearnerHost(SimulationTransport(NET, init=[w.flatten().tolist()
                                                      for w in state.master]), NET)
    host.ping()
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0)).tolist()
    started, cycles = time.perf_counter(), []
    for step in range(args.samples):
        i = order[step % len(order)]
        if step % args.refresh == 0:
            host.refresh_bases()
            refresh_bases(NET, state)
        reply = host.train_sample(step, x[i].tolist(), int(y[i]))
        golden = train_step(NET, state, x[i], int(y[i]), step)
        assert reply["delta"] == golden["delta"], f"sample {step}: delta"
        for layer in range(NET.layers):
            assert host.read_weights(layer) == state.master[layer].flatten().tolist(), \
                f"sample {step} layer {layer}: weights differ"
        cycles.append(reply["cycles"])
        print(f"sample {step:3d}: bit-exact, {reply['cycles']} cycles", flush=True)
    simulated = time.perf_counter() - started
    accuracy = [float((predict(NET, state, xt, test_index).argmax(1) == yt).double().mean())]
    step = args.samples
    for _ in range(args.epochs):
        for i in order:
            if step % args.refresh == 0:
                refresh_bases(NET, state)
            train_step(NET, state, x[i], int(y[i]), step)
            step += 1
        accuracy.append(float((predict(NET, state, xt, test_index).argmax(1) == yt).double()
                              .mean()))
        print(f"golden epoch {len(accuracy) - 1}: test accuracy {accuracy[-1]:.3f}", flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    learning_curves({"golden (= gateware)": {"epoch": list(range(len(accuracy))),
                                             "test_accuracy": accuracy}},
                    OUT / "e2e_training.png", title="on-chip LOCO, digits, 64-32-10")
    write_json("e2e_training", {
        "samples_checked_in_simulation": args.samples, "words_compared_per_sample":
            sum((n + 1) * m for n, m in zip(NET.sizes[:-1], NET.sizes[1:], strict=True)),
        "cycles_per_sample": cycles, "simulation_seconds": simulated,
        "accuracy_per_epoch": accuracy, "chance": 1 / NET.sizes[-1]})


if __name__ == "__main__":
    main()
