"""(d) Time per training step, LOCO vs NP, measured interleaved in the same run (ratio reported).
``python benchmarks/step_time.py [--widths 64,256 --steps 300]``."""

import argparse
import time

import torch
from _common import print_table, write_json

from loco_sw.model import Network, NeuronConfig
from loco_sw.rules import Projector, np_gradients


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--widths", default="64,256")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    rows, results = [], {}
    for width in (int(w) for w in args.widths.split(",")):
        gen = torch.Generator().manual_seed(0)
        sizes = (64, width, width, 10)
        net = Network(sizes, NeuronConfig(), gen)
        projector = Projector(sizes, 10)
        x = torch.rand(args.batch, 64, generator=gen, dtype=torch.float64)
        labels = torch.arange(args.batch) % 10
        target = torch.nn.functional.one_hot(labels, 10).double()
        elapsed = {"np": 0.0, "loco": 0.0}
        for step in range(args.steps):
            for rule in ("np", "loco"):            # interleaved: same machine state for both
                start = time.perf_counter()
                if rule == "loco":
                    projector.observe(net.forward(x).inputs, labels)
                    if step % 20 == 0:
                        projector.rebuild()
                np_gradients(net, x, target, sigma=0.05, generator=gen,
                             projector=projector if rule == "loco" else None, labels=labels)
                elapsed[rule] += time.perf_counter() - start
        ms = {rule: 1e3 * t / args.steps for rule, t in elapsed.items()}
        results[width] = {**ms, "ratio": ms["loco"] / ms["np"]}
        rows.append([f"64-{width}-{width}-10", f"{ms['np']:.3f}", f"{ms['loco']:.3f}",
                     f"{ms['loco'] / ms['np']:.2f}"])
    print_table(["network", "NP ms/step", "LOCO ms/step", "LOCO/NP"], rows)
    write_json("step_time", {"batch": args.batch, "steps": args.steps, "results": results,
                             "note": "gradient computation only (no optimizer step), "
                                     "projector rebuilt every 20 steps"})


if __name__ == "__main__":
    main()
