# amaranth: UnusedElaboratable=no
"""The learner compiled by Verilator: long bit-exact training runs, the transport, the build cache.

Every word a host can read (prediction, delta, clean outputs, every weight and centroid word of
every layer) is compared with the golden model after every training sample.
"""

import dataclasses
import os
import shutil
from statistics import mean

import pytest
import torch

from cosim.lockstep import Tally, epoch_stream, infer_lockstep, load_weights, train_lockstep
from cosim.performance import analytic_cycles, analytic_phases, port_bound, wave_stages, workload
from cosim.verilator import VerilatorError, VerilatorTransport, compile_learner, compile_verilog
from boards.build import board_gateware
from hw.formats import DEFAULT_NETWORK, TEST_INDEX_BASE
from hw.learner import LearnerCore
from loco_sw.data import load_digits_split
from loco_sw.golden import init_state, refresh_bases, train_step
from loco_sw.host import LearnerHost, ProtocolError
from loco_sw.train import to_intensity

# Without Verilator these skip on a laptop; in CI (CI=true) a missing simulator must fail.
pytestmark = pytest.mark.skipif(shutil.which("verilator") is None and not os.environ.get("CI"),
                                reason="needs Verilator (apt-get install verilator)")



def _words_per_sample(config):
    """Words a lockstep sample compares: prediction, delta, outputs, weights, centroids."""
    pairs = list(zip(config.sizes[:-1], config.sizes[1:], strict=True))
    return (2 + config.sizes[-1] + sum((n + 1) * m for n, m in pairs)
            + sum(config.centroid_rows * (n + 1) for n, _ in pairs))


def _digits_stream(samples, seed=0):
    x, y, xt, yt = load_digits_split()
    stream = epoch_stream(to_intensity(x), y, torch.Generator().manual_seed(seed), 0, samples)
    return stream, to_intensity(xt), yt


def _host(config, **options):
    host = LearnerHost(VerilatorTransport(config, **options), config)
    host.ping()
    return host


# The ULX3S's organisation (an update unit per layer, neuron lanes) and the UP5K's (one shared
# unit, one lane) on the default network.
ULX3S = board_gateware("ulx3s-85f", DEFAULT_NETWORK)
UP5K = board_gateware("icebreaker", DEFAULT_NETWORK)


@pytest.mark.parametrize("gateware, samples", [(ULX3S, 300), (UP5K, 100)],
                         ids=["ulx3s-units-and-lanes-300", "shared-unit-100"])
def test_compiled_learner_trains_digits_bit_exactly(gateware, samples):
    config = DEFAULT_NETWORK
    stream, xt, _ = _digits_stream(samples)
    host, state, tally = _host(config, **gateware), init_state(config, 1), Tally()
    load_weights(host, state)
    train_lockstep(host, config, state, stream, tally)
    assert tally.first_mismatch is None and tally.mismatched_words == 0
    assert tally.samples == samples
    assert tally.words_compared == samples * _words_per_sample(config)
    # Inference after training: RTL predictions equal the golden ones on 40 test samples.
    infer_lockstep(host, config, state, xt[:40], range(TEST_INDEX_BASE, TEST_INDEX_BASE + 40),
                   tally)
    assert tally.mismatched_words == 0 and len(tally.infer_cycles) == 40
    # One pass against two passes and an update (per sample they vary with the input).
    assert mean(tally.infer_cycles) < mean(tally.train_cycles)


@pytest.mark.parametrize("gateware", [ULX3S, UP5K], ids=["ulx3s", "up5k"])
def test_analytic_cycle_model_tracks_the_rtl_counter(gateware):
    # Per sample, the documented cycle formulas must stay within 3 % of the gateware's own
    # counter (the benchmark's epoch averages: -0.8 % / -0.4 %), and no sample may beat the
    # weight-memory port bound.
    config = DEFAULT_NETWORK
    stream, _, _ = _digits_stream(40)
    host, state = _host(config, **gateware), init_state(config, 1)
    load_weights(host, state)
    for step, intensity, label in stream:
        if step % 64 == 0:
            host.refresh_bases()
            refresh_bases(config, state)
        measured = host.train_sample(step, intensity.tolist(), label)["cycles"]
        work = workload(train_step(config, state, intensity, label, step))
        analytic = analytic_cycles(config, work, gateware)
        assert abs(analytic / measured - 1) < 0.03, step
        assert port_bound(config, work, gateware) < measured
        # The what-if of other encoders: the built one's width gives the same model, a wider
        # one never more cycles.
        built = LearnerCore.inputs_per_cycle(config, gateware["lanes"])
        assert analytic_cycles(config, work, gateware, inputs_per_cycle=built) == analytic
        assert analytic_cycles(config, work, gateware, inputs_per_cycle=4 * built) <= analytic
        # A pipelined neuron loop (what-if): the built overhead gives the same model, none
        # fewer cycles (every layer step has neurons with reads).
        assert analytic_cycles(config, work, gateware, neuron_overhead=2) == analytic
        assert analytic_cycles(config, work, gateware, neuron_overhead=0) < analytic


