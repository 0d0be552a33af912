"""The ``loco`` command line: every subcommand's help, argument checks before any work, and
``sim`` / ``board`` end to end on the compiled gateware (a simulated board that lives across
calls stands in for a serial port)."""

import json
import re
import subprocess
import sys

import pytest
import torch

from boards.build import board_config, board_gateware
from cosim.lockstep import epoch_stream
from cosim.verilator import VerilatorTransport
from hw.formats import TEST_INDEX_BASE
from loco.cli import run_command as loco
from loco.gateware import _digits
from loco_sw.golden import init_state, predict, refresh_bases, train_step

SUBCOMMANDS = ("train", "sim", "build", "program", "report", "seeds", "board")


def test_console_script_help_lists_every_subcommand():
    out = subprocess.run([sys.executable, "-m", "loco", "--help"], capture_output=True,
                         text=True, check=True).stdout
    for name in SUBCOMMANDS:
        assert f"\n    {name} " in out


@pytest.mark.parametrize("argv", [[name] for name in SUBCOMMANDS] +
                         [["board", action] for action in ("ping", "load", "read", "train",
                                                           "infer")])
def test_every_subcommand_has_help(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        loco([*argv, "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: loco {' '.join(argv)}")


class Untouchable:
    """A transport that fails the test when anything is sent: checks come first."""

    def __getattr__(self, name):
        raise AssertionError(f"the transport was used ({name}) before the arguments were checked")


@pytest.mark.parametrize("argv, message", [
    (["board", "--board", "icebreaker", "ping"],
     r"give --port \(a board\) or --simulate \(a simulated one\)"),
    (["board", "--board", "icebreaker", "--simulate", "verilator", "--baud", "9600", "ping"],
     "--baud applies to --port only"),
    (["board", "--board", "icebreaker", "--port", "/dev/no-such-port", "ping"],
     "could not open port /dev/no-such-port"),
    (["board", "--board", "nano", "ping"], "argument --board: invalid choice: 'nano'"),
    (["build", "--board", "icebreaker", "--sizes", "64"],
     r"--sizes needs at least two positive sizes, not \[64\]"),
    (["build", "--board", "icebreaker", "--sizes", "64,x"], "is not a comma-separated list"),
    (["build", "--board", "ulx3s-85f", "--rank", "0"], "--rank must be at least 1, not 0"),
    (["build", "--board", "icebreaker", "--clock", "19.1"],
     r"--clock: The iCE40 PLL cannot make exactly 19\.1 MHz from 12 MHz"),
    (["build", "--board", "ulx3s-85f", "--clock", "-5"],
     "--clock: Clock must be a positive number of MHz, not -5"),
    (["build", "--board", "ulx3s-85f", "--seed", "0"], "must be at least 1, not 0"),
    (["seeds", "--board", "ulx3s-85f", "--seeds", "0"], r"--seeds must be positive, not \[0\]"),
    (["seeds", "--board", "ulx3s-85f", "--rank", "0"], "--rank must be at least 1, not 0"),
    (["build", "--board", "ulx3s-85f", "--lanes", "16"],
     r"--lanes: Lanes need one count per layer \(2 for the network 64-32-10\), not \[16\]"),
    (["build", "--board", "ulx3s-85f", "--lanes", "16,7"],
     r"--lanes: .*leaves no lane without neurons \(layer 1 has 10\), not 7"),
    (["report", "--board", "ulx3s-85f", "--lanes", "0,5"], r"--lanes: .*\(layer 0 has 32\)"),
    (["seeds", "--board", "icebreaker", "--lanes", "1,x"], "is not a comma-separated list"),
    (["report", "--board", "ulx3s-85f", "--rank", "-1"], "--rank must be at least 1, not -1"),
    (["report", "--board", "ulx3s-85f", "--samples", "0"], "must be at least 1, not 0"),
    (["report", "--board", "ulx3s-85f", "--sizes", "100,10"], "No dataset has 100 inputs"),
    (["sim", "--name", "../escape"], "--name must be a plain name"),
    (["sim", "--epochs", "0"], "must be at least 1, not 0"),
    (["sim", "--simulator", "modelsim"], "invalid choice: 'modelsim'"),
])
def test_bad_arguments_are_one_line_and_exit_2_before_any_work(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        loco(argv, transport=Untouchable() if "--simulate" in argv else None)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("loco ")
    assert re.search(message, err), err


@pytest.mark.parametrize("argv, clock", [([], 40.0), (["--rank", "4"], 37.5),
                                          (["--rank", "4", "--clock", "50"], 50.0),
                                          (["--lanes", "16,5", "--clock", "50"], 50.0)],
                         ids=["default", "rank-4", "rank-4-at-50", "16-5-lanes-at-50"])
def test_build_takes_the_clock_and_network_asked_for(argv, clock, monkeypatch, tmp_path):
    import boards.build
    asked = {}

    def build_board(board, sizes, *, rank, lanes, clock_mhz, seed, program):
        asked.update(rank=rank, clock_mhz=clock_mhz, lanes=lanes)
        (tmp_path / "report.md").write_text("# report")
        return {"board": board, "fmax_mhz": {}, "timing_met": True,
                "bitstream": str(tmp_path / "loco.bit")}
    monkeypatch.setattr(boards.build, "build_board", build_board)
    loco(["build", "--board", "ulx3s-85f", *argv])
    lanes = [16, 5] if "--lanes" in argv else None
    assert asked == {"rank": 4 if "--rank" in argv else None, "clock_mhz": clock, "lanes": lanes}


def test_board_rejects_bad_weight_files_before_connecting(tmp_path, capsys):
    base = ["board", "--board", "ulx3s-85f", "load", "--weights"]
    not_json = tmp_path / "w.json"
    not_json.write_text("{not json")
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"format": "loco-fpga learner state", "sizes": [64, 10],
                                 "weights": [[0] * 640]}))
    for path, message in ((not_json, "cannot be read as JSON"),
                          (tmp_path / "missing.json", "cannot be read as JSON"),
                          (wrong, r"holds a \[64, 10\] network, the board \[64, 32, 10\]")):
        with pytest.raises(SystemExit) as exit_info:
            loco([*base, str(path)], transport=Untouchable())
        assert exit_info.value.code == 2
        assert re.search(message, capsys.readouterr().err)
    with pytest.raises(SystemExit):
        loco(["board", "--board", "ulx3s-85f", "read", "--out", str(tmp_path / "no" / "f")],
             transport=Untouchable())
    assert "must be a file in an existing directory" in capsys.readouterr().err


