"""(c) Class-incremental continual learning (5 tasks of 2 classes): average accuracy after all
tasks and forgetting, LOCO (clusters from the labels, or label-free: ``loco-kmeans``,
``loco-online``) vs NP vs BP (DFA too); ``loco-lif`` / ``np-lif``: the LIF model.
``python benchmarks/continual.py [--epochs 10 --seeds 3 --data digits|mnist5k]`` writes
``build/benchmarks/continual.json`` (digits) or ``continual_mnist5k.json``."""

import argparse

from _common import OUT, mean_std, print_table, rule_options, write_json

from loco_sw.data import load_digits_split, load_mnist5k
from loco_sw.plots import accuracy_matrix
from loco_sw.train import TrainConfig, class_incremental_tasks, train


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=10, help="epochs per task")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rules", default="loco,loco-kmeans,loco-online,np,bp,dfa,loco-lif,np-lif",
                        help="rules; loco-<clusters> picks LOCO's label-free cluster mode, "
                             "<rule>-lif the LIF model (T = 16)")
    parser.add_argument("--data", choices=("digits", "mnist5k"), default="digits")
    args = parser.parse_args()
    tasks = class_incremental_tasks(10, 2)
    name = "continual" if args.data == "digits" else f"continual_{args.data}"
    results, rows = {}, []
    for rule in args.rules.split(","):
        runs = [train(TrainConfig(epochs=args.epochs, seed=seed, **rule_options(rule)),
                      load_digits_split(seed=seed) if args.data == "digits" else load_mnist5k(),
                      tasks=tasks) for seed in range(args.seeds)]
        avg = mean_std(r["average_accuracy"] for r in runs)
        forget = mean_std(r["forgetting"] for r in runs)
        results[rule] = {"average_accuracy": avg, "forgetting": forget,
                         "matrices": [r["accuracy_matrix"] for r in runs]}
        rows.append([rule, f"{avg[0]:.3f} ± {avg[1]:.3f}", f"{forget[0]:.3f} ± {forget[1]:.3f}"])
        OUT.mkdir(parents=True, exist_ok=True)
        accuracy_matrix(runs[0]["accuracy_matrix"], OUT / f"{name}_{rule}.png",
                        title=f"{rule.upper()}: accuracy after each task (seed 0)")
        print(f"{rule}: average {avg[0]:.3f}, forgetting {forget[0]:.3f}", flush=True)
    print_table(["rule", "average accuracy", "forgetting"], rows)
    write_json(name, {"data": args.data, "tasks": tasks, "epochs_per_task": args.epochs,
                      "rules": results})


if __name__ == "__main__":
    main()
