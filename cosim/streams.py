"""cocotb helpers with the names of :mod:`hw.testing`.

Every bench drives inputs and samples outputs at the *falling* edge, half a cycle away from the
rising edge where the gateware acts, which mirrors Amaranth's testbench semantics (set, tick,
get) and avoids races between cocotb writes and ``posedge`` processes.
"""

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge


__all__ = ["start_clock", "cycle", "signed", "stream_put", "write_port", "read_port",
           "serve_memory"]


async def start_clock(dut, cycles=2):
    """Start a 10 ns clock, hold reset for ``cycles`` and return at a falling edge."""
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    for _ in range(cycles):
        await cycle(dut)
    dut.rst.value = 0


async def cycle(dut):
    """Let one rising edge pass; return at the following falling edge."""
    await RisingEdge(dut.clk)
    await FallingEdge(dut.clk)


def signed(handle) -> int:
    """Value of a port as a signed integer (Verilog ports are plain vectors)."""
    return handle.value.to_signed()


async def stream_put(dut, name, payload: int):
    """Offer ``payload`` on stream ``name`` until a rising edge accepts it."""
    getattr(dut, f"{name}__payload").value = payload
    getattr(dut, f"{name}__valid").value = 1
    await ReadOnly()
    while getattr(dut, f"{name}__ready").value != 1:
        await cycle(dut)
        await ReadOnly()
    await cycle(dut)
    getattr(dut, f"{name}__valid").value = 0


async def write_port(dut, addr: str, data: str, we: str, words):
    """Write ``words`` at addresses 0, 1, ... through a synchronous write port, one a cycle."""
    getattr(dut, we).value = 1
    for address, word in enumerate(words):
        getattr(dut, addr).value = address
        getattr(dut, data).value = word
        await cycle(dut)
    getattr(dut, we).value = 0


async def read_port(dut, addr: str, data: str, count: int, *, as_signed=True) -> list:
    """Read ``count`` words through a synchronous read port (data one cycle after the address)."""
    words = []
    for address in range(count):
        getattr(dut, addr).value = address
        await cycle(dut)
        value = getattr(dut, data)
        words.append(signed(value) if as_signed else int(value.value))
    return words


def serve_memory(dut, prefix: str, words: list):
    """Start a coroutine acting as a synchronous memory on the port ``<prefix>__*``
    (:func:`hw.neuron.weight_port_signature`), in place on ``words``."""
    port = {key: getattr(dut, f"{prefix}__{key}") for key in
            ("raddr", "rdata", "waddr", "wdata", "we")}

    async def memory():
        while True:
            await FallingEdge(dut.clk)
            await ReadOnly()
            raddr, we = int(port["raddr"].value), int(port["we"].value)
            waddr, wdata = int(port["waddr"].value), signed(port["wdata"])
            await RisingEdge(dut.clk)
            value = words[raddr] if raddr < len(words) else 0
            if we:
                words[waddr] = wdata
            port["rdata"].value = value

    return cocotb.start_soon(memory())
