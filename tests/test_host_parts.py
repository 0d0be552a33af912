# amaranth: UnusedElaboratable=no
"""The command processor's parts on their own: the request checker against the protocol's
reference model, the frame timer cycle by cycle."""

import dataclasses
import random

import pytest

from cosim.fuzz import ProtocolReference
from hw.formats import DEFAULT_NETWORK
from hw.host import _PLACES, _REGISTER_BYTES, FrameTimer, RequestChecker
from hw.protocol import COMMANDS, Opcode
from hw.testing import run_simulation
from loco_sw.golden import init_state

DEEP = dataclasses.replace(DEFAULT_NETWORK, sizes=(10, 6, 5, 3), timesteps=4, clusters=3)


def _headers(config, rng, count):
    """``(opcode, {field: value})`` pairs: random values, biased to the edges of each check."""
    reference = ProtocolReference(config, init_state(config))
    for _ in range(count):
        opcode = rng.choice(list(COMMANDS))
        values = {}
        for field in COMMANDS[opcode].arguments:
            top = (1 << 8 * field.size) - 1
            if field.name == "layer":
                edges = [0, config.layers - 1, config.layers, top]
            elif field.name in ("address", "count"):
                memory = COMMANDS[opcode].memory
                words = len(reference.memory(memory, 0)) if memory else 1
                edges = [0, 1, words - 1, words, words + 1, top]
            elif field.name == "label":
                edges = [0, config.sizes[-1] - 1, config.sizes[-1], top]
            else:
                edges = [0, 1, top]
            values[field.name] = rng.choice(edges) if rng.random() < 0.7 else \
                rng.randint(0, top)
        yield opcode, values, reference._error(opcode, values)


@pytest.mark.parametrize("config", [DEFAULT_NETWORK, DEEP], ids=["default", "deep"])
def test_request_checker_agrees_with_the_protocol_reference(config):
    dut = RequestChecker(config)
    cases = list(_headers(config, random.Random(7), 3000))
    assert {error for *_, error in cases} >= {0, 2, 3, 4, 5, 6}        # every check hit

    async def bench(ctx):
        for index, (opcode, values, want) in enumerate(cases):
            register = sum(value << 8 * _PLACES[name] for name, value in values.items())
            assert register < 1 << 8 * _REGISTER_BYTES
            ctx.set(dut.opcode, opcode)
            ctx.set(dut.arguments, register)
            got = ctx.get(dut.error)
            assert got == want, f"case {index}: {Opcode(opcode).name} {values}: {got} != {want}"

    run_simulation(dut, bench, name="request_checker", clk_period=None)


def test_frame_timer_fires_after_the_timeout_and_restarts():
    dut = FrameTimer(5)
    # (listening, byte) per cycle -> timed_out in that cycle
    script = ([(1, 0)] * 4 + [(1, 0)]                       # fires in the 5th idle cycle
              + [(1, 0)] * 2 + [(1, 1)] + [(1, 0)] * 3      # a byte restarts the count
              + [(0, 0)] * 9 + [(1, 0)] * 5)                # not listening never fires
    want = [0, 0, 0, 0, 1] + [0, 0, 0] + [0, 0, 0] + [0] * 9 + [0, 0, 0, 0, 1]

    async def bench(ctx):
        got = []
        for listening, byte in script:
            ctx.set(dut.listening, listening)
            ctx.set(dut.byte, byte)
            got.append(ctx.get(dut.timed_out))
            await ctx.tick()
        assert got == want

    run_simulation(dut, bench, name="frame_timer")
