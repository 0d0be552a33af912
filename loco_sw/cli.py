"""Command line: ``python -m loco_sw train --rule loco --epochs 20 --name demo``."""

import argparse
import json
import sys
from pathlib import Path

from .data import DataError, load_digits_split, load_mnist
from .train import RULES, TrainConfig, save_run, train

__all__ = ["main"]


def _widths(text):
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"hidden widths must be like 64 or 64,32, not {text!r}") from None
    return widths


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m loco_sw")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train one network and write runs/<name>/")
    p.add_argument("--rule", choices=RULES, default="loco")
    p.add_argument("--hidden", type=_widths, default=(64,), help="hidden widths, e.g. 64,64")
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--sigma", type=float, default=0.05)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data", choices=("digits", "mnist"), default="digits")
    p.add_argument("--data-dir", type=Path, help="directory of the MNIST IDX files")
    p.add_argument("--name", default=None, help="run name (default: <rule>-<data>)")
    p.add_argument("--runs", type=Path, default=Path("runs"))
    args = parser.parse_args(argv)

    try:
        config = TrainConfig(rule=args.rule, hidden=args.hidden, epochs=args.epochs, lr=args.lr,
                             sigma=args.sigma, batch=args.batch, seed=args.seed)
        if args.data == "mnist":
            if args.data_dir is None:
                parser.error("--data mnist needs --data-dir (a directory of IDX files)")
            data = load_mnist(args.data_dir)
        else:
            data = load_digits_split(seed=args.seed)
    except (ValueError, DataError) as error:
        parser.exit(2, f"error: {error}\n")

    from tqdm import tqdm
    bar = tqdm(total=config.epochs, desc=f"{config.rule} {args.data}", unit="epoch",
               file=sys.stderr)

    def progress(epoch, history):
        bar.update(1)
        bar.set_postfix(test=f"{history['test_accuracy'][-1]:.3f}")

    result = train(config, data, progress=progress)
    bar.close()
    run_dir = args.runs / (args.name or f"{config.rule}-{args.data}")
    save_run(result, run_dir)
    summary = {"rule": config.rule, "sizes": result["sizes"],
               "final_test_accuracy": round(result["final_test_accuracy"], 4),
               "seconds": result["history"]["seconds"][-1], "run_dir": str(run_dir)}
    print(json.dumps(summary))
    return summary
