"""Learning rules: NP, LOCO (NP + cluster-orthogonal + low-rank projection), DFA and BP.

All but BP are local and use no autograd. NP/LOCO: a clean and a noisy pass with the same input
spikes, one scalar loss difference per sample, every layer updated at once::

    G_l = (1/B) sum_b (dL_b / sigma**2) (xi_lb * m_lb) u_lb^T,    u = P_l(label) h~_{l-1}

LOCO's ``P_l(c)`` removes the directions of the other clusters' centroids of the layer's input
and, with ``rank > 0``, keeps only a ``rank``-dimensional principal subspace
of the inputs inside that complement, as the official code's ``P_low`` (``loco-algorithm.md``
section 1.6). Because ``u`` is orthogonal to every protected centroid, an SGD step leaves the
layer's response to those prototypes unchanged. The clusters are the class labels (running class
means), or label-free: ``kmeans`` (as the paper: k-means over a ring buffer of recent normalised
inputs, re-run at each rebuild) or ``online`` (sequential k-means, usable at batch 1); without
labels a sample's own cluster is the nearest centroid by angle.
"""

import torch

__all__ = ["Projector", "CLUSTER_MODES", "kmeans", "farthest_points", "orthonormal_columns",
           "np_gradients", "bp_gradients", "dfa_gradients", "mse"]

CLUSTER_MODES = ("labels", "kmeans", "online")


def mse(y, target):
    return ((y - target) ** 2).mean(dim=1)


def orthonormal_columns(vectors: torch.Tensor, tol: float = 1e-6) -> torch.Tensor:
    """Orthonormal basis ``(n, r)`` of the span of the columns of ``vectors``: Gram-Schmidt
    order, a column whose remainder is at most ``tol`` x the largest is dropped (and the QR
    redone without it, so the later columns keep their component along it)."""
    while vectors.shape[1]:
        q, r = torch.linalg.qr(vectors)
        diag = r.diagonal().abs()
        small = (diag <= tol * max(float(diag.max()), 1e-300)).nonzero()
        if not len(small):
            return q
        drop = int(small[0])
        vectors = torch.cat([vectors[:, :drop], vectors[:, drop + 1:]], dim=1)
    return vectors


def _directions(h: torch.Tensor) -> torch.Tensor:
    """Rows of ``h`` scaled to unit length (zero rows stay zero)."""
    return h / h.norm(dim=1, keepdim=True).clamp(min=1e-12)


def farthest_points(points: torch.Tensor, count: int) -> torch.Tensor:
    """``count`` start centers: the first point, then each time the point farthest from those
    chosen (deterministic k-means++ without the sampling)."""
    chosen = [0]
    distance = torch.cdist(points, points[:1])[:, 0]
    for _ in range(count - 1):
        chosen.append(int(distance.argmax()))
        distance = torch.minimum(distance, torch.cdist(points, points[chosen[-1:]])[:, 0])
    return points[chosen].clone()


def _member_means(members: torch.Tensor, points: torch.Tensor) -> tuple:
    """Per group (a column of the 0/1 matrix ``members``, rows = points): the mean of its points
    (0 for an empty group) and the number of points."""
    counts = members.sum(0)
    return (members.T @ points) / counts.clamp(min=1)[:, None], counts


def _one_hot(groups: torch.Tensor, count: int) -> torch.Tensor:
    return torch.nn.functional.one_hot(groups, count).to(torch.float64)


def kmeans(points: torch.Tensor, centers: torch.Tensor, iterations: int = 10) -> torch.Tensor:
    """Lloyd's k-means from ``centers`` (Euclidean); a center that loses all its points keeps
    its place. Returns the new centers."""
    centers = centers.clone()
    for _ in range(iterations):
        nearest = torch.cdist(points, centers).argmin(1)
        moved, counts = _member_means(_one_hot(nearest, len(centers)), points)
        centers = torch.where((counts > 0)[:, None], moved, centers)
    return centers


