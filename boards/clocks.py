"""The learner's clock from the board oscillator through the FPGA's PLL.

:func:`ice40_pll` and :func:`ecp5_pll` find the divider settings that make an output frequency
exactly (raising :class:`ClockError` when the PLL cannot), and :class:`PLL` instantiates the
device's PLL on the oscillator pad (the board top defines ``sync`` from its ``clock`` and holds
it in reset until ``locked``). nextpnr derives the PLL output's timing constraint from the
oscillator pin's (its log says "Derived frequency constraint").
"""

from amaranth import *
from amaranth.lib import io


__all__ = ["ClockError", "ice40_pll", "ecp5_pll", "PLL"]


class ClockError(ValueError):
    """The board's PLL cannot make the asked-for clock."""


def ice40_pll(input_mhz: float, output_mhz: float) -> dict:
    """``SB_PLL40_PAD`` settings (``DIVR``, ``DIVF``, ``DIVQ``, ``FILTER_RANGE``) for exactly
    ``output_mhz``: ``f_out = f_in (DIVF + 1) / ((DIVR + 1) 2**DIVQ)``, the phase detector at
    10-133 MHz and the VCO at 533-1066 MHz (iCE40 sysCLOCK PLL; ``icepll``'s filter table)."""
    for divr in range(16):
        pfd = input_mhz / (divr + 1)
        if not 10 <= pfd <= 133:
            continue
        for divq in range(1, 7):
            for divf in range(128):
                vco = pfd * (divf + 1)
                if 533 <= vco <= 1066 and abs(vco / 2 ** divq - output_mhz) < 1e-9:
                    filter_range = next(i for i, top in enumerate((17, 26, 44, 66, 101), 1)
                                        if pfd < top) if pfd < 101 else 6
                    return {"DIVR": divr, "DIVF": divf, "DIVQ": divq,
                            "FILTER_RANGE": filter_range}
    raise ClockError(f"The iCE40 PLL cannot make exactly {output_mhz:g} MHz from "
                     f"{input_mhz:g} MHz (f_in (DIVF + 1) / ((DIVR + 1) 2**DIVQ), VCO 533-1066 "
                     f"MHz)")


def ecp5_pll(input_mhz: float, output_mhz: float) -> dict:
    """``EHXPLLL`` settings (``CLKI_DIV``, ``CLKFB_DIV``, ``CLKOP_DIV``, ``CLKOP_CPHASE``) for
    exactly ``output_mhz``, fed back from CLKOP: ``f_out = f_in CLKFB_DIV / CLKI_DIV``, the VCO
    (``f_out CLKOP_DIV``) at 400-800 MHz, nearest 600, the phase detector at 3.125-400 MHz,
    ``CLKOP_CPHASE = (CLKOP_DIV - 1) // 2`` (as ``ecppll`` writes them)."""
    for clki_div in range(1, 129):
        pfd = input_mhz / clki_div
        if not 3.125 <= pfd <= 400:
            continue
        for clkfb_div in range(1, 81):
            if abs(pfd * clkfb_div - output_mhz) > 1e-9:
                continue
            # The output divider that puts the VCO nearest the middle of its range.
            dividers = [d for d in range(1, 129) if 400 <= output_mhz * d <= 800]
            if dividers:
                clkop_div = min(dividers, key=lambda d: abs(output_mhz * d - 600))
                return {"CLKI_DIV": clki_div, "CLKFB_DIV": clkfb_div,
                        "CLKOP_DIV": clkop_div, "CLKOP_CPHASE": (clkop_div - 1) // 2}
    raise ClockError(f"The ECP5 PLL cannot make exactly {output_mhz:g} MHz from "
                     f"{input_mhz:g} MHz (f_in CLKFB_DIV / CLKI_DIV, VCO 400-800 MHz)")


class PLL(Elaboratable):
    """The device's PLL making ``mhz`` from the platform's default clock pad (iCE40:
    ``SB_PLL40_PAD``; ECP5: ``EHXPLLL``).

    Attributes
    ----------
    clock : Signal
        The PLL's output clock.
    locked : Signal
        High while the PLL is locked.
    """

    def __init__(self, mhz: float):
        self._mhz = mhz
        self.clock, self.locked = Signal(name="pll_clock"), Signal(name="pll_locked")

    def elaborate(self, platform):
        m = Module()
        input_mhz = platform.default_clk_frequency / 1e6
        clock, locked = self.clock, self.locked
        pad = platform.request(platform.default_clk, dir="-")
        family = platform.family.lower()
        if family == "ice40":
            settings = ice40_pll(input_mhz, self._mhz)
            m.submodules.pll = Instance(
                "SB_PLL40_PAD", p_FEEDBACK_PATH="SIMPLE", p_PLLOUT_SELECT="GENCLK",
                **{f"p_{name}": value for name, value in settings.items()},
                i_PACKAGEPIN=pad.io, i_RESETB=1, i_BYPASS=0,
                o_PLLOUTGLOBAL=clock, o_LOCK=locked)
        elif family == "ecp5":
            settings = ecp5_pll(input_mhz, self._mhz)
            m.submodules.clock_in = clock_in = io.Buffer("i", pad)
            m.submodules.pll = Instance(
                "EHXPLLL",
                a_FREQUENCY_PIN_CLKI=f"{input_mhz:g}", a_FREQUENCY_PIN_CLKOP=f"{self._mhz:g}",
                a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
                a_MFG_GMCREF_SEL="2",
                p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
                p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_CLKOP_ENABLE="ENABLED",
                p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
                **{f"p_{name}": value for name, value in settings.items()},
                i_CLKI=clock_in.i, i_CLKFB=clock, i_RST=0, i_STDBY=0, i_PHASESEL0=0,
                i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1,
                i_PLLWAKESYNC=0, i_ENCLKOP=0, o_CLKOP=clock, o_LOCK=locked)
        else:
            raise ClockError(f"No PLL for the {platform.family} family")
        return m
