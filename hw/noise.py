"""On-chip noise: reseedable xorshift32 lanes (input encoding and node perturbation)."""

from amaranth import *
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .formats import ENCODER_SEED, PERTURB_SEED, XORSHIFT_SHIFTS, XORSHIFT_WIDTH


__all__ = ["lane_signature", "xorshift_next", "NoiseGenerator"]


def lane_signature(paired=False) -> wiring.Signature:
    """One lane, seen from the generator: inputs ``seed``/``reseed``/``advance``, outputs the
    current ``word`` and its Rademacher sign ``negative`` (the learner perturbs by +-sigma:
    ``loco-algorithm.md`` section 5.4). ``paired``: also the draw after ``word``,
    ``next_word``, and ``advance_two`` (past both; two draws a cycle)."""
    return wiring.Signature({
        "seed":     In(XORSHIFT_WIDTH),
        "reseed":   In(1),
        "advance":  In(1),
        "word":     Out(XORSHIFT_WIDTH),
        "negative": Out(1),
        **({"next_word": Out(XORSHIFT_WIDTH), "advance_two": In(1)} if paired else {}),
    })


def xorshift_next(state):
    """One xorshift32 step of the expression ``state`` (combinational, three shift-xors)."""
    a, b, c = XORSHIFT_SHIFTS
    state = (state ^ (state << a))[:XORSHIFT_WIDTH]
    state = state ^ (state >> b)
    return (state ^ (state << c))[:XORSHIFT_WIDTH]


class NoiseGenerator(wiring.Component):
    """Independent xorshift32 lanes, each bit-exact with :func:`loco_sw.golden.xorshift_words`.

    Lane ``word`` shows the current draw; it is the seed's *successor* right after a reseed.
    ``advance`` moves to the next draw on the clock edge; ``reseed`` (priority over ``advance``)
    loads ``xorshift_next(seed)``, so replaying a seed replays the stream (common random
    numbers for the clean and noisy passes). Latency: the new word is visible one cycle later.

    Parameters
    ----------
    lanes : dict of str to int
        Lane name -> power-on seed (nonzero). Default: ``encoder`` and ``perturb``.
    paired : iterable of str
        Lanes that show two draws and may advance past both in a cycle (``advance_two``,
        priority below ``reseed`` and over ``advance``).

    Members
    -------
    <lane name> : ``Out(lane_signature(paired))``
    """

    def __init__(self, lanes=None, *, paired=()):
        if lanes is None:
            lanes = {"encoder": ENCODER_SEED, "perturb": PERTURB_SEED}
        if not isinstance(lanes, dict) or not lanes:
            raise TypeError(f"Lanes must be a non-empty dict of name to seed, not {lanes!r}")
        for name, seed in lanes.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise TypeError(f"Lane name must be an identifier, not {name!r}")
            if not isinstance(seed, int) or not 0 < seed < (1 << XORSHIFT_WIDTH):
                raise ValueError(f"Seed of lane {name!r} must be a nonzero unsigned "
                                 f"{XORSHIFT_WIDTH}-bit integer, not {seed!r}")
        paired = frozenset(paired)
        if not paired <= lanes.keys():
            raise ValueError(f"Paired lanes must be lanes, not {sorted(paired - lanes.keys())}")
        self._lanes, self._paired = dict(lanes), paired
        super().__init__({name: Out(lane_signature(name in paired)) for name in lanes})

    @property
    def lanes(self):
        return dict(self._lanes)

    def elaborate(self, platform):
        m = Module()
        for name, seed in self._lanes.items():
            lane = getattr(self, name)
            # The register holds the previous draw; the word shown is its successor, so one
            # xorshift network serves both the output and the advance.
            state = Signal(XORSHIFT_WIDTH, init=seed, name=f"{name}_state")
            word = Signal(XORSHIFT_WIDTH, name=f"{name}_word")
            m.d.comb += word.eq(xorshift_next(state))
            paired = name in self._paired
            if paired:
                next_word = Signal(XORSHIFT_WIDTH, name=f"{name}_next_word")
                m.d.comb += [next_word.eq(xorshift_next(word)), lane.next_word.eq(next_word)]
            with m.If(lane.reseed):
                m.d.sync += state.eq(lane.seed)
            if paired:
                with m.Elif(lane.advance_two):
                    m.d.sync += state.eq(next_word)
            with m.Elif(lane.advance):
                m.d.sync += state.eq(word)
            m.d.comb += [
                lane.word.eq(word),
                lane.negative.eq(word[-1]),
            ]
        return m
