"""(a) LOCO vs NP (BP for reference) convergence on digits: epochs to a target accuracy, final
accuracy, mean learning curves; ``loco-lif`` / ``np-lif`` train the LIF model (T = 16).
``python benchmarks/convergence.py [--epochs 30 --seeds 3 --rules loco,np,bp,loco-lif,np-lif]``
writes ``build/benchmarks/convergence.{json,png}``."""

import argparse

from _common import OUT, mean_std, print_table, rule_options, write_json

from loco_sw.data import load_digits_split
from loco_sw.plots import learning_curves
from loco_sw.train import TrainConfig, train


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--target", type=float, default=0.8)
    parser.add_argument("--rules", default="loco,np,bp,loco-lif,np-lif")
    args = parser.parse_args()
    results, curves, rows = {}, {}, []
    for rule in args.rules.split(","):
        runs = [train(TrainConfig(epochs=args.epochs, seed=seed, **rule_options(rule)),
                      load_digits_split(seed=seed)) for seed in range(args.seeds)]
        reach = [next((e for e, a in zip(r["history"]["epoch"], r["history"]["test_accuracy"],
                                         strict=True) if a >= args.target), None) for r in runs]
        final = mean_std(r["final_test_accuracy"] for r in runs)
        hits = [e for e in reach if e is not None]
        results[rule] = {"final_accuracy": final, "epochs_to_target": reach,
                         "curves": [r["history"]["test_accuracy"] for r in runs]}
        curves[rule] = {"epoch": runs[0]["history"]["epoch"],
                        "test_accuracy": [mean_std(c)[0] for c in
                                          zip(*results[rule]["curves"], strict=True)]}
        rows.append([rule, f"{final[0]:.3f} ± {final[1]:.3f}",
                     f"{mean_std(hits)[0]:.1f}" if hits else "never",
                     f"{len(hits)}/{args.seeds}"])
    print_table(["rule", "final test acc", f"epochs to {args.target}", "runs reaching"], rows)
    OUT.mkdir(parents=True, exist_ok=True)
    learning_curves(curves, OUT / "convergence.png", title=f"digits, mean of {args.seeds} seeds")
    write_json("convergence", {"target": args.target, "epochs": args.epochs, "rules": results})


if __name__ == "__main__":
    main()
