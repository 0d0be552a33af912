"""Numerical-range report of the fixed-point datapath: every quantity of every layer against the
Q-format that stores it, on real data (digits and the 5 000 real MNIST images).

The golden model (bit-exact with the gateware) trains ``--samples`` online LOCO steps with its
probe on (values are recorded *before* saturation). Per layer and quantity the table gives the
format, the raw min/max, the fraction the hardware saturates, the peak as a fraction of the range,
the headroom in bits and the fraction of exact zeros.

``python benchmarks/ranges.py [--datasets digits,mnist5k] [--samples 1000] [--rank 4]`` writes
``build/benchmarks/ranges.json`` (per dataset: ``dataset``, ``network``, ``samples``, ``rows``)
and ``ranges_<dataset>.png`` (histograms with the format limits in red).
"""

import argparse
import dataclasses
import sys

import torch
from _common import OUT, comma_list, positive_int, print_table, write_json
from tqdm import tqdm

from hw.formats import DEFAULT_NETWORK
from loco_sw.data import load_digits_split, load_mnist5k
from loco_sw.ranges import collect, plot, summarise
from loco_sw.train import to_intensity

DATASETS = {"digits": load_digits_split, "mnist5k": load_mnist5k}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=comma_list(str, DATASETS), default=list(DATASETS))
    parser.add_argument("--samples", type=positive_int, default=1000)
    parser.add_argument("--rank", type=int, default=4, choices=range(0, 12),
                        metavar="{0..11}", help="low-rank part (0: off)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    OUT.mkdir(parents=True, exist_ok=True)
    runs, table = [], []
    for name in args.datasets:
        x, y, _, _ = DATASETS[name]()
        config = dataclasses.replace(DEFAULT_NETWORK,
                                     sizes=(x.shape[1], *DEFAULT_NETWORK.sizes[1:]))
        config = config.with_lowrank(args.rank)
        with tqdm(total=args.samples, desc=name, unit="sample", file=sys.stderr) as bar:
            probe, _ = collect(config, to_intensity(x), y, samples=args.samples, seed=args.seed,
                               progress=lambda done: bar.update(done - bar.n))
        rows = summarise(probe, config)
        network = "-".join(map(str, config.sizes))
        plot(probe, config, OUT / f"ranges_{name}.png",
             title=f"{name}, {network}, rank {args.rank}, {args.samples} samples "
                   f"(red: format limits)")
        runs.append({"dataset": name, "network": list(config.sizes), "rank": args.rank,
                     "samples": args.samples, "seed": args.seed, "rows": rows})
        table += [[name, r["layer"], r["quantity"], r["format"], r["min_raw"], r["max_raw"],
                   f"{r['saturated_fraction']:.2%}", f"{r['peak_fraction_of_range']:.3f}",
                   f"{r['headroom_bits']:.1f}", f"{r['zero_fraction']:.2f}"] for r in rows]
    print_table(["dataset", "layer", "quantity", "format", "min raw", "max raw", "saturated",
                 "peak/range", "headroom bits", "zeros"], table)
    write_json("ranges", {"runs": runs})


if __name__ == "__main__":
    main()