class Projector:
    """Per-layer LOCO projector state: class centroids, input second moments, bases per class.

    Parameters
    ----------
    sizes : network sizes; classes : number of clusters (the classes, with ``clusters="labels"``)
    momentum : running-mean rate of the centroids and second moments
    clusters : ``labels`` (class means), ``kmeans`` (k-means over a ring buffer of the last
        ``buffer`` normalised inputs, re-run at each rebuild) or ``online`` (sequential k-means
        of the normalised inputs: the first ``classes`` distinct inputs seed the clusters, then
        each batch moves every center toward the mean of its nearest inputs by ``momentum``)
    rank : 0 for the cluster part only, else the low-rank dimension
    source : ``running`` (second moment over time) or ``batch`` (PCA of the current batch, as the
        official code)
    """

    # Batches whose gathered per-sample bases (B x n x k) exceed this many numbers are projected
    # one class at a time (a GEMM per class) instead.
    GATHER_LIMIT = 1 << 21

    def __init__(self, sizes, classes, *, momentum=0.05, rank=0, source="running",
                 clusters="labels", buffer=1000):
        if source not in ("running", "batch"):
            raise ValueError(f"Low-rank source must be 'running' or 'batch', not {source!r}")
        if clusters not in CLUSTER_MODES:
            raise ValueError(f"Clusters must be one of {', '.join(CLUSTER_MODES)}, "
                             f"not {clusters!r}")
        if not isinstance(buffer, int) or buffer < classes:
            raise ValueError(f"Buffer must be an integer >= {classes} (the clusters), "
                             f"not {buffer!r}")
        self.clusters, self.buffer = clusters, buffer
        self.recent = [torch.zeros(0, n + 1, dtype=torch.float64) for n in sizes[:-1]]
        if not isinstance(rank, int) or rank < 0:
            raise ValueError(f"Rank must be a non-negative integer, not {rank!r}")
        self.classes, self.momentum, self.rank, self.source = classes, momentum, rank, source
        self.centroids = [torch.zeros(classes, n + 1, dtype=torch.float64) for n in sizes[:-1]]
        self.seen = [torch.zeros(classes, dtype=torch.bool) for _ in sizes[:-1]]
        self.moments = [torch.zeros(n + 1, n + 1, dtype=torch.float64) for n in sizes[:-1]]
        self.bases = None

    def own_clusters(self, layer, h, labels):
        """Each sample's own cluster: its label, or (label-free) the centroid nearest by angle."""
        if self.clusters == "labels":
            return labels
        centroids = _directions(self.centroids[layer])
        return (_directions(h) @ centroids.T).argmax(1)

    def _observe_kmeans(self, layer, h):
        directions = _directions(h)
        if self.clusters == "kmeans":
            self.recent[layer] = torch.cat([self.recent[layer], directions])[-self.buffer:]
            return
        seen = self.seen[layer]
        for d in directions[:int((~seen).sum())]:       # seed the clusters one by one
            if not seen.any() or (_directions(self.centroids[layer][seen]) @ d).max() < 0.999:
                slot = int((~seen).nonzero()[0])
                self.centroids[layer][slot], seen[slot] = d, True
        if seen.all():
            nearest = (directions @ self.centroids[layer].T).argmax(1)
            means, counts = _member_means(_one_hot(nearest, self.classes), directions)
            rate = self.momentum * (counts > 0)
            self.centroids[layer] += rate[:, None] * (means - self.centroids[layer])

    def observe(self, inputs, labels):
        """Move the centroids of the classes in ``labels`` toward their mean clean inputs (a
        class seen for the first time jumps to its mean); label-free: buffer (``kmeans``) or
        cluster (``online``) the inputs' directions, ``labels`` unused."""
        if self.clusters == "labels":
            members = _one_hot(labels, self.classes)
            counts = members.sum(0)
            shares = members.T / counts.clamp(min=1)[:, None]    # (C, B): class-mean weights
            # 0 for absent classes, 1 for a first sighting, else the momentum (with labels every
            # layer has seen the same classes)
            rate = torch.where(self.seen[0], self.momentum, 1.0).double() * (counts > 0)
            for seen in self.seen:
                seen |= counts > 0
        for layer, h in enumerate(inputs):
            if self.clusters == "labels":
                self.centroids[layer].lerp_(shares @ h, rate[:, None])
            else:
                self._observe_kmeans(layer, h)
            if self.rank:       # moments <- (1 - momentum) moments + momentum h^T h / B
                self.moments[layer].addmm_(h.T, h, beta=1 - self.momentum,
                                           alpha=self.momentum / len(h))

    def rebuild(self, inputs=None):
        """Recompute the per-class bases (``inputs``: the batch, for ``source='batch'``)."""
        self.bases = []
        if self.clusters == "kmeans":
            self._rerun_kmeans()
        for layer, centroids in enumerate(self.centroids):
            principal = None
            if self.rank and self.source == "running":
                principal = torch.linalg.eigh(self.moments[layer])[1][:, -self.rank:]
            elif self.rank:     # the batch's top right singular vectors (at most B of them)
                principal = torch.linalg.svd(inputs[layer], full_matrices=False)[2][:self.rank].T
            stacked = None
            if self.seen[layer].all():
                stacked = _batched_bases(centroids, principal)
            if stacked is None:
                stacked = self._bases_one_by_one(layer, principal)
            self.bases.append(stacked)

    def _bases_one_by_one(self, layer, principal):
        """(C, n + 1, k) bases, one class at a time (unseen clusters, dependent centroids)."""
        centroids, seen = self.centroids[layer], self.seen[layer]
        per_class = []
        for own in range(self.classes):
            q = orthonormal_columns(centroids[(torch.arange(self.classes) != own) & seen].T)
            if principal is not None:
                q = _kept_directions(principal - q @ (q.T @ principal))
            per_class.append(q)
        stacked = torch.zeros(self.classes, centroids.shape[1],
                              max(1, max(q.shape[1] for q in per_class)), dtype=torch.float64)
        for own, q in enumerate(per_class):
            stacked[own, :, :q.shape[1]] = q
        return stacked

    def _rerun_kmeans(self):
        """k-means over each layer's buffer, from the previous centers (first time: farthest
        points — the official code takes evenly spaced rows of a class-sorted buffer, which in a
        shuffled stream can put two starts in one cluster); nothing until the buffer holds C
        inputs."""
        for layer, points in enumerate(self.recent):
            if len(points) < self.classes:
                continue
            if not self.seen[layer].all():
                start = farthest_points(points, self.classes)
            else:
                start = self.centroids[layer]
            self.centroids[layer] = kmeans(points, start)
            self.seen[layer][:] = True

    def apply(self, layer, h, labels):
        """Projected presynaptic vectors ``u`` ``(B, n + 1)`` for samples of ``labels``: the
        part in the own class's kept subspace (``rank > 0``), else ``h`` less its part in the
        other classes' centroids' span. Small batches gather each sample's basis (two batched
        products), large ones take a GEMM per class."""
        stacked = self.bases[layer]
        labels = self.own_clusters(layer, h, labels)
        if h.numel() * stacked.shape[2] <= self.GATHER_LIMIT:
            q = stacked[labels]                                         # (B, n + 1, k)
            part = torch.bmm(torch.bmm(h[:, None, :], q), q.transpose(1, 2))[:, 0]
        else:
            part = torch.empty_like(h)
            for c in labels.unique().tolist():
                rows = labels == c
                part[rows] = (h[rows] @ stacked[c]) @ stacked[c].T
        return part if self.rank else h - part


