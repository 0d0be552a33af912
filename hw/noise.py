"""On-chip noise: reseedable xorshift32 lanes (input encoding and node perturbation)."""

from amaranth import *
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .formats import ENCODER_SEED, PERTURB_SEED, XORSHIFT_SHIFTS, XORSHIFT_WIDTH


__all__ = ["lane_signature", "xorshift_next", "NoiseGenerator"]


def lane_signature(draws=1) -> wiring.Signature:
    """One lane, seen from the generator: inputs ``seed``/``reseed``/``advance``, outputs the
    current ``word`` and its Rademacher sign ``negative`` (the learner perturbs by +-sigma:
    ``loco-algorithm.md`` section 5.4). ``draws`` above 1: also the next ``draws`` draws,
    ``words`` (``words[0]`` is ``word``), and ``advance_by`` (past that many of them; up to
    ``draws`` draws a cycle)."""
    many = {"words": Out(data.ArrayLayout(XORSHIFT_WIDTH, draws)),
            "advance_by": In(range(draws + 1))}
    return wiring.Signature({
        "seed":     In(XORSHIFT_WIDTH),
        "reseed":   In(1),
        "advance":  In(1),
        "word":     Out(XORSHIFT_WIDTH),
        "negative": Out(1),
        **(many if draws > 1 else {}),
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
    draws : dict of str to int
        Lanes that show more than one draw -> how many (``words``); such a lane may advance
        past up to that many in a cycle (``advance_by``, priority below ``reseed`` and over
        ``advance``). Default: one each.

    Members
    -------
    <lane name> : ``Out(lane_signature(draws))``
    """

    def __init__(self, lanes=None, *, draws=None):
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
        draws = {} if draws is None else draws
        if not isinstance(draws, dict):
            raise TypeError(f"Draws must be a dict of lane name to count, not {draws!r}")
        if not draws.keys() <= lanes.keys():
            raise ValueError(f"Draws must name lanes, not {sorted(draws.keys() - lanes.keys())}")
        for name, count in draws.items():
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                raise ValueError(f"Draws of lane {name!r} must be a positive int, not {count!r}")
        self._lanes = dict(lanes)
        self._draws = {name: draws.get(name, 1) for name in lanes}
        super().__init__({name: Out(lane_signature(self._draws[name])) for name in lanes})

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
            words = [word]
            for k in range(1, self._draws[name]):
                words.append(Signal(XORSHIFT_WIDTH, name=f"{name}_word_{k}"))
                m.d.comb += words[k].eq(xorshift_next(words[k - 1]))
            if len(words) > 1:
                m.d.comb += [lane.words[k].eq(one) for k, one in enumerate(words)]
            with m.If(lane.reseed):
                m.d.sync += state.eq(lane.seed)
            if len(words) > 1:
                with m.Elif(lane.advance_by != 0):
                    m.d.sync += state.eq(Array([state, *words])[lane.advance_by])
            with m.Elif(lane.advance):
                m.d.sync += state.eq(word)
            m.d.comb += [
                lane.word.eq(word),
                lane.negative.eq(word[-1]),
            ]
        return m
