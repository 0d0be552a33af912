"""Learning rules: NP, LOCO (NP + cluster-orthogonal + low-rank projection), DFA and BP.

All but BP are local and use no autograd. NP/LOCO: a clean and a noisy pass with the same input
spikes, one scalar loss difference per sample, every layer updated at once::

    G_l = (1/B) sum_b (dL_b / sigma**2) (xi_lb * m_lb) u_lb^T,    u = P_l(label) h~_{l-1}

LOCO's ``P_l(c)`` removes the directions of the other classes' centroids of the layer's input
(online running means) and, with ``rank > 0``, keeps only a ``rank``-dimensional principal subspace
of the inputs inside that complement, as the official code's ``P_low`` (``loco-algorithm.md``
section 1.6). Because ``u`` is orthogonal to every protected centroid, an SGD step leaves the
layer's response to those prototypes unchanged.
"""

import torch

__all__ = ["Projector", "orthonormal_columns", "np_gradients", "bp_gradients", "dfa_gradients",
           "mse"]


def mse(y, target):
    return ((y - target) ** 2).mean(dim=1)


def orthonormal_columns(vectors: torch.Tensor, tol: float = 1e-6) -> torch.Tensor:
    """Orthonormal basis ``(n, r)`` of the span of the columns of ``vectors`` (dependent ones
    dropped)."""
    if vectors.shape[1] == 0:
        return vectors
    q, r = torch.linalg.qr(vectors)
    diag = r.diagonal().abs()
    return q[:, diag > tol * max(float(diag.max()), 1e-300)]


class Projector:
    """Per-layer LOCO projector state: class centroids, input second moments, bases per class.

    Parameters
    ----------
    sizes : network sizes; classes : number of classes (clusters)
    momentum : running-mean rate of the centroids and second moments
    rank : 0 for the cluster part only, else the low-rank dimension
    source : ``running`` (second moment over time) or ``batch`` (PCA of the current batch, as the
        official code)
    """

    # Batches whose gathered per-sample bases (B x n x k) exceed this many numbers are projected
    # one class at a time (a GEMM per class) instead.
    GATHER_LIMIT = 1 << 21

    def __init__(self, sizes, classes, *, momentum=0.05, rank=0, source="running"):
        if source not in ("running", "batch"):
            raise ValueError(f"Low-rank source must be 'running' or 'batch', not {source!r}")
        if not isinstance(rank, int) or rank < 0:
            raise ValueError(f"Rank must be a non-negative integer, not {rank!r}")
        self.classes, self.momentum, self.rank, self.source = classes, momentum, rank, source
        self.centroids = [torch.zeros(classes, n + 1, dtype=torch.float64) for n in sizes[:-1]]
        self.seen = [torch.zeros(classes, dtype=torch.bool) for _ in sizes[:-1]]
        self.moments = [torch.zeros(n + 1, n + 1, dtype=torch.float64) for n in sizes[:-1]]
        self.bases = None

    def observe(self, inputs, labels):
        """Move the centroids of the classes in ``labels`` toward their mean clean inputs (a
        class seen for the first time jumps to its mean)."""
        members = torch.nn.functional.one_hot(labels, self.classes).to(torch.float64)  # (B, C)
        counts = members.sum(0)
        present = counts > 0
        for layer, h in enumerate(inputs):
            means = (members.T @ h) / counts.clamp(min=1)[:, None]
            # 0 for absent classes, 1 for a first sighting, else the momentum
            rate = torch.where(self.seen[layer], self.momentum, 1.0) * present
            self.centroids[layer] += rate[:, None] * (means - self.centroids[layer])
            self.seen[layer] |= present
            if self.rank:
                self.moments[layer] += self.momentum * (h.T @ h / len(h) - self.moments[layer])

    def rebuild(self, inputs=None):
        """Recompute the per-class bases (``inputs``: the batch, for ``source='batch'``)."""
        self.bases = []
        for layer, centroids in enumerate(self.centroids):
            seen = self.seen[layer]
            per_class = []
            if self.rank:
                moment = self.moments[layer] if self.source == "running" else \
                    inputs[layer].T @ inputs[layer] / len(inputs[layer])
                _, vectors = torch.linalg.eigh(moment)
                principal = vectors[:, -self.rank:]
            for own in range(self.classes):
                others = centroids[(torch.arange(self.classes) != own) & seen]
                q = orthonormal_columns(others.T)
                if self.rank:
                    kept = principal - q @ (q.T @ principal)
                    q = orthonormal_columns(kept, tol=0.1)
                per_class.append(q)
            # (C, n + 1, k): every class's basis, zero columns after its own k_c.
            stacked = torch.zeros(self.classes, centroids.shape[1],
                                  max(1, max(q.shape[1] for q in per_class)),
                                  dtype=torch.float64)
            for own, q in enumerate(per_class):
                stacked[own, :, :q.shape[1]] = q
            self.bases.append(stacked)

    def apply(self, layer, h, labels):
        """Projected presynaptic vectors ``u`` ``(B, n + 1)`` for samples of ``labels``: the
        part in the own class's kept subspace (``rank > 0``), else ``h`` less its part in the
        other classes' centroids' span. Small batches gather each sample's basis (two batched
        products), large ones take a GEMM per class."""
        stacked = self.bases[layer]
        if h.numel() * stacked.shape[2] <= self.GATHER_LIMIT:
            q = stacked[labels]                                         # (B, n + 1, k)
            part = torch.bmm(torch.bmm(h[:, None, :], q), q.transpose(1, 2))[:, 0]
        else:
            part = torch.empty_like(h)
            for c in labels.unique().tolist():
                rows = labels == c
                part[rows] = (h[rows] @ stacked[c]) @ stacked[c].T
        return part if self.rank else h - part


