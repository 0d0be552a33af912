"""Bit-exact fixed-point LOCO network: whole clean/noisy passes and online training steps.

This composes the block models exactly as the on-chip learner sequences them, so its weights
after every sample are what the hardware must hold. Host-side steps (the re-orthonormalisation
of the projector bases) are float64 but deterministic, and write words the hardware loads.
"""

from dataclasses import dataclass

import torch

from hw.formats import ENCODER_SEED, GRAM_SCHMIDT_TOL, PERTURB_SEED, NetworkConfig

from .learning import (basis_slots, centroid_update, forward_weights, loss_delta, modulator,
                       project, readout, weight_update)
from .lif import layer_run
from .noise import encode_spikes, rademacher_negative, sample_seed, xorshift_words


__all__ = ["GoldenState", "init_state", "run_network", "perturbation_signs", "train_step",
           "predict", "refresh_bases", "orthonormal_bases"]


@dataclass
class GoldenState:
    """Everything the learner stores, as raw words (one entry per layer)."""

    master: list                                  # (m, n + 1) master weight words
    centroids: list                               # (C, n + 1) vector words
    bases: list                                   # (2C, n + 1) basis words (see basis_slots)
    samples_seen: int = 0


def init_state(config: NetworkConfig, seed: int = 0) -> GoldenState:
    """Uniform ``+-1/sqrt(fan_in)`` weights (PyTorch ``nn.Linear`` default), readout x 0.1."""
    gen = torch.Generator().manual_seed(seed)
    fmt, master, centroids, bases = config.learning.master, [], [], []
    for layer, (n_in, n_out) in enumerate(zip(config.sizes[:-1], config.sizes[1:], strict=True)):
        bound = n_in ** -0.5 * (0.1 if layer == config.layers - 1 else 1.0)
        w = (torch.rand(n_out, n_in + 1, generator=gen, dtype=torch.float64) * 2 - 1) * bound
        master.append(torch.clamp(torch.round(w * fmt.one).to(torch.int64),
                                  fmt.min_raw, fmt.max_raw))
        centroids.append(torch.zeros(config.clusters, n_in + 1, dtype=torch.int64))
        bases.append(torch.zeros(2 * config.clusters, n_in + 1, dtype=torch.int64))
    return GoldenState(master, centroids, bases)


def perturbation_signs(config: NetworkConfig, seeds) -> list:
    """Per layer, bool ``(B, m)``: ``True`` where the neuron's perturbation is ``-sigma``.

    One perturbation word per neuron, drawn layer by layer from the perturbation lane.
    """
    words = rademacher_negative(xorshift_words(seeds, sum(config.sizes[1:])))
    return list(torch.split(words, list(config.sizes[1:]), dim=-1))


def run_network(config: NetworkConfig, forward: list, spikes_in: torch.Tensor,
                negative: list | None = None):
    """One pass (clean if ``negative`` is None) from input spikes ``(B, T, n0)``.

    Returns ``(counts, y)``: per layer the spike counts ``(B, n_l)`` of its *input* (layer 0:
    the encoded input), and the output words ``(B, K)``.
    """
    sigma = config.noise_amplitude_raw
    counts, spikes = [], spikes_in
    for layer, weights in enumerate(forward):
        counts.append(spikes.sum(dim=1))
        perturbation = None if negative is None else \
            torch.where(negative[layer], -sigma, sigma).to(torch.int64)
        spikes, v = layer_run(spikes, weights, config.lif(layer), perturbation)
    return counts, readout(v, config.log2_timesteps, config.learning)


def _augment(counts: torch.Tensor, config: NetworkConfig) -> torch.Tensor:
    """Presynaptic vector words: spike counts and the bias input (count T), << vector.frac."""
    bias = torch.full(counts.shape[:-1] + (1,), config.timesteps, dtype=torch.int64)
    return torch.cat([counts, bias], dim=-1) << config.learning.vector.frac_bits


