"""Float reference training: LOCO, NP and BP on the clipped-ReLU rate surrogate of the IF/LIF SNN.

The hidden nonlinearity ``clip(a, 0, 1)`` is the firing-rate model of a soft-reset IF neuron
(``loco-algorithm.md`` section 1.2); the readout is linear, the loss MSE to one-hot targets.
NP and LOCO use no autograd: one clean and one noisy pass, one scalar loss difference per sample,
every layer updated at once. LOCO right-multiplies each layer's NP update by the projector away
from the *other* classes' input centroids (online running means), applied to the presynaptic
vector. Plain SGD keeps that projection exact (Adam would not).
"""

import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = ["TrainConfig", "Network", "other_cluster_bases", "np_gradients", "train", "RULES"]

RULES = ("loco", "np", "bp")


@dataclass(frozen=True)
class TrainConfig:
    rule: str = "loco"
    hidden: tuple = (64,)
    epochs: int = 20
    lr: float = 0.05
    sigma: float = 0.05
    batch: int = 16
    seed: int = 0
    centroid_momentum: float = 0.05
    refresh: int = 20  # steps between projector rebuilds

    def __post_init__(self):
        if self.rule not in RULES:
            raise ValueError(f"Rule must be one of {', '.join(RULES)}, not {self.rule!r}")
        if not self.hidden or any(not isinstance(h, int) or h < 1 for h in self.hidden):
            raise ValueError(f"Hidden widths must be positive integers, not {self.hidden!r}")
        for name in ("epochs", "batch", "refresh"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name.capitalize()} must be a positive integer, "
                                 f"not {getattr(self, name)!r}")
        for name in ("lr", "sigma"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name.capitalize()} must be positive, "
                                 f"not {getattr(self, name)!r}")


class Network:
    """Weights ``(n_out, n_in + 1)`` per layer, bias last (PyTorch ``nn.Linear`` init, readout
    x 0.1 as in the official code)."""

    def __init__(self, sizes, generator):
        self.weights = []
        for layer, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            bound = n_in ** -0.5 * (0.1 if layer == len(sizes) - 2 else 1.0)
            self.weights.append((torch.rand(n_out, n_in + 1, generator=generator,
                                            dtype=torch.float64) * 2 - 1) * bound)

    def forward(self, x, noise=None):
        """Returns the layer inputs (augmented), the pre-noise activations and the output."""
        inputs, activations, h = [], [], x
        for layer, w in enumerate(self.weights):
            h_aug = torch.cat([h, torch.ones(len(h), 1, dtype=h.dtype)], dim=1)
            inputs.append(h_aug)
            a = h_aug @ w.T
            mu = a if layer == len(self.weights) - 1 else a.clamp(0, 1)
            activations.append(mu)
            h = mu if noise is None else mu + noise[layer]
        return inputs, activations, h


def mse(y, target):
    return ((y - target) ** 2).mean(dim=1)


def other_cluster_bases(centroids: torch.Tensor, tol: float = 1e-6) -> torch.Tensor:
    """Per class ``c``, an orthonormal basis ``(C, n, C-1)`` of the other classes' centroids
    (columns of zero where a centroid is missing or dependent)."""
    classes, n = centroids.shape
    bases = torch.zeros(classes, n, classes - 1, dtype=centroids.dtype)
    for own in range(classes):
        others = torch.cat([centroids[:own], centroids[own + 1:]]).T
        q, r = torch.linalg.qr(others)
        keep = r.diagonal().abs() > tol * max(1.0, float(r.diagonal().abs().max()))
        bases[own][:, keep] = q[:, keep]
    return bases


