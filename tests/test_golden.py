"""Directed tests of the golden model's arithmetic rules (the spec decisions in hw.formats)."""

import dataclasses

import pytest
import torch

from hw.formats import (DEFAULT_LEARNING, DEFAULT_NETWORK, ENCODER_SEED, PERTURB_SEED,
                        XORSHIFT_WIDTH, LIFConfig, QFormat, xorshift32)
from loco_sw.golden import (basis_slots, encode_spikes, forward_weights, init_state,
                            lif_step, loss_delta, lowrank_part, modulator, orthonormal_bases,
                            perturbation_signs, predict, project, rademacher_negative,
                            refresh_bases, run_network, sample_seed, step_shift_for_epoch,
                            tracker_update, train_step, weight_update, xorshift_words)


def raw(*values):
    return torch.tensor(values, dtype=torch.int64)


def test_threshold_is_strict_and_reset_subtracts():
    config = LIFConfig(threshold=1.0, leak_shift=4)
    thr = config.threshold_raw
    v_next, spike = lif_step(raw(0, 0), raw(thr, thr + 1), config)
    assert spike.tolist() == [False, True]
    assert v_next.tolist() == [thr, 1]


def test_leak_rounds_toward_minus_infinity():
    v_next, _ = lif_step(raw(-1, 1, -17), raw(0, 0, 0), LIFConfig(leak_shift=4))
    assert v_next.tolist() == [0, 1, -15]


def test_membrane_saturates():
    config = LIFConfig(membrane=QFormat(5, 10), threshold=1.0, leak_shift=0)
    v_next, spike = lif_step(raw(0, 0), raw(10 ** 6, -10 ** 6), config)
    assert v_next.tolist() == [config.membrane.max_raw - config.threshold_raw,
                               config.membrane.min_raw]
    assert spike.tolist() == [True, False]


def test_integrator_never_spikes():
    config = LIFConfig(membrane=QFormat(12, 10), threshold=None, leak_shift=0)
    v, spike = lif_step(raw(5000), raw(5000), config)
    assert v.tolist() == [10000] and spike.tolist() == [False]


def test_xorshift_full_period_slice_has_no_repeat():
    words = xorshift_words([1], 1 << 16)[0]
    assert len(set(words.tolist())) == 1 << 16
    assert int(words.min()) > 0 and int(words.max()) < 1 << XORSHIFT_WIDTH
    # Marsaglia's published first outputs of xorshift32 (13, 17, 5) from seed 1
    assert words[:3].tolist() == [270369, 67634689, 2647435461]


@pytest.mark.parametrize("count", [0, 1, 3, 100, 2500])
def test_xorshift_words_equal_the_iterated_recurrence(count):
    # The GF(2) shortcut of xorshift_words against hw.formats.xorshift32 step by step.
    seeds = [1, 2, 0x80000000, (1 << 32) - 1, 0x2545F491, sample_seed(9, 4)]
    got = xorshift_words(torch.tensor(seeds).view(2, 3), count)
    assert got.shape == (2, 3, count)
    for lane, seed in zip(got.view(6, count), seeds, strict=True):
        state, want = seed, []
        for _ in range(count):
            state = xorshift32(state)
            want.append(state)
        assert lane.tolist() == want


def test_noise_statistics():
    words = xorshift_words([sample_seed(7, i) for i in range(64)], 1024).flatten()
    negative = rademacher_negative(words).double()
    assert abs(negative.mean() - 0.5) < 0.01


def test_encoder_replays_the_same_spikes():
    intensity = torch.randint(0, 256, (3, 64))
    seeds = [sample_seed(ENCODER_SEED, i) for i in range(3)]
    a = encode_spikes(intensity, seeds, 16)
    assert torch.equal(a, encode_spikes(intensity, seeds, 16))
    assert not torch.equal(a, encode_spikes(intensity, [s ^ 1 for s in seeds], 16))
    rate = encode_spikes(torch.full((1, 4000), 64), [5], 1).double().mean()
    assert abs(rate - 0.25) < 0.03


def test_encoder_rejects_out_of_range_intensity():
    with pytest.raises(ValueError, match=r"^Intensities must lie in \[0, 256\)$"):
        encode_spikes(torch.tensor([[256]]), [1], 4)


