"""Amaranth twins of the arithmetic rules in :mod:`hw.formats` (where they become logic);
``round_shift`` is :func:`hw.formats.round_shift` itself (operators only)."""

from amaranth.hdl import Cat, Mux, Shape, signed

from .formats import QFormat, round_shift


__all__ = ["shape", "saturate", "saturate_symmetric", "round_shift", "lowest_one",
           "one_hot_index"]


def shape(fmt: QFormat) -> Shape:
    """Amaranth shape of a raw ``fmt`` word."""
    return signed(fmt.width)


def saturate(value, fmt: QFormat):
    """Clamp the expression ``value`` to the range of ``fmt``; same rule as ``QFormat.saturate``."""
    return Mux(value > fmt.max_raw, fmt.max_raw, Mux(value < fmt.min_raw, fmt.min_raw, value))


def saturate_symmetric(value, fmt: QFormat):
    """Clamp ``value`` to ``[-fmt.max_raw, fmt.max_raw]`` (so that its negation fits ``fmt``)."""
    return Mux(value > fmt.max_raw, fmt.max_raw, Mux(value < -fmt.max_raw, -fmt.max_raw, value))


def lowest_one(value):
    """``value`` with only its lowest set bit kept (``v & -v``; zero stays zero)."""
    return (value & -value)[:len(value)]


def one_hot_index(one_hot):
    """Index of the set bit of a one-hot word (0 for zero): one OR tree per index bit, which
    stays shallow where a chain of muxes would be ``len(one_hot)`` deep."""
    width = len(one_hot)
    return Cat(Cat(one_hot[i] for i in range(width) if i >> b & 1).any()
               for b in range(max(1, (width - 1).bit_length())))
