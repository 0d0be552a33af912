"""8N1 UART receiver and transmitter, and the learner behind a UART (what the boards build)."""

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .formats import NetworkConfig
from .host import HostInterface
from .protocol import FRAME_TIMEOUT_BYTE_TIMES, UART_BYTE_BITS


__all__ = ["UARTRx", "UARTTx", "UARTLearner"]


def _check_divisor(divisor):
    if not isinstance(divisor, int) or divisor < 4:
        raise ValueError(f"Divisor (clock cycles per bit) must be an integer >= 4, "
                         f"not {divisor!r}")


class _UARTPart(wiring.Component):
    """A receiver or transmitter running at ``divisor`` clock cycles per bit."""

    def __init__(self, divisor: int):
        _check_divisor(divisor)
        self._divisor = divisor
        super().__init__()


class UARTRx(_UARTPart):
    """Receives 8N1 frames on ``rx`` (``divisor`` clock cycles per bit) into stream ``o``.

    The line is synchronised by two flip-flops and filtered by a majority of its last three
    samples, so a one-cycle glitch is never seen. A start bit must still be low half a bit after
    its edge (else it was noise); bits are taken mid-bit; a byte whose stop bit is low is
    dropped and reception waits for the line to go high again (a break or a framing error never
    turns into bytes). A byte arriving while the previous one was not taken overwrites it (the
    host protocol never sends unasked).
    """

    rx: In(1, init=1)
    o: Out(stream.Signature(8))

    def elaborate(self, platform):
        m = Module()
        synchroniser = Signal(2, init=0b11)
        samples = Signal(3, init=0b111)
        m.d.sync += [synchroniser.eq(Cat(self.rx, synchroniser[0])),
                     samples.eq(Cat(synchroniser[1], samples[:2]))]
        level = (samples[0] & samples[1]) | (samples[0] & samples[2]) | (samples[1] & samples[2])
        timer = Signal(range(self._divisor))
        bits = Signal(range(9))
        shift = Signal(8)
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~level):
                    m.d.sync += timer.eq(self._divisor // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += [timer.eq(self._divisor - 1), bits.eq(0)]
                    with m.If(level):                 # high again at mid start bit: noise
                        m.next = "IDLE"
                    with m.Else():
                        m.next = "DATA"
            with m.State("DATA"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    m.d.sync += [shift.eq(Cat(shift[1:], level)), bits.eq(bits + 1),
                                 timer.eq(self._divisor - 1)]
                    with m.If(bits == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                m.d.sync += timer.eq(timer - 1)
                with m.If(timer == 0):
                    with m.If(level):                 # a valid stop bit
                        m.d.sync += [self.o.payload.eq(shift), self.o.valid.eq(1)]
                        m.next = "IDLE"
                    with m.Else():                    # framing error: drop, wait for idle
                        m.next = "BREAK"
            with m.State("BREAK"):
                with m.If(level):
                    m.next = "IDLE"
        return m


class UARTTx(_UARTPart):
    """Sends the bytes of stream ``i`` as 8N1 frames on ``tx``."""

    i: In(stream.Signature(8))
    tx: Out(1, init=1)

    def elaborate(self, platform):
        m = Module()
        frame = Signal(10, init=0x3FF)
        bits = Signal(range(11))
        timer = Signal(range(self._divisor))
        m.d.comb += self.tx.eq(frame[0])
        with m.If(bits == 0):
            m.d.comb += self.i.ready.eq(1)
            with m.If(self.i.valid):
                m.d.sync += [frame.eq(Cat(C(0, 1), self.i.payload, C(1, 1))), bits.eq(10),
                             timer.eq(self._divisor - 1)]
        with m.Else():
            m.d.sync += timer.eq(timer - 1)
            with m.If(timer == 0):
                m.d.sync += [frame.eq(Cat(frame[1:], C(1, 1))), bits.eq(bits - 1),
                             timer.eq(self._divisor - 1)]
        return m


class UARTLearner(wiring.Component):
    """:class:`~hw.host.HostInterface` (and so the whole learner) behind a UART; its frame
    timeout is :data:`hw.protocol.FRAME_TIMEOUT_BYTE_TIMES` byte times.

    Parameters
    ----------
    config : NetworkConfig
    divisor : int
        Clock cycles per bit (clock frequency / baud rate).
    """

    rx: In(1, init=1)
    tx: Out(1, init=1)

    def __init__(self, config: NetworkConfig, divisor: int, *, init=None, shared_update=False,
                 lanes=None, parallel_slots=None):
        _check_divisor(divisor)
        self._config, self._divisor, self._init = config, divisor, init
        self._shared, self._lanes = shared_update, lanes
        self._parallel_slots = parallel_slots
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.rx = rx = UARTRx(self._divisor)
        m.submodules.tx = tx = UARTTx(self._divisor)
        m.submodules.host = host = HostInterface(
            self._config, init=self._init, shared_update=self._shared, lanes=self._lanes,
            parallel_slots=self._parallel_slots,
            timeout_cycles=FRAME_TIMEOUT_BYTE_TIMES * UART_BYTE_BITS * self._divisor)
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx)]
        wiring.connect(m, rx.o, host.i)
        wiring.connect(m, host.o, tx.i)
        return m
