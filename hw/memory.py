"""A single-port RAM that becomes an iCE40UP5K SPRAM block on that part, a memory elsewhere."""

from amaranth import *
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out


__all__ = ["SinglePortRAM"]

_SPRAM_DEPTH, _SPRAM_WIDTH = 16384, 16


class SinglePortRAM(wiring.Component):
    """``rdata`` is the word at ``addr`` one cycle later; ``wdata`` is written at ``addr`` on the
    edge where ``we`` is high (a read in the same cycle returns the old word).

    On an iCE40UP platform a ``SB_SPRAM256KA`` (16 K x 16) stands for it, which frees block RAM
    on the UP5K; elsewhere (and in simulation) an :class:`amaranth.lib.memory.Memory` with both
    ports on the one address behaves the same, with ``attrs`` (e.g. yosys's ``ram_style``).
    """

    def __init__(self, shape, depth: int, *, attrs=None):
        self._shape, self._depth, self._attrs = shape, depth, attrs
        super().__init__({
            "addr":  In(range(depth)),
            "wdata": In(shape),
            "we":    In(1),
            "rdata": Out(shape),
        })

    def elaborate(self, platform):
        m = Module()
        width = Shape.cast(self._shape).width
        device = str(getattr(platform, "device", ""))
        if device.startswith("iCE40UP") and width <= _SPRAM_WIDTH and self._depth <= _SPRAM_DEPTH:
            data_out = Signal(_SPRAM_WIDTH)
            m.submodules.spram = Instance(
                "SB_SPRAM256KA",
                i_ADDRESS=self.addr, i_DATAIN=self.wdata.as_unsigned(), i_MASKWREN=0b1111,
                i_WREN=self.we, i_CHIPSELECT=1, i_CLOCK=ClockSignal(), i_STANDBY=0,
                i_SLEEP=0, i_POWEROFF=1, o_DATAOUT=data_out)
            m.d.comb += self.rdata.eq(data_out[:width])
        else:
            m.submodules.memory = memory = Memory(shape=self._shape, depth=self._depth, init=[],
                                                  attrs=self._attrs)
            read, write = memory.read_port(), memory.write_port()
            m.d.comb += [read.addr.eq(self.addr), write.addr.eq(self.addr),
                         write.data.eq(self.wdata), write.en.eq(self.we),
                         self.rdata.eq(read.data)]
        return m