def train_step(config: NetworkConfig, state: GoldenState, intensity: torch.Tensor, label: int,
               index: int, *, use_projector: bool = True, update_centroids: bool = True) -> dict:
    """One online LOCO step on one sample (in place on ``state``); returns the step's words.

    ``index`` picks the sample's encoder and perturbation seeds (:func:`sample_seed`), so the
    host and the hardware agree on them. With ``use_projector=False`` this is plain NP.
    """
    learn = config.learning
    forward = [forward_weights(w, config.weight_shift) for w in state.master]
    spikes_in = encode_spikes(intensity[None], [sample_seed(ENCODER_SEED, index)],
                              config.timesteps)
    negative = perturbation_signs(config, [sample_seed(PERTURB_SEED, index)])
    _, y_clean = run_network(config, forward, spikes_in)
    counts, y_noisy = run_network(config, forward, spikes_in, negative)
    delta = loss_delta(y_clean, y_noisy, torch.tensor([label]), learn)
    post_counts = counts[1:] + [None]
    errors, projected = [], []
    for layer in range(config.layers):
        vector = _augment(counts[layer][0], config)
        if layer < config.layers - 1:
            mask = (post_counts[layer] > 0) & (post_counts[layer] < config.timesteps)
        else:
            mask = torch.ones_like(negative[layer])
        error = modulator(delta, negative[layer], mask)[0]
        if use_projector:
            slots, add = basis_slots(config.clusters, label)
            u = project(vector, state.bases[layer][list(slots)], torch.tensor(add), learn)
        else:
            u = vector
        shift = learn.weight_shift_for(layer, config.layers)
        state.master[layer] = weight_update(state.master[layer], error, u, learn, shift)
        if update_centroids:
            state.centroids[layer] = centroid_update(state.centroids[layer], label, vector,
                                                     learn)
        errors.append(error)
        projected.append(u)
    state.samples_seen += 1
    return {"y_clean": y_clean[0], "y_noisy": y_noisy[0], "delta": int(delta[0]),
            "errors": errors, "projected": projected}


def predict(config: NetworkConfig, state: GoldenState, intensities: torch.Tensor,
            indices) -> torch.Tensor:
    """Clean-pass output words ``(B, K)`` for a batch (encoder seeds from ``indices``)."""
    forward = [forward_weights(w, config.weight_shift) for w in state.master]
    seeds = [sample_seed(ENCODER_SEED, int(i)) for i in indices]
    spikes_in = encode_spikes(intensities, seeds, config.timesteps)
    return run_network(config, forward, spikes_in)[1]


def _gram_schmidt(vectors: torch.Tensor) -> torch.Tensor:
    """Orthonormal rows spanning ``vectors`` (float64); a row whose residual is below
    ``GRAM_SCHMIDT_TOL`` of its norm (or zero) is dropped."""
    basis = []
    for v in vectors:
        norm = torch.linalg.vector_norm(v)
        if norm == 0:
            continue
        r = v.clone()
        for q in basis:
            r -= (q @ r) * q
        rnorm = torch.linalg.vector_norm(r)
        if rnorm > GRAM_SCHMIDT_TOL * norm:
            basis.append(r / rnorm)
    return torch.stack(basis) if basis else torch.zeros(0, vectors.shape[1], dtype=vectors.dtype)


def orthonormal_bases(centroids: torch.Tensor, config: NetworkConfig) -> torch.Tensor:
    """Basis words ``(2C, n)`` for one layer's centroid words ``(C, n)`` (see basis_slots)."""
    fmt, clusters = config.learning.basis, config.clusters
    c = centroids.to(torch.float64)
    out = torch.zeros(2 * clusters, c.shape[1], dtype=torch.float64)
    q_all = _gram_schmidt(c)
    out[:len(q_all)] = q_all
    for own in range(clusters):
        norm = torch.linalg.vector_norm(c[own])
        if norm == 0:
            continue
        q_others = _gram_schmidt(torch.cat([c[:own], c[own + 1:]]))
        r = c[own] - (q_others @ c[own]) @ q_others if len(q_others) else c[own].clone()
        rnorm = torch.linalg.vector_norm(r)
        if rnorm > GRAM_SCHMIDT_TOL * norm:
            out[clusters + own] = r / rnorm
    return torch.clamp(torch.round(out * fmt.one), fmt.min_raw, fmt.max_raw).to(torch.int64)


def refresh_bases(config: NetworkConfig, state: GoldenState) -> None:
    """Host step: recompute every layer's basis words from its centroids (in place)."""
    state.bases = [orthonormal_bases(c, config) for c in state.centroids]
