# amaranth: UnusedElaboratable=no
"""Board bitstreams. CI builds the whole UART learner for the ULX3S with a small organisation of
the learner (the UP5K's: one shared update unit, one neuron lane a layer; ≈ 3 min) and reports on
it; the boards' own organisations build in the slow tier (the ULX3S's, 32 and 5 lanes and
per-layer units working on many words at once, takes 12-18 min to place and route here; the
iCEBreaker's, at 98 % of the UP5K, 5-25 min). CI keeps the iCE40 flow in the UP5K noise-block
bitstream of test_synth.py and the learner's synth_ice40 netlist simulation of
test_netlist.py; the boards' organisations are co-simulated bit-exactly in test_compiled.py."""

import dataclasses
import json
import warnings

import pytest

from boards.build import (BOARDS, MAC16_BYPASS_NS, board_clock, board_config, board_gateware,
                          build_board, build_name, build_router, build_seed, critical_path,
                          multiplier_path_ns, nextpnr_fmax)
from boards.clocks import ClockError, ecp5_pll, ice40_pll
from boards.report import ReportError, _accuracy, board_report
from boards.seeds import SeedSweepError, seed_sweep
from boards.top import LearnerBoard
from hw.formats import DEFAULT_NETWORK


# The UP5K's organisation of the learner, for the ULX3S build CI runs.
SMALL = {"shared_update": True, "lanes": (1, 1), "parallel_slots": (False, False)}


@pytest.mark.parametrize("board, gateware", [
    pytest.param("icebreaker", None, marks=pytest.mark.slow),
    pytest.param("ulx3s-85f", None, marks=pytest.mark.slow),
    pytest.param("ulx3s-85f", SMALL, id="ulx3s-85f-small-organisation")])
def test_board_bitstream_builds_and_meets_timing(board, gateware, tmp_path):
    result = build_board(board, gateware=gateware, build_root=tmp_path)
    assert result["timing_met"], result["fmax_mhz"]
    assert result["lanes"] == list((gateware or board_gateware(board, DEFAULT_NETWORK))["lanes"])
    assert (tmp_path / board / result["bitstream"].rsplit("/", 1)[1]).stat().st_size > 100_000
    assert (tmp_path / board / "report.md").read_text().startswith(f"# {board}")
    used = result["utilisation"]
    assert all(v["used"] <= v["available"] for v in used.values())
    # The one-page report: this build's configuration co-simulated bit-exactly, its cycles
    # modelled, its timing and utilisation.
    summary = board_report(board, samples=20, gateware=gateware, build_root=tmp_path)
    assert summary["cosimulation"]["status"] == "PASS"
    assert summary["cosimulation"]["mismatched_words"] == 0
    assert summary["cosimulation"]["words_compared"] > 20 * result["sizes"][0]
    seed = build_seed(board, board_config(board))
    assert summary["timing"]["slack_ns"] > 0 and summary["timing"]["seed"] == seed
    page = (tmp_path / board / "report.md").read_text()
    assert "**PASS**: 20 training samples" in page and "(digits) | not measured" in page
    router = build_router(board, board_config(board))
    assert summary["timing"]["router"] == router
    assert f"| Timing (nextpnr seed {seed}, {router}) |" in page
    # The critical path nextpnr timed: a path of this learner's signals, as long as its Fmax.
    path = summary["timing"]["critical_path"]
    assert path["ns"] == pytest.approx(path["logic_ns"] + path["routing_ns"])
    assert 1e3 / path["ns"] == pytest.approx(summary["timing"]["fmax_mhz"], rel=0.02) or \
        result["multiplier_path_ns"] is not None
    assert f"| Critical path (nextpnr, register to register) | `{path['from']}` → " in page
    # The iCE40's combinational multipliers: nextpnr cuts the paths through them, the build
    # bounds them (ECP5: nextpnr times them itself).
    assert (result["multiplier_path_ns"] is not None) == (board == "icebreaker")


@pytest.mark.slow
def test_seed_sweep_places_the_same_netlist_again(tmp_path):
    # Placement robustness: the same netlist placed with another nextpnr seed, in the report.
    # (A second place and route of the ULX3S learner: ≈ 5 min, so in the slow tier; CI checks
    # the sweep's errors below.)
    board = "ulx3s-85f"
    build_board(board, build_root=tmp_path)
    sweep = seed_sweep(board, [2], build_root=tmp_path)
    assert set(sweep["fmax_mhz"]) == {1, 2} and min(sweep["fmax_mhz"].values()) > 0
    board_report(board, samples=1, build_root=tmp_path)
    page = (tmp_path / board / "report.md").read_text()
    assert "| Fmax over nextpnr seeds | 2 seeds: min" in page


