"""The benches of :mod:`cosim.benches` in Amaranth's simulator: the adapter and one runner per
block. A mismatch raises ``AssertionError`` naming the step and the word."""

import random

from amaranth import Value
from amaranth.lib import data

from hw.host import HostInterface
from hw.learner import LearnerCore
from hw.neuron import LIFCore
from hw.noise import NoiseGenerator
from hw.projector import ProjectorUpdate
from hw.testing import run_simulation

from . import benches

__all__ = ["AmaranthBench", "check_lif", "check_projector", "check_noise", "check_learner",
           "check_host"]

class AmaranthBench(benches.BenchVerbs):
    """The bench verbs (:mod:`cosim.benches`) on an Amaranth testbench context. ``memories``:
    the weight ports a background process serves once the bench hands it words
    (``serve_memory``); ``lane_words``: per port that is a lanes' port
    (:func:`hw.neuron.lane_port_signature`), the words of a lane (lane ``b``'s word ``a`` is
    flat word ``b lane_words + a``)."""

    def __init__(self, dut, *, seed: int = 0, pauses=True, memories=(), lane_words=None):
        self.dut, self.rng, self.pauses = dut, random.Random(seed), pauses
        self._ctx, self._served = None, dict.fromkeys(memories)
        self._lane_words = lane_words or {}

    def port(self, name):
        value = self.dut
        for part in name.split("."):
            value = getattr(value, part)
        # Struct and array ports are driven and read as their raw bits.
        return value.as_value() if isinstance(value, data.View) else value

    def set(self, name, value):
        self._ctx.set(self.port(name), value)

    def get(self, name, signed=False) -> int:
        signal = self.port(name)
        width = len(signal)
        raw = int(self._ctx.get(signal)) & ((1 << width) - 1)
        return raw - (1 << width) if signed and raw >> (width - 1) else raw

    async def tick(self):
        await self._ctx.tick()

    async def stream_put(self, name, payload):
        await self.idle()
        stream = self.port(name)
        self._ctx.set(Value.cast(stream.payload), payload)   # a layout's payload: its bits
        self._ctx.set(stream.valid, 1)
        await self._ctx.tick().until(stream.ready)
        self._ctx.set(stream.valid, 0)

    async def stream_get(self, name) -> int:
        stream = self.port(name)
        while True:
            ready = self.rng.choice(benches.PAUSES) == 0
            self._ctx.set(stream.ready, ready)
            _, _, valid, payload = await self._ctx.tick().sample(stream.valid, stream.payload)
            if ready and valid:
                self._ctx.set(stream.ready, 0)
                return payload

    def serve_memory(self, name, words):
        self._served[name] = words

    def _memory_process(self, name):
        port = self.port(name)
        if name in self._lane_words:
            return self._lanes_memory_process(name, port, self._lane_words[name])

        async def memory(ctx):
            samples = ctx.tick().sample(port.raddr, port.waddr, port.wdata, port.we)
            async for _clk, _rst, raddr, waddr, wdata, we in samples:
                words = self._served[name] or []
                value = words[raddr] if raddr < len(words) else 0   # past the end: don't care
                if we:
                    words[waddr] = wdata
                ctx.set(port.rdata, value)
        return memory

    def _lanes_memory_process(self, name, port, lane_words):
        """A flat word list served as the same word of every lane at once; a write past the
        list's end (a row the layer does not have) raises."""
        lanes = len(port.we)
        rdata, wdata = port.rdata.as_value(), port.wdata.as_value()
        width = len(rdata) // lanes
        mask = (1 << width) - 1

        async def memory(ctx):
            samples = ctx.tick().sample(port.raddr, port.waddr, wdata, port.we)
            async for _clk, _rst, raddr, waddr, packed, we in samples:
                words = self._served[name] or []
                value = 0
                for b in range(lanes):
                    index = b * lane_words + raddr
                    word = words[index] if index < len(words) else 0   # past the end
                    value |= (word & mask) << (b * width)
                for b in range(lanes):
                    if we >> b & 1:
                        word = (packed >> (b * width)) & mask
                        words[b * lane_words + waddr] = word - ((word >> (width - 1)) << width)
                ctx.set(rdata, value)
        return memory

    def run(self, bench, *args, name, **kwargs):
        """Run ``bench(self, *args, **kwargs)`` to its end; returns what it returns."""
        result = []

        async def testbench(ctx):
            self._ctx = ctx
            result.append(await bench(self, *args, **kwargs))

        run_simulation(self.dut, testbench, name=name,
                       processes=[self._memory_process(port) for port in self._served])
        return result[0]


def check_lif(config, layer, vectors, *, name, listed_inputs=False, appends=1, lanes=1):
    """Returns the cycles the steps took."""
    core = LIFCore(config, layer, listed_inputs=listed_inputs, appends=appends, lanes=lanes)
    return AmaranthBench(core).run(benches.lif_bench, config, layer, vectors,
                                   listed=listed_inputs, appends=appends, name=name)


def check_projector(config, layer, vectors, *, name, seed=0, pauses=True, parallel_slots=False,
                    lanes=1, early=False):
    """Returns the cycles the samples took after their last error word (idle stream cycles
    included; ``pauses`` false: none)."""
    lane_words = {"weights": LIFCore.lane_rows(config, layer, lanes) *
                  (config.sizes[layer] + 1)} if lanes > 1 else None
    bench = AmaranthBench(ProjectorUpdate(config, layer, parallel_slots=parallel_slots,
                                          lanes=lanes, early=early),
                          seed=seed, pauses=pauses, memories=("weights",),
                          lane_words=lane_words)
    return bench.run(benches.projector_bench, config, layer, vectors, lanes=lanes,
                     name=name)


def check_noise(lanes, vectors, *, name):
    AmaranthBench(NoiseGenerator(lanes)).run(benches.noise_bench, lanes, vectors, name=name)


def check_learner(config, vectors, *, name, infer_every=0, shared_update=False, lanes=None,
                  parallel_slots=None):
    """Returns the RTL cycle counter per command: ``{"train": [...], "infer": [...]}``."""
    learner = LearnerCore(config, shared_update=shared_update, lanes=lanes,
                          parallel_slots=parallel_slots)
    return AmaranthBench(learner).run(benches.learner_bench, config, vectors,
                                      weights_latency=learner.weights_read_latency,
                                      infer_every=infer_every, name=name)


def check_host(config, *, name, seed=0):
    """Returns the bytes exchanged."""
    bench = AmaranthBench(HostInterface(config), seed=seed)
    return bench.run(benches.host_bench, config, random.Random(seed), name=name)