def np_gradients(net, x, target, sigma, generator, bases=None, labels=None):
    """NP (or, with ``bases``, LOCO) weight gradients of one mini-batch, no autograd."""
    noise = [torch.randn(len(x), w.shape[0], generator=generator, dtype=x.dtype) * sigma
             for w in net.weights]
    _, _, y = net.forward(x)
    inputs, activations, y_noisy = net.forward(x, noise)
    delta = mse(y_noisy, target) - mse(y, target)
    grads = []
    for layer, (h, mu, xi) in enumerate(zip(inputs, activations, noise, strict=True)):
        mask = torch.ones_like(mu) if layer == len(net.weights) - 1 else \
            ((mu > 0) & (mu < 1)).to(mu.dtype)
        error = delta[:, None] * xi * mask / sigma ** 2
        if bases is not None:
            q = bases[layer][labels]                      # (B, n, C-1)
            h = h - torch.einsum("bnk,bk->bn", q, torch.einsum("bnk,bn->bk", q, h))
        grads.append(error.T @ h / len(x))
    return grads


def bp_gradients(net, x, target):
    weights = [w.clone().requires_grad_(True) for w in net.weights]
    h = x
    for layer, w in enumerate(weights):
        a = torch.cat([h, torch.ones(len(h), 1, dtype=h.dtype)], dim=1) @ w.T
        h = a if layer == len(weights) - 1 else a.clamp(0, 1)
    mse(h, target).mean().backward()
    return [w.grad for w in weights]


def accuracy(net, x, labels) -> float:
    return float((net.forward(x)[2].argmax(1) == labels).double().mean())


def train(config: TrainConfig, data, *, progress=None) -> dict:
    """Train on ``data`` (x_train, y_train, x_test, y_test; x in [0, 1]); return metrics."""
    x_train, y_train, x_test, y_test = data
    classes = int(max(y_train.max(), y_test.max())) + 1
    gen = torch.Generator().manual_seed(config.seed)
    sizes = (x_train.shape[1], *config.hidden, classes)
    net = Network(sizes, gen)
    centroids = [torch.zeros(classes, n + 1, dtype=torch.float64) for n in sizes[:-1]]
    bases, step = None, 0
    history = {"epoch": [], "train_accuracy": [], "test_accuracy": [], "seconds": []}
    started = time.monotonic()
    for epoch in range(config.epochs):
        order = torch.randperm(len(x_train), generator=gen)
        for first in range(0, len(order), config.batch):
            index = order[first:first + config.batch]
            x, labels = x_train[index], y_train[index]
            target = torch.nn.functional.one_hot(labels, classes).to(x.dtype)
            if config.rule == "bp":
                grads = bp_gradients(net, x, target)
            else:
                if config.rule == "loco":
                    inputs, _, _ = net.forward(x)
                    for layer, h in enumerate(inputs):
                        for c in labels.unique():
                            mean = h[labels == c].mean(0)
                            centroids[layer][c] += config.centroid_momentum * \
                                (mean - centroids[layer][c])
                    if step % config.refresh == 0:
                        bases = [other_cluster_bases(c) for c in centroids]
                grads = np_gradients(net, x, target, config.sigma, gen,
                                     bases if config.rule == "loco" else None, labels)
            for w, g in zip(net.weights, grads, strict=True):
                w -= config.lr * g
            step += 1
        history["epoch"].append(epoch + 1)
        history["train_accuracy"].append(accuracy(net, x_train, y_train))
        history["test_accuracy"].append(accuracy(net, x_test, y_test))
        history["seconds"].append(round(time.monotonic() - started, 2))
        if progress is not None:
            progress(epoch, history)
    return {"config": dataclasses.asdict(config), "sizes": list(sizes), "history": history,
            "final_test_accuracy": history["test_accuracy"][-1], "network": net}


def save_run(result: dict, run_dir: Path) -> None:
    """Write ``metrics.json`` and ``learning_curve.png`` into ``run_dir``."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run_dir.mkdir(parents=True, exist_ok=True)
    metrics = {k: v for k, v in result.items() if k != "network"}
    (run_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    h = result["history"]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(h["epoch"], h["train_accuracy"], label="train")
    ax.plot(h["epoch"], h["test_accuracy"], label="test")
    ax.set_xlabel("epoch")
    ax.set_ylabel("accuracy")
    ax.set_title(f"{result['config']['rule'].upper()} {'-'.join(map(str, result['sizes']))}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(run_dir / "learning_curve.png", dpi=120)
    plt.close(fig)
