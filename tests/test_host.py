# amaranth: UnusedElaboratable=no
"""The host driver over the byte protocol and over the simulated UART, against the golden model."""

import dataclasses

import pytest
import torch

from hw.formats import DEFAULT_NETWORK
from hw.host import HostInterface
from hw.uart import UARTRx
from loco_sw.golden import init_state, refresh_bases, train_step
from loco_sw.host import LearnerHost, ProtocolError, SimulationTransport

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


def test_unknown_opcode_gets_nak():
    transport = SimulationTransport(SMALL)
    transport.write(bytes([0x7F]))
    assert transport.read(1) == bytes([0xEE])


def test_host_rejects_bad_arguments():
    host = LearnerHost(SimulationTransport(SMALL), SMALL)
    host.ping()                 # a transport that never ran leaves its coroutines unawaited
    with pytest.raises(ValueError, match=r"^Input must be 12 intensities in \[0, 256\)$"):
        host.write_input([0] * 11)
    with pytest.raises(ValueError, match=r"^Label must be in \[0, 4\), not 9$"):
        host.train(9, 1, 2)
    with pytest.raises(ValueError, match=r"^Step shift must be an integer in \[0, 4\), not 4$"):
        host.train(1, 1, 2, step_shift=4)
    with pytest.raises(ValueError, match=r"^The protocol carries at most 256 classes"):
        HostInterface(dataclasses.replace(DEFAULT_NETWORK, sizes=(4, 300)))
    with pytest.raises(ValueError, match=r"^Divisor \(clock cycles per bit\) must be an integer "
                                         r">= 4, not 2$"):
        UARTRx(2)
