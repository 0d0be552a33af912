"""Helpers for Amaranth async testbenches (same names as :mod:`cosim.streams`)."""

import os
from pathlib import Path

from amaranth.sim import Simulator


__all__ = ["WAVES_DIR", "run_simulation", "serve_memory", "stream_put", "write_port",
           "read_port"]

WAVES_DIR = Path(__file__).resolve().parent.parent / "build" / "waves"


async def stream_put(ctx, stream, payload):
    """Offer ``payload`` on ``stream`` and return after the edge that accepted it."""
    ctx.set(stream.payload, payload)
    ctx.set(stream.valid, 1)
    await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def write_port(ctx, addr, data, we, words):
    """Write ``words`` at addresses 0, 1, ... through a synchronous write port, one a cycle."""
    ctx.set(we, 1)
    for address, word in enumerate(words):
        ctx.set(addr, address)
        ctx.set(data, word)
        await ctx.tick()
    ctx.set(we, 0)


async def read_port(ctx, addr, data, count: int) -> list:
    """Read ``count`` words through a synchronous read port (data one cycle after the address)."""
    words = []
    for address in range(count):
        ctx.set(addr, address)
        await ctx.tick()
        words.append(ctx.get(data))
    return words


def serve_memory(port, words: list):
    """A background testbench acting as a synchronous memory on ``port``
    (:func:`hw.neuron.weight_port_signature`), in place on ``words``: read data one cycle after
    the address (the old word on a same-cycle write), writes on the clock edge."""
    async def memory(ctx):
        samples = ctx.tick().sample(port.raddr, port.waddr, port.wdata, port.we)
        async for _clk, _rst, raddr, waddr, wdata, we in samples:
            value = words[raddr] if raddr < len(words) else 0  # past the end: don't care
            if we:
                words[waddr] = wdata
            ctx.set(port.rdata, value)
    return memory


def run_simulation(dut, *testbenches, processes=(), name, clk_period=1e-6):
    """Run ``testbenches`` against ``dut`` on one ``sync`` clock until all of them return.

    ``processes`` run alongside and are not waited for. ``LOCO_WAVES=1`` records the run into
    ``build/waves/<name>.vcd``.
    """
    sim = Simulator(dut)
    sim.add_clock(clk_period)
    for testbench in testbenches:
        sim.add_testbench(testbench)
    for process in processes:
        sim.add_testbench(process, background=True)
    if os.environ.get("LOCO_WAVES") == "1":
        WAVES_DIR.mkdir(parents=True, exist_ok=True)
        with sim.write_vcd(str(WAVES_DIR / f"{name}.vcd")):  # 0.5 wants a str, not a Path
            sim.run()
    else:
        sim.run()
