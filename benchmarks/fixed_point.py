"""Float vs fixed-point (the hardware's arithmetic) LOCO and NP, per epoch, several seeds.

Fixed point: ``loco_sw.train.train_fixed_point``, the bit-exact golden model of the gateware
(online, one sample per update, host basis refresh every ``--refresh`` samples), network
``inputs-32-10`` with the default formats (digits: exactly ``DEFAULT_NETWORK``). Float: the
reference trainer (rate model, SGD batch 16) at the same size and seeds. Every value is a test
accuracy after an epoch; NP beside LOCO in both arithmetics.

``python benchmarks/fixed_point.py [--datasets digits,mnist5k] [--seeds 0,1,2] [--epochs 10]``
writes ``build/benchmarks/fixed_point.json`` (per dataset: ``dataset``, ``seeds``,
``float_test_accuracy`` and ``fixed_test_accuracy`` (LOCO) as per-seed lists of per-epoch
values, the same for NP under ``*_np_*``) and ``fixed_point_<dataset>.png``.
"""

import argparse
import dataclasses
import statistics
import sys
import time

import torch
from _common import OUT, comma_list, positive_int, print_table, write_json
from tqdm import tqdm

from hw.formats import DEFAULT_NETWORK
from loco_sw.data import load_digits_split, load_mnist5k
from loco_sw.plots import learning_curves
from loco_sw.train import TrainConfig, train, train_fixed_point

DATASETS = {"digits": load_digits_split, "mnist5k": load_mnist5k}
HIDDEN = DEFAULT_NETWORK.sizes[1:-1]
LABELS = {"float_test_accuracy": "float LOCO", "float_np_test_accuracy": "float NP",
          "fixed_test_accuracy": "fixed LOCO", "fixed_np_test_accuracy": "fixed NP"}


def run_dataset(name, args):
    data = DATASETS[name]()
    network = dataclasses.replace(DEFAULT_NETWORK, sizes=(data[0].shape[1], *HIDDEN, 10))
    result = {"dataset": name, "network": list(network.sizes), "seeds": args.seeds,
              "epochs": args.epochs, "refresh": args.refresh, "seconds": {}}
    for arithmetic in ("float", "fixed"):
        for rule in ("loco", "np"):
            key = f"{arithmetic}_{'' if rule == 'loco' else 'np_'}test_accuracy"
            result[key], started = [], time.perf_counter()
            for seed in args.seeds:
                config = TrainConfig(rule=rule, hidden=HIDDEN, epochs=args.epochs, seed=seed,
                                     refresh=args.refresh)
                with tqdm(total=args.epochs, desc=f"{name} {arithmetic} {rule} seed {seed}",
                          unit="epoch", file=sys.stderr) as bar:
                    def progress(done, total, history, bar=bar):
                        bar.update(done - bar.n)
                        bar.set_postfix(test=f"{history['test_accuracy'][-1]:.3f}")
                    if arithmetic == "fixed":
                        run = train_fixed_point(config, data, network=network, progress=progress)
                    else:
                        run = train(config, data, progress=progress)
                result[key].append([round(a, 4) for a in run["history"]["test_accuracy"]])
            result["seconds"][key] = round(time.perf_counter() - started, 1)
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=comma_list(str, DATASETS), default=["digits"])
    parser.add_argument("--seeds", type=comma_list(int), default=[0, 1, 2])
    parser.add_argument("--epochs", type=positive_int, default=10)
    parser.add_argument("--refresh", type=positive_int, default=64,
                        help="fixed point: samples between basis refreshes")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    runs = [run_dataset(name, args) for name in args.datasets]
    rows = []
    OUT.mkdir(parents=True, exist_ok=True)
    for run in runs:
        curves = {}
        for key, label in LABELS.items():
            finals = [per_seed[-1] for per_seed in run[key]]
            best = [max(per_seed) for per_seed in run[key]]
            mean_curve = [statistics.fmean(epoch) for epoch in zip(*run[key], strict=True)]
            curves[label] = {"epoch": list(range(1, len(mean_curve) + 1)),
                             "test_accuracy": mean_curve}
            rows.append([run["dataset"], label, f"{statistics.fmean(finals):.3f}",
                         f"{statistics.pstdev(finals):.3f}", f"{statistics.fmean(best):.3f}",
                         f"{run['seconds'][key]:.0f}"])
        learning_curves(curves, OUT / f"fixed_point_{run['dataset']}.png",
                        title=f"{run['dataset']}, {'-'.join(map(str, run['network']))}, "
                              f"mean of {len(run['seeds'])} seeds")
    print_table(["dataset", "run", "final mean", "std", "best-epoch mean", "seconds"], rows)
    write_json("fixed_point", {**runs[0], "runs": runs})


if __name__ == "__main__":
    main()
