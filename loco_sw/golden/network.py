"""Bit-exact fixed-point LOCO network: whole clean/noisy passes and online training steps.

This composes the block models exactly as the on-chip learner sequences them, so its weights
after every sample are what the hardware must hold. Host-side steps (the re-orthonormalisation
of the projector bases) are float64 but deterministic, and write words the hardware loads.
"""

from dataclasses import dataclass

import torch

from hw.formats import (ENCODER_SEED, GRAM_SCHMIDT_TOL, INIT_HIDDEN_BIAS,
                        LOWRANK_GRAM_SCHMIDT_TOL, LOWRANK_START_SEED, PERTURB_SEED,
                        READOUT_INIT_SCALE, NetworkConfig)

from .learning import (basis_slots, centroid_update, forward_weights, loss_delta, lowrank_part,
                       modulator, project, readout, tracker_update, weight_update)
from .lif import layer_run
from .noise import encode_spikes, rademacher_negative, sample_seed, xorshift_words


__all__ = ["GoldenState", "init_state", "run_network", "perturbation_signs", "train_step",
           "train_step_seeded", "predict_seeded",
           "predict", "refresh_bases", "orthonormal_bases", "step_shift_for_epoch"]


@dataclass
class GoldenState:
    """Everything the learner stores, as raw words (one entry per layer)."""

    master: list                                  # (m, n + 1) master weight words
    centroids: list                               # (C + r, n + 1) vector words: centroids, tracker
    bases: list                                   # (2C + r, n + 1) basis words (see basis_slots)
    samples_seen: int = 0


def init_state(config: NetworkConfig, seed: int = 0, *,
               hidden_bias: float = INIT_HIDDEN_BIAS) -> GoldenState:
    """Uniform ``+-1/sqrt(fan_in)`` weights (PyTorch ``nn.Linear`` default), the readout's
    times ``READOUT_INIT_SCALE``;
    hidden biases then raised by ``hidden_bias`` (saturating)."""
    gen = torch.Generator().manual_seed(seed)
    fmt, master, centroids, bases = config.learning.master, [], [], []
    for layer, (n_in, n_out) in enumerate(zip(config.sizes[:-1], config.sizes[1:], strict=True)):
        bound = n_in ** -0.5 * (READOUT_INIT_SCALE if layer == config.layers - 1 else 1.0)
        w = (torch.rand(n_out, n_in + 1, generator=gen, dtype=torch.float64) * 2 - 1) * bound
        if layer < config.layers - 1:
            w[:, -1] += hidden_bias
        master.append(torch.clamp(torch.round(w * fmt.one).to(torch.int64),
                                  fmt.min_raw, fmt.max_raw))
        centroids.append(torch.zeros(config.centroid_rows, n_in + 1, dtype=torch.int64))
        bases.append(torch.zeros(config.basis_rows, n_in + 1, dtype=torch.int64))
    return GoldenState(master, centroids, bases)


def step_shift_for_epoch(config: NetworkConfig, epoch: int, schedule) -> int:
    """The TRAIN step shift in ``epoch`` (0-based): one more at each epoch listed in
    ``schedule`` reached so far, at most ``2**step_shift_bits - 1``."""
    return min(sum(1 for start in schedule if epoch >= start),
               (1 << config.learning.step_shift_bits) - 1)


def perturbation_signs(config: NetworkConfig, seeds) -> list:
    """Per layer, bool ``(B, m)``: ``True`` where the neuron's perturbation is ``-sigma``.

    One perturbation word per neuron, drawn layer by layer from the perturbation lane.
    """
    words = rademacher_negative(xorshift_words(seeds, sum(config.sizes[1:])))
    return list(torch.split(words, list(config.sizes[1:]), dim=-1))


