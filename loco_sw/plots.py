"""PNG plots of runs: learning curves, accuracy vs depth, forgetting (accuracy) matrix, a
build's Fmax and throughput against its neuron lanes."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["learning_curves", "depth_curve", "accuracy_matrix", "fmax_and_throughput"]


def _label(ax, *, title, xlabel, ylabel):
    """Axis labels, title, grid and legend."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()


def _save(fig, path):
    """Lay out, save as PNG and close."""
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _finish(fig, ax, path, *, title, xlabel, ylabel):
    """Label one plot (:func:`_label`) and save it (:func:`_save`)."""
    _label(ax, title=title, xlabel=xlabel, ylabel=ylabel)
    _save(fig, path)


def learning_curves(runs: dict, path: Path, *, title="", key="test_accuracy"):
    """``runs``: label -> history dict with ``epoch`` and ``key``."""
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    styles = ["-", "--", ":", "-."]          # identical curves (bit-exact twins) stay visible
    for k, (label, history) in enumerate(runs.items()):
        ax.plot(history["epoch"], history[key], styles[k % len(styles)], marker=".",
                label=label)
    _finish(fig, ax, path, title=title, xlabel="epoch", ylabel=key.replace("_", " "))


def depth_curve(results: dict, path: Path, *, title="accuracy vs depth"):
    """``results``: rule -> {depth: (mean, std)}."""
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for rule, points in results.items():
        depths = sorted(points)
        ax.errorbar(depths, [points[d][0] for d in depths], yerr=[points[d][1] for d in depths],
                    marker="o", capsize=3, label=rule)
    _finish(fig, ax, path, title=title, xlabel="layers (hidden + readout)",
            ylabel="test accuracy")


def accuracy_matrix(matrix, path: Path, *, title="accuracy after each task"):
    """``matrix[i][j]``: accuracy on task j after learning task i."""
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    image = ax.imshow(matrix, vmin=0, vmax=1, cmap="viridis")
    for i, row in enumerate(matrix):
        for j, value in enumerate(row):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center",
                    color="white" if value < 0.6 else "black", fontsize=8)
    ax.set_xlabel("evaluated task")
    ax.set_ylabel("after learning task")
    ax.set_title(title)
    fig.colorbar(image, ax=ax)
    _save(fig, path)


def fmax_and_throughput(points: dict, path: Path, *, goals, title=""):
    """``points``: neuron lanes (all layers) -> (Fmax MHz, training samples/s at Fmax);
    ``goals``: (MHz, samples/s), drawn as dashed lines."""
    lanes = sorted(points)
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for k, (ax, goal, label) in enumerate(zip(axes, goals, ("Fmax (MHz)",
                                                            "training samples/s at Fmax"),
                                              strict=True)):
        ax.plot(lanes, [points[n][k] for n in lanes], marker="o", label="measured")
        ax.axhline(goal, linestyle="--", color="tab:red", label=f"goal {goal:g}")
        ax.set_xscale("log", base=2)
        ax.set_xticks(lanes, [str(n) for n in lanes])
        ax.set_ylim(bottom=0)
        _label(ax, title="", xlabel="neuron lanes (all layers)", ylabel=label)
    fig.suptitle(title)
    _save(fig, path)
