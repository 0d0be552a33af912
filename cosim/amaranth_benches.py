"""Amaranth-simulator drivers for each block: run a vector set, compare every word, return cycles.

A mismatch raises ``AssertionError`` naming the step and the word.
"""

from hw.learner import Command, LearnerCore
from hw.neuron import LIFCore
from hw.noise import NoiseGenerator
from hw.projector import ProjectorUpdate
from hw.testing import read_port, run_simulation, serve_memory, stream_put, write_port


def check_lif(config, layer, vectors, *, name):
    dut = LIFCore(config, layer, init=vectors["init"])
    steps_per_pass = config.timesteps
    cycles = [0]

    async def testbench(ctx):
        for step, vec in enumerate(vectors["steps"]):
            for port in ("spikes_in", "negative", "invert", "first", "perturb"):
                ctx.set(getattr(dut, port), vec[port])
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            cycles[0] += 1
            while ctx.get(dut.busy):
                await ctx.tick()
                cycles[0] += 1
            got = ctx.get(dut.spikes_out)
            assert got == vec["spikes_out"], \
                f"step {step}: spikes {got:#x}, want {vec['spikes_out']:#x}"
            if step % steps_per_pass == steps_per_pass - 1:
                want = vectors["v"][step // steps_per_pass]
                got = await read_port(ctx, dut.v_addr, dut.v_data, len(want))
                assert got == want, f"step {step}: membranes {got}, want {want}"
                want = vectors["counts"][step // steps_per_pass]
                got = await read_port(ctx, dut.v_addr, dut.count_data, len(want))
                assert got == want, f"step {step}: spike counts {got}, want {want}"

    run_simulation(dut, testbench, name=name)
    return cycles[0]


def check_projector(config, layer, vectors, *, name):
    dut = ProjectorUpdate(config, layer)
    words = list(vectors["init"])
    cycles = [0]

    async def testbench(ctx):
        await write_port(ctx, dut.basis_addr, dut.basis_wdata, dut.basis_we, vectors["basis"])
        for index, sample in enumerate(vectors["samples"]):
            for port in ("own", "use_projector", "update_centroid", "step_shift"):
                ctx.set(getattr(dut, port), sample[port])
            for count in sample["counts"]:
                await stream_put(ctx, dut.x, count)
            for error in sample["errors"]:
                await stream_put(ctx, dut.e, error)
            while not ctx.get(dut.done):
                await ctx.tick()
                cycles[0] += 1
            await ctx.tick()
            for i, (got, want) in enumerate(zip(words, sample["weights"], strict=True)):
                assert got == want, f"sample {index}: weight word {i} is {got}, want {want}"
            if sample["use_projector"]:
                u = await read_port(ctx, dut.u_raddr, dut.u_rdata, len(sample["u"]))
                assert u == sample["u"], f"sample {index}: u {u}, want {sample['u']}"
            c = await read_port(ctx, dut.centroid_raddr, dut.centroid_rdata,
                                len(sample["centroids"]))
            assert c == sample["centroids"], f"sample {index}: centroids differ"

    run_simulation(dut, testbench, processes=[serve_memory(dut.weights, words)], name=name)
    return cycles[0]


def check_noise(lanes, vectors, *, name):
    dut = NoiseGenerator(lanes)

    async def testbench(ctx):
        for cycle, vec in enumerate(vectors["cycles"]):
            for lane, want in vec["expect"].items():
                port = getattr(dut, lane)
                got = {key: ctx.get(getattr(port, key)) for key in want}
                assert got == want, f"cycle {cycle} lane {lane}: {got}, want {want}"
                for key, value in vec["inputs"][lane].items():
                    ctx.set(getattr(port, key), value)
            await ctx.tick()

    run_simulation(dut, testbench, name=name)


def check_learner(config, vectors, *, name, infer_every=0, shared_update=False):
    """Train the learner on ``vectors`` (:func:`cosim.vectors.learner_vectors`), comparing
    delta, the first-pass outputs, the prediction and every master word after every sample; returns
    the cycles per training sample (and per inference when ``infer_every``)."""
    dut = LearnerCore(config, init=vectors["init"], shared_update=shared_update)
    cycles = {"train": [], "infer": []}

    async def command(ctx, which):
        ctx.set(dut.command, which)
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        while ctx.get(dut.busy):
            await ctx.tick()
        return ctx.get(dut.cycles)

    async def testbench(ctx):
        ctx.set(dut.use_projector, vectors["use_projector"])
        ctx.set(dut.update_centroid, 1)
        for index, sample in enumerate(vectors["samples"]):
            for layer, words in enumerate(sample["bases"] or []):
                ctx.set(dut.store_layer, layer)
                await write_port(ctx, dut.basis_addr, dut.basis_wdata, dut.basis_we, words)
            await write_port(ctx, dut.input_addr, dut.input_data, dut.input_we,
                             sample["intensity"])
            for port in ("label", "encoder_seed", "perturb_seed", "step_shift"):
                ctx.set(getattr(dut, port), sample[port])
            if infer_every and index % infer_every == 0:
                cycles["infer"].append(await command(ctx, Command.INFER))
                assert ctx.get(dut.prediction) == sample["inferred"], f"sample {index}"
            cycles["train"].append(await command(ctx, Command.TRAIN))
            assert ctx.get(dut.prediction) == sample["prediction"], \
                f"sample {index}: prediction {ctx.get(dut.prediction)}, want {sample['prediction']}"
            assert ctx.get(dut.delta) == sample["delta"], \
                f"sample {index}: delta {ctx.get(dut.delta)}, want {sample['delta']}"
            outputs = await read_port(ctx, dut.output_addr, dut.output_clean,
                                      len(sample["outputs"]))
            assert outputs == sample["outputs"], f"sample {index}: outputs {outputs}"
            for layer, want in enumerate(sample["weights"]):
                ctx.set(dut.weight_layer, layer)
                got = await read_port(ctx, dut.weight_addr, dut.weight_rdata, len(want))
                bad = [a for a, (g, w) in enumerate(zip(got, want, strict=True)) if g != w]
                assert not bad, (f"sample {index} layer {layer}: weight word {bad[0]} is "
                                 f"{got[bad[0]]}, want {want[bad[0]]}")

    run_simulation(dut, testbench, name=name)
    return cycles
