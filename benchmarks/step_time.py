"""(d) Time per training step, LOCO vs NP, measured interleaved in the same run (ratio reported).

Two sizes: 64-64-64-10 at batch 16 and the paper's 784-500-500-10 at batch 1 000, each with the
cluster part only (rank 0) and with the low-rank part on (``--ranks``). A LOCO step is what
``loco_sw.train.train`` does: one clean pass (shared by the projector and the gradients),
``Projector.observe``, a rebuild every 20 steps, the noisy pass and the projected gradients; an
NP step is the clean and the noisy pass and the gradients. Gradient computation only (no
optimizer step), float64, one thread.

``python benchmarks/step_time.py [--ranks 0,16] [--steps 200] [--large-steps 10]`` writes
``build/benchmarks/step_time.json`` (``results[network][rank]``: ``np``, ``loco`` ms per step
and ``ratio``).
"""

import argparse
import time

import torch
from _common import comma_list, positive_int, print_table, write_json

from loco_sw.model import Network, NeuronConfig
from loco_sw.rules import Projector, np_gradients

REBUILD_EVERY = 20


def measure(sizes, batch, steps, rank, gen):
    """Mean ms per NP and per LOCO step, the two interleaved step by step."""
    net = Network(sizes, NeuronConfig(), gen)
    projector = Projector(sizes, 10, rank=rank)
    x = torch.rand(batch, sizes[0], generator=gen, dtype=torch.float64)
    labels = torch.arange(batch) % 10
    target = torch.nn.functional.one_hot(labels, 10).double()
    elapsed = {"np": 0.0, "loco": 0.0}
    for step in range(steps):
        for rule in ("np", "loco"):              # interleaved: same machine state for both
            start = time.perf_counter()
            if rule == "loco":
                clean = net.forward(x)
                projector.observe(clean.inputs, labels)
                if step % REBUILD_EVERY == 0:
                    projector.rebuild()
                np_gradients(net, x, target, sigma=0.05, generator=gen, projector=projector,
                             labels=labels, clean=clean)
            else:
                np_gradients(net, x, target, sigma=0.05, generator=gen)
            elapsed[rule] += time.perf_counter() - start
    ms = {rule: 1e3 * t / steps for rule, t in elapsed.items()}
    return {**ms, "ratio": ms["loco"] / ms["np"], "steps": steps, "batch": batch}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ranks", type=comma_list(int), default=[0, 16])
    parser.add_argument("--steps", type=positive_int, default=200, help="small network")
    parser.add_argument("--large-steps", type=positive_int, default=10,
                        help="784-500-500-10 at batch 1 000")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    configs = [((64, 64, 64, 10), 16, args.steps), ((784, 500, 500, 10), 1000, args.large_steps)]
    rows, results = [], {}
    for sizes, batch, steps in configs:
        name = "-".join(map(str, sizes))
        for rank in args.ranks:
            r = measure(sizes, batch, steps, rank, torch.Generator().manual_seed(0))
            results.setdefault(name, {})[rank] = r
            rows.append([name, batch, rank, f"{r['np']:.3f}", f"{r['loco']:.3f}",
                         f"{r['ratio']:.2f}"])
    print_table(["network", "batch", "rank", "NP ms/step", "LOCO ms/step", "LOCO/NP"], rows)
    write_json("step_time", {"rebuild_every": REBUILD_EVERY, "results": results,
                             "note": "gradient computation only (no optimizer step), float64, "
                                     "one thread; LOCO's clean pass is shared"})


if __name__ == "__main__":
    main()
