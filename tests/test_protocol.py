# amaranth: UnusedElaboratable=no
"""The protocol cannot be misused: every bad frame of issue 11 gets a NAK with its error code and
changes nothing; truncated frames time out; the UART filters glitches; a seeded fuzz run of
10 000 frames on the compiled model finds no reply or state that differs from the reference."""

import dataclasses
from pathlib import Path

import pytest

from cosim.fuzz import ProtocolReference, fuzz
from cosim.verilator import VerilatorTransport
from hw.formats import DEFAULT_NETWORK
from hw.protocol import ACK, NAK, Error, identity_bytes, updated_document
from hw.testing import run_simulation
from hw.uart import UARTRx
from loco_sw.golden import init_state
from loco_sw.host import CommandRejected, LearnerHost

SMALL = dataclasses.replace(DEFAULT_NETWORK, sizes=(12, 6, 4), timesteps=8, clusters=4)
TIMEOUT = 64                 # cycles: a short frame timeout keeps the fuzz run fast
ROOT = Path(__file__).resolve().parent.parent


def test_protocol_document_is_generated_from_the_definition():
    path = ROOT / "docs" / "protocol.md"
    assert path.read_text() == updated_document(path.read_text()), \
        "docs/protocol.md is stale: python -m hw.protocol --update docs/protocol.md"


@pytest.fixture(scope="module")
def device():
    """The compiled 12-6-4 learner, loaded with golden weights and bases."""
    transport = VerilatorTransport(SMALL, timeout_cycles=TIMEOUT, max_cycles_per_read=200_000)
    host = LearnerHost(transport, SMALL)
    state = init_state(SMALL, seed=5)
    for layer in range(SMALL.layers):
        host.write_weights(layer, state.master[layer].flatten().tolist())
        host.write_basis(layer, [k % 300 - 150 for k in range(SMALL.basis_rows *
                                                              (SMALL.sizes[layer] + 1))])
    return transport, host


def _snapshot(host):
    return ([host.read_weights(layer) for layer in range(SMALL.layers)],
            [host.read_basis(layer) for layer in range(SMALL.layers)],
            [host.read_centroids(layer) for layer in range(SMALL.layers)],
            host.counters()["samples"], host.read_outputs())


SEEDS = bytes.fromhex("01020304") + bytes.fromhex("05060708")

# (what issue 11 found, the frame, the error). SMALL: layer 0 holds 6 x 13 = 78 weight words,
# layer 1 4 x 7 = 28; 2C = 8 basis rows, C = 4 centroid rows.
BAD_FRAMES = [
    ("write to layer 2 of a 2-layer net", "06 02 000000 0100 563412", Error.BAD_LAYER),
    ("write to layer 255", "06 ff 000000 0100 563412", Error.BAD_LAYER),
    ("write to layer 1 at word 36 of 28", "06 01 240000 0100 563412", Error.BAD_RANGE),
    ("write to layer 0 at word 200 of 78", "06 00 c80000 0100 563412", Error.BAD_RANGE),
    ("write of 2 words at the last address", "06 00 ffffff 0200 563412 563412", Error.BAD_RANGE),
    ("write running past the end of a layer", "06 00 4c0000 0300" + " 563412" * 3,
     Error.BAD_RANGE),
    ("basis to a layer that does not exist", "07 02 000000 0100 3412", Error.BAD_LAYER),
    ("basis past the end", "07 01 380000 0100 3412", Error.BAD_RANGE),
    ("read weights of layer 7", "05 07 000000 0100", Error.BAD_LAYER),
    ("read centroids of layer 9", "08 09 000000 0100", Error.BAD_LAYER),
    ("read basis of layer 2", "0b 02 000000 0100", Error.BAD_LAYER),
    ("read weights, count 0", "05 00 000000 0000", Error.BAD_RANGE),
    ("read centroids, count 0", "08 00 000000 0000", Error.BAD_RANGE),
    ("read centroids past the end", "08 01 1b0000 0200", Error.BAD_RANGE),
    ("train label 4 of 4 classes", "03 04" + SEEDS.hex() + "03", Error.BAD_LABEL),
    ("train label 10", "03 0a" + SEEDS.hex() + "03", Error.BAD_LABEL),
    ("train label 15", "03 0f" + SEEDS.hex() + "03", Error.BAD_LABEL),
    ("train label 255", "03 ff" + SEEDS.hex() + "03", Error.BAD_LABEL),
    ("train encoder seed 0", "03 01 00000000 05060708 03", Error.ZERO_SEED),
    ("train perturbation seed 0", "03 01 01020304 00000000 03", Error.ZERO_SEED),
    ("zeros after 03 00 (a resync attempt)", "03 00" + "00" * 9, Error.ZERO_SEED),
    ("train with a flag bit past the step shift", "03 01" + SEEDS.hex() + "10",
     Error.BAD_FLAGS),
    ("infer seed 0", "04 00000000", Error.ZERO_SEED),
    ("unknown opcode 0x7f", "7f", Error.UNKNOWN_OPCODE),
    ("unknown opcode 0x00 and what follows", "00 01 02 03", Error.UNKNOWN_OPCODE),
    ("unknown opcode 0x0c", "0c", Error.UNKNOWN_OPCODE),
    ("a truncated TRAIN", "03 01 0102", Error.TIMEOUT),
    ("a truncated write header", "06 00 00", Error.TIMEOUT),
    ("a write whose payload stops in its first word", "06 00 000000 0200 5634", Error.TIMEOUT),
    ("a truncated input", "02 0102", Error.TIMEOUT),
]