def test_sim_trains_the_compiled_gateware_bit_exact(tmp_path):
    metrics = loco(["sim", "--board", "ulx3s-85f", "--limit", "40", "--test-limit", "30",
                    "--runs", str(tmp_path), "--name", "s"])
    written = json.loads((tmp_path / "s" / "metrics.json").read_text())
    assert written == metrics and (tmp_path / "s" / "gateware.png").stat().st_size > 1000
    assert metrics["samples"] == 40 and metrics["mismatched_words"] == 0
    # 40 x (prediction, delta, 10 outputs, every weight and centroid word) + 2 x 30 inferences
    state = init_state(board_config("ulx3s-85f"))
    per_sample = 2 + 10 + sum(w.numel() + c.numel() for w, c in zip(state.master,
                                                                     state.centroids,
                                                                     strict=True))
    assert metrics["words_compared"] == 40 * per_sample + 2 * 30
    assert set(metrics) >= {"limit", "test_limit", "verify", "simulator", "shared_update",
                            "lanes"}
    assert [p.name for p in tmp_path.iterdir()] == ["s"]          # no half-written leftovers


def test_board_actions_against_a_simulated_board(tmp_path):
    """ping, train, read, load and infer through one simulated board, as on a serial port."""
    config = board_config("ulx3s-85f")
    board = VerilatorTransport(config, **board_gateware("ulx3s-85f", config))
    base = ["board", "--board", "ulx3s-85f", "--simulate", "verilator"]
    assert loco([*base, "ping"], transport=board)["sizes"] == [64, 32, 10]
    trained = loco([*base, "train", "--limit", "50", "--test-limit", "20", "--runs",
                    str(tmp_path), "--name", "b"], transport=board)
    assert trained["samples"] == 50 and trained["mismatched_words"] == 0
    assert trained["verify"] == "replies" and trained["words_compared"] == 50 * 2 + 2 * 20
    state_file = tmp_path / "state.json"
    state = loco([*base, "read", "--out", str(state_file)], transport=board)
    assert json.loads(state_file.read_text()) == state and state["counters"]
    # the board's weights are the golden model's after the same 50 samples (seed 0)
    golden = init_state(config, seed=0)
    x, y, xt, yt = _digits()
    for step, intensity, label in epoch_stream(x, y, torch.Generator().manual_seed(0), 0, 50):
        if step % 64 == 0:
            refresh_bases(config, golden)
        train_step(config, golden, intensity, label, step)
    assert state["weights"] == [w.flatten().tolist() for w in golden.master]
    assert state["centroids"] == [c.flatten().tolist() for c in golden.centroids]
    assert state["bases"] == [b.flatten().tolist() for b in golden.bases]
    # a fresh board: load the file, infer; predictions are the golden model's
    fresh = VerilatorTransport(config)
    assert loco([*base, "load", "--weights", str(state_file)], transport=fresh)["words"] == \
        sum(w.numel() for w in golden.master)                 # weights and biases
    inferred = loco([*base, "infer", "--test-limit", "25"], transport=fresh)
    want = predict(config, golden, xt[:25], range(TEST_INDEX_BASE, TEST_INDEX_BASE + 25))
    assert inferred["predictions"] == want.argmax(1).tolist()
    assert inferred["test_accuracy"] == round(
        float((want.argmax(1) == yt[:25]).double().mean()), 4)
    # loading a seed's initial weights puts them back
    loco([*base, "load", "--seed", "3"], transport=fresh)
    again = loco([*base, "read", "--out", str(tmp_path / "s3.json")], transport=fresh)
    assert again["weights"] == [w.flatten().tolist() for w in init_state(config, seed=3).master]
