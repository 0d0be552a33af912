"""Float vs fixed-point (the hardware's arithmetic) LOCO and NP, per epoch, several seeds, with
the ablations of the fixed-point learner's choices and class-incremental learning.

Fixed point: ``loco_sw.train.train_fixed_point``, the bit-exact golden model of the gateware
(online, one sample per update, host basis refresh every ``--refresh`` samples), network
``inputs-32-10`` with the default formats (digits: exactly ``DEFAULT_NETWORK``). Float: the
reference trainer (rate model) on the same kind of stream: the same size, seeds and epochs,
online (batch 1), projector rebuilt every ``--refresh`` samples, SGD lr 0.03 (the best of 0.003,
0.01, 0.03, 0.1 for float LOCO at batch 1; 0.1 diverges). Every value is a test accuracy after
an epoch. Ablations (fixed LOCO, one change each from the default):

* ``forward``: forward difference (clean first pass) instead of antithetic, update shifts one
  less (the same step: a forward difference's dL is half the central one);
* ``no-schedule``: no step-size schedule; ``no-bias-init``: hidden biases start at 0;
* ``rank4``: the low-rank part on (rank 4); ``float-rank4``: float LOCO with rank 4.

``--continual``: class-incremental, 5 tasks x 2 classes, ``--epochs`` per task, fixed LOCO and
NP and float LOCO: average accuracy after the last task and forgetting (JSON:
``continual.results[label]``).

``python benchmarks/fixed_point.py [--datasets digits,mnist5k] [--seeds 0,1,2] [--epochs 10]
[--ablations forward,...|none] [--continual] [--jobs N]`` writes
``build/benchmarks/fixed_point.json`` (per dataset: ``dataset``, ``seeds``,
``float_test_accuracy`` and ``fixed_test_accuracy`` (LOCO) as per-seed lists of per-epoch
values, the same for NP under ``*_np_*``, ``ablations``, ``continual``) and
``fixed_point_<dataset>.png``.
"""

import argparse
import dataclasses
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed

import torch
from _common import OUT, comma_list, positive_int, print_table, write_json
from tqdm import tqdm

from hw.formats import DEFAULT_NETWORK
from loco_sw.data import load_digits_split, load_mnist5k
from loco_sw.plots import learning_curves
from loco_sw.train import TrainConfig, class_incremental_tasks, train, train_fixed_point

DATASETS = {"digits": load_digits_split, "mnist5k": load_mnist5k}
HIDDEN = DEFAULT_NETWORK.sizes[1:-1]
LEARN = DEFAULT_NETWORK.learning
FLOAT_LR = 0.03
# name -> (arithmetic, learning-config changes, train_fixed_point / TrainConfig options)
ABLATIONS = {
    "forward": ("fixed", {"antithetic": False, "update_shift": LEARN.update_shift - 1,
                          "readout_update_shift": LEARN.readout_update_shift - 1}, {}),
    "no-schedule": ("fixed", {}, {"step_schedule": ()}),
    "no-bias-init": ("fixed", {}, {"hidden_bias": 0.0}),
    "rank4": ("fixed", {"rank": 4}, {}),
    "float-rank4": ("float", {}, {"rank": 4}),
}
# JSON key -> (arithmetic, rule, label)
MAIN = {"float_test_accuracy": ("float", "loco", "float LOCO"),
        "float_np_test_accuracy": ("float", "np", "float NP"),
        "fixed_test_accuracy": ("fixed", "loco", "fixed LOCO"),
        "fixed_np_test_accuracy": ("fixed", "np", "fixed NP")}
CONTINUAL = {"fixed LOCO": ("fixed", "loco"), "fixed NP": ("fixed", "np"),
             "float LOCO": ("float", "loco")}


def _run(dataset, seed, arithmetic, rule, epochs, refresh, learn=None, options=None,
         tasks=None):
    """One training run (in a worker process); returns the network sizes, the per-epoch test
    accuracies and, with ``tasks``, the continual metrics."""
    torch.set_num_threads(1)
    data = DATASETS[dataset]()
    options = dict(options or {})
    # The float reference keeps PyTorch's uniform init, the family of the hardware's own
    # (hw.formats: uniform weights, hidden biases +0.2), not the float trainer's calibrated one.
    online = {"batch": 1, "lr": FLOAT_LR, "init": "uniform"} if arithmetic == "float" else {}
    config = TrainConfig(rule=rule, hidden=HIDDEN, epochs=epochs, seed=seed, refresh=refresh,
                         **online,
                         **({"rank": options.pop("rank")} if "rank" in options else {}))
    if arithmetic == "float":
        run = train(config, data, tasks=tasks)
    else:
        network = dataclasses.replace(
            DEFAULT_NETWORK, sizes=(data[0].shape[1], *HIDDEN, 10),
            learning=dataclasses.replace(DEFAULT_NETWORK.learning, **(learn or {})))
        run = train_fixed_point(config, data, network=network, tasks=tasks, **options)
    out = {"sizes": list(run["sizes"]),
           "curve": [round(a, 4) for a in run["history"]["test_accuracy"]]}
    if tasks is not None:
        out.update({k: run[k] for k in ("average_accuracy", "forgetting", "accuracy_matrix")})
    return out