def _noise(kind, shape, sigma, generator):
    if kind == "gaussian":
        return torch.randn(shape, generator=generator, dtype=torch.float64) * sigma
    if kind == "rademacher":
        return (torch.randint(0, 2, shape, generator=generator).to(torch.float64) * 2 - 1) * sigma
    raise ValueError(f"Noise must be 'gaussian' or 'rademacher', not {kind!r}")


def np_gradients(net, x, target, *, sigma, generator, noise="gaussian", projector=None,
                 labels=None, spikes=None, clean=None):
    """NP (LOCO with ``projector``) gradients of one mini-batch; also returns the clean pass
    (``clean``: the clean pass of ``x`` and ``spikes`` when the caller has it already)."""
    noise_terms = [_noise(noise, (len(x), w.shape[0]), sigma, generator) for w in net.weights]
    clean = net.forward(x, spikes) if clean is None else clean
    noisy = net.forward(x, spikes, noise_terms)
    delta = mse(noisy.output, target) - mse(clean.output, target)
    grads = []
    for layer, (h, mask, xi) in enumerate(zip(noisy.inputs, noisy.masks, noise_terms,
                                              strict=True)):
        error = delta[:, None] * xi * mask / sigma ** 2
        u = h if projector is None else projector.apply(layer, h, labels)
        grads.append(error.T @ u / len(x))
    return grads, clean


def bp_gradients(net, x, target):
    """Backpropagation through the rate model (autograd)."""
    weights = [w.clone().requires_grad_(True) for w in net.weights]
    h = x
    for layer, w in enumerate(weights):
        a = torch.cat([h, torch.ones(len(h), 1, dtype=h.dtype)], dim=1) @ w.T
        h = a if layer == len(weights) - 1 else a.clamp(0, 1)
    mse(h, target).mean().backward()
    return [w.grad for w in weights]


def dfa_gradients(net, x, target, feedback):
    """Direct feedback alignment: the output error reaches every hidden layer through a fixed
    random matrix ``feedback[l]`` ``(K, n_l)``."""
    run = net.forward(x)
    error = 2 * (run.output - target) / target.shape[1]
    grads = []
    for layer, (h, mask) in enumerate(zip(run.inputs, run.masks, strict=True)):
        delta = error if layer == net.layers - 1 else (error @ feedback[layer]) * mask
        grads.append(delta.T @ h / len(x))
    return grads
