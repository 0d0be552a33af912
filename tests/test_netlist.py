# amaranth: UnusedElaboratable=no
"""Netlist equals RTL: the iCE40UP5K post-synthesis netlist trains bit-exactly with the golden
model (yosys ``synth_ice40 -dsp``, simulated by Verilator with yosys's ``cells_sim.v``)."""

import os
import shutil

import pytest

from boards.build import board_config
from cosim.lockstep import Tally, load_weights, train_lockstep
from cosim.netlist import compile_ice40_netlist
from cosim.verilator import VerilatorTransport
from loco_sw.data import load_digits_split
from loco_sw.golden import init_state
from loco_sw.host import LearnerHost
from loco_sw.train import to_intensity

pytestmark = pytest.mark.skipif(shutil.which("verilator") is None and not os.environ.get("CI"),
                                reason="needs Verilator (apt-get install verilator)")


def test_ice40_netlist_trains_bit_exactly():
    config = board_config("icebreaker")                             # the iCEBreaker variant
    library = compile_ice40_netlist(config, shared_update=True)
    # Uninitialised state and undefined bits start random: the result must not depend on them.
    host = LearnerHost(VerilatorTransport(library=library, x_seed=0x5EED), config)
    host.ping()
    state, tally = init_state(config, 1), Tally()
    load_weights(host, state)
    x, y, _, _ = load_digits_split()
    x = to_intensity(x)
    train_lockstep(host, config, state, [(step, x[step], int(y[step])) for step in range(4)],
                   tally, refresh=2)
    assert tally.samples == 4 and tally.words_compared > 4 * 3000
    assert tally.mismatched_words == 0, tally.first_mismatch
