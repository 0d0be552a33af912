"""Shared helpers of the benchmark scripts: output folder, tables, JSON, statistics."""

import argparse
import json
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm

from loco_sw.model import NeuronConfig

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "benchmarks"


def mean_std(values):
    values = list(values)
    return (statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0)


def write_json(name: str, payload) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2))
    print(f"wrote {path}")
    return path


def print_table(header, rows):
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]
    for row in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(str(x).rjust(w) for x, w in zip(row, widths, strict=True)))


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, not {text!r}")
    return int(text)


def comma_list(kind, choices=None):
    """argparse type: comma-separated values of ``kind``, each one of ``choices`` if given."""
    def parse(text):
        items = [kind(t) for t in text.split(",")]
        bad = [t for t in items if choices is not None and t not in choices]
        if bad:
            raise argparse.ArgumentTypeError(f"{bad[0]!r} is not one of {', '.join(choices)}")
        return items
    return parse


def run_parallel(function, jobs, workers: int) -> dict:
    """``function(*job)`` for every job (a tuple of picklable arguments) in ``workers`` worker
    processes, with a progress bar; returns ``{job: result}``."""
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(function, *job): job for job in jobs}
        return {futures[future]: future.result()
                for future in tqdm(as_completed(futures), total=len(jobs), desc="runs",
                                   unit="run", file=sys.stderr)}


def rule_options(spec: str) -> dict:
    """``TrainConfig`` options of a benchmark rule name ``<rule>[-<clusters>][-lif]``:
    ``loco-kmeans`` = LOCO with label-free k-means clusters, ``np-lif`` = NP on the LIF model."""
    rule, *suffixes = spec.split("-")
    options = {"rule": rule, "neuron": NeuronConfig(kind="lif" if "lif" in suffixes else "rate")}
    clusters = [s for s in suffixes if s != "lif"]
    if clusters:
        options["clusters"] = clusters[0]
    return options
