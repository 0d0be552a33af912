# amaranth: UnusedElaboratable=no
"""Every block in the Amaranth simulator against the golden model, every output word compared."""

import dataclasses
import random

import pytest

from cosim.amaranth_benches import check_host, check_lif, check_noise, check_projector
from cosim.vectors import lif_vectors, noise_vectors, projector_vectors
from hw.formats import (DEFAULT_LEARNING, DEFAULT_NETWORK, ENCODER_SEED, PERTURB_SEED, LIFConfig,
                        QFormat)
from hw.neuron import LIFCore
from hw.noise import NoiseGenerator
from hw.projector import ProjectorUpdate
from hw.testing import run_simulation
from loco_sw.golden import xorshift_words

# Small layers keep thousands of vectors fast; the default size runs a few passes too.
SMALL = dataclasses.replace(DEFAULT_NETWORK, sizes=(12, 6, 3), timesteps=8, clusters=3)
NARROW = dataclasses.replace(
    SMALL, hidden=LIFConfig(membrane=QFormat(3, 8), weight=QFormat(2, 8), threshold=0.5,
                            leak_shift=1),
    readout=LIFConfig(membrane=QFormat(6, 8), weight=QFormat(2, 8), threshold=None,
                      leak_shift=0),
    learning=dataclasses.replace(DEFAULT_LEARNING, master=QFormat(2, 14), output=QFormat(6, 8)),
    noise_amplitude=0.25)
# The projector with its low-rank part (rank 2 of 3 + 1 coefficient registers).
LOWRANK = dataclasses.replace(SMALL, learning=dataclasses.replace(SMALL.learning, rank=2))
LANES = {"encoder": ENCODER_SEED, "perturb": PERTURB_SEED}


# An odd number of inputs: the last pair of appends is a single one.
ODD = dataclasses.replace(SMALL, sizes=(11, 6, 3))
# The threshold at the membrane's maximum: the saturated membrane never exceeds it, so no
# neuron may fire however large its input (the staged FIRE of lanes decides on the sum).
TOP = dataclasses.replace(NARROW, hidden=dataclasses.replace(
    NARROW.hidden, threshold=NARROW.hidden.membrane.max_raw / NARROW.hidden.membrane.one))


@pytest.mark.parametrize("config, layer, listed, lanes, appends",
                         [(SMALL, 0, True, 1, 1), (SMALL, 0, False, 1, 1), (SMALL, 1, False, 1, 1),
                          (NARROW, 0, True, 1, 1), (NARROW, 1, False, 1, 1),
                          (SMALL, 0, True, 2, 1), (SMALL, 0, False, 3, 1), (SMALL, 1, False, 2, 1),
                          (SMALL, 0, True, 2, 2), (ODD, 0, True, 1, 2),
                          (SMALL, 0, True, 6, 4), (ODD, 0, True, 1, 4),
                          (NARROW, 0, True, 2, 2), (NARROW, 0, False, 3, 1),
                          (NARROW, 1, False, 2, 1), (TOP, 0, True, 2, 1), (TOP, 0, True, 1, 1)],
                         ids=["small-lif-listed", "small-lif", "small-readout",
                              "narrow-lif-listed", "narrow-readout", "small-lif-listed-2-lanes",
                              "small-lif-3-lanes", "small-readout-2-lanes-one-partial",
                              "small-lif-listed-2-lanes-2-appends", "odd-lif-listed-2-appends",
                              "small-lif-listed-6-lanes-4-appends", "odd-lif-listed-4-appends",
                              "narrow-lif-listed-2-lanes-2-appends", "narrow-lif-3-lanes",
                              "narrow-readout-2-lanes", "top-threshold-listed-2-lanes",
                              "top-threshold-listed"])
def test_lif_core_matches_golden(config, layer, listed, lanes, appends, request):
    vectors = lif_vectors(config, layer, runs=100, seed=0x10C0, same_inputs=listed)
    assert len(vectors["steps"]) * config.sizes[layer + 1] >= 1000   # thousands of words
    check_lif(config, layer, vectors, name=request.node.name, listed_inputs=listed,
              lanes=lanes, appends=appends)