@pytest.mark.parametrize("what_if, bad, message", [
    *(("inputs_per_cycle", bad, "Inputs a cycle must be a positive int")
      for bad in (0, -2, 2.0, True, "4")),
    *(("neuron_overhead", bad, "Neuron overhead must be a non-negative int")
      for bad in (-1, 1.0, False, "0"))])
def test_cycle_model_rejects_a_bad_what_if(what_if, bad, message):
    config = DEFAULT_NETWORK
    stream, _, _ = _digits_stream(1)
    step, intensity, label = next(iter(stream))
    work = workload(train_step(config, init_state(config, 1), intensity, label, step))
    with pytest.raises(ValueError, match=message):
        analytic_cycles(config, work, ULX3S, **{what_if: bad})


LOWRANK = dataclasses.replace(DEFAULT_NETWORK, learning=dataclasses.replace(
    DEFAULT_NETWORK.learning, rank=4))


@pytest.mark.parametrize("gateware, samples", [
    ({"shared_update": False}, 200), ({"shared_update": True}, 60),
    (board_gateware("ulx3s-85f", LOWRANK), 40)],
    ids=["per-layer-units-200", "shared-unit-60", "ulx3s-units-and-lanes-40"])
def test_compiled_learner_with_the_lowrank_part_is_bit_exact(gateware, samples):
    # Rank 4 (tracker rows beside the centroids, low-rank rows in the basis memory); refreshes
    # every 16 samples so that the tracked basis changes many times in the run. The cycle
    # model covers the low-rank stage too: within 1 % of the counter on every sample.
    config = LOWRANK
    stream, _, _ = _digits_stream(samples, seed=5)
    host, state, tally = _host(config, **gateware), init_state(config, 3), Tally()
    load_weights(host, state)
    results = train_lockstep(host, config, state, stream, tally, refresh=16)
    assert tally.first_mismatch is None and tally.mismatched_words == 0
    assert tally.words_compared == samples * _words_per_sample(config)
    assert any(row.abs().sum() > 0 for row in state.centroids[1][config.clusters:])
    for measured, golden in zip(tally.train_cycles, results, strict=True):
        assert abs(analytic_cycles(config, workload(golden), gateware) / measured - 1) < 0.01


def test_compiled_learner_forward_difference_is_bit_exact():
    # antithetic=False: a clean first pass, the signs drawn before the second.
    config = dataclasses.replace(DEFAULT_NETWORK, learning=dataclasses.replace(
        DEFAULT_NETWORK.learning, antithetic=False))
    stream, _, _ = _digits_stream(40, seed=4)
    host, state, tally = _host(config), init_state(config, 2), Tally()
    load_weights(host, state)
    train_lockstep(host, config, state, stream, tally, step_shift=2)
    assert tally.mismatched_words == 0 and tally.samples == 40


def test_compiled_learner_plain_np_is_bit_exact():
    config = DEFAULT_NETWORK
    stream, _, _ = _digits_stream(40, seed=3)
    host, state, tally = _host(config), init_state(config, 2), Tally()
    load_weights(host, state)
    train_lockstep(host, config, state, stream, tally, use_projector=False)
    assert tally.mismatched_words == 0 and tally.samples == 40


def test_compiled_check_catches_a_wrong_golden_model():
    config = DEFAULT_NETWORK
    wrong = dataclasses.replace(config, noise_amplitude=config.noise_amplitude / 2)
    stream, _, _ = _digits_stream(2)
    host, state, tally = _host(config), init_state(config, 1), Tally()
    load_weights(host, state)
    train_lockstep(host, wrong, state, stream, tally)
    assert tally.mismatched_words > 0
    assert tally.first_mismatch.startswith("sample 0 (step 0) ")