def _batched_bases(centroids, principal, tol=1e-6):
    """Every class's basis at once (one batched QR): the span of the other C - 1 centroids, or
    with ``principal`` (n + 1, r) the principal directions of that subspace's part outside them
    (those whose singular value is above 0.1 x the largest; zero columns for the rest). Returns
    None where a class's other centroids are linearly dependent (the caller then goes one class
    at a time)."""
    classes = len(centroids)
    others = torch.stack([torch.cat([centroids[:own], centroids[own + 1:]])
                          for own in range(classes)]).transpose(1, 2)   # (C, n + 1, C - 1)
    q, r = torch.linalg.qr(others)
    diag = r.diagonal(dim1=1, dim2=2).abs()
    if bool((diag <= tol * diag.amax(dim=1, keepdim=True).clamp(min=1e-300)).any()):
        return None
    if principal is None:
        return q
    return _kept_directions(principal - q @ (q.transpose(1, 2) @ principal))


def _kept_directions(kept, tol=0.1):
    """Orthonormal principal directions ``(..., n + 1, r)`` of the columns of ``kept``: the
    left singular vectors whose singular value exceeds ``tol`` x the largest, the others zero."""
    values, vectors = torch.linalg.eigh(kept.transpose(-1, -2) @ kept)     # ascending
    singular = values.clamp(min=0).sqrt()
    keep = singular > tol * singular[..., -1:].clamp(min=1e-300)
    return kept @ vectors * (keep / singular.clamp(min=1e-300)).unsqueeze(-2)


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
