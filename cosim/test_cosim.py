"""pytest entry points: every block as Verilog under cocotb + Icarus, against the golden model."""

# amaranth: UnusedElaboratable=no

import dataclasses
import json
import os
import shutil

import pytest

from cosim.runner import run_cocotb
from hw.formats import DEFAULT_NETWORK, ENCODER_SEED, PERTURB_SEED
from hw.host import HostInterface
from hw.learner import LearnerCore
from hw.neuron import LIFCore
from hw.noise import NoiseGenerator
from hw.projector import ProjectorUpdate

# On a laptop without Icarus these skip; in CI (CI=true) a missing simulator must fail.
pytestmark = [
    pytest.mark.cosim,
    pytest.mark.skipif(shutil.which("iverilog") is None and not os.environ.get("CI"),
                       reason="needs Icarus Verilog (apt-get install iverilog)"),
]

SMALL = dataclasses.replace(DEFAULT_NETWORK, sizes=(12, 6, 3), timesteps=8, clusters=3)


def _env(config, layer, seed, count):
    return {"LOCO_CONFIG": config.to_json(), "LOCO_LAYER": str(layer), "LOCO_SEED": str(seed),
            "LOCO_COUNT": str(count)}


def _run(dut, toplevel, test, tag, env):
    results = run_cocotb(dut, toplevel=toplevel, bench="cosim.tb_blocks", tag=tag,
                         extra_env={**env, "COCOTB_TEST_FILTER": test})
    assert results is not None


@pytest.mark.parametrize("layer, listed", [(0, True), (1, False)], ids=["lif", "readout"])
def test_lif_core(layer, listed):
    _run(LIFCore(SMALL, layer, listed_inputs=listed), "lif_core", "lif_core_matches_golden",
         f"small{layer}", {**_env(SMALL, layer, 0x10C0, 60), "LOCO_LISTED": str(int(listed))})


def test_lif_core_default_size():
    _run(LIFCore(DEFAULT_NETWORK, 0, listed_inputs=True), "lif_core", "lif_core_matches_golden",
         "default", {**_env(DEFAULT_NETWORK, 0, 3, 1), "LOCO_LISTED": "1"})


def test_projector():
    _run(ProjectorUpdate(SMALL, 0), "projector", "projector_matches_golden", "small",
         _env(SMALL, 0, 0x9E37, 60))


def test_noise():
    lanes = {"encoder": ENCODER_SEED, "perturb": PERTURB_SEED}
    env = {"LOCO_LANES": json.dumps(lanes), "LOCO_SEED": "4", "LOCO_COUNT": "2000"}
    _run(NoiseGenerator(lanes), "noise", "noise_matches_golden", "default", env)


def test_wrong_golden_parameter_fails_under_cocotb():
    # The gateware leaks with shift 4, the bench's golden model with shift 3: must fail.
    wrong = dataclasses.replace(SMALL, hidden=dataclasses.replace(SMALL.hidden, leak_shift=3))
    with pytest.raises(SystemExit):  # how cocotb_tools reports a failed cocotb test
        _run(LIFCore(SMALL, 0), "lif_core", "lif_core_matches_golden", "mutant",
             _env(wrong, 0, 0x10C0, 6))


LEARNER = dataclasses.replace(DEFAULT_NETWORK, sizes=(12, 6, 4), timesteps=8, clusters=4)


def _learner_env(learner, *args):
    return {**_env(learner.config, 0, *args),
            "LOCO_WEIGHTS_LATENCY": str(learner.weights_read_latency)}


def test_learner_training_run():
    learner = LearnerCore(LEARNER)
    _run(learner, "learner", "learner_matches_golden", "small", _learner_env(learner, 5, 12))


def test_learner_default_size():
    learner = LearnerCore(DEFAULT_NETWORK)
    _run(learner, "learner", "learner_matches_golden", "default",
         {**_learner_env(learner, 1, 2), "LOCO_REFRESH": "1"})


def test_host_streams_with_idle_cycles_and_back_pressure():
    _run(HostInterface(LEARNER), "host", "host_matches_protocol", "small",
         _env(LEARNER, 0, 3, 0))
