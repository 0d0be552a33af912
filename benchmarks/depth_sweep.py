"""(b) Accuracy vs depth on digits, NP vs LOCO vs BP (DFA too): width 64, 2 ... 14 layers.
``python benchmarks/depth_sweep.py [--depths 2,3,4,6,8,10,12,14 --epochs 30 --seeds 2]``."""

import argparse

from _common import OUT, mean_std, print_table, write_json

from loco_sw.data import load_digits_split
from loco_sw.plots import depth_curve
from loco_sw.train import TrainConfig, train


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--depths", default="2,3,4,6,8,10,12,14")
    parser.add_argument("--rules", default="np,loco,bp,dfa")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--init-gain", type=float, default=1.0,
                        help="hidden init bound = gain / sqrt(fan_in)")
    parser.add_argument("--name", default="depth_sweep")
    args = parser.parse_args()
    depths = [int(d) for d in args.depths.split(",")]
    rules = args.rules.split(",")
    results = {rule: {} for rule in rules}
    for depth in depths:
        for rule in rules:
            accs = [train(TrainConfig(rule=rule, hidden=(64,) * (depth - 1), epochs=args.epochs,
                                      seed=seed, init_gain=args.init_gain),
                          load_digits_split(seed=seed))
                    ["final_test_accuracy"] for seed in range(args.seeds)]
            results[rule][depth] = mean_std(accs)
            print(f"depth {depth:2d} {rule:5s} {results[rule][depth][0]:.3f}", flush=True)
    print_table(["depth", *rules], [[d, *(f"{results[r][d][0]:.3f}" for r in rules)]
                                    for d in depths])
    OUT.mkdir(parents=True, exist_ok=True)
    depth_curve(results, OUT / f"{args.name}.png",
                title=f"digits, width 64, {args.epochs} epochs, init gain {args.init_gain:g}")
    write_json(args.name, {"epochs": args.epochs, "seeds": args.seeds,
                           "init_gain": args.init_gain,
                               "accuracy": {r: {str(d): v for d, v in p.items()}
                                            for r, p in results.items()}})


if __name__ == "__main__":
    main()
