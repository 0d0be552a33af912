"""PNG plots of runs: learning curves, accuracy vs depth, forgetting (accuracy) matrix."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["learning_curves", "depth_curve", "accuracy_matrix"]


def learning_curves(runs: dict, path: Path, *, title="", key="test_accuracy"):
    """``runs``: label -> history dict with ``epoch`` and ``key``."""
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for label, history in runs.items():
        ax.plot(history["epoch"], history[key], label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(key.replace("_", " "))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def depth_curve(results: dict, path: Path, *, title="accuracy vs depth"):
    """``results``: rule -> {depth: (mean, std)}."""
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for rule, points in results.items():
        depths = sorted(points)
        ax.errorbar(depths, [points[d][0] for d in depths], yerr=[points[d][1] for d in depths],
                    marker="o", capsize=3, label=rule)
    ax.set_xlabel("layers (hidden + readout)")
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


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
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
