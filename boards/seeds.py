"""Placement robustness: place and route a board's synthesised netlist again with other nextpnr
seeds and report the Fmax of each.

``loco seeds --board {icebreaker,ulx3s-85f} [--sizes N0,N1,...] [--rank R] [--seeds 2,3,4,5]``
(after ``loco build`` with the same options) reruns the build's own nextpnr command
(``build/<build>/build_loco.sh``) on its ``loco.json`` with each seed, writing only a seed-named
report and log (the bitstream is not touched), and writes ``build/<build>/seeds.json``: per seed
the Fmax and whether timing is met at the board clock, with the build's seed 1 included.
"""

import json
import os
import shlex
import statistics
import subprocess
from pathlib import Path

from .build import BOARDS, ROOT, _use_yowasp, board_config, build_name, build_options, nextpnr_fmax

__all__ = ["seed_sweep"]

# nextpnr options whose value is an output file: the report and log renamed per seed, the
# placed design not written (the build's bitstream stays as it is)
_OUTPUTS = ("--report", "--log")
_DESIGN_OUTPUTS = ("--asc", "--textcfg")


class SeedSweepError(Exception):
    """The sweep cannot run (the message says what to run first) or nextpnr failed."""


def _nextpnr_command(build_dir: Path, seed: int) -> list:
    """The build script's nextpnr line with ``--seed seed`` and seed-named output files."""
    script = build_dir / "build_loco.sh"
    line = next(line for line in script.read_text().splitlines() if "NEXTPNR" in line
                and not line.startswith(":"))
    words = shlex.split(line)
    command = [os.environ[words[0].strip("${}")]]
    options = iter(words[1:])
    for option in options:
        if option in _DESIGN_OUTPUTS:
            next(options)
            continue
        command.append(option)
        if option == "--seed":
            next(options)
            command.append(str(seed))
        elif option in _OUTPUTS:
            next(options)
            command.append(f"seed{seed}.{'json' if option == '--report' else option[2:]}")
    return command


def seed_sweep(board: str, seeds, *, sizes=None, rank=None, lanes=None,
               build_root: Path = ROOT / "build") -> dict:
    """Place and route the netlist of ``board``'s build with the network ``sizes`` (default the
    board's; ``rank``: its low-rank part; ``lanes``: its neuron lanes, default the board's)
    with each of ``seeds``; returns (and writes to ``seeds.json``) the Fmax per seed, the
    build's own seed (1 unless ``loco build --seed``) included."""
    if board not in BOARDS:
        raise ValueError(f"Unknown board {board!r}; choose from {', '.join(BOARDS)}")
    if not seeds or any(not isinstance(s, int) or s < 1 for s in seeds):
        raise ValueError(f"Seeds must be positive integers, not {seeds!r}")
    build_dir = Path(build_root) / build_name(board, board_config(board, sizes, rank), lanes)
    if not (build_dir / "build_loco.sh").exists() or not (build_dir / "report.json").exists():
        raise SeedSweepError(f"{build_dir} has no build: run `loco build "
                             f"{build_options(board, sizes, rank, lanes)}` first")
    _use_yowasp()
    commands = {seed: _nextpnr_command(build_dir, seed) for seed in seeds}
    built = json.loads((build_dir / "report.json").read_text())
    fmax = {built.get("seed", 1): min(built["fmax_mhz"].values())}
    for seed, command in commands.items():
        run = subprocess.run(command, cwd=build_dir, capture_output=True, text=True)
        if run.returncode != 0:
            raise SeedSweepError(f"nextpnr with seed {seed} failed: "
                                 f"{run.stderr.strip().splitlines()[-1:]}")
        report = json.loads((build_dir / f"seed{seed}.json").read_text())
        fmax[seed] = min(nextpnr_fmax(report).values())       # the slowest clock
    clock = built["clock_mhz"]
    result = {"board": board, "clock_mhz": clock, "fmax_mhz": fmax,
              "met": {seed: f >= clock for seed, f in fmax.items()},
              "all_met": all(f >= clock for f in fmax.values()),
              "fmax_min_mean_max": [min(fmax.values()), statistics.fmean(fmax.values()),
                                    max(fmax.values())]}
    (build_dir / "seeds.json").write_text(json.dumps(result, indent=2))
    return result

