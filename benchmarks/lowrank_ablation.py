"""(e) LOCO's low-rank part: rank vs accuracy vs time, for a shallow and a deep network.

For each setting (dataset, depth) LOCO trains with the cluster part only (rank 0) and with the
low-rank restriction at each ``--ranks`` value, the principal subspace taken from the running
second moment of the layer inputs (``running``) or from the current batch (``batch``, the
official code's PCA of the mini-batch); same seeds, the depth sweep's batch sizes.

``python benchmarks/lowrank_ablation.py [--ranks 4,16,32 --seeds 2 --jobs N]`` writes
``build/benchmarks/lowrank_ablation.json`` (``results[setting][variant]``: mean/std test
accuracy, ms per training step) and prints the table.
"""

import argparse
import os

import torch
from _common import (comma_list, mean_std, positive_int, print_table, run_parallel,
                     write_json)
from depth_sweep import BATCH, WIDTH

from loco_sw.data import load_digits_split, load_mnist5k
from loco_sw.train import TrainConfig, train

SETTINGS = {"digits-2": ("digits", 2, 30), "digits-10": ("digits", 10, 30),
            "mnist5k-2": ("mnist5k", 2, 10), "mnist5k-10": ("mnist5k", 10, 10)}


def _run(setting, rank, source, seed):
    """(final test accuracy, mean ms per step) of one LOCO run in a worker process."""
    torch.set_num_threads(1)
    dataset, depth, epochs = SETTINGS[setting]
    data = load_digits_split(seed=seed) if dataset == "digits" else load_mnist5k()
    config = TrainConfig(rule="loco", hidden=(WIDTH[dataset],) * (depth - 1), epochs=epochs,
                         batch=BATCH[dataset], seed=seed, rank=rank, lowrank_source=source)
    run = train(config, data)
    steps = run["history"]["step_ms"]
    return run["final_test_accuracy"], sum(steps) / len(steps)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", type=comma_list(str, SETTINGS), default=list(SETTINGS))
    parser.add_argument("--ranks", type=comma_list(int), default=[4, 16, 32])
    parser.add_argument("--sources", type=comma_list(str, ("running", "batch")),
                        default=["running", "batch"])
    parser.add_argument("--seeds", type=positive_int, default=2)
    parser.add_argument("--jobs", type=positive_int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)
    if any(r < 1 for r in args.ranks):
        parser.error("--ranks: every rank must be at least 1 (rank 0 is always run)")
    variants = [(0, "running"), *((r, s) for s in args.sources for r in args.ranks)]
    jobs = [(setting, rank, source, seed) for setting in args.settings
            for rank, source in variants for seed in range(args.seeds)]
    outputs = run_parallel(_run, jobs, args.jobs)
    results, rows = {}, []
    for setting in args.settings:
        for rank, source in variants:
            runs = [outputs[(setting, rank, source, seed)] for seed in range(args.seeds)]
            accuracy = mean_std(r[0] for r in runs)
            ms = sum(r[1] for r in runs) / len(runs)
            name = "clusters only" if rank == 0 else f"rank {rank} ({source})"
            results.setdefault(setting, {})[name] = {"rank": rank, "source": source,
                                                     "test_accuracy": accuracy, "step_ms": ms}
            rows.append([setting, name, f"{accuracy[0]:.3f} ± {accuracy[1]:.3f}", f"{ms:.2f}"])
    print_table(["setting", "LOCO variant", "test accuracy", "ms / step"], rows)
    write_json("lowrank_ablation", {
        "settings": {k: dict(zip(("dataset", "depth", "epochs"), SETTINGS[k], strict=True))
                     for k in args.settings},
        "seeds": args.seeds, "results": results,
        "note": "ms / step: the trainer's own step timer (clean pass, projector, noisy pass, "
                "update), float64, one thread per run, runs in parallel"})


if __name__ == "__main__":
    main()
