"""The benches of :mod:`cosim.benches` under cocotb (Icarus Verilog): the adapter and one cocotb
test per block; run through :func:`cosim.runner.run_cocotb`, not by pytest.

Each test rebuilds the vectors the Amaranth run uses (:mod:`cosim.vectors`) from ``LOCO_CONFIG``
(a :class:`hw.formats.NetworkConfig` as JSON), ``LOCO_LAYER``, ``LOCO_SEED`` and ``LOCO_COUNT``.
Inputs are driven and outputs sampled at the *falling* edge, half a cycle away from the rising
edge where the gateware acts: Amaranth's testbench semantics (set, tick, get) without races
between cocotb writes and ``posedge`` processes.
"""

import enum
import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge
from cocotb.utils import get_sim_time

from cosim import benches
from cosim.vectors import learner_vectors, lif_vectors, noise_vectors, projector_vectors
from hw.formats import NetworkConfig

_PERIOD_NS = 10


class CocotbBench(benches.BenchVerbs):
    """The bench verbs (:mod:`cosim.benches`) on a cocotb DUT: ``"weights.waddr"`` is the
    Verilog port ``weights__waddr``."""

    def __init__(self, dut, *, seed: int = 0):
        self.dut, self.rng = dut, random.Random(seed)

    def port(self, name):
        return getattr(self.dut, name.replace(".", "__"))

    async def start(self, reset_cycles=2):
        """Start the clock, hold reset for ``reset_cycles``; return at a falling edge."""
        Clock(self.dut.clk, _PERIOD_NS, unit="ns").start()
        self.dut.rst.value = 1
        for _ in range(reset_cycles):
            await self.tick()
        self.dut.rst.value = 0

    def set(self, name, value):
        self.port(name).value = value.value if isinstance(value, enum.Enum) else value

    def get(self, name, signed=False) -> int:
        value = self.port(name).value
        return value.to_signed() if signed else int(value)

    async def tick(self):
        await RisingEdge(self.dut.clk)
        await FallingEdge(self.dut.clk)

    async def wait_while(self, name) -> int:
        """Ticks until ``name`` is 0, on an edge trigger (Icarus runs without Python a
        cycle)."""
        if not self.get(name):
            return 0
        started = get_sim_time("ns")
        await FallingEdge(self.port(name))
        await FallingEdge(self.dut.clk)
        return round((get_sim_time("ns") - started) / _PERIOD_NS)

    async def stream_put(self, name, payload):
        await self.idle()
        self.set(f"{name}.payload", payload)
        self.set(f"{name}.valid", 1)
        await ReadOnly()
        while not self.get(f"{name}.ready"):
            await self.tick()
            await ReadOnly()
        await self.tick()
        self.set(f"{name}.valid", 0)

    async def stream_get(self, name) -> int:
        while True:
            ready = self.rng.choice(benches.PAUSES) == 0
            self.set(f"{name}.ready", ready)
            await ReadOnly()
            valid, payload = self.get(f"{name}.valid"), self.get(f"{name}.payload")
            await self.tick()
            if ready and valid:
                self.set(f"{name}.ready", 0)
                return payload

    def serve_memory(self, name, words):
        port = {key: self.port(f"{name}.{key}") for key in ("raddr", "rdata", "waddr",
                                                            "wdata", "we")}

        async def memory():
            while True:
                await FallingEdge(self.dut.clk)
                await ReadOnly()
                raddr, we = int(port["raddr"].value), int(port["we"].value)
                waddr, wdata = int(port["waddr"].value), port["wdata"].value.to_signed()
                await RisingEdge(self.dut.clk)
                value = words[raddr] if raddr < len(words) else 0
                if we:
                    words[waddr] = wdata
                port["rdata"].value = value

        cocotb.start_soon(memory())


def _params():
    return (NetworkConfig.from_json(os.environ["LOCO_CONFIG"]), int(os.environ["LOCO_LAYER"]),
            int(os.environ["LOCO_SEED"]), int(os.environ["LOCO_COUNT"]))


async def _started(dut, *inputs, seed=0):
    bench = CocotbBench(dut, seed=seed)
    for name in inputs:
        bench.set(name, 0)
    await bench.start()
    return bench


@cocotb.test()
async def lif_core_matches_golden(dut):
    config, layer, seed, runs = _params()
    listed = os.environ.get("LOCO_LISTED") == "1"
    bench = await _started(dut, "start", "weights.we", *(["append"] if listed else []))
    vectors = lif_vectors(config, layer, runs=runs, seed=seed, same_inputs=listed)
    await benches.lif_bench(bench, config, layer, vectors, listed=listed)


@cocotb.test()
async def projector_matches_golden(dut):
    config, layer, seed, samples = _params()
    bench = await _started(dut, "x.valid", "e.valid", "basis_we", seed=seed)
    await benches.projector_bench(bench, config, layer,
                                  projector_vectors(config, layer, samples=samples, seed=seed))


@cocotb.test()
async def noise_matches_golden(dut):
    lanes = json.loads(os.environ["LOCO_LANES"])
    vectors = noise_vectors(lanes, draws=int(os.environ["LOCO_COUNT"]),
                            seed=int(os.environ["LOCO_SEED"]))
    bench = await _started(dut, *(f"{lane}.{key}" for lane in lanes
                                  for key in ("reseed", "advance")))
    await benches.noise_bench(bench, lanes, vectors)


@cocotb.test()
async def learner_matches_golden(dut):
    """The whole learner trained online; every master word compared after every sample."""
    config, _, seed, samples = _params()
    vectors = learner_vectors(config, samples=samples, seed=seed,
                              refresh=int(os.environ.get("LOCO_REFRESH", "4")))
    bench = await _started(dut, "start", "inputs.we", "projector.basis_we", "weights.we")
    await benches.learner_bench(bench, config, vectors,
                                weights_latency=int(os.environ["LOCO_WEIGHTS_LATENCY"]))


@cocotb.test()
async def host_matches_protocol(dut):
    """The command processor's byte streams with idle cycles and back-pressure."""
    config, _, seed, _ = _params()
    bench = await _started(dut, "i.valid", "o.ready", seed=seed)
    await benches.host_bench(bench, config, random.Random(seed))