def test_lif_core_default_size(request):
    check_lif(DEFAULT_NETWORK, 0, lif_vectors(DEFAULT_NETWORK, 0, runs=2, seed=3,
                                              same_inputs=True),
              name=request.node.name, listed_inputs=True)


@pytest.mark.parametrize("lanes", [1, 3], ids=["one-lane", "3-lanes"])
@pytest.mark.parametrize("density", [0.0, 1.0], ids=["zero-input", "all-spike"])
def test_lif_core_corner_inputs(density, lanes, request):
    vectors = lif_vectors(SMALL, 0, runs=4, seed=5, density=density, weight_range=1.0)
    check_lif(SMALL, 0, vectors, name=request.node.name, lanes=lanes)


@pytest.mark.parametrize("lanes", [1, 2], ids=["one-lane", "2-lanes"])
def test_lif_core_reaches_threshold_exactly(lanes, request):
    # Two inputs of weight threshold / 2, no bias: the first step lands exactly on the threshold
    # and must not fire (strict >); the leak then keeps it below until the next input.
    config = dataclasses.replace(SMALL, sizes=(2, 2, 2))
    half = (config.hidden.threshold_raw // 2) << config.weight_shift
    init = [half, half, 0] * 2
    vectors = lif_vectors(config, 0, runs=2, seed=1, density=1.0, init=init, perturb=False)
    assert vectors["steps"][0]["spikes_out"][0] == 0
    assert vectors["steps"][1]["spikes_out"][0] == 0b11
    check_lif(config, 0, vectors, name=request.node.name, lanes=lanes)


@pytest.mark.parametrize("lanes, appends", [(1, 1), (2, 1), (4, 1), (2, 2), (7, 4)],
                         ids=["one-lane", "2-lanes", "4-lanes-one-partial", "2-lanes-2-appends",
                              "7-lanes-4-appends"])
def test_lif_core_latency(lanes, appends):
    """The documented latency: ``1 + g (a0 + 3)`` a step, ``g = ceil(m / lanes)`` neurons per
    lane, plus ``g`` for the second pass of listed inputs or ``g (a1 + 3)`` for a second pass
    of its own."""
    config = dataclasses.replace(SMALL, sizes=(12, 7, 3))
    rows = -(-config.sizes[1] // lanes)
    for listed in (False, True) if appends == 1 else (True,):
        vectors = lif_vectors(config, 0, runs=6, seed=7, same_inputs=listed)
        want = 0
        for vec in vectors["steps"]:
            active = [bin(s).count("1") for s in vec["spikes_in"]]
            second = (1 if listed else active[1] + 3) if vec["both"] else 0
            want += 1 + rows * (active[0] + 3 + second)
        assert check_lif(config, 0, vectors, name=f"latency-{listed}-{lanes}-{appends}",
                         listed_inputs=listed, lanes=lanes, appends=appends) == want


@pytest.mark.parametrize("config, layer, parallel",
                         [(SMALL, 0, False), (SMALL, 1, False), (NARROW, 0, False),
                          (LOWRANK, 0, False), (LOWRANK, 1, False),
                          (SMALL, 0, True), (NARROW, 1, True), (LOWRANK, 0, True)],
                         ids=["small-0", "small-1", "narrow-0", "lowrank-0", "lowrank-1",
                              "small-0-parallel", "narrow-1-parallel", "lowrank-0-parallel"])
def test_projector_matches_golden(config, layer, parallel, request):
    vectors = projector_vectors(config, layer, samples=120, seed=0x9E37)
    check_projector(config, layer, vectors, name=request.node.name, parallel_slots=parallel)


@pytest.mark.parametrize("config, layer, lanes, parallel",
                         [(SMALL, 0, 3, False), (NARROW, 1, 2, True), (LOWRANK, 0, 2, True)],
                         ids=["small-0-3-lanes", "narrow-1-2-lanes-one-partial",
                              "lowrank-0-2-lanes-parallel"])
def test_projector_with_lanes_matches_golden(config, layer, lanes, parallel, request):
    # A row of every lane at once through the lanes' port (a write to a row the layer does
    # not have, past the last neuron, fails the served memory).
    vectors = projector_vectors(config, layer, samples=120, seed=0x51)
    check_projector(config, layer, vectors, name=request.node.name, parallel_slots=parallel,
                    lanes=lanes)


@pytest.mark.parametrize("config, layer, lanes, parallel",
                         [(SMALL, 0, 1, False), (SMALL, 1, 2, True), (LOWRANK, 0, 2, True),
                          (NARROW, 1, 2, False), (SMALL, 0, 6, True)],
                         ids=["small-0", "small-1-2-lanes-dots-on-load",
                              "lowrank-0-2-lanes-parallel", "narrow-1-2-lanes",
                              "small-0-one-row-lanes-streamed"])
def test_early_projector_matches_golden(config, layer, lanes, parallel, request):
    # Started on the counts, the errors taken beside the projection (random idle cycles; with
    # parallel slots and rank 0 the dots run on the counts as they come and the rows are
    # streamed behind the expansion).
    vectors = projector_vectors(config, layer, samples=120, seed=0xE4)
    check_projector(config, layer, vectors, name=request.node.name, parallel_slots=parallel,
                    lanes=lanes, early=True)


def _documented_cycles(config, layer, sample, parallel, lanes, early):
    """ProjectorUpdate's cycles for one sample after its last error word, as its docstring
    states them (early: the error words a word a cycle right after the counts)."""
    n, m, clusters = config.sizes[layer], config.sizes[layer + 1], config.clusters
    rank, errors = config.learning.rank, sample["errors"]
    beside = parallel and sample["use_projector"]     # the centroid moves beside the expansion
    dots_on_load = parallel and early and not rank
    cycles = 1 + (n + 3 if sample["update_centroid"] and not beside else 0)
    cycles += 3 if dots_on_load else 0                # the dots drained, also without projecting
    if sample["use_projector"]:
        cycles += (0 if dots_on_load else n + 4) + (n + 5) if parallel else \
            (clusters + 1) * (n + 4) + (n + 1) * (clusters + 4)
        cycles += 2 * rank * (n + 4) + (n + 1) * (rank + 3) if rank else 0
    rows = LIFCore.lane_rows(config, layer, lanes)
    active = sum(any(b * rows + k < m and errors[b * rows + k] for b in range(lanes))
                 for k in range(rows))
    update = 2 * rows + active * (n + 4)
    words = m if lanes == 1 else rows                 # error words: a row of every lane each
    if dots_on_load:
        # Streamed rows (cycle 0: BIAS; the last error word taken in cycle `words`).
        project, centroid = sample["use_projector"], sample["update_centroid"]
        if project:                     # the rows may start with the expansion (cycle 4)
            wait_e, rows_start = n + 10, max(5, words + 2)
        else:                           # with the centroid's move, once it is done
            wait_e = 5 + (n + 3 if centroid else 0)
            rows_start = max(wait_e + 2 if centroid else 5, words + 2)
        first_changed = next((k for k in range(rows) if any(
            b * rows + k < m and errors[b * rows + k] for b in range(lanes))), None)
        stall = 0
        if project and first_changed is not None:   # u_j is written in cycle 7 + j
            stall = max(0, 8 - (rows_start + 2 * first_changed + 2))
        return max(wait_e, rows_start + update + stall) - words
    return max(1 + cycles - words, 1) + update if early else cycles + update


@pytest.mark.parametrize("config, layer, parallel, lanes, early",
                         [(SMALL, 0, False, 1, False), (SMALL, 0, True, 1, False),
                          (SMALL, 0, False, 3, False), (SMALL, 1, True, 2, False),
                          (LOWRANK, 0, False, 1, False), (LOWRANK, 0, True, 3, False),
                          (SMALL, 0, True, 1, True), (SMALL, 1, False, 2, True),
                          (LOWRANK, 0, True, 3, True), (SMALL, 0, True, 3, True),
                          (SMALL, 1, True, 2, True), (SMALL, 0, True, 6, True)],
                         ids=["serial", "parallel-slots", "3-lanes", "both-one-partial-lane",
                              "lowrank", "lowrank-both", "early-parallel-slots",
                              "early-one-partial-lane", "early-lowrank-both",
                              "streamed-3-lanes", "streamed-one-partial-lane",
                              "streamed-one-row-lanes"])
def test_projector_takes_the_documented_cycles(config, layer, parallel, lanes, early, request):
    vectors = projector_vectors(config, layer, samples=30, seed=7)
    want = sum(_documented_cycles(config, layer, sample, parallel, lanes, early)
               for sample in vectors["samples"])
    assert check_projector(config, layer, vectors, name=request.node.name, pauses=False,
                           parallel_slots=parallel, lanes=lanes, early=early) == want


def test_projector_default_size(request):
    vectors = projector_vectors(DEFAULT_NETWORK, 1, samples=6, seed=11)
    check_projector(DEFAULT_NETWORK, 1, vectors, name=request.node.name)


@pytest.mark.parametrize("seed", [0, 1])
def test_projector_streams_with_idle_cycles(seed, request):
    # The same vectors under two idle patterns: the results do not depend on the timing, the
    # cycles do (the idle cycles are part of the run).
    vectors = projector_vectors(SMALL, 0, samples=20, seed=3)
    cycles = check_projector(SMALL, 0, vectors, name=request.node.name, seed=seed)
    assert cycles > 0


def test_host_streams_with_idle_cycles_and_back_pressure(request):
    moved = check_host(SMALL, name=request.node.name, seed=2)
    assert moved > 2 * 3 * (SMALL.sizes[-2] + 1) * SMALL.sizes[-1]


def test_noise_matches_golden(request):
    check_noise(LANES, noise_vectors(LANES, draws=3000, seed=4), name=request.node.name)


@pytest.mark.parametrize("draws", [2, 4])
def test_noise_lane_moves_several_draws_a_cycle(draws, request):
    # A random mix of advance, advance_by and idle cycles (and a reseed): ``word`` and
    # ``words`` are always the golden stream's next draws.
    rng = random.Random(8)
    seed = 0x1234_5678
    stream = xorshift_words([seed], 5000)[0].tolist()
    dut = NoiseGenerator({"lane": seed}, draws={"lane": draws})

    async def testbench(ctx):
        position = 0
        for cycle in range(1000):
            got = [ctx.get(dut.lane.words[k]) for k in range(draws)]
            assert got == stream[position:position + draws], f"cycle {cycle}: {got}"
            assert ctx.get(dut.lane.word) == got[0]
            if cycle == 500:
                ctx.set(dut.lane.seed, seed)
                ctx.set(dut.lane.reseed, 1)
                position = 0
            else:
                # -1: ``advance`` alone; otherwise ``advance_by`` (0: idle)
                move = rng.randrange(-1, draws + 1)
                ctx.set(dut.lane.advance, move == -1)
                ctx.set(dut.lane.advance_by, max(move, 0))
                position += abs(move)
            await ctx.tick()
            ctx.set(dut.lane.reseed, 0)
    run_simulation(dut, testbench, name=request.node.name)


# A deliberately wrong golden parameter must make the comparison fail: each mutant changes one
# constant of the model only (the gateware keeps the right one).
def test_wrong_leak_is_caught(request):
    wrong = dataclasses.replace(SMALL, hidden=dataclasses.replace(SMALL.hidden, leak_shift=3))
    vectors = lif_vectors(wrong, 0, runs=6, seed=0x10C0)
    with pytest.raises(AssertionError, match=r"^step \d+: "):
        check_lif(SMALL, 0, vectors, name=request.node.name)


def test_wrong_update_shift_is_caught(request):
    wrong = dataclasses.replace(SMALL, learning=dataclasses.replace(SMALL.learning,
                                                                    update_shift=12))
    vectors = projector_vectors(wrong, 0, samples=6, seed=1)
    with pytest.raises(AssertionError, match=r"^sample \d+: weight word"):
        check_projector(SMALL, 0, vectors, name=request.node.name)


def test_wrong_noise_seed_is_caught(request):
    vectors = noise_vectors({"encoder": ENCODER_SEED ^ 1, "perturb": PERTURB_SEED}, draws=5,
                            seed=4)
    with pytest.raises(AssertionError, match=r"^cycle 0 lane encoder"):
        check_noise(LANES, vectors, name=request.node.name)


def test_components_reject_bad_parameters():
    with pytest.raises(TypeError, match=r"^Config must be a NetworkConfig, not 1$"):
        LIFCore(1, 0)
    with pytest.raises(TypeError, match=r"^Layer must be an integer in \[0, 2\), not 2$"):
        ProjectorUpdate(DEFAULT_NETWORK, 2)
    with pytest.raises(ValueError, match=r"^Parallel slots need a unit of one layer, not of "
                                         r"layers \(0, 1\)$"):
        ProjectorUpdate(DEFAULT_NETWORK, (0, 1), parallel_slots=True)
    with pytest.raises(ValueError, match=r"^Lanes need a unit of one layer, not of layers "
                                         r"\(0, 1\)$"):
        ProjectorUpdate(DEFAULT_NETWORK, (0, 1), lanes=2)
    with pytest.raises(ValueError, match=r"^An early start needs a unit of one layer, not of "
                                         r"layers \(0, 1\)$"):
        ProjectorUpdate(DEFAULT_NETWORK, (0, 1), early=True)
    with pytest.raises(ValueError, match=r"^Lanes must be a positive integer that leaves no "
                                         r"lane without neurons \(layer 1 has 10\), not 9$"):
        ProjectorUpdate(DEFAULT_NETWORK, 1, lanes=9)
    with pytest.raises(ValueError, match=r"^Initial weights must have 2080 words, not 3$"):
        LIFCore(DEFAULT_NETWORK, 0, init=[1, 2, 3])
    for lanes in (0, 1.0, True, 12):    # 12 lanes of 3 neurons leave the last one none
        with pytest.raises(ValueError, match=r"^Lanes must be a positive integer that leaves "
                                             r"no lane without neurons \(layer 0 has 32\), "):
            LIFCore(DEFAULT_NETWORK, 0, lanes=lanes)
    with pytest.raises(ValueError, match=r"^Seed of lane 'a' must be a nonzero unsigned 32-bit "
                                         r"integer, not 0$"):
        NoiseGenerator({"a": 0})
    with pytest.raises(TypeError, match=r"^Lane name must be an identifier, not '1x'$"):
        NoiseGenerator({"1x": 5})
    with pytest.raises(ValueError, match=r"^Draws must name lanes, not \['b'\]$"):
        NoiseGenerator({"a": 5}, draws={"b": 2})
    for bad in (0, True, 2.0):
        with pytest.raises(ValueError, match=rf"^Draws of lane 'a' must be a positive int, "
                                             rf"not {bad!r}$"):
            NoiseGenerator({"a": 5}, draws={"a": bad})
    with pytest.raises(TypeError, match=r"^Draws must be a dict of lane name to count, not "):
        NoiseGenerator({"a": 5}, draws=("a",))
    for appends in (2, 4):
        with pytest.raises(ValueError, match=rf"^Appends must be 1, or 2 or 4 with listed "
                                             rf"inputs, not {appends}$"):
            LIFCore(DEFAULT_NETWORK, 1, appends=appends)
    with pytest.raises(ValueError, match=r"^Appends must be 1, or 2 or 4 with listed inputs, "
                                         r"not 3$"):
        LIFCore(DEFAULT_NETWORK, 0, listed_inputs=True, appends=3)
