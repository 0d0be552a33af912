# amaranth: UnusedElaboratable=no
"""Board bitstreams: the whole UART learner for the ULX3S in CI, and for the iCEBreaker in the slow
tier (its place-and-route at 98 % of the UP5K takes 5-25 min here; CI keeps the iCE40 flow in the
UP5K noise-block bitstream of test_synth.py and the learner's synth_ice40 netlist simulation of
test_netlist.py)."""

import pytest

from boards.build import build_board
from boards.report import ReportError, board_report
from boards.seeds import SeedSweepError, seed_sweep
from boards.top import LearnerBoard
from hw.formats import DEFAULT_NETWORK


@pytest.mark.parametrize("board", [pytest.param("icebreaker", marks=pytest.mark.slow),
                                   "ulx3s-85f"])
def test_board_bitstream_builds_and_meets_timing(board, tmp_path):
    result = build_board(board, build_root=tmp_path)
    assert result["timing_met"], result["fmax_mhz"]
    assert (tmp_path / board / result["bitstream"].rsplit("/", 1)[1]).stat().st_size > 100_000
    assert (tmp_path / board / "report.md").read_text().startswith(f"# {board}")
    used = result["utilisation"]
    assert all(v["used"] <= v["available"] for v in used.values())
    # The one-page report: this build's configuration co-simulated bit-exactly, its cycles
    # modelled, its timing and utilisation.
    summary = board_report(board, samples=20, build_root=tmp_path)
    assert summary["cosimulation"]["status"] == "PASS"
    assert summary["cosimulation"]["mismatched_words"] == 0
    assert summary["cosimulation"]["words_compared"] > 20 * result["sizes"][0]
    assert summary["timing"]["slack_ns"] > 0
    page = (tmp_path / board / "report.md").read_text()
    assert "**PASS**: 20 training samples" in page and "(digits) | not measured" in page
    # Placement robustness: the same netlist placed with another nextpnr seed.
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
    with pytest.raises(ValueError, match=r"^Seeds must be positive integers, not \[0\]$"):
        seed_sweep("ulx3s-85f", [0], build_root=tmp_path)
    with pytest.raises(ReportError, match=r"report\.json is missing: run `loco build "
                                          r"--board icebreaker` first"):
        board_report("icebreaker", build_root=tmp_path)
    with pytest.raises(ReportError, match=r"ulx3s-85f-784-128-10/report\.json is missing: run "
                                          r"`loco build --board ulx3s-85f --sizes 784,128,10`"):
        board_report("ulx3s-85f", sizes=[784, 128, 10], build_root=tmp_path)
    with pytest.raises(ValueError, match=r"^Samples must be a positive integer, not 0$"):
        board_report("icebreaker", samples=0, build_root=tmp_path)


def test_unknown_board_is_rejected():
    with pytest.raises(ValueError, match=r"^Unknown board 'de10'; choose from icebreaker, "):
        build_board("de10")


def test_board_top_rejects_bad_config():
    with pytest.raises(TypeError, match=r"^Config must be a NetworkConfig, not 3$"):
        LearnerBoard(3)
    assert LearnerBoard(DEFAULT_NETWORK) is not None
