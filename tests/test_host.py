# amaranth: UnusedElaboratable=no
"""The host driver over the byte protocol and over the simulated UART, against the golden model."""

import dataclasses

import pytest
import torch

from hw.formats import DEFAULT_NETWORK
from hw.uart import UARTRx
from loco_sw.golden import init_state, refresh_bases, train_step
from hw.protocol import ACK, NAK, Error, identity_bytes
from loco_sw.host import CommandRejected, LearnerHost, ProtocolError, SimulationTransport

SMALL = dataclasses.replace(DEFAULT_NETWORK, sizes=(12, 6, 4), timesteps=8, clusters=4)


@pytest.mark.parametrize("uart_divisor", [None, 8], ids=["bytes", "uart"])
def test_host_trains_the_simulated_learner_bit_exactly(uart_divisor):
    state = init_state(SMALL, seed=3)
    host = LearnerHost(SimulationTransport(SMALL, init=[w.flatten().tolist()
                                                        for w in state.master],
                                           uart_divisor=uart_divisor), SMALL)
    host.ping()
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (4, 12), generator=gen)
    y = torch.randint(0, 4, (4,), generator=gen)
    for step in range(4):
        if step % 2 == 0:
            host.refresh_bases()
            refresh_bases(SMALL, state)
        reply = host.train_sample(step, x[step].tolist(), int(y[step]))
        golden = train_step(SMALL, state, x[step], int(y[step]), step)
        assert reply["delta"] == golden["delta"]
        for layer in range(SMALL.layers):
            assert host.read_weights(layer) == state.master[layer].flatten().tolist()
            n = SMALL.sizes[layer] + 1
            assert host.read_centroids(layer) == state.centroids[layer].flatten().tolist()
            assert len(host.read_centroids(layer)) == SMALL.centroid_rows * n
    assert host.counters()["samples"] == 4
    assert len(host.read_outputs()) == 4


def test_host_round_trips_weights_and_detects_a_wrong_configuration():
    host = LearnerHost(SimulationTransport(SMALL), SMALL)
    words = [(-1) ** k * (k * 12345 % (1 << 23)) for k in range(6 * 13)]
    host.write_weights(0, words)
    assert host.read_weights(0) == words
    other = dataclasses.replace(SMALL, timesteps=16)
    with pytest.raises(ProtocolError, match=r"^Gateware identifies as .* rebuild one of them"):
        LearnerHost(SimulationTransport(SMALL), other).ping()


@pytest.mark.parametrize("parallel_slots", [None, (True, True)], ids=["one-mac", "banked"])
def test_host_round_trips_bases_however_their_reads_are_timed(parallel_slots):
    # Banked by slot, the basis goes through the registered split (a write lands a cycle
    # later, a read answers two cycles after its address); every word written reads back.
    # (The host's reply holds the next address for many cycles, so the extra wait it takes,
    # LearnerCore.host_read_latency, is not what this test can tell apart.)
    host = LearnerHost(SimulationTransport(SMALL, parallel_slots=parallel_slots), SMALL)
    for layer in range(SMALL.layers):
        words = [(-1) ** k * (k * 7919 + layer) % 30000 for k in
                 range(SMALL.basis_rows * (SMALL.sizes[layer] + 1))]
        host.write_basis(layer, words)
        assert host.read_basis(layer) == words


def test_unknown_opcode_gets_nak_and_the_simulated_read_times_out_per_read():
    transport = SimulationTransport(SMALL, max_cycles_per_read=20_000)
    transport.write(bytes([0x7F]))
    assert transport.read(2) == bytes([NAK, Error.UNKNOWN_OPCODE])
    transport.pause()
    with pytest.raises(ProtocolError, match=r"^No 1-byte reply within 20000 simulated cycles$"):
        transport.read(1)                            # no request: no reply, after 20 000 cycles
    assert transport.cycles < 2 * 20_000 + 3 * transport.timeout_cycles


def test_host_rejects_bad_arguments():
    host = LearnerHost(SimulationTransport(SMALL), SMALL)
    host.ping()                 # a transport that never ran leaves its coroutines unawaited
    with pytest.raises(ValueError, match=r"^Input must be 12 intensities in \[0, 256\)$"):
        host.write_input([0] * 11)
    with pytest.raises(ValueError, match=r"^Label must be an integer in \[0, 4\), not 9$"):
        host.train(9, 1, 2)
    with pytest.raises(ValueError, match=r"^Step shift must be an integer in \[0, 4\), not 4$"):
        host.train(1, 1, 2, step_shift=4)
    with pytest.raises(ValueError, match=r"^Divisor \(clock cycles per bit\) must be an integer "
                                         r">= 4, not 2$"):
        UARTRx(2)