def run_network(config: NetworkConfig, forward: list, spikes_in: torch.Tensor,
                negative: list | None = None, probe: dict | None = None,
                step_spikes: list | None = None):
    """One pass (clean if ``negative`` is None) from input spikes ``(B, T, n0)``.

    Returns ``(counts, y)``: per layer the spike counts ``(B, n_l)`` of its *input* (layer 0:
    the encoded input), and the output words ``(B, K)``. ``probe``: per layer a dict of the
    quantities before saturation (see :func:`train_step`); ``step_spikes``: a list that gets,
    per layer, the spikes its input carried in each step, ``(B, T)``.
    """
    sigma = config.noise_amplitude_raw
    counts, spikes = [], spikes_in
    for layer, weights in enumerate(forward):
        counts.append(spikes.sum(dim=1))
        if step_spikes is not None:
            step_spikes.append(spikes.sum(dim=2))
        perturbation = None if negative is None else \
            torch.where(negative[layer], -sigma, sigma).to(torch.int64)
        spikes, v = layer_run(spikes, weights, config.lif(layer), perturbation,
                              None if probe is None else probe.setdefault(layer, {}))
    return counts, readout(v, config.log2_timesteps, config.learning)


def _augment(counts: torch.Tensor, config: NetworkConfig) -> torch.Tensor:
    """Presynaptic vector words: spike counts and the bias input (count T), << vector.frac."""
    bias = torch.full(counts.shape[:-1] + (1,), config.timesteps, dtype=torch.int64)
    return torch.cat([counts, bias], dim=-1) << config.learning.vector.frac_bits


def train_step(config: NetworkConfig, state: GoldenState, intensity: torch.Tensor, label: int,
               index: int, **options) -> dict:
    """One online LOCO step on one sample (in place on ``state``); returns the step's words.

    ``index`` picks the sample's encoder and perturbation seeds (:func:`sample_seed`), so the
    host and the hardware agree on them; ``options`` as :func:`train_step_seeded`.
    """
    return train_step_seeded(config, state, intensity, label, sample_seed(ENCODER_SEED, index),
                             sample_seed(PERTURB_SEED, index), **options)


def train_step_seeded(config: NetworkConfig, state: GoldenState, intensity: torch.Tensor,
                      label: int, encoder_seed: int, perturb_seed: int, *,
                      use_projector: bool = True, update_centroids: bool = True,
                      step_shift: int = 0, probe: dict | None = None) -> dict:
    """:func:`train_step` with the lane seeds given (what a TRAIN command carries).

    ``step_shift`` (0 .. 3, the host's step-size schedule)
    is added to every layer's update shift. With ``use_projector=False`` this is plain NP (no
    low-rank part, no tracker update). ``probe`` (a dict) collects, per layer (key: the layer
    number) a dict of the datapath's quantities before saturation, for range reports:
    ``membrane``, ``coeff``, ``projected``, ``tracker``, ``update``, ``master``, and ``delta``
    (last layer); each a list of flat tensors.

    Returns the first and second pass's outputs ``y_first``/``y_noisy``, ``delta``, per layer
    the modulated ``errors`` and ``projected`` vectors, ``input_spikes``: per layer the
    spikes its input carried over the T steps of the first and of the second pass, and
    ``input_spikes_per_step``: the same per step (lists of T).
    """
    learn = config.learning
    forward = [forward_weights(w, config.weight_shift) for w in state.master]
    spikes_in = encode_spikes(intensity[None], [encoder_seed], config.timesteps)
    negative = perturbation_signs(config, [perturb_seed])
    # The first pass: clean, or perturbed by -xi (antithetic: dL is a central difference).
    first = [~n for n in negative] if config.learning.antithetic else None
    first_steps, second_steps = [], []
    first_counts, y_first = run_network(config, forward, spikes_in, first, probe, first_steps)
    counts, y_noisy = run_network(config, forward, spikes_in, negative, probe, second_steps)
    layer_probe = (lambda layer: None) if probe is None else \
        (lambda layer: probe.setdefault(layer, {}))
    clusters, rank = config.clusters, learn.rank
    delta = loss_delta(y_first, y_noisy, torch.tensor([label]), learn,
                       layer_probe(config.layers - 1))
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
            source = vector
            if rank:
                low = state.bases[layer][2 * clusters:]
                source, coeff = lowrank_part(vector, low, learn, layer_probe(layer))
                state.centroids[layer][clusters:] = tracker_update(
                    state.centroids[layer][clusters:], coeff, vector, learn, layer_probe(layer))
            slots, add = basis_slots(clusters, label)
            u = project(source, state.bases[layer][list(slots)], torch.tensor(add), learn,
                        layer_probe(layer))
        else:
            u = vector
        shift = learn.weight_shift_for(layer, config.layers) + step_shift
        state.master[layer] = weight_update(state.master[layer], error, u, learn, shift,
                                            layer_probe(layer))
        if update_centroids:
            state.centroids[layer] = centroid_update(state.centroids[layer], label, vector,
                                                     learn)
        errors.append(error)
        projected.append(u)
    state.samples_seen += 1
    return {"y_first": y_first[0], "y_noisy": y_noisy[0], "delta": int(delta[0]),
            "errors": errors, "projected": projected,
            "input_spikes": [[int(a[0].sum()), int(b[0].sum())]
                             for a, b in zip(first_counts, counts, strict=True)],
            "input_spikes_per_step": [[a[0].tolist(), b[0].tolist()]
                                      for a, b in zip(first_steps, second_steps, strict=True)]}


