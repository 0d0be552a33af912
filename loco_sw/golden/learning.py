"""Bit-exact model of the learning datapath: loss difference, modulator, projector, update.

Every formula is the one written in :class:`hw.formats.LearningConfig`; raw words are ``int64``.
"""

import torch

from hw.formats import LearningConfig

from .lif import round_shift, saturate


__all__ = ["readout", "loss_delta", "modulator", "basis_slots", "project", "lowrank_part",
           "tracker_update", "weight_update", "centroid_update", "forward_weights"]


def _probe(probe, name, value):
    """Record ``value`` (a quantity before its saturation) under ``name`` for range reports."""
    if probe is not None:
        probe.setdefault(name, []).append(value.detach().flatten())


def readout(v: torch.Tensor, log2_timesteps: int, config: LearningConfig) -> torch.Tensor:
    """Output word per class: the integrator membrane divided by ``T`` (rounded), saturated."""
    return saturate(round_shift(v, log2_timesteps), config.output)


def loss_delta(y_clean: torch.Tensor, y_noisy: torch.Tensor, labels: torch.Tensor,
               config: LearningConfig, probe: dict | None = None) -> torch.Tensor:
    """``K * (L(y~) - L(y))`` for the MSE to one-hot targets, in the difference form.

    ``y_*`` are ``(B, K)`` output words, ``labels`` ``(B,)``; returns ``(B,)`` delta words.
    """
    target = torch.zeros_like(y_clean)
    target[torch.arange(len(labels)), labels] = config.output.one
    diff = y_noisy - y_clean
    total = (diff * (y_noisy + y_clean - 2 * target)).sum(dim=-1)
    bound = config.delta.max_raw        # symmetric: -delta must fit the error word
    delta = round_shift(total, config.delta_shift)
    _probe(probe, "delta", delta)
    return torch.clamp(delta, -bound, bound)


def modulator(delta: torch.Tensor, negative: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-neuron error ``e_i = m_i * sign(xi_i) * dL``: ``(B,)`` x ``(B, m)`` -> ``(B, m)``."""
    signed = torch.where(negative, -delta[:, None], delta[:, None])
    return torch.where(mask, signed, torch.zeros_like(signed))


def basis_slots(clusters: int, own) -> tuple:
    """Slots of the basis memory the projector uses for a sample of cluster ``own``.

    The memory holds ``2C`` vectors: an orthonormal basis of all ``C`` centroids (slots
    ``0 .. C-1``, removed) and per cluster the unit residual of its centroid against the others
    (slot ``C + own``, added back), so that ``u = x - P_all x + r r^T x = (I - P_others) x``.
    Returns ``(slots, add)``: ``C + 1`` slot indices and whether each is added back.
    """
    return tuple(range(clusters)) + (clusters + own,), (False,) * clusters + (True,)


def _coefficients(vector, basis, config: LearningConfig, probe) -> torch.Tensor:
    """Coefficient words ``saturate(round_shift(q_k . v, dot_shift))`` of the rows ``q_k``."""
    dots = round_shift(basis @ vector, config.dot_shift)
    _probe(probe, "coeff", dots)
    return saturate(dots, config.coeff)


def project(vector: torch.Tensor, basis: torch.Tensor, add: torch.Tensor,
            config: LearningConfig, probe: dict | None = None) -> torch.Tensor:
    """Projected presynaptic vector ``u = v - sum_k (+-) q_k (q_k^T v)`` in vector words.

    ``vector`` ``(n,)`` vector words; ``basis`` ``(K, n)`` basis words; ``add`` ``(K,)`` bool
    (``True``: the term is added back instead of removed). ``probe`` (a dict) collects the
    coefficients and the vector before saturation, under ``coeff`` and ``projected``.
    """
    coeff = _coefficients(vector, basis, config, probe)
    signed = torch.where(add, -coeff, coeff)
    u = vector - round_shift(signed @ basis, config.expand_shift)
    _probe(probe, "projected", u)
    return saturate(u, config.vector)


def lowrank_part(vector: torch.Tensor, basis: torch.Tensor, config: LearningConfig,
                 probe: dict | None = None) -> tuple:
    """The part ``w = P P^T v`` of ``vector`` in the span of the low-rank rows ``basis`` ``(r, n)``.

    Returns ``(w, b)``: vector words and the ``r`` coefficient words ``b = P^T v``. The expansion
    is the projector's datapath with a zero vector and every slot added back, so
    ``w = saturate(-round_shift(sum_k -b_k p_k))``.
    """
    coeff = _coefficients(vector, basis, config, probe)
    w = -round_shift(-coeff @ basis, config.expand_shift)
    _probe(probe, "projected", w)
    return saturate(w, config.vector), coeff


def tracker_update(tracker: torch.Tensor, coeff: torch.Tensor, vector: torch.Tensor,
                   config: LearningConfig, probe: dict | None = None) -> torch.Tensor:
    """Subspace tracker rows ``(r, n)`` moved toward ``b_k v`` by ``2**-centroid_shift``.

    ``b_k v_j`` is scaled down by ``2**-tracker_shift`` (vector words); the rows follow
    ``E[v v^T] p_k``, which the host re-orthonormalises into the next low-rank basis.
    """
    products = round_shift(coeff[:, None] * vector[None, :],
                           config.coeff.frac_bits + config.tracker_shift)
    _probe(probe, "tracker", products)
    target = saturate(products, config.vector)
    return tracker + round_shift(target - tracker, config.centroid_shift)


def weight_update(master: torch.Tensor, error: torch.Tensor, u: torch.Tensor,
                  config: LearningConfig, shift: int, probe: dict | None = None) -> torch.Tensor:
    """Rank-1 saturating update ``W -= round_shift(e u^T, shift)`` of master words."""
    step = round_shift(error[:, None] * u[None, :], shift)
    _probe(probe, "update", step)
    updated = master - step
    _probe(probe, "master", updated)
    return saturate(updated, config.master)


def centroid_update(centroids: torch.Tensor, own: int, vector: torch.Tensor,
                    config: LearningConfig) -> torch.Tensor:
    """Move centroid ``own`` toward ``vector`` (both vector words) by ``2**-centroid_shift``."""
    out = centroids.clone()
    out[own] += round_shift(vector - centroids[own], config.centroid_shift)
    return out


def forward_weights(master: torch.Tensor, shift: int) -> torch.Tensor:
    """Forward (LIF-side) weight words of master words: arithmetic shift (floor)."""
    return master >> shift