class _ScriptedTransport:
    """Replies from a script, to test what the driver does with wrong ones."""

    def __init__(self, replies):
        self.replies, self.pending, self.sent = list(replies), bytearray(), []
        self.pauses = 0

    def write(self, data):
        self.sent.append(bytes(data))
        if self.replies:
            self.pending += self.replies.pop(0)

    def read(self, count):
        if len(self.pending) < count:
            raise ProtocolError(f"No {count}-byte reply")
        data = bytes(self.pending[:count])
        del self.pending[:count]
        return data

    def flush(self):
        dropped = len(self.pending)
        self.pending.clear()
        return dropped

    def pause(self):
        self.pauses += 1


def test_driver_drops_a_late_reply_before_the_next_command():
    # PING answered with its identity twice (a late duplicate): counters() must not read it.
    identity = bytes([ACK]) + identity_bytes(SMALL)
    transport = _ScriptedTransport([identity + identity,
                                    bytes([ACK]) + (7).to_bytes(4, "little") * 2])
    host = LearnerHost(transport, SMALL)
    host.ping()
    assert host.counters() == {"samples": 7, "cycles": 7}


def test_driver_rejects_an_implausible_train_reply():
    transport = _ScriptedTransport([bytes([ACK, 170]) + bytes(6), bytes([0x55] * 8)])
    host = LearnerHost(transport, SMALL)
    with pytest.raises(ProtocolError, match=r"^Implausible TRAIN reply: prediction 170 of 4 "):
        host.train(1, 1, 2)
    with pytest.raises(ProtocolError, match=r"^Expected ACK \(0xaa\) or NAK \(0xee\) in reply "
                                            r"to TRAIN, got 0x55$"):
        host.train(1, 1, 2)
    assert transport.pauses == 2                       # resynchronised after each


def test_driver_names_the_error_of_a_nak_and_resynchronises():
    transport = _ScriptedTransport([bytes([NAK, Error.BAD_LABEL]), bytes([NAK, 0x42])])
    host = LearnerHost(transport, SMALL)
    with pytest.raises(CommandRejected, match=r"^The gateware rejected TRAIN: BAD_LABEL "
                                              r"\(label >= classes\)$") as caught:
        host.train(1, 1, 2)
    assert caught.value.error is Error.BAD_LABEL
    with pytest.raises(CommandRejected, match=r"^The gateware rejected INFER: 0x42 \(an error "):
        host.infer(1)
    assert transport.pauses == 2


def test_driver_addresses_words_past_65536_in_three_bytes():
    """784-128-10 (100 480 layer-0 words) is a valid configuration now; the driver's chunks
    address it with the 3-byte address field."""
    big = dataclasses.replace(SMALL, sizes=(784, 128, 10), clusters=10)
    words = 785 * 128
    transport = _ScriptedTransport([bytes([ACK])] * 30)
    LearnerHost(transport, big).write_weights(0, [0] * words)
    headers = [frame[:7] for frame in transport.sent]
    assert len(headers) == -(-words // 4096)
    last = headers[-1]
    assert last[:2] == bytes([0x06, 0]) and int.from_bytes(last[2:5], "little") == 24 * 4096
    assert int.from_bytes(last[5:7], "little") == words - 24 * 4096


@pytest.mark.parametrize("call, message", [
    (lambda h: h.write_weights(5, [0] * 78), r"^Layer must be an integer in \[0, 2\), not 5$"),
    (lambda h: h.write_weights(0, [0] * 79), r"^Layer 0 takes 78 master weight words, not 79$"),
    (lambda h: h.write_weights(0, [1 << 30] + [0] * 77),
     r"^Master weight word 0 must be an integer in \[-8388608, 8388607\] \(Q4\.20\)"),
    (lambda h: h.write_basis(1, [0] * 3), r"^Layer 1 takes 56 basis words, not 3$"),
    (lambda h: h.read_weights(7), r"^Layer must be an integer in \[0, 2\), not 7$"),
    (lambda h: h.read_centroids(-1), r"^Layer must be an integer in \[0, 2\), not -1$"),
    (lambda h: h.train(1, 1 << 32, 2), r"^Encoder seed must be an integer in \[1, 4294967296\)"),
    (lambda h: h.train(1, 1, -1), r"^Perturbation seed must be an integer in \[1, 4294967296\)"),
    (lambda h: h.train(1, 0, 2), r"^Encoder seed must be an integer in \[1, 4294967296\), not 0"),
    (lambda h: h.train(4, 1, 2), r"^Label must be an integer in \[0, 4\), not 4$"),
    (lambda h: h.read_basis(2), r"^Layer must be an integer in \[0, 2\), not 2$"),
    (lambda h: h.infer(2.5), r"^Encoder seed must be an integer"),
])
def test_driver_checks_arguments_before_sending(call, message):
    transport = _ScriptedTransport([])
    with pytest.raises(ValueError, match=message):
        call(LearnerHost(transport, SMALL))
    assert transport.sent == []                        # nothing half-sent