def predict(config: NetworkConfig, state: GoldenState, intensities: torch.Tensor,
            indices) -> torch.Tensor:
    """Clean-pass output words ``(B, K)`` for a batch (encoder seeds from ``indices``)."""
    return predict_seeded(config, state, intensities,
                          [sample_seed(ENCODER_SEED, int(i)) for i in indices])


def predict_seeded(config: NetworkConfig, state: GoldenState, intensities: torch.Tensor,
                   seeds) -> torch.Tensor:
    """:func:`predict` with the encoder seeds given (what an INFER command carries)."""
    forward = [forward_weights(w, config.weight_shift) for w in state.master]
    spikes_in = encode_spikes(intensities, list(seeds), config.timesteps)
    return run_network(config, forward, spikes_in)[1]


def _gram_schmidt(vectors: torch.Tensor, tolerance: float = GRAM_SCHMIDT_TOL) -> torch.Tensor:
    """Orthonormal rows spanning ``vectors`` (float64); a row whose residual is below
    ``tolerance`` of its norm (or zero) is dropped."""
    basis = []
    for v in vectors:
        norm = torch.linalg.vector_norm(v)
        if norm == 0:
            continue
        r = v.clone()
        for q in basis:
            r -= (q @ r) * q
        rnorm = torch.linalg.vector_norm(r)
        if rnorm > tolerance * norm:
            basis.append(r / rnorm)
    return torch.stack(basis) if basis else torch.zeros(0, vectors.shape[1], dtype=vectors.dtype)


def orthonormal_bases(centroids: torch.Tensor, config: NetworkConfig) -> torch.Tensor:
    """Basis words ``(2C + r, n)`` for one layer's centroid words ``(C + r, n)``.

    Rows ``0 .. 2C-1`` are the cluster slots (see :func:`basis_slots`); rows ``2C ..`` the
    low-rank basis: the tracker rows ``C ..`` orthonormalised in order (one subspace-iteration
    step), topped up from a fixed random start (``LOWRANK_START_SEED``) where a tracker row is
    zero or dependent, so the basis always has ``r`` rows (at the first refresh: the start).
    """
    fmt, clusters, rank = config.learning.basis, config.clusters, config.learning.rank
    c = centroids.to(torch.float64)
    out = torch.zeros(config.basis_rows, c.shape[1], dtype=torch.float64)
    q_all = _gram_schmidt(c[:clusters])
    out[:len(q_all)] = q_all
    for own in range(clusters):
        norm = torch.linalg.vector_norm(c[own])
        if norm == 0:
            continue
        q_others = _gram_schmidt(torch.cat([c[:own], c[own + 1:clusters]]))
        r = c[own] - (q_others @ c[own]) @ q_others if len(q_others) else c[own].clone()
        rnorm = torch.linalg.vector_norm(r)
        if rnorm > GRAM_SCHMIDT_TOL * norm:
            out[clusters + own] = r / rnorm
    if rank:
        start = torch.randn(rank, c.shape[1], dtype=torch.float64,
                            generator=torch.Generator().manual_seed(LOWRANK_START_SEED))
        out[2 * clusters:] = _gram_schmidt(torch.cat([c[clusters:], start]),
                                           LOWRANK_GRAM_SCHMIDT_TOL)[:rank]
    return torch.clamp(torch.round(out * fmt.one), fmt.min_raw, fmt.max_raw).to(torch.int64)


def refresh_bases(config: NetworkConfig, state: GoldenState) -> None:
    """Host step: recompute every layer's basis words from its centroids (in place)."""
    state.bases = [orthonormal_bases(c, config) for c in state.centroids]
