"""(b) Accuracy vs depth: LOCO vs NP vs BP vs DFA on digits (width 64) and real MNIST (mnist5k,
width 128), 2 ... 16 layers, the CLI's default (calibrated) init.

Digits: batch 32, mnist5k: batch 64, 30 epochs each.

``python benchmarks/depth_sweep.py [--data digits,mnist5k --depths 2,4,...,16 --seeds 2
--rules loco,np,bp,dfa --jobs N]`` writes ``build/benchmarks/depth_sweep.json``: ``sweeps``, one
per dataset, each with ``dataset``, ``depths``, ``rules``, ``test_accuracy[rule][depth]`` (mean
over seeds), ``test_accuracy_std``, ``diverged[rule][depth]`` (runs whose weights became
non-finite: their accuracy is that of a constant output) and the settings; and one PNG per
dataset. A rule ``<rule>-lif`` trains the LIF model (T = 16) instead of the rate model;
``--init uniform`` gives the PyTorch-init baseline.
"""

import argparse
import os
import time

import torch
from _common import (OUT, comma_list, mean_std, positive_int, print_table, rule_options,
                     run_parallel, write_json)

from loco_sw.data import load_digits_split, load_mnist5k
from loco_sw.model import INITS
from loco_sw.plots import depth_curve
from loco_sw.train import RULES, TrainConfig, train

WIDTH = {"digits": 64, "mnist5k": 128}
EPOCHS = {"digits": 30, "mnist5k": 30}
# NP's one-scalar estimate spreads over every perturbed unit (15 x 128 at 16 layers), so its
# variance grows with depth: at batch 16 (the CLI default) the 16-layer nets climb, then wander
# or collapse; averaging over 32 / 64 samples keeps them climbing (docs/design.md, "Depth").
BATCH = {"digits": 32, "mnist5k": 64}
DEPTHS = [2, 4, 6, 8, 10, 12, 14, 16]
RULE_CHOICES = [*RULES, *(f"{rule}-lif" for rule in ("loco", "np"))]


def _run(dataset, rule, depth, seed, epochs, init):
    """One training run in a worker process: (final test accuracy, diverged, seconds)."""
    torch.set_num_threads(1)             # several workers share the cores
    data = load_digits_split(seed=seed) if dataset == "digits" else load_mnist5k()
    config = TrainConfig(hidden=(WIDTH[dataset],) * (depth - 1), epochs=epochs,
                         batch=BATCH[dataset], seed=seed, init=init, **rule_options(rule))
    started = time.perf_counter()
    run = train(config, data)
    return run["final_test_accuracy"], run["diverged"], time.perf_counter() - started


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=comma_list(str, WIDTH), default=list(WIDTH))
    parser.add_argument("--depths", type=comma_list(int), default=DEPTHS)
    parser.add_argument("--rules", type=comma_list(str, RULE_CHOICES),
                        default=["loco", "np", "bp", "dfa"])
    parser.add_argument("--seeds", type=positive_int, default=2)
    parser.add_argument("--epochs", type=positive_int,
                        help=f"epochs (default per dataset: {EPOCHS})")
    parser.add_argument("--init", choices=INITS, default="calibrated")
    parser.add_argument("--jobs", type=positive_int, default=os.cpu_count() or 1)
    parser.add_argument("--name", default="depth_sweep")
    args = parser.parse_args(argv)
    if any(d < 2 for d in args.depths):
        parser.error("--depths: every depth must be at least 2 (a hidden layer + readout)")
    jobs = [(data, rule, depth, seed, args.epochs or EPOCHS[data], args.init)
            for data in args.data for depth in args.depths for rule in args.rules
            for seed in range(args.seeds)]
    started = time.perf_counter()
    outputs = run_parallel(_run, jobs, args.jobs)
    sweeps = []
    for data in args.data:
        epochs = args.epochs or EPOCHS[data]
        accuracy, spread, diverged, seconds = ({r: {} for r in args.rules} for _ in range(4))
        for rule in args.rules:
            for depth in args.depths:
                runs = [outputs[(data, rule, depth, s, epochs, args.init)]
                        for s in range(args.seeds)]
                accuracy[rule][depth], spread[rule][depth] = mean_std(r[0] for r in runs)
                diverged[rule][depth] = sum(r[1] for r in runs)
                seconds[rule][depth] = round(sum(r[2] for r in runs) / len(runs), 1)
        print(f"\n{data}, width {WIDTH[data]}, batch {BATCH[data]}, {epochs} epochs, "
              f"init {args.init}, "
              f"mean of {args.seeds} seeds (* = a run diverged)")
        print_table(["depth", *args.rules],
                    [[d, *(f"{accuracy[r][d]:.3f}{'*' if diverged[r][d] else ''}"
                           for r in args.rules)] for d in args.depths])
        OUT.mkdir(parents=True, exist_ok=True)
        depth_curve({r: {d: (accuracy[r][d], spread[r][d]) for d in args.depths}
                     for r in args.rules}, OUT / f"{args.name}_{data}.png",
                    title=f"{data}, width {WIDTH[data]}, {epochs} epochs, init {args.init}")
        sweeps.append({"dataset": data, "width": WIDTH[data], "batch": BATCH[data],
                       "epochs": epochs,
                       "init": args.init, "seeds": args.seeds, "depths": args.depths,
                       "rules": args.rules, "test_accuracy": accuracy,
                       "test_accuracy_std": spread, "diverged": diverged,
                       "seconds_per_run": seconds})
    write_json(args.name, {"sweeps": sweeps,
                           "seconds": round(time.perf_counter() - started, 1),
                           "note": "depth = layers incl. the readout; float64 rate model "
                                   "(-lif: LIF, T = 16); lr 0.05, sigma 0.05"})


if __name__ == "__main__":
    main()
