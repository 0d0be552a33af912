"""cocotb benches for every block; run through :func:`cosim.runner.run_cocotb`, not by pytest.

Each bench rebuilds the same vectors as ``tests/test_blocks.py`` (:mod:`cosim.vectors`) from
``LOCO_CONFIG`` (a :class:`hw.formats.NetworkConfig` as JSON), ``LOCO_LAYER``, ``LOCO_SEED`` and
``LOCO_COUNT``, and compares every output word.
"""

import json
import os

import cocotb
from cocotb.triggers import FallingEdge

from cosim.streams import (cycle, read_port, serve_memory, signed, start_clock, stream_put,
                           write_port)
from cosim.vectors import learner_vectors, lif_vectors, noise_vectors, projector_vectors
from hw.formats import NetworkConfig
from hw.learner import Command


def _params():
    return (NetworkConfig.from_json(os.environ["LOCO_CONFIG"]), int(os.environ["LOCO_LAYER"]),
            int(os.environ["LOCO_SEED"]), int(os.environ["LOCO_COUNT"]))


@cocotb.test()
async def lif_core_matches_golden(dut):
    config, layer, seed, passes = _params()
    vectors = lif_vectors(config, layer, passes=passes, seed=seed)
    dut.start.value = 0
    dut.weights__we.value = 0
    await start_clock(dut)
    # The core was built with zero weights: load them through the learning unit's port.
    await write_port(dut, "weights__waddr", "weights__wdata", "weights__we", vectors["init"])
    for step, vec in enumerate(vectors["steps"]):
        for port in ("spikes_in", "negative", "invert", "first", "perturb"):
            getattr(dut, port).value = vec[port]
        dut.start.value = 1
        await cycle(dut)
        dut.start.value = 0
        while dut.busy.value == 1:
            await cycle(dut)
        got = int(dut.spikes_out.value)
        want = vec["spikes_out"]
        assert got == want, f"step {step}: spikes {got:#x}, want {want:#x}"
        if step % config.timesteps == config.timesteps - 1:
            want = vectors["v"][step // config.timesteps]
            got_v = await read_port(dut, "v_addr", "v_data", len(want))
            assert got_v == want, f"step {step}: membranes {got_v}, want {want}"
            want = vectors["counts"][step // config.timesteps]
            got_c = await read_port(dut, "v_addr", "count_data", len(want), as_signed=False)
            assert got_c == want, f"step {step}: spike counts {got_c}, want {want}"


@cocotb.test()
async def projector_matches_golden(dut):
    config, layer, seed, samples = _params()
    vectors = projector_vectors(config, layer, samples=samples, seed=seed)
    words = list(vectors["init"])
    dut.x__valid.value = dut.e__valid.value = dut.basis_we.value = 0
    await start_clock(dut)
    serve_memory(dut, "weights", words)
    await write_port(dut, "basis_addr", "basis_wdata", "basis_we", vectors["basis"])
    for index, sample in enumerate(vectors["samples"]):
        for port in ("own", "use_projector", "update_centroid", "step_shift"):
            getattr(dut, port).value = sample[port]
        for count in sample["counts"]:
            await stream_put(dut, "x", count)
        for error in sample["errors"]:
            await stream_put(dut, "e", error)
        while dut.done.value != 1:
            await cycle(dut)
        await cycle(dut)
        for i, (got, want) in enumerate(zip(words, sample["weights"], strict=True)):
            assert got == want, f"sample {index}: weight word {i} is {got}, want {want}"
        if sample["use_projector"]:
            u = await read_port(dut, "u_raddr", "u_rdata", len(sample["u"]))
            assert u == sample["u"], f"sample {index}: u {u}, want {sample['u']}"
        c = await read_port(dut, "centroid_raddr", "centroid_rdata", len(sample["centroids"]))
        assert c == sample["centroids"], f"sample {index}: centroids differ"


@cocotb.test()
async def noise_matches_golden(dut):
    lanes = json.loads(os.environ["LOCO_LANES"])
    vectors = noise_vectors(lanes, draws=int(os.environ["LOCO_COUNT"]),
                            seed=int(os.environ["LOCO_SEED"]))
    for lane in lanes:
        getattr(dut, f"{lane}__reseed").value = 0
        getattr(dut, f"{lane}__advance").value = 0
    await start_clock(dut)
    for cycle_index, vec in enumerate(vectors["cycles"]):
        for lane, want in vec["expect"].items():
            got = {"word": int(getattr(dut, f"{lane}__word").value),
                   "negative": int(getattr(dut, f"{lane}__negative").value)}
            assert got == want, f"cycle {cycle_index} lane {lane}: {got}, want {want}"
            for key, value in vec["inputs"][lane].items():
                getattr(dut, f"{lane}__{key}").value = value
        await cycle(dut)


@cocotb.test()
async def learner_matches_golden(dut):
    """The whole learner trained online; every master word compared after every sample."""
    config, _, seed, samples = _params()
    vectors = learner_vectors(config, samples=samples, seed=seed,
                              refresh=int(os.environ.get("LOCO_REFRESH", "4")))
    dut.start.value = dut.input_we.value = dut.basis_we.value = dut.weight_we.value = 0
    dut.use_projector.value = vectors["use_projector"]
    dut.update_centroid.value = 1
    await start_clock(dut)
    for layer, words in enumerate(vectors["init"]):       # the DUT was built with zero weights
        dut.weight_layer.value = layer
        await write_port(dut, "weight_addr", "weight_wdata", "weight_we", words)
    for index, sample in enumerate(vectors["samples"]):
        for layer, words in enumerate(sample["bases"] or []):
            dut.store_layer.value = layer
            await write_port(dut, "basis_addr", "basis_wdata", "basis_we", words)
        await write_port(dut, "input_addr", "input_data", "input_we", sample["intensity"])
        for port in ("label", "encoder_seed", "perturb_seed", "step_shift"):
            getattr(dut, port).value = sample[port]
        dut.command.value = Command.TRAIN.value
        dut.start.value = 1
        await cycle(dut)
        dut.start.value = 0
        await FallingEdge(dut.busy)      # an edge trigger: Icarus runs without Python per cycle
        await FallingEdge(dut.clk)
        assert int(dut.prediction.value) == sample["prediction"], f"sample {index}: prediction"
        assert signed(dut.delta) == sample["delta"], f"sample {index}: delta"
        for layer, want in enumerate(sample["weights"]):
            dut.weight_layer.value = layer
            got = await read_port(dut, "weight_addr", "weight_rdata", len(want))
            bad = [a for a, (g, w) in enumerate(zip(got, want, strict=True)) if g != w]
            assert not bad, f"sample {index} layer {layer}: {len(bad)} weight words differ"