def test_report_and_seed_sweep_need_a_build_first(tmp_path):
    with pytest.raises(SeedSweepError, match=r"has no build: run `loco build --board ulx3s"):
        seed_sweep("ulx3s-85f", [2], build_root=tmp_path)
    with pytest.raises(SeedSweepError, match=r"ulx3s-85f-784-128-10 has no build: run `loco "
                                             r"build --board ulx3s-85f --sizes 784,128,10`"):
        seed_sweep("ulx3s-85f", [2], sizes=[784, 128, 10], build_root=tmp_path)
    with pytest.raises(SeedSweepError, match=r"ulx3s-85f-rank4 has no build: run `loco build "
                                             r"--board ulx3s-85f --rank 4`"):
        seed_sweep("ulx3s-85f", [2], rank=4, build_root=tmp_path)
    with pytest.raises(SeedSweepError, match=r"ulx3s-85f-lanes16-5 has no build: run `loco "
                                             r"build --board ulx3s-85f --lanes 16,5`"):
        seed_sweep("ulx3s-85f", [2], lanes=[16, 5], build_root=tmp_path)
    with pytest.raises(ValueError, match=r"^Seeds must be positive integers, not \[0\]$"):
        seed_sweep("ulx3s-85f", [0], build_root=tmp_path)
    with pytest.raises(ReportError, match=r"report\.json is missing: run `loco build "
                                          r"--board icebreaker` first"):
        board_report("icebreaker", build_root=tmp_path)
    with pytest.raises(ReportError, match=r"ulx3s-85f-784-128-10/report\.json is missing: run "
                                          r"`loco build --board ulx3s-85f --sizes 784,128,10`"):
        board_report("ulx3s-85f", sizes=[784, 128, 10], build_root=tmp_path)
    with pytest.raises(ReportError, match=r"ulx3s-85f-rank4/report\.json is missing: run "
                                          r"`loco build --board ulx3s-85f --rank 4`"):
        board_report("ulx3s-85f", rank=4, build_root=tmp_path)
    with pytest.raises(ReportError, match=r"ulx3s-85f-784-128-10-lanes4-5/report\.json is "
                                          r"missing: run `loco build --board ulx3s-85f --sizes "
                                          r"784,128,10 --lanes 4,5`"):
        board_report("ulx3s-85f", sizes=[784, 128, 10], lanes=(4, 5), build_root=tmp_path)
    with pytest.raises(ValueError, match=r"^Samples must be a positive integer, not 0$"):
        board_report("icebreaker", samples=0, build_root=tmp_path)


def test_pll_settings_make_the_clock_exactly():
    # The tools' own answers: icepll -i 12 -o 18 and ecppll -i 12 -o 16 (serv's ECP5 PLL).
    assert ice40_pll(12, 18) == {"DIVR": 0, "DIVF": 47, "DIVQ": 5, "FILTER_RANGE": 1}
    assert ecp5_pll(12, 16) == {"CLKI_DIV": 3, "CLKFB_DIV": 4, "CLKOP_DIV": 37,
                                "CLKOP_CPHASE": 18}
    for mhz in (16.875, 18, 24, 36):
        s = ice40_pll(12, mhz)
        vco = 12 / (s["DIVR"] + 1) * (s["DIVF"] + 1)
        assert 533 <= vco <= 1066 and vco / 2 ** s["DIVQ"] == mhz
    for mhz in (40, 50, 62.5, 75):
        s = ecp5_pll(25, mhz)
        assert 25 / s["CLKI_DIV"] * s["CLKFB_DIV"] == mhz
        assert 400 <= mhz * s["CLKOP_DIV"] <= 800
    with pytest.raises(ClockError, match=r"^The ECP5 PLL cannot make exactly 1000 MHz"):
        ecp5_pll(25, 1000)
    assert board_clock("icebreaker") == 18.0 and board_clock("ulx3s-85f", 25) == 25.0
    mnist = board_config("ulx3s-85f", [784, 128, 10])
    assert board_clock("ulx3s-85f") == 40.0 and board_clock("ulx3s-85f", config=mnist) == 40.0
    assert board_clock("ulx3s-85f", 50) == 50.0
    assert board_clock("ulx3s-85f", config=board_config("ulx3s-85f", rank=4)) == 37.5
    with pytest.raises(ValueError, match=r"^The iCE40 PLL cannot make exactly 19\.1 MHz"):
        board_clock("icebreaker", 19.1)