def test_loss_delta_matches_difference_of_losses():
    learn = DEFAULT_LEARNING
    y = torch.randint(-800, 1200, (50, 10))
    y_noisy = y + torch.randint(-60, 60, (50, 10))
    labels = torch.randint(0, 10, (50,))
    target = torch.nn.functional.one_hot(labels, 10) * learn.output.one
    exact = ((y_noisy - target) ** 2 - (y - target) ** 2).sum(-1).double() / 2 ** learn.delta_shift
    got = loss_delta(y, y_noisy, labels, learn).double()
    assert torch.all((got - exact).abs() <= 0.5)


def test_modulator_masks_and_signs():
    e = modulator(raw(100), torch.tensor([[True, False, True]]),
                  torch.tensor([[True, True, False]]))
    assert e.tolist() == [[-100, 100, 0]]


def test_projection_removes_other_clusters_and_keeps_own():
    config = DEFAULT_NETWORK
    learn = config.learning
    gen = torch.Generator().manual_seed(0)
    centroids = torch.randint(0, 16 << 6, (config.clusters, 65), generator=gen)
    bases = orthonormal_bases(centroids, config)
    own = 3
    slots, add = basis_slots(config.clusters, own)
    x = centroids[own] // 2 + torch.randint(0, 4 << 6, (65,), generator=gen)
    u = project(x, bases[list(slots)], torch.tensor(add), learn).double()
    others = torch.cat([centroids[:own], centroids[own + 1:]]).double()
    cos = (others @ u) / (others.norm(dim=1) * u.norm())
    assert cos.abs().max() < 0.01                      # protected prototypes untouched
    own_cos = centroids[own].double() @ u / (centroids[own].double().norm() * u.norm())
    assert own_cos > 0.1                                 # the own direction survives


def test_weight_update_saturates():
    learn = DEFAULT_LEARNING
    w = raw(learn.master.max_raw, learn.master.min_raw).view(2, 1)
    out = weight_update(w, raw(-learn.delta.max_raw, learn.delta.max_raw), raw(1 << 14), learn, 0)
    assert out.flatten().tolist() == [learn.master.max_raw, learn.master.min_raw]


def _digits():
    from sklearn.datasets import load_digits
    digits = load_digits()
    return (torch.tensor(digits.data, dtype=torch.int64) * 16).clamp(max=255), \
        torch.tensor(digits.target)


def _golden_run(samples):
    x, y = _digits()
    state = init_state(DEFAULT_NETWORK, seed=1)
    for i in range(samples):
        if i % 25 == 0:
            refresh_bases(DEFAULT_NETWORK, state)
        train_step(DEFAULT_NETWORK, state, x[i], int(y[i]), i)
    return state


def test_golden_training_is_deterministic():
    a, b = _golden_run(60), _golden_run(60)
    assert all(torch.equal(p, q) for p, q in zip(a.master, b.master, strict=True))
    assert all(torch.equal(p, q) for p, q in zip(a.centroids, b.centroids, strict=True))
    assert not torch.equal(a.master[0], init_state(DEFAULT_NETWORK, seed=1).master[0])


def test_fixed_point_loco_learns_digits_better_than_np():
    # Four epochs of the 1 400-sample split through the bit-exact model (about a minute).
    x, y = _digits()
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    x, y = x[order], y[order]

    def accuracy(use_projector):
        state, step = init_state(DEFAULT_NETWORK, seed=1), 0
        for _ in range(4):
            for i in range(1400):
                if use_projector and step % 64 == 0:
                    refresh_bases(DEFAULT_NETWORK, state)
                train_step(DEFAULT_NETWORK, state, x[i], int(y[i]), step,
                           use_projector=use_projector)
                step += 1
        out = predict(DEFAULT_NETWORK, state, x[1400:], range(1400, len(y))).argmax(1)
        return float((out == y[1400:]).double().mean())

    loco, np_ = accuracy(True), accuracy(False)
    # Measured: LOCO 0.894, NP 0.728 (chance 0.1).
    assert loco > 0.85 and loco > np_ + 0.1


def test_loss_delta_saturates_symmetrically():
    learn = DEFAULT_LEARNING
    big, zero = torch.full((1, 10), 30000), torch.zeros(1, 10, dtype=torch.int64)
    assert loss_delta(zero, big, torch.tensor([0]), learn).tolist() == [learn.delta.max_raw]
    assert loss_delta(big, zero, torch.tensor([0]), learn).tolist() == [-learn.delta.max_raw]


