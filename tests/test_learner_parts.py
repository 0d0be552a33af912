# amaranth: UnusedElaboratable=no
"""The learner's parts on their own: the readout/δL unit against the golden readout and loss
difference, the weight-port arbiter's routing (host while idle, the serving unit while busy),
the update unit's saturating weight step against the golden update."""

import dataclasses
import random

import pytest
import torch

from hw.formats import DEFAULT_NETWORK
from hw.learner import ReadoutUnit, WeightPortArbiter
from hw.projector import WeightStep
from hw.testing import run_simulation
from loco_sw.golden import loss_delta, readout, weight_update

DEEP = dataclasses.replace(DEFAULT_NETWORK, sizes=(10, 6, 5, 3), timesteps=4, clusters=3)


@pytest.mark.parametrize("config", [DEFAULT_NETWORK, DEEP], ids=["default", "deep"])
def test_readout_unit_matches_the_golden_readout_and_loss_difference(config):
    dut, rng = ReadoutUnit(config), random.Random(3)
    fmt, learn, classes = config.readout.membrane, config.learning, config.sizes[-1]
    samples = []
    for _ in range(60):
        # membranes over the whole range, with ties for the argmax now and then
        v = [[rng.choice([rng.randint(fmt.min_raw, fmt.max_raw), 0, fmt.max_raw])
              for _ in range(classes)] for _ in range(2)]
        samples.append((v, rng.randrange(classes)))

    async def bench(ctx):
        for index, (v, label) in enumerate(samples):
            ctx.set(dut.label, label)
            clean = readout(torch.tensor(v[0]), config.log2_timesteps, learn)
            noisy = readout(torch.tensor(v[1]), config.log2_timesteps, learn)
            for noisy_pass in (0, 1):
                ctx.set(dut.noisy, noisy_pass)
                ctx.set(dut.clear, 1)
                await ctx.tick()
                ctx.set(dut.clear, 0)
                ctx.set(dut.valid, 1)
                for k in range(classes):
                    ctx.set(dut.index, k)
                    ctx.set(dut.v, v[noisy_pass][k])
                    ctx.set(dut.clean, int(clean[k]))
                    want = int((noisy if noisy_pass else clean)[k])
                    assert ctx.get(dut.y) == want, f"sample {index} class {k}: y"
                    await ctx.tick()
                ctx.set(dut.valid, 0)
                await ctx.tick()                  # the last word reaches acc / prediction
                if not noisy_pass:
                    assert ctx.get(dut.prediction) == int(clean.argmax()), f"sample {index}"
            ctx.set(dut.finish, 1)
            await ctx.tick()
            ctx.set(dut.finish, 0)
            want = int(loss_delta(clean[None], noisy[None], torch.tensor([label]), learn)[0])
            assert ctx.get(dut.delta) == want, f"sample {index}: delta {ctx.get(dut.delta)}"

    run_simulation(dut, bench, name="readout_unit")


@pytest.mark.parametrize("shared", [False, True], ids=["per-layer", "shared"])
def test_weight_port_arbiter_routes_host_and_units(shared):
    layers = DEEP.layers
    groups = [tuple(range(layers))] if shared else [(l,) for l in range(layers)]
    dut = WeightPortArbiter(DEEP, groups)
    core = [getattr(dut, f"core{l}") for l in range(layers)]
    unit = [getattr(dut, f"unit{g}") for g in range(len(groups))]

    async def bench(ctx):
        for l in range(layers):
            ctx.set(core[l].rdata, 100 + l)
        for g in range(len(groups)):
            for key, value in (("raddr", 7 + g), ("waddr", 9 + g), ("wdata", -5 - g),
                               ("we", 1)):
                ctx.set(getattr(unit[g], key), value)
        ctx.set(dut.host_addr, 3)
        ctx.set(dut.host_wdata, 42)
        ctx.set(dut.host_we, 1)
        for busy in (0, 1):
            ctx.set(dut.busy, busy)
            for host_layer in range(layers):
                ctx.set(dut.host_layer, host_layer)
                assert ctx.get(dut.host_rdata) == 100 + host_layer
                for feed in range(layers):
                    ctx.set(dut.feed_layer, feed)
                    for l in range(layers):
                        g = 0 if shared else l
                        want = (3, 3, 42, 1) if not busy and l == host_layer else \
                            (7 + g, 9 + g, -5 - g, int(not shared or feed == l))
                        got = tuple(ctx.get(getattr(core[l], key))
                                    for key in ("raddr", "waddr", "wdata", "we"))
                        assert got == want, f"busy {busy} host {host_layer} feed {feed}: {l}"
                    want = 100 + (feed if shared else 0)
                    assert ctx.get(unit[0].rdata) == want

    assert WeightPortArbiter.read_latency(set()) == 1
    run_simulation(dut, bench, name="weight_port_arbiter", clk_period=None)


def test_weight_port_arbiter_registers_only_the_words_a_core_does_not():
    # Layer 0 reaches its lanes directly (its core registers the host's split address and
    # word itself): every host read then takes three cycles, the other layers' words
    # registered twice in the arbiter.
    dut = WeightPortArbiter(DEEP, [(l,) for l in range(DEEP.layers)], lane_layers={0})
    core = [getattr(dut, f"core{l}") for l in range(DEEP.layers)]
    assert WeightPortArbiter.read_latency({0}) == 3

    async def bench(ctx):
        for l in range(DEEP.layers):
            ctx.set(core[l].rdata, 100 + l)
        ctx.set(dut.host_layer, 0)
        assert ctx.get(dut.host_rdata) == 100
        for host_layer in range(1, DEEP.layers):
            ctx.set(dut.host_layer, host_layer)
            assert ctx.get(dut.host_rdata) != 100 + host_layer
            await ctx.tick()
            assert ctx.get(dut.host_rdata) != 100 + host_layer
            await ctx.tick()
            assert ctx.get(dut.host_rdata) == 100 + host_layer

    run_simulation(dut, bench, name="weight_port_arbiter_lanes")


@pytest.mark.parametrize("shifts", ["hidden", "readout", "both"])
def test_weight_step_matches_the_golden_update(shifts):
    learn = DEFAULT_NETWORK.learning
    kinds = {"hidden": {learn.update_shift}, "readout": {learn.readout_update_shift},
             "both": {learn.update_shift, learn.readout_update_shift}}[shifts]
    dut, rng = WeightStep(DEFAULT_NETWORK, kinds), random.Random(11)

    def word(fmt):
        return rng.choice([rng.randint(fmt.min_raw, fmt.max_raw), fmt.min_raw, fmt.max_raw, 0])

    async def bench(ctx):
        for case in range(2000):
            error, source, old = word(learn.delta), word(learn.vector), word(learn.master)
            readout_layer = rng.random() < 0.5 if shifts == "both" else shifts == "readout"
            extra = rng.randrange(1 << learn.step_shift_bits)
            for port, value in (("error", error), ("source", source), ("old", old),
                                ("readout", int(readout_layer)), ("step_shift", extra)):
                ctx.set(getattr(dut, port), value)
            shift = (learn.readout_update_shift if readout_layer else learn.update_shift) + extra
            want = int(weight_update(torch.tensor([[old]]), torch.tensor([error]),
                                     torch.tensor([source]), learn, shift)[0, 0])
            await ctx.tick()                # the product and old word are registered
            assert ctx.get(dut.wdata) == want, f"case {case}: {error} x {source} from {old}"

    run_simulation(dut, bench, name="weight_step")