def test_boards_choose_their_organisations():
    # The ULX3S: up to 32 lanes in layer 0 and 10 in a later one (8 each for a network wider
    # than 256 inputs: block RAM, so 5 lanes of 2 for its 10 classes); the UP5K: one shared
    # unit, one lane (no block RAM left).
    digits, mnist = board_config("ulx3s-85f"), board_config("ulx3s-85f", [784, 128, 10])
    assert board_gateware("ulx3s-85f", digits) == {"shared_update": False, "lanes": (32, 10),
                                                   "parallel_slots": (True, True)}
    assert board_gateware("ulx3s-85f", mnist)["lanes"] == (8, 5)
    assert board_gateware("icebreaker", board_config("icebreaker")) == SMALL
    # Other lanes on request (a trade of cycles against logic and clock), checked, and named
    # in the build's folder unless they are the board's own.
    assert board_gateware("ulx3s-85f", digits, [16, 5]) == {
        "shared_update": False, "lanes": (16, 5), "parallel_slots": (True, True)}
    assert build_name("ulx3s-85f", digits, (16, 5)) == "ulx3s-85f-lanes16-5"
    assert build_name("ulx3s-85f", digits, (32, 10)) == "ulx3s-85f"
    assert build_name("ulx3s-85f", mnist, [4, 5]) == "ulx3s-85f-784-128-10-lanes4-5"
    for lanes, message in (([16], r"need one count per layer \(2 for the network 64-32-10\)"),
                           ([31, 5], r"no lane without neurons \(layer 0 has 32\), not 31"),
                           ([32, True], "not True")):
        with pytest.raises(ValueError, match=message):
            board_gateware("ulx3s-85f", digits, lanes)


def test_builds_take_their_own_seed_and_router():
    # Seed 1 and router1 unless they do not route: the ULX3S's default network at seed 3 with
    # router2.
    assert build_seed("ulx3s-85f", board_config("ulx3s-85f")) == 3
    assert build_router("ulx3s-85f", board_config("ulx3s-85f")) == "router2"
    for board, sizes in (("ulx3s-85f", (784, 128, 10)), ("icebreaker", None)):
        assert build_seed(board, board_config(board, sizes)) == 1
        assert build_router(board, board_config(board, sizes)) == "router1"


def test_report_accuracy_is_the_builds_arithmetic(tmp_path):
    """The report's accuracies come from the benchmark runs of the build's own arithmetic: the
    iCEBreaker's no-schedule ablation, the rank-4 ablations and RTL variant for a rank-4 build
    (an RTL variant without a rank, as written before variants had one, is rank 0)."""
    curves = {name: [[0.1, value], [0.2, value + 0.02]] for name, value in
              [("float", 0.80), ("fixed", 0.70), ("no-schedule", 0.60), ("rank4", 0.50),
               ("float-rank4", 0.40)]}
    (tmp_path / "fixed_point.json").write_text(json.dumps({
        "dataset": "digits", "seeds": [0, 1], "epochs": 2,
        "float_test_accuracy": curves["float"], "fixed_test_accuracy": curves["fixed"],
        "ablations": {k: curves[k] for k in ("no-schedule", "rank4", "float-rank4")}}))
    (tmp_path / "rtl_training.json").write_text(json.dumps({"seed": 0, "epochs": 2, "variants": {
        "per-layer": {"board": "ulx3s-85f", "test_accuracy_per_epoch": [0.3, 0.75],
                      "mismatched_words": 0},
        "rank4": {"board": "ulx3s-85f", "rank": 4, "test_accuracy_per_epoch": [0.3, 0.55],
                  "mismatched_words": 0}}}))
    ulx3s = _accuracy("ulx3s-85f", 0, tmp_path)
    assert (ulx3s["float_loco"], ulx3s["fixed_loco"], ulx3s["rtl_loco_seed0"]) == \
        pytest.approx((0.81, 0.71, 0.75))
    assert _accuracy("icebreaker", 0, tmp_path)["fixed_loco"] == pytest.approx(0.61)
    rank4 = _accuracy("ulx3s-85f", 4, tmp_path)
    assert (rank4["float_loco"], rank4["fixed_loco"]) == pytest.approx((0.41, 0.51))
    assert rank4["rtl_loco_seed0"] == pytest.approx(0.55) and "2 seeds, 2 epochs" in \
        rank4["source"]
    assert "rtl_loco_seed0" not in _accuracy("icebreaker", 0, tmp_path)
    assert _accuracy("ulx3s-85f", 2, tmp_path) == {} == _accuracy("icebreaker", 4, tmp_path)


def _path(source, sink, *delays):
    return {"from": source, "to": sink, "path": [{"delay": d} for d in delays]}


def _step(kind, delay, source, sink=None):
    sink = sink or source
    return {"type": kind, "delay": delay, "from": {"cell": source}, "to": {"cell": sink}}


