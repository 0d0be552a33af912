"""Board top levels: the learner behind the board's USB-UART, its busy flag on an LED."""

from amaranth import *
from amaranth.lib import io
from amaranth.lib.cdc import ResetSynchronizer

from hw.formats import NetworkConfig
from hw.uart import UARTLearner

from .clocks import PLL


__all__ = ["BAUD", "LearnerBoard"]

BAUD = 115_200


class LearnerBoard(Elaboratable):
    """The UART learner on the platform's default clock, or on ``clock_mhz`` from the PLL; LED 0
    shows the UART lines' activity.

    Parameters
    ----------
    config : NetworkConfig
    init : list of lists of int, optional
        Initial master weights per layer (otherwise zeros; the host loads weights).
    shared_update, lanes, parallel_slots :
        The learner's organisation (see :class:`hw.learner.LearnerCore`).
    clock_mhz : float, optional
        The learner's clock, from the PLL (:class:`boards.clocks.PLL`; ``sync`` is held in reset
        until it locks); default: the oscillator's.
    """

    def __init__(self, config: NetworkConfig, *, init=None, baud: int = BAUD,
                 shared_update=False, lanes=None, parallel_slots=None, clock_mhz=None):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"Config must be a NetworkConfig, not {config!r}")
        self._config, self._init, self._baud = config, init, baud
        self._clock_mhz = clock_mhz
        self._shared, self._lanes = shared_update, lanes
        self._parallel_slots = parallel_slots

    def elaborate(self, platform):
        m = Module()
        frequency = platform.default_clk_frequency
        if self._clock_mhz is not None and self._clock_mhz * 1e6 != frequency:
            m.submodules.pll = pll = PLL(self._clock_mhz)
            m.domains.sync = ClockDomain("sync")
            m.d.comb += ClockSignal("sync").eq(pll.clock)
            m.submodules.reset = ResetSynchronizer(~pll.locked, domain="sync")
            frequency = self._clock_mhz * 1e6
        divisor = round(frequency / self._baud)
        m.submodules.learner = learner = UARTLearner(self._config, divisor, init=self._init,
                                                     shared_update=self._shared,
                                                     lanes=self._lanes,
                                                     parallel_slots=self._parallel_slots)
        uart = platform.request("uart", 0, dir="-")     # raw pins; some boards add dtr/rts
        m.submodules.rx = rx = io.Buffer("i", uart.rx)
        m.submodules.tx = tx = io.Buffer("o", uart.tx)
        m.d.comb += [learner.rx.eq(rx.i), tx.o.eq(learner.tx)]
        led = platform.request("led", 0, dir="-")
        m.submodules.led = led_buffer = io.Buffer("o", led)
        # The host side keeps busy internal; the LED shows the UART line activity instead.
        m.d.comb += led_buffer.o.eq(~rx.i | ~learner.tx)
        return m