def run_all(args) -> list:
    """Every (dataset, series, seed) run, ``--jobs`` at a time; one result dict per dataset."""
    jobs = []                                       # (dataset, series key, kwargs of _run)
    for name in args.datasets:
        common = {"epochs": args.epochs, "refresh": args.refresh}
        for key, (arithmetic, rule, _) in MAIN.items():
            jobs += [(name, ("main", key), dict(common, arithmetic=arithmetic, rule=rule,
                                                seed=seed)) for seed in args.seeds]
        for ablation in args.ablations:
            arithmetic, learn, options = ABLATIONS[ablation]
            jobs += [(name, ("ablations", ablation),
                      dict(common, arithmetic=arithmetic, rule="loco", learn=learn,
                           options=options, seed=seed)) for seed in args.seeds]
        if args.continual:
            for label, (arithmetic, rule) in CONTINUAL.items():
                jobs += [(name, ("continual", label),
                          dict(common, arithmetic=arithmetic, rule=rule, seed=seed,
                               tasks=class_incremental_tasks(10, 2))) for seed in args.seeds]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        futures = [pool.submit(_run, name, **kwargs) for name, _, kwargs in jobs]
        with tqdm(total=len(futures), desc="runs", unit="run", file=sys.stderr) as bar:
            for _ in as_completed(futures):
                bar.update(1)
        outputs = [f.result() for f in futures]
    seconds = round(time.perf_counter() - started, 1)
    results = {name: {"dataset": name, "seeds": args.seeds, "epochs": args.epochs,
                      "refresh": args.refresh, "seconds_all_datasets": seconds,
                      "ablations": {}}
               for name in args.datasets}
    if args.continual:
        for result in results.values():
            result["continual"] = {"tasks": class_incremental_tasks(10, 2),
                                   "epochs_per_task": args.epochs, "results": {}}
    for (name, (group, key), _), out in zip(jobs, outputs, strict=True):
        result = results[name]
        result["network"] = out["sizes"]
        if group == "main":
            result.setdefault(key, []).append(out["curve"])
        elif group == "ablations":
            result["ablations"].setdefault(key, []).append(out["curve"])
        else:
            entry = result["continual"]["results"].setdefault(
                key, {"average_accuracy": [], "forgetting": [], "accuracy_matrix": []})
            for field in entry:
                entry[field].append(out[field])
    return list(results.values())


def _summary_rows(run):
    rows, curves = [], {}
    series = {label: run[key] for key, (_, _, label) in MAIN.items()}
    series.update({f"ablation {k}": v for k, v in run["ablations"].items()})
    for label, per_seed in series.items():
        finals = [curve[-1] for curve in per_seed]
        best = [max(curve) for curve in per_seed]
        mean_curve = [statistics.fmean(epoch) for epoch in zip(*per_seed, strict=True)]
        curves[label] = {"epoch": list(range(1, len(mean_curve) + 1)),
                         "test_accuracy": mean_curve}
        rows.append([run["dataset"], label, f"{statistics.fmean(finals):.3f}",
                     f"{statistics.pstdev(finals):.3f}", f"{statistics.fmean(best):.3f}",
                     " ".join(f"{f:.3f}" for f in finals)])
    return rows, curves


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=comma_list(str, DATASETS), default=["digits"])
    parser.add_argument("--seeds", type=comma_list(int), default=[0, 1, 2])
    parser.add_argument("--epochs", type=positive_int, default=10)
    parser.add_argument("--refresh", type=positive_int, default=64,
                        help="fixed point: samples between basis refreshes")
    parser.add_argument("--ablations", default=",".join(ABLATIONS),
                        type=lambda t: [] if t == "none" else comma_list(str, ABLATIONS)(t))
    parser.add_argument("--continual", action="store_true",
                        help="also class-incremental 5 x 2 classes")
    parser.add_argument("--jobs", type=positive_int, default=os.cpu_count() or 1,
                        help="runs at a time (one process and one thread each)")
    args = parser.parse_args(argv)
    runs = run_all(args)
    rows = []
    OUT.mkdir(parents=True, exist_ok=True)
    for run in runs:
        dataset_rows, curves = _summary_rows(run)
        rows += dataset_rows
        learning_curves(curves, OUT / f"fixed_point_{run['dataset']}.png",
                        title=f"{run['dataset']}, {'-'.join(map(str, run['network']))}, "
                              f"mean of {len(run['seeds'])} seeds")
    print_table(["dataset", "run", "final mean", "std", "best-epoch mean", "per seed"], rows)
    continual = [[run["dataset"], label, f"{statistics.fmean(c['average_accuracy']):.3f}",
                  f"{statistics.fmean(c['forgetting']):.3f}"]
                 for run in runs if "continual" in run
                 for label, c in run["continual"]["results"].items()]
    if continual:
        print_table(["dataset", "class-incremental", "average accuracy", "forgetting"],
                    continual)
    write_json("fixed_point", {**runs[0], "runs": runs})


if __name__ == "__main__":
    main()