def test_lowrank_tracker_converges_to_the_principal_subspace():
    # Vectors v = 40 + A z (+ noise) with a 3-dimensional A: after a few refreshes the host's
    # orthonormalised tracker rows span the top-4 eigenvectors of E[v v^T] (mean included).
    config = dataclasses.replace(DEFAULT_NETWORK, learning=dataclasses.replace(
        DEFAULT_LEARNING, rank=4))
    learn, n, frac = config.learning, 65, config.learning.vector.frac_bits
    gen = torch.Generator().manual_seed(2)
    mixing = torch.rand(n, 3, generator=gen, dtype=torch.float64) * 4
    samples = 4 + torch.rand(2000, 3, generator=gen, dtype=torch.float64) @ mixing.T
    samples += 0.3 * torch.rand(2000, n, generator=gen, dtype=torch.float64)
    vectors = torch.round(samples.clamp(0, 16) * (1 << frac)).to(torch.int64)
    rows = torch.zeros(config.centroid_rows, n, dtype=torch.int64)
    for start in range(0, 2000, 64):
        low = orthonormal_bases(rows, config)[2 * config.clusters:]
        for v in vectors[start:start + 64]:
            _, coeff = lowrank_part(v, low, learn)
            rows[config.clusters:] = tracker_update(rows[config.clusters:], coeff, v, learn)
    basis = orthonormal_bases(rows, config)[2 * config.clusters:].double() / learn.basis.one
    second = vectors.double().T @ vectors.double() / len(vectors)
    top = torch.linalg.eigh(second).eigenvectors[:, -4:]          # top-4, ascending order
    captured = torch.linalg.matrix_norm(basis @ top) ** 2 / 4     # 1.0: the same subspace
    assert captured > 0.9            # float arithmetic: 0.997 (16-bit tracker words: 0.95)
    # The low-rank part of a vector from the distribution keeps almost all of it.
    w, _ = lowrank_part(vectors[0], orthonormal_bases(rows, config)[2 * config.clusters:], learn)
    assert (w - vectors[0]).double().norm() < 0.05 * vectors[0].double().norm()


def test_lowrank_projection_still_protects_the_other_clusters():
    config = dataclasses.replace(DEFAULT_NETWORK, learning=dataclasses.replace(
        DEFAULT_LEARNING, rank=4))
    learn, own = config.learning, 3
    gen = torch.Generator().manual_seed(0)
    rows = torch.randint(0, 16 << 6, (config.centroid_rows, 65), generator=gen)
    bases = orthonormal_bases(rows, config)
    x = rows[own] // 2 + torch.randint(0, 4 << 6, (65,), generator=gen)
    w, _ = lowrank_part(x, bases[2 * config.clusters:], learn)
    slots, add = basis_slots(config.clusters, own)
    u = project(w, bases[list(slots)], torch.tensor(add), learn).double()
    others = torch.cat([rows[:own], rows[own + 1:config.clusters]]).double()
    assert ((others @ u) / (others.norm(dim=1) * u.norm())).abs().max() < 0.01


def test_antithetic_first_pass_is_perturbed_by_minus_xi():
    x, y = _digits()
    forward = dataclasses.replace(DEFAULT_NETWORK, learning=dataclasses.replace(
        DEFAULT_LEARNING, antithetic=False))
    for config in (DEFAULT_NETWORK, forward):
        state = init_state(config, seed=1)
        clean = predict(config, state, x[:1], [0])[0]
        words = [forward_weights(w, config.weight_shift) for w in state.master]
        spikes = encode_spikes(x[:1], [sample_seed(ENCODER_SEED, 0)], config.timesteps)
        signs = perturbation_signs(config, [sample_seed(PERTURB_SEED, 0)])
        minus = run_network(config, words, spikes, [~s for s in signs])
        first = train_step(config, state, x[0], int(y[0]), 0)["y_first"]
        want = minus[1][0] if config.learning.antithetic else clean
        assert torch.equal(first, want) and not torch.equal(minus[1][0], clean)


def test_step_shift_schedule():
    assert [step_shift_for_epoch(DEFAULT_NETWORK, e, (6,)) for e in range(8)] == \
        [0] * 6 + [1, 1]
    assert step_shift_for_epoch(DEFAULT_NETWORK, 9, (1, 2, 3, 4, 5)) == 3     # 2 bits: at most 3
