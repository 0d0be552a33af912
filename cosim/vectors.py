"""Test vectors for every block: random and directed stimuli with golden-model expectations.

Shared by the Amaranth testbenches (``tests/``) and the cocotb benches (``cosim/tb_*.py``), so both
simulators check the same words against the same model. Plain Python data out (ints, lists).
"""

import random

import torch

from hw.formats import ENCODER_SEED, PERTURB_SEED, NetworkConfig
from loco_sw.golden import (basis_slots, centroid_update, init_state, layer_run,
                            lowrank_part, predict, project, rademacher_negative,
                            refresh_bases, sample_seed, tracker_update, train_step,
                            weight_update, xorshift_next)


__all__ = ["bits", "lif_vectors", "projector_vectors", "noise_vectors", "learner_vectors"]


def bits(flags) -> int:
    """Pack an iterable of truthy values into an integer, element 0 in bit 0."""
    return sum(1 << index for index, flag in enumerate(flags) if flag)


def lif_vectors(config: NetworkConfig, layer: int, *, runs: int, seed: int,
                density: float | None = None, weight_range: float = 1.0, init=None,
                perturb: bool | None = None, same_inputs: bool = False) -> dict:
    """Random runs of ``config.timesteps`` steps through one two-pass LIF core
    (:class:`hw.neuron.LIFCore`).

    Each run draws whether pass 1 runs beside pass 0 (``both``), one set of signs and, per
    pass, its spike density (unless given; pass 1 takes pass 0's spikes with ``same_inputs``),
    perturbation on/off and whether the signs are inverted (the antithetic pass). Weights are
    uniform over ``weight_range`` times the master range, so saturation is exercised, unless
    ``init`` gives them; ``perturb`` forces the perturbation on or off.
    Returns ``init`` (master words) and per step ``spikes_in`` (an int per pass), ``negative``,
    ``invert``, ``perturb`` (bit ``p``: pass ``p``), ``first``, ``both`` and ``spikes_out`` (an
    int per pass; pass 1's ``None`` when it does not run); per run, per pass, the final
    membranes ``v`` and spike counts ``counts`` (``None`` for a pass that did not run).
    """
    rng = random.Random(seed)
    n, m = config.sizes[layer], config.sizes[layer + 1]
    fmt = config.learning.master
    if init is None:
        init = [rng.randint(int(fmt.min_raw * weight_range), int(fmt.max_raw * weight_range))
                for _ in range(m * (n + 1))]
    weights = torch.tensor(init).view(m, n + 1) >> config.weight_shift
    sigma = config.noise_amplitude_raw
    steps, finals, counts = [], [], []
    for _ in range(runs):
        both = rng.random() < 0.75
        negative = torch.tensor([[rng.random() < 0.5 for _ in range(m)]])
        passes = []
        for p in range(2):
            if p == 1 and same_inputs:
                spikes = passes[0]["spikes"]
            else:
                d = density if density is not None else rng.choice([0.0, 0.05, 0.3, 0.7, 1.0])
                spikes = torch.tensor([[[rng.random() < d for _ in range(n)]
                                        for _ in range(config.timesteps)]])
            perturbed = rng.random() < 0.5 if perturb is None else perturb
            invert = rng.random() < 0.5
            noise = torch.where(negative ^ invert, -sigma, sigma) if perturbed else None
            ran = {"out": None, "v": None, "counts": None}
            if p == 0 or both:
                out, v = layer_run(spikes, weights, config.lif(layer), noise)
                ran = {"out": out, "v": v[0].tolist(), "counts": out[0].sum(dim=0).tolist()}
            passes.append({"spikes": spikes, "perturb": perturbed, "invert": invert, **ran})
        for t in range(config.timesteps):
            steps.append({
                "spikes_in": [bits(pa["spikes"][0, t].tolist()) for pa in passes],
                "negative": bits(negative[0].tolist()),
                "invert": bits(pa["invert"] for pa in passes),
                "perturb": bits(pa["perturb"] for pa in passes),
                "first": int(t == 0), "both": int(both),
                "spikes_out": [None if pa["out"] is None else bits(pa["out"][0, t].tolist())
                               for pa in passes]})
        finals.append([pa["v"] for pa in passes])
        counts.append([pa["counts"] for pa in passes])
    return {"init": init, "steps": steps, "v": finals, "counts": counts}