def test_critical_path_names_the_signals_and_splits_logic_from_routing():
    """The report's critical path: the longest path within a clock (not the pseudo clock of
    the iCE40's multipliers, not a pin's), its ends named by the design's signals."""
    clk, dsp = "posedge $glbnet$clk", "posedge $PACKER_GND_NET_$glb_clk"
    source = "learner.host.learner.x_feeding_TRELLIS_FF_Q"
    sink = "learner.host.learner.core0.vmem.0.17$DPRAM_COMB1"
    long = [_step("clk-to-q", 0.5, source), _step("routing", 9.0, source, "a_LUT4_Z"),
            _step("logic", 0.25, "a_LUT4_Z"), _step("routing", 4.0, "a_LUT4_Z", sink),
            _step("setup", 0.1, sink)]
    report = {"critical_paths": [
        {"from": clk, "to": clk, "path": long},
        {"from": clk, "to": clk, "path": [_step("clk-to-q", 0.5, "b"), _step("setup", 0.1, "c")]},
        {"from": clk, "to": dsp, "path": [_step("routing", 40.0, "d")]},
        {"from": "<async>", "to": clk, "path": [_step("routing", 50.0, "e")]}]}
    path = critical_path(report)
    assert (path["from"], path["to"]) == ("x_feeding", "core0.vmem.0.17")
    assert (path["ns"], path["logic_ns"], path["routing_ns"]) == pytest.approx((13.85, 0.85, 13.0))
    assert critical_path({"critical_paths": report["critical_paths"][2:]}) is None


def test_fmax_bounds_the_paths_through_ice40_multipliers():
    """nextpnr's iCE40 model cuts a path through a combinational SB_MAC16 into a path into the
    multiplier (ending in a modelled setup) and one out of it (starting with a modelled
    clock-to-out), both to a pseudo clock no constraint checks; the Fmax must count their sum
    and the multiplier's own delay."""
    clk, dsp = "posedge clk", "posedge $PACKER_GND_NET_$glb_clk"
    report = {"fmax": {"clk": {"achieved": 25.0}, "$PACKER_GND_NET_$glb_clk": {"achieved": 1e3}},
              "critical_paths": [_path(clk, clk, 1.0, 39.0),
                                 _path(clk, dsp, 1.4, 14.0, 0.1),      # 15.4 ns into it
                                 _path(dsp, clk, 0.1, 20.0, 5.8),      # 25.8 ns out of it
                                 _path("<async>", dsp, 30.0, 30.0)]}   # an input pin: unchecked
    bound = 15.4 + MAC16_BYPASS_NS + 25.8
    assert multiplier_path_ns(report) == pytest.approx(bound)
    assert nextpnr_fmax(report) == {"clk": round(1e3 / bound, 2)}      # below the 25 MHz
    # A multiplier feeding another: both multipliers' delays and the path between them.
    chained = dict(report, critical_paths=report["critical_paths"] + [_path(dsp, dsp, 0.1, 3.0,
                                                                            0.1)])
    assert multiplier_path_ns(chained) == pytest.approx(bound + 3.0 + MAC16_BYPASS_NS)
    # Without multiplier paths (ECP5) the tool's own Fmax stands.
    plain = {"fmax": {"$glbnet$clk": {"achieved": 48.2234}},
             "critical_paths": [_path(clk, clk, 1.0, 19.7)]}
    assert multiplier_path_ns(plain) is None and nextpnr_fmax(plain) == {"clk": 48.22}


def test_unknown_board_is_rejected():
    with pytest.raises(ValueError, match=r"^Unknown board 'de10'; choose from icebreaker, "):
        build_board("de10")
    with pytest.raises(ValueError, match=r"^Seed must be a positive integer, not 0$"):
        build_board("ulx3s-85f", seed=0)


@pytest.mark.parametrize("board", ["icebreaker", "ulx3s-85f"])
def test_board_top_defines_its_pll_clock_domain_itself(board):
    # The PLL's `sync` is defined in the top, not in a submodule: Amaranth 0.5 warns (0.6
    # rejects) a domain defined in a child and used beside it.
    config = dataclasses.replace(DEFAULT_NETWORK, sizes=(8, 4, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plan = BOARDS[board].platform().build(LearnerBoard(config, clock_mhz=board_clock(board)),
                                              name="loco", do_build=False)
    netlist = plan.files["loco.il"]
    assert ("SB_PLL40_PAD" if board == "icebreaker" else "EHXPLLL") in netlist


def test_board_top_rejects_bad_config():
    with pytest.raises(TypeError, match=r"^Config must be a NetworkConfig, not 3$"):
        LearnerBoard(3)
    assert LearnerBoard(DEFAULT_NETWORK) is not None