@pytest.mark.parametrize("frame, error", [(frame, error) for _, frame, error in BAD_FRAMES],
                         ids=[what for what, _, _ in BAD_FRAMES])
def test_a_bad_frame_gets_its_error_code_and_changes_nothing(device, frame, error):
    transport, host = device
    before = _snapshot(host)
    transport.write(bytes.fromhex(frame))
    assert transport.read(2) == bytes([NAK, error])
    transport.pause()
    assert transport.flush() == 0                       # one reply, the rest of the frame dropped
    host.ping()
    assert _snapshot(host) == before


def test_a_rejected_write_header_drops_its_payload_instead_of_running_it(device):
    """The payload of a rejected write holds what looks like commands (a TRAIN); the device
    must drain it, not run it."""
    transport, host = device
    before = _snapshot(host)
    train = bytes.fromhex("03 01" + SEEDS.hex() + "03")
    transport.write(bytes.fromhex("06 05 000000 0400") + train + bytes(2))
    assert transport.read(2) == bytes([NAK, Error.BAD_LAYER])
    transport.pause()
    assert transport.flush() == 0
    assert _snapshot(host) == before


def test_a_truncated_frame_then_a_command_recovers_through_the_driver(device):
    """A frame cut short, then the driver's PING before the gap: the PING byte is taken as an
    argument and the frame times out (NAK TIMEOUT); the driver resynchronises and the next PING
    works; nothing changed."""
    transport, host = device
    before = _snapshot(host)
    transport.write(bytes.fromhex("03 01 0102"))
    with pytest.raises(CommandRejected, match=r"^The gateware rejected PING: TIMEOUT \(the frame"):
        host.ping()
    assert host.ping() == identity_bytes(SMALL)
    assert _snapshot(host) == before


def test_valid_frames_still_work_and_read_basis_returns_what_was_written(device):
    transport, host = device
    words = [(-1) ** k * (k * 977 % 30000) for k in range(SMALL.basis_rows * 7)]
    host.write_basis(1, words)
    assert host.read_basis(1) == words
    transport.write(bytes.fromhex("0b 01 010000 0200"))       # READ_BASIS words 1, 2 of layer 1
    reply = transport.read(5)
    assert reply[0] == ACK
    assert [int.from_bytes(reply[1 + 2 * k:3 + 2 * k], "little", signed=True)
            for k in range(2)] == words[1:3]


def test_the_reference_model_catches_a_gateware_that_answers_differently():
    """The fuzz checker can fail: a reference that thinks address + count == words is out of
    range disagrees with the gateware on the first frame that writes the last word."""
    state = init_state(SMALL, seed=0)
    reference = ProtocolReference(SMALL, state)
    reply, outcomes = reference.burst(bytes.fromhex("06 01 1b0000 0100 010000"))
    assert reply == [ACK] and outcomes == ["WRITE_WEIGHTS"]
    assert state.master[1].view(-1)[27] == 1
    reply, outcomes = reference.burst(bytes.fromhex("06 01 1b0000 0200 010000 010000"))
    assert reply == [NAK, Error.BAD_RANGE] and outcomes == ["BAD_RANGE"]


def test_fuzzing_10000_frames_finds_no_silent_corruption():
    transport = VerilatorTransport(SMALL, timeout_cycles=TIMEOUT, max_cycles_per_read=200_000)
    tally = fuzz(transport, SMALL, 10_000, seed=2026)
    assert tally.frames == 10_000
    assert tally.clean, tally.failures
    # Every command and every error code was exercised.
    names = set(tally.outcomes)
    assert {e.name for e in Error} <= names, names
    assert {"TRAIN", "INFER", "WRITE_WEIGHTS", "WRITE_BASIS", "READ_BASIS"} <= names


# --- the UART receiver ------------------------------------------------------------------------

DIVISOR = 8


def _line(levels):
    """The bytes the receiver puts out when ``rx`` follows ``levels`` (one per cycle)."""
    dut = UARTRx(DIVISOR)
    received = []

    async def drive(ctx):
        ctx.set(dut.o.ready, 1)
        for level in [*levels, *[1] * 4 * DIVISOR]:       # then idle while the last drains
            ctx.set(dut.rx, level)
            await ctx.tick()
            if ctx.get(dut.o.valid):
                received.append(ctx.get(dut.o.payload))
    run_simulation(dut, drive, name="uart_rx")
    return received


def _frame(byte, stop=1):
    bits = [0, *((byte >> k) & 1 for k in range(8)), stop]
    return [bit for bit in bits for _ in range(DIVISOR)]


def test_uart_receives_bytes_back_to_back():
    assert _line([1] * 20 + _frame(0xA5) + _frame(0x00) + _frame(0xFF) + [1] * 20) == \
        [0xA5, 0x00, 0xFF]


def test_uart_ignores_a_one_cycle_glitch_on_an_idle_line():
    assert _line([1] * 20 + [0] + [1] * 40 + _frame(0x3C) + [1] * 20) == [0x3C]


def test_uart_takes_the_majority_of_a_glitched_bit():
    levels = _frame(0x5A)
    for bit in range(1, 9):                          # a glitch at every data bit's centre
        centre = bit * DIVISOR + DIVISOR // 2
        levels[centre] ^= 1
    assert _line([1] * 20 + levels + [1] * 20) == [0x5A]


def test_uart_drops_a_byte_with_a_bad_stop_bit_and_the_line_held_low():
    levels = [1] * 20 + _frame(0x11, stop=0) + [0] * 40 + [1] * 20 + _frame(0x22) + [1] * 20
    assert _line(levels) == [0x22]