def test_tally_counts_every_differing_word_and_names_the_first():
    tally = Tally()
    tally.compare("a", [1, 2, 3], [1, 2, 3])
    tally.compare("b", [1, 9, 8], [1, 2, 3])
    tally.compare("c", [1], [1, 2])
    assert (tally.words_compared, tally.mismatched_words) == (8, 4)
    assert tally.first_mismatch == "b: word 1 is 9, want 2"


def test_transport_times_out_per_read_and_recovers():
    transport = VerilatorTransport(DEFAULT_NETWORK, max_cycles_per_read=1000)
    with pytest.raises(ProtocolError, match=r"^No 4-byte reply within 1000 cycles$"):
        transport.read(4)
    with pytest.raises(ProtocolError):
        transport.read(4)                   # a second read gets its own 1000 cycles
    assert transport.cycles == 2000
    LearnerHost(transport, DEFAULT_NETWORK).ping()


def test_transport_rejects_bad_parameters():
    with pytest.raises(ValueError, match=r"^Give either a NetworkConfig or a compiled library"):
        VerilatorTransport()
    with pytest.raises(ValueError, match=r"^max_cycles_per_read must be a positive int, not 0$"):
        VerilatorTransport(DEFAULT_NETWORK, max_cycles_per_read=0)
    with pytest.raises(ValueError, match=r"^x_seed must be an int in \[0, 2\*\*31\), not -1$"):
        VerilatorTransport(DEFAULT_NETWORK, x_seed=-1)
    with pytest.raises(TypeError, match=r"^Config must be a NetworkConfig, not 3$"):
        compile_learner(3)


def test_missing_verilator_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("PATH", "")
    with pytest.raises(VerilatorError, match=r"^verilator not found: install it "
                                             r"\(`apt-get install verilator`; `make setup`"):
        compile_learner(DEFAULT_NETWORK)


# A byte-stream top in plain Verilog: every request byte comes back plus one.
_ECHO = """\
module echo(input clk, input rst, input [7:0] i__payload, input i__valid, output i__ready,
            output reg [7:0] o__payload = 0, output reg o__valid = 0, input o__ready);
  assign i__ready = ~o__valid | o__ready;
  always @(posedge clk)
    if (rst) o__valid <= 0;
    else if (i__ready) begin o__valid <= i__valid; o__payload <= i__payload + 8'd1; end
endmodule
"""


def test_build_cache_rebuilds_only_when_the_key_changes(tmp_path, monkeypatch):
    import cosim.verilator as verilator
    monkeypatch.setattr(verilator, "BUILD_ROOT", tmp_path)
    calls = []

    def sources():
        calls.append(1)
        return {"echo.v": _ECHO}

    first = compile_verilog(sources, "echo", key="one")
    assert compile_verilog(sources, "echo", key="one") == first and len(calls) == 1
    second = compile_verilog(sources, "echo", key="two")
    assert second != first and len(calls) == 2
    transport = VerilatorTransport(library=second)
    transport.write(bytes([0, 41, 255]))
    assert transport.read(3) == bytes([1, 42, 0])


def test_wave_stages_follow_the_schedule():
    # Wave w: the encoder on step w, layer l on step w - 1 - l, the signs beside wave 0; the
    # waves' phase is their slowest stages plus a cycle each.
    config = DEFAULT_NETWORK
    stream, _, _ = _digits_stream(1)
    step, intensity, label = next(iter(stream))
    work = workload(train_step(config, init_state(config, 1), intensity, label, step))
    waves = wave_stages(config, work, ULX3S)
    steps, layers = config.timesteps, config.layers
    assert len(waves) == steps + layers
    for wave, stages in enumerate(waves):
        want = {"encoder"} if wave < steps else set()
        want |= {"signs"} if wave == 0 else set()
        want |= {f"layer {l}" for l in range(layers) if 0 <= wave - 1 - l < steps}
        assert set(stages) == want, wave
    assert waves[0]["encoder"] == config.sizes[0] // 4 + 3     # a neuron a lane in layer 0
    assert waves[0]["signs"] == sum(config.sizes[1:])
    assert analytic_phases(config, work, ULX3S)["waves"] == \
        sum(max(stages.values()) + 1 for stages in waves)
