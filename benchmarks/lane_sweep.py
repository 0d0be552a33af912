"""Fmax and throughput of the ULX3S learner (64-32-10, digits) against its neuron lanes: does
a smaller learner reach issue 9's 80 MHz?

Reads each build's ``build/<build>/report.json`` (made by ``loco build --board ulx3s-85f
--lanes A,B --clock 80 --seed 1``; the board's own 32,10 build by ``loco build --board
ulx3s-85f``; a build that is missing is listed with the command that makes it, nothing is
built here, and with none there nothing is written) for its Fmax, logic and critical path
(:func:`boards.build.critical_path`), and models its cycles per training sample over the
first ``--samples`` samples of a digits epoch (:func:`cosim.performance.analytic_cycles` with
the golden model; within 0.3 % of the RTL's own counter, ``loco report``). Samples/s are at
the build's Fmax: the throughput the lane count would give if its clock were raised to what
it reached.

``python benchmarks/lane_sweep.py [--lanes 1,1 4,2 16,5 32,10] [--samples 64]`` prints a table
and writes ``build/benchmarks/lane_sweep.json`` (per build: lanes, clock placed for, nextpnr
seed, ``fmax_mhz``, ``trellis_comb``, ``dp16kd``, ``mult18``, ``critical_path``,
``analytic_cycles_per_training_sample``, ``port_bound_cycles``, ``samples_per_s_at_fmax``; and
``missing``: the builds not found, with their commands) and ``lane_sweep.png``.
"""

import argparse
import json
import statistics

import torch
from _common import OUT, ROOT, comma_list, positive_int, print_table, write_json

from boards.build import board_config, board_gateware, build_name, critical_path
from boards.report import REFRESH
from cosim.lockstep import epoch_stream
from cosim.performance import analytic_cycles, port_bound, workload
from loco_sw.data import load_digits_split
from loco_sw.golden import init_state, refresh_bases, train_step
from loco_sw.plots import fmax_and_throughput
from loco_sw.train import to_intensity

BOARD = "ulx3s-85f"
DEFAULT_LANES = ((1, 1), (4, 2), (16, 5), (32, 10))
GOAL_MHZ, GOAL_SAMPLES_PER_S = 80.0, 40_000     # issue 9's ECP5 rows


def golden_workloads(config, samples: int) -> list:
    """What the golden model does in each of the first ``samples`` of a digits epoch (the stream
    the reports and benchmarks train; :func:`cosim.performance.workload`). The arithmetic is
    the same whatever the lanes, so one run serves every build."""
    x, y, _, _ = load_digits_split()
    state = init_state(config, seed=1)
    works = []
    for step, intensity, label in epoch_stream(to_intensity(x), y, torch.Generator()
                                               .manual_seed(1), 0, samples):
        if step % REFRESH == 0:
            refresh_bases(config, state)
        works.append(workload(train_step(config, state, intensity, label, step)))
    return works


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lanes", nargs="+", type=comma_list(positive_int),
                        default=[list(lanes) for lanes in DEFAULT_LANES],
                        help="neuron lanes per layer of each build, e.g. 1,1 4,2 (default: "
                             "1,1 4,2 16,5 32,10)")
    parser.add_argument("--samples", type=positive_int, default=64,
                        help="digits samples the cycle model averages (default 64)")
    args = parser.parse_args()

    config = board_config(BOARD)
    works = golden_workloads(config, args.samples)
    builds, missing, rows = {}, {}, []
    for lanes in args.lanes:
        try:
            gateware = board_gateware(BOARD, config, tuple(lanes))
        except ValueError as error:
            parser.error(f"--lanes {','.join(map(str, lanes))}: {error}")
        name = build_name(BOARD, config, tuple(lanes))
        report = ROOT / "build" / name / "report.json"
        if not report.exists():
            missing[name] = (f"loco build --board {BOARD} --lanes {','.join(map(str, lanes))} "
                             f"--clock 80 --seed 1")
            continue
        built = json.loads(report.read_text())
        if tuple(built["lanes"]) != gateware["lanes"]:
            parser.error(f"{report} is of lanes {built['lanes']}, not {gateware['lanes']}")
        cycles = statistics.fmean(analytic_cycles(config, w, gateware) for w in works)
        bound = statistics.fmean(port_bound(config, w, gateware) for w in works)
        fmax = min(built["fmax_mhz"].values())
        path = critical_path(built["nextpnr"])
        used = built["utilisation"]
        builds[name] = {
            "lanes": list(gateware["lanes"]), "clock_mhz": built["clock_mhz"],
            "seed": built["seed"], "router": built["router"], "fmax_mhz": fmax,
            "trellis_comb": used["TRELLIS_COMB"]["used"], "dp16kd": used["DP16KD"]["used"],
            "mult18": used["MULT18X18D"]["used"], "critical_path": path,
            "analytic_cycles_per_training_sample": cycles, "port_bound_cycles": bound,
            "samples_per_s_at_fmax": fmax * 1e6 / cycles}
        rows.append([",".join(map(str, gateware["lanes"])), f"{built['clock_mhz']:g}",
                     built["seed"], f"{fmax:.2f}", used["TRELLIS_COMB"]["used"],
                     f"{cycles:.0f}", f"{fmax * 1e6 / cycles:.0f}",
                     f"{path['from']} -> {path['to']}",
                     f"{path['ns']:.1f} ({path['logic_ns']:.1f} logic)"])
    if rows:
        print_table(["lanes", "placed for MHz", "seed", "Fmax MHz", "TRELLIS_COMB",
                     "cycles/sample (model)", "samples/s @Fmax", "critical path", "ns"], rows)
    for name, command in missing.items():
        print(f"{name}: not built; make it with `{command}`")
    if not builds:
        parser.exit(1, "lane_sweep: none of the builds is there; nothing written\n")
    write_json("lane_sweep", {"board": BOARD, "network": list(config.sizes),
                              "samples_modelled": args.samples, "goal_mhz": GOAL_MHZ,
                              "goal_samples_per_s": GOAL_SAMPLES_PER_S, "builds": builds,
                              "missing": missing})
    points = {sum(b["lanes"]): (b["fmax_mhz"], b["samples_per_s_at_fmax"])
              for b in builds.values()}
    fmax_and_throughput(points, OUT / "lane_sweep.png", goals=(GOAL_MHZ, GOAL_SAMPLES_PER_S),
                        title=f"{BOARD} learner, 64-32-10: lanes vs Fmax")
    print(f"wrote {OUT / 'lane_sweep.png'}")


if __name__ == "__main__":
    main()
