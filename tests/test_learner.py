# amaranth: UnusedElaboratable=no
"""The whole on-chip learner against the golden training step, every weight word every sample."""

import dataclasses

import pytest

from cosim.amaranth_benches import check_learner
from cosim.vectors import learner_vectors
from hw.formats import DEFAULT_NETWORK
from hw.learner import LearnerCore

SMALL = dataclasses.replace(DEFAULT_NETWORK, sizes=(12, 6, 4), timesteps=8, clusters=4)
DEEP = dataclasses.replace(DEFAULT_NETWORK, sizes=(10, 6, 5, 3), timesteps=4, clusters=3)
# Layer 0 in lanes encodes two inputs a cycle, four with a neuron a lane; an odd count leaves
# the last group short.
ODD = dataclasses.replace(SMALL, sizes=(11, 6, 4))


@pytest.mark.parametrize("config, use_projector", [(SMALL, True), (SMALL, False), (DEEP, True)],
                         ids=["small-loco", "small-np", "deep-loco"])
def test_learner_is_bit_exact_over_a_training_run(config, use_projector, request):
    vectors = learner_vectors(config, samples=24, seed=5, refresh=6, use_projector=use_projector)
    cycles = check_learner(config, vectors, name=request.node.name, infer_every=5)
    assert len(cycles["train"]) == 24 and min(cycles["infer"]) < min(cycles["train"])


@pytest.mark.parametrize("config", [SMALL, DEEP], ids=["small", "deep"])
def test_shared_update_unit_is_bit_exact(config, request):
    vectors = learner_vectors(config, samples=12, seed=7, refresh=4)
    check_learner(config, vectors, name=request.node.name, shared_update=True)


@pytest.mark.parametrize("config, lanes", [(SMALL, (3, 4)), (DEEP, (2, 3, 2)), (ODD, (3, 2)),
                                           (SMALL, (3, 1)), (SMALL, (6, 4)), (ODD, (6, 2))],
                         ids=["small-3-4", "deep-2-3-2-one-partial", "odd-inputs-3-2",
                              "small-3-1-lane-port-in-layer-0-only",
                              "small-6-4-four-inputs-a-cycle", "odd-inputs-6-2-four-a-cycle"])
def test_neuron_lanes_are_bit_exact(config, lanes, request):
    assert LearnerCore.inputs_per_cycle(config, lanes) == (4 if lanes[0] == 6 else 2)
    vectors = learner_vectors(config, samples=12, seed=9, refresh=4)
    cycles = check_learner(config, vectors, name=request.node.name, lanes=lanes, infer_every=4)
    one_lane = check_learner(config, vectors, name=request.node.name, infer_every=4)
    assert all(a < b for a, b in zip(cycles["train"], one_lane["train"], strict=True))


@pytest.mark.parametrize("config, parallel_slots",
                         [(SMALL, (True, True)), (DEEP, (True, False, True)),
                          (SMALL.with_lowrank(2), (True, False))],
                         ids=["small-both", "deep-first-and-last", "small-lowrank-first"])
def test_parallel_slots_are_bit_exact(config, parallel_slots, request):
    # The units that project all slots at once give the same words in fewer cycles (every
    # sample projects: the learner vectors use the projector).
    vectors = learner_vectors(config, samples=10, seed=3, refresh=4)
    cycles = check_learner(config, vectors, name=request.node.name, lanes=(2,) * config.layers,
                           parallel_slots=parallel_slots)
    serial = check_learner(config, vectors, name=request.node.name, lanes=(2,) * config.layers)
    assert all(a < b for a, b in zip(cycles["train"], serial["train"], strict=True))


def test_learner_default_size(request):
    vectors = learner_vectors(DEFAULT_NETWORK, samples=2, seed=1, refresh=1)
    check_learner(DEFAULT_NETWORK, vectors, name=request.node.name)


def test_wrong_golden_step_is_caught(request):
    wrong = dataclasses.replace(SMALL, noise_amplitude=0.25)
    vectors = learner_vectors(wrong, samples=2, seed=5)
    with pytest.raises(AssertionError, match=r"^sample 0: "):
        check_learner(SMALL, vectors, name=request.node.name)


def test_learner_rejects_bad_parameters():
    with pytest.raises(TypeError, match=r"^Config must be a NetworkConfig, not None$"):
        LearnerCore(None)
    with pytest.raises(ValueError, match=r"^Initial weights must list 2 layers, not 1$"):
        LearnerCore(DEFAULT_NETWORK, init=[[0]])
    with pytest.raises(ValueError, match=r"^Lanes must be a tuple of 2 lane counts \(one per "
                                         r"layer\), not \[1, 1\]$"):
        LearnerCore(DEFAULT_NETWORK, lanes=[1, 1])
    with pytest.raises(ValueError, match=r"^Lanes must be a positive integer that leaves no "
                                         r"lane without neurons \(layer 1 has 10\), not 9$"):
        LearnerCore(DEFAULT_NETWORK, lanes=(1, 9))
    for slots in ((True,), [True, False], (1, 0)):
        with pytest.raises(ValueError, match=r"^Parallel slots must be a tuple of 2 bools \(one "
                                             r"per layer\), not "):
            LearnerCore(DEFAULT_NETWORK, parallel_slots=slots)
    with pytest.raises(ValueError, match=r"^Parallel slots need one update unit per layer, not "
                                         r"a shared one$"):
        LearnerCore(DEFAULT_NETWORK, shared_update=True, parallel_slots=(True, False))


@pytest.mark.parametrize("kwargs, latency", [
    ({}, 1), ({"lanes": (3, 4)}, 3), ({"lanes": (3, 1)}, 3),
    ({"lanes": (3, 4), "shared_update": True}, 1)],
    ids=["one-lane", "lanes", "lanes-in-layer-0", "shared-unit"])
def test_weight_reads_take_three_cycles_only_where_a_unit_reaches_the_lanes(kwargs, latency):
    # Where a layer's own unit updates a row of every lane at once, the host's split address
    # and word are registered beside the lanes' memories (the ECP5 build's host paths).
    assert LearnerCore(SMALL, **kwargs).weights_read_latency == latency


@pytest.mark.parametrize("kwargs, basis, host", [
    ({}, 1, 1), ({"parallel_slots": (True, False)}, 2, 2),
    ({"lanes": (3, 4), "parallel_slots": (True, True)}, 2, 3)],
    ids=["one-mac", "banked", "banked-with-lanes"])
def test_basis_reads_take_two_cycles_where_a_unit_banks_its_slots(kwargs, basis, host):
    # The host's split basis address is registered beside the slot banks (the ECP5 build's
    # host paths); the host waits for the slowest read.
    learner = LearnerCore(SMALL, **kwargs)
    assert (learner.basis_read_latency, learner.host_read_latency) == (basis, host)