def projector_vectors(config: NetworkConfig, layer: int, *, samples: int, seed: int) -> dict:
    """Random samples through one projector/update unit, with directed corner cases mixed in.

    Corner cases: all-zero errors (no row touched), extreme errors and weights near the rails
    (saturation), full counts (all inputs at ``T``), zero counts, basis words at the rails.
    Returns ``init``, ``basis`` (words) and per sample its inputs and the expected ``weights``,
    ``u`` and ``centroids`` (flat word lists) after it.
    """
    rng = random.Random(seed)
    learn = config.learning
    n, m, clusters = config.sizes[layer] + 1, config.sizes[layer + 1], config.clusters
    fmt = learn.master
    init = [rng.choice([fmt.min_raw, fmt.max_raw, rng.randint(fmt.min_raw, fmt.max_raw),
                        rng.randint(fmt.min_raw >> 4, fmt.max_raw >> 4)]) for _ in range(m * n)]
    basis = [rng.choice([learn.basis.min_raw, learn.basis.max_raw,
                         rng.randint(-(1 << 13), 1 << 13), 0])
             for _ in range(config.basis_rows * n)]
    w = torch.tensor(init).view(m, n)
    q = torch.tensor(basis).view(config.basis_rows, n)
    c = torch.zeros(config.centroid_rows, n, dtype=torch.int64)
    out = []
    for index in range(samples):
        kind = index % 6
        if kind == 1:
            counts = [config.timesteps] * (n - 1)
        elif kind == 2:
            counts = [0] * (n - 1)
        else:
            counts = [rng.randint(0, config.timesteps) for _ in range(n - 1)]
        if kind == 3:
            errors = [0] * m
        elif kind == 4:
            errors = [rng.choice([learn.delta.min_raw, learn.delta.max_raw]) for _ in range(m)]
        else:
            errors = [rng.choice([0, rng.randint(learn.delta.min_raw, learn.delta.max_raw),
                                  rng.randint(-64, 64)]) for _ in range(m)]
        own = rng.randrange(clusters)
        use_projector = kind != 5
        update_centroid = rng.random() < 0.7
        step_shift = rng.randrange(1 << learn.step_shift_bits)
        vector = torch.tensor(counts + [config.timesteps]) << learn.vector.frac_bits
        slots, add = basis_slots(clusters, own)
        u = vector
        if use_projector:
            if learn.rank:
                u, coeff = lowrank_part(vector, q[2 * clusters:], learn)
                c[clusters:] = tracker_update(c[clusters:], coeff, vector, learn)
            u = project(u, q[list(slots)], torch.tensor(add), learn)
        w = weight_update(w, torch.tensor(errors), u, learn,
                          learn.weight_shift_for(layer, config.layers) + step_shift)
        if update_centroid:
            c = centroid_update(c, own, vector, learn)
        out.append({"counts": counts, "errors": errors, "own": own,
                    "use_projector": int(use_projector), "update_centroid": int(update_centroid),
                    "step_shift": step_shift,
                    "weights": w.flatten().tolist(), "u": u.tolist(),
                    "centroids": c.flatten().tolist()})
    return {"init": init, "basis": basis, "samples": out}


def noise_vectors(lanes: dict, *, draws: int, seed: int) -> dict:
    """A schedule of advances and reseeds per lane with the expected words.

    Returns per cycle the ``advance``/``reseed``/``seed`` inputs of every lane and what each
    lane must show in that cycle, before the clock edge: ``word`` and ``negative``.
    """
    def outputs(word):
        tensor = torch.tensor(word)
        return {"word": word, "negative": int(rademacher_negative(tensor))}

    rng = random.Random(seed)
    state = {name: xorshift_next(s) for name, s in lanes.items()}
    cycles = []
    for _ in range(draws):
        cycle = {"expect": {name: outputs(word) for name, word in state.items()}, "inputs": {}}
        for name in lanes:
            roll = rng.random()
            reseed = roll < 0.02
            advance = roll < 0.8
            new_seed = rng.randint(1, (1 << 32) - 1)
            cycle["inputs"][name] = {"reseed": int(reseed), "advance": int(advance),
                                     "seed": new_seed}
            if reseed:
                state[name] = xorshift_next(new_seed)
            elif advance:
                state[name] = xorshift_next(state[name])
        cycles.append(cycle)
    return {"cycles": cycles}


def learner_vectors(config: NetworkConfig, *, samples: int, seed: int, refresh: int = 8,
                    use_projector: bool = True, data=None) -> dict:
    """An online training run of the golden model, as the host would drive the learner.

    Before every ``refresh``-th sample the host recomputes the bases from the centroids and
    writes them (``bases`` is then set on that sample). ``data`` is ``(intensities, labels)``;
    random inputs when omitted. Returns the initial master words and, per sample, its inputs,
    seeds, the expected ``delta``, first-pass outputs and
    prediction, the clean (INFER) prediction before it and every master word after it.
    """
    gen = torch.Generator().manual_seed(seed)
    if data is None:
        x = torch.randint(0, 256, (samples, config.sizes[0]), generator=gen)
        y = torch.randint(0, config.sizes[-1], (samples,), generator=gen)
    else:
        x, y = data
    state = init_state(config, seed=seed)
    init = [w.flatten().tolist() for w in state.master]
    out = []
    for index in range(samples):
        bases = None
        if use_projector and index % refresh == 0:
            refresh_bases(config, state)
            bases = [b.flatten().tolist() for b in state.bases]
        inferred = int(predict(config, state, x[index][None], [index])[0].argmax())
        step_shift = index % (1 << config.learning.step_shift_bits)
        result = train_step(config, state, x[index], int(y[index]), index,
                            use_projector=use_projector, step_shift=step_shift)
        clean = result["y_first"]
        out.append({"intensity": x[index].tolist(), "label": int(y[index]), "bases": bases,
                    "step_shift": step_shift,
                    "encoder_seed": sample_seed(ENCODER_SEED, index),
                    "perturb_seed": sample_seed(PERTURB_SEED, index),
                    "delta": result["delta"], "outputs": clean.tolist(),
                    "prediction": int(clean.argmax()), "inferred": inferred,
                    "weights": [w.flatten().tolist() for w in state.master]})
    return {"init": init, "use_projector": int(use_projector), "samples": out}
