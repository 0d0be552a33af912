"""Build a board bitstream with the YoWASP toolchain and report utilisation and timing.

``loco build --board {icebreaker,ulx3s-85f} [--sizes 64,32,10] [--rank R] [--clock MHZ]`` writes
``build/<board>/loco.{bin,bit}`` (``build/<board>-<sizes>/`` for another network,
``build/<board>-rank<R>/`` with ``--rank``),
``build/<board>/report.json`` (resources used vs available,
Fmax per clock vs the board clock) and ``build/<board>/report.md``.
"""

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

from amaranth_boards.icebreaker import ICEBreakerPlatform
from amaranth_boards.ulx3s import ULX3S_85F_Platform

from hw.formats import DEFAULT_NETWORK, NetworkConfig
from hw.neuron import LIFCore

from .clocks import ecp5_pll, ice40_pll
from .top import BAUD, LearnerBoard

__all__ = ["BOARDS", "Board", "BuildError", "board_clock", "board_config", "board_gateware",
           "build_board", "build_name", "build_router", "build_seed", "described",
           "build_options", "critical_path", "multiplier_path_ns", "nextpnr_fmax"]

ROOT = Path(__file__).resolve().parent.parent


class Board(NamedTuple):
    platform: type
    bitstream: str          # file name
    shared_update: bool     # one update unit for the layers (the UP5K is small)
    most_lanes: tuple       # neuron lanes at most: (layer 0, later layers); the UP5K has no
                            # block RAM left for a second lane
    wide_most_lanes: tuple  # the same for a network of more than WIDE_INPUTS inputs
    clock_mhz: float        # the learner's clock, from the PLL (the oscillator's: no PLL)
    wide_clock_mhz: float   # the same for a network of more than WIDE_INPUTS inputs
    pll: object             # the PLL's settings for a clock (boards.clocks), checked early


# A network wider than this (MNIST's 784 inputs) gets the board's wide-network clock and fewer
# lanes: its 784-entry input list and nearly full block RAM columns placed at 42.65 MHz on the
# ECP5, and 784-128-10's layer 0 in 16 lanes would take 8 DP16KD more than the 6 it leaves.
# Layer 0 in a lane a neuron and an encoder of four inputs a cycle leave 64-32-10's readout
# layer pacing the waves: in 5 lanes of 2 neurons the model gives ≈ 830 cycles a sample, in 10
# of 1 ≈ 640 (its update unit reaches the lanes directly, so the one-row memories' flat write
# address, which once headed the ECP5's critical path at 43.04 MHz, is the host's only).
WIDE_INPUTS = 256


BOARDS = {
    # iCE40UP5K, 12 MHz oscillator; 18 MHz: every nextpnr seed reached 18.9-19.5 MHz
    "icebreaker": Board(ICEBreakerPlatform, "loco.bin", True, (1, 1), (1, 1), 18.0, 18.0,
                         ice40_pll),
    # ECP5 LFE5U-85F, 25 MHz oscillator; 40 MHz: the learner with 32 and 10 lanes and the
    # four-input encoder did not route with nextpnr's default router (seed 2: ≈ 98 000
    # overused wires after 10 minutes of routing), and router2 reached 43.56 MHz (seed 3,
    # placed for 50; 44.68 placed for 40, 44.94 with the rows streamed), host-only paths into
    # the lanes' or slots' LUT RAM heading it; with those registered, 44.29-50.83 over seeds
    # 1-3, but placed for 50 (seed 1) 49.66; the learner before (32 and 5 lanes, two inputs a
    # cycle) met 50 at 55.97
    "ulx3s-85f":  Board(ULX3S_85F_Platform, "loco.bit", False, (32, 10), (8, 8), 40.0, 40.0,
                         ecp5_pll),
}
# What a board's network leaves out of DEFAULT_NETWORK to fit (docs/design.md): the UP5K has no
# room for the step-size schedule's shifter (5 472 of 5 280 logic cells with it).
_REDUCED = {"icebreaker": {"step_shift_bits": 0}}
_TOOLS = {"YOSYS": "yosys", "NEXTPNR_ICE40": "nextpnr-ice40", "NEXTPNR_ECP5": "nextpnr-ecp5",
          "ICEPACK": "icepack", "ECPPACK": "ecppack"}


class BuildError(Exception):
    """The toolchain failed, or a bitstream that misses timing was to be programmed."""


def _use_yowasp():
    """Point Amaranth at the YoWASP tools (this interpreter's bin first) unless set already."""
    bindir = Path(sys.executable).parent
    for variable, tool in _TOOLS.items():
        candidate = bindir / f"yowasp-{tool}"
        os.environ.setdefault(variable, str(candidate) if candidate.exists() else f"yowasp-{tool}")


def _reduced_text(board: str) -> str:
    cuts = ", ".join(f"`{key} = {value}`" for key, value in _REDUCED.get(board, {}).items())
    return f"{cuts} (docs/design.md)" if cuts else "none, the full default configuration"


# nextpnr's iCE40 timing model treats every SB_MAC16 port as a register (ice40/arch.cc,
# whatever the cell's configuration), while yosys infers the multipliers combinational (bypass
# modes, no register in the cell). So a register-to-register path through a multiplier is cut
# in two: into the multipliers' constant clock net (``$PACKER_GND_NET``, made a "clock") and out
# of it, cross-domain paths that no clock constraint checks. :func:`multiplier_path_ns` bounds
# the whole path by the two parts plus the multiplier's own worst delay:
MAC16_BYPASS_NS = 9.05      # UP5K SB_MAC16, 16x16 bypass, worst A/B -> O, slow corner
                            # (icestorm's icefuzz/timings_up5k.txt, the data icetime uses)


def multiplier_path_ns(report: dict):
    """Upper bound (ns) of the register-to-register paths through the iCE40's combinational
    multipliers in a nextpnr ``--report``: the worst path into a multiplier, its delay
    (:data:`MAC16_BYPASS_NS`), a multiplier-to-multiplier path and a second multiplier's delay
    if there is one, and the worst path out, less the register timing nextpnr models at the
    multiplier's ports. ``None`` if the report has no path both into and out of one (ECP5:
    nextpnr times its multipliers as combinational itself)."""
    parts = {}
    for path in report["critical_paths"]:
        into, out_of = "PACKER" in path["to"], "PACKER" in path["from"]
        if not (into or out_of) or "async" in path["from"] + path["to"]:
            continue
        steps = path["path"]
        delay = sum(step["delay"] for step in steps)
        delay -= (steps[-1]["delay"] if into else 0) + (steps[0]["delay"] if out_of else 0)
        parts["through" if into and out_of else "into" if into else "out_of"] = delay
    if "into" not in parts or "out_of" not in parts:
        return None
    inside = parts["through"] + MAC16_BYPASS_NS if "through" in parts else 0.0
    return parts["into"] + MAC16_BYPASS_NS + inside + parts["out_of"]


# Where a nextpnr cell name stops naming the design's signal and starts naming the mapping
# (``x_feeding_TRELLIS_FF_Q``, ``vmem.0.17$DPRAM_COMB1``, ``spikes_out_SB_DFFESR_Q_57_DFFLC``)
_CELL_SUFFIX = re.compile(r"(_TRELLIS_|\$DPRAM|_SB_|_LUT4|_CCU2|\$CCU2|_PFUMX|_L6MUX).*$")
_LEARNER_PREFIX = "learner.host.learner."


def _signal(cell: str) -> str:
    """The design signal a nextpnr cell name comes from: the learner's hierarchy prefix and the
    mapping's suffix cut off."""
    return _CELL_SUFFIX.sub("", cell.removeprefix(_LEARNER_PREFIX))


def critical_path(report: dict):
    """The longest register-to-register path nextpnr timed within one clock in a ``--report``
    (the paths into and out of the iCE40's combinational multipliers, timed to a pseudo
    clock, and those to pins left out: :func:`multiplier_path_ns`): ``{"from", "to"}`` (the
    signals, :func:`_signal`), ``"ns"``, ``"logic_ns"`` (clock to out, cells and setup) and
    ``"routing_ns"``; ``None`` if there is none."""
    paths = [path for path in report["critical_paths"]
             if path["from"] == path["to"] and "PACKER" not in path["from"]
             and "async" not in path["from"]]
    if not paths:
        return None
    steps = max(paths, key=lambda path: sum(step["delay"] for step in path["path"]))["path"]
    routing = sum(step["delay"] for step in steps if step["type"] == "routing")
    total = sum(step["delay"] for step in steps)
    return {"from": _signal(steps[0]["from"]["cell"]), "to": _signal(steps[-1]["to"]["cell"]),
            "ns": total, "logic_ns": total - routing, "routing_ns": routing}


def nextpnr_fmax(report: dict) -> dict:
    """Achieved Fmax (MHz, 2 decimals) per clock net of a nextpnr ``--report``, the tool's
    pseudo-nets (PACKER) left out, each no higher than :func:`multiplier_path_ns` allows."""
    bound = multiplier_path_ns(report)
    ceiling = float("inf") if bound is None else 1e3 / bound
    return {name.replace("$glbnet$", "").strip("$"): round(min(v["achieved"], ceiling), 2)
            for name, v in report["fmax"].items() if "PACKER" not in name}


def board_config(board: str, sizes=None, rank=None) -> NetworkConfig:
    """The network ``board`` is built with: ``DEFAULT_NETWORK`` (``sizes`` and the low-rank
    ``rank`` if given) less what the board cannot hold (``step_shift_bits = 0`` on the
    iCEBreaker)."""
    if board not in BOARDS:
        raise ValueError(f"Unknown board {board!r}; choose from {', '.join(BOARDS)}")
    config = DEFAULT_NETWORK if sizes is None else \
        dataclasses.replace(DEFAULT_NETWORK, sizes=tuple(sizes))
    if rank is not None:
        config = config.with_lowrank(rank)
    return dataclasses.replace(config, learning=dataclasses.replace(
        config.learning, **_REDUCED.get(board, {})))


def _lanes_up_to(config: NetworkConfig, layer: int, most: int) -> int:
    """The most lanes, up to ``most``, that leave no lane of ``layer`` without neurons."""
    for lanes in range(most, 0, -1):
        try:
            LIFCore.lane_rows(config, layer, lanes)
        except ValueError:
            continue
        return lanes
    raise AssertionError("one lane always fits")


def _wide(config: NetworkConfig) -> bool:
    """Whether ``config`` gets a board's wide-network defaults (more than WIDE_INPUTS inputs)."""
    return config.sizes[0] > WIDE_INPUTS


def board_gateware(board: str, config: NetworkConfig, lanes=None) -> dict:
    """The learner's organisation on ``board`` (:class:`hw.learner.LearnerCore`'s
    ``shared_update``, ``lanes`` and ``parallel_slots``) for the network ``config``: the
    board's neuron ``lanes`` per layer unless given (a trade of cycles against area and
    clock). A unit per layer (which also changes a row of every lane at once) projects its
    slots at once.

    Raises
    ------
    ValueError
        For ``lanes`` that are not one positive count per layer leaving no lane without
        neurons.
    """
    spec = BOARDS[board]
    shared = spec.shared_update
    if lanes is None:
        first, later = spec.wide_most_lanes if _wide(config) else spec.most_lanes
        lanes = tuple(_lanes_up_to(config, layer, later if layer else first)
                      for layer in range(config.layers))
    else:
        lanes = tuple(lanes)
        if len(lanes) != config.layers:
            raise ValueError(f"Lanes need one count per layer ({config.layers} for the network "
                             f"{'-'.join(map(str, config.sizes))}), not {list(lanes)}")
        for layer, count in enumerate(lanes):
            LIFCore.lane_rows(config, layer, count)      # raises ValueError
    return {"shared_update": shared, "lanes": lanes,
            "parallel_slots": (not shared,) * config.layers}


def described(gateware: dict) -> dict:
    """An organisation (:func:`board_gateware`) as JSON reports record it (tuples as lists)."""
    return {key: list(value) if isinstance(value, tuple) else value
            for key, value in gateware.items()}


def build_name(board: str, config: NetworkConfig, lanes=None) -> str:
    """The build folder of ``board`` with ``config``: the board's name, plus ``-<sizes>`` for a
    network other than the default one, ``-rank<R>`` with the low-rank part and
    ``-lanes<a>-<b>`` with neuron lanes other than the board's (:func:`board_gateware`, which
    checks them: ValueError)."""
    name = board
    if config.sizes != DEFAULT_NETWORK.sizes:
        name += "-" + "-".join(map(str, config.sizes))
    if config.learning.rank:
        name += f"-rank{config.learning.rank}"
    if lanes is not None:
        lanes = board_gateware(board, config, lanes)["lanes"]
        if lanes != board_gateware(board, config)["lanes"]:
            name += "-lanes" + "-".join(map(str, lanes))
    return name


# nextpnr's placement seed of a build (by its name) when none is asked for: 1, but where seed 1
# does not route. The ULX3S's 64-32-10 learner (signs beside wave 0, errors fed at once): at
# seed 1 the router still had ≈ 86 000 overused wires after an hour; seed 2 routed in 19
# minutes at 55.97 MHz. With 10 readout lanes and the four-input encoder seed 2 did not
# route with the default router (≈ 98 000 overused wires after 10 minutes of routing); with
# router2 (:data:`BUILD_ROUTERS`) seed 3 placed and routed in 15 minutes, and seed 2 still had
# ≈ 20 overused wires after 10 minutes of routing.
BUILD_SEEDS = {"ulx3s-85f": 3}
# nextpnr's router of a build (by its name) when not its default, router1. The rank-4 learner
# with lanes had ≈ 111 000 overused wires after 4 minutes of router1's routing.
BUILD_ROUTERS = {"ulx3s-85f": "router2", "ulx3s-85f-rank4": "router2"}
# A build's clock (MHz, by its name) where the board's would not hold over nextpnr seeds: the
# rank-4 learner placed for 40 MHz reached 41.47 / 39.82 / 40.64 MHz at seeds 1-3 (layer 1's
# unit's row index through the weight address adder into layer 1's lane memories, 24.1 ns),
# so it runs at 37.5 (25 x 3 / 2).
BUILD_CLOCKS = {"ulx3s-85f-rank4": 37.5}


def build_seed(board: str, config: NetworkConfig) -> int:
    """The nextpnr seed ``board``'s build of ``config`` uses by default (:data:`BUILD_SEEDS`;
    a build with other lanes takes its network's)."""
    return BUILD_SEEDS.get(build_name(board, config), 1)


def build_router(board: str, config: NetworkConfig) -> str:
    """nextpnr's router for ``board``'s build of ``config`` (:data:`BUILD_ROUTERS`; a build
    with other lanes takes its network's)."""
    return BUILD_ROUTERS.get(build_name(board, config), "router1")


def build_options(board: str, sizes=None, rank=None, lanes=None) -> str:
    """The ``loco build`` options of ``board``'s build of the network ``sizes`` (default the
    board's) with the low-rank part of ``rank`` (default off) and neuron ``lanes`` (default
    the board's), for the hints that say what to run."""
    return f"--board {board}" + (f" --sizes {','.join(map(str, sizes))}" if sizes else "") + \
        (f" --rank {rank}" if rank else "") + \
        (f" --lanes {','.join(map(str, lanes))}" if lanes else "")


def board_clock(board: str, clock_mhz=None, config: NetworkConfig = DEFAULT_NETWORK) -> float:
    """The learner's clock on ``board`` for the network ``config``: ``clock_mhz`` (default the
    build's own, :data:`BUILD_CLOCKS`, else the board's for that network's width), checked
    against what the board's PLL can make.

    Raises
    ------
    ValueError
        For an unknown board, a clock that is not a positive number, or one the PLL cannot
        make exactly (:class:`boards.clocks.ClockError`).
    """
    if board not in BOARDS:
        raise ValueError(f"Unknown board {board!r}; choose from {', '.join(BOARDS)}")
    spec = BOARDS[board]
    default = BUILD_CLOCKS.get(build_name(board, config),
                               spec.wide_clock_mhz if _wide(config) else spec.clock_mhz)
    clock = default if clock_mhz is None else clock_mhz
    if isinstance(clock, bool) or not isinstance(clock, (int, float)) or not clock > 0:
        raise ValueError(f"Clock must be a positive number of MHz, not {clock_mhz!r}")
    oscillator = spec.platform().default_clk_frequency / 1e6
    if clock != oscillator:
        spec.pll(oscillator, clock)             # raises ClockError (a ValueError)
    return float(clock)


def build_board(board: str, sizes=None, *, rank=None, lanes=None, clock_mhz=None, gateware=None,
                seed=None, build_root=ROOT / "build", program=False) -> dict:
    """Build ``board``'s bitstream of the network ``sizes`` (``rank``: its low-rank part;
    ``lanes``: neuron lanes per layer, default the board's) at ``clock_mhz`` (default
    :func:`board_clock`'s) into ``build_root/<build_name>``, placed and routed with nextpnr
    seed ``seed`` (default :func:`build_seed`'s); returns what ``report.json`` records.
    ``gateware`` is the learner's whole organisation instead (default :func:`board_gateware`'s;
    CI builds a smaller one), recorded in the report."""
    config = board_config(board, sizes, rank)
    if gateware is None:
        gateware = board_gateware(board, config, lanes)     # checks ``lanes`` first
    seed = build_seed(board, config) if seed is None else seed
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 1:
        raise ValueError(f"Seed must be a positive integer, not {seed!r}")
    target = board_clock(board, clock_mhz, config)
    _use_yowasp()
    platform_class, bitstream = BOARDS[board].platform, BOARDS[board].bitstream
    platform = platform_class()
    out = Path(build_root) / build_name(board, config, lanes)
    # -dsp: the iCE40UP's multipliers (Amaranth's script leaves them out by default)
    synth_opts = "-dsp" if platform.family == "iCE40" else ""
    router = build_router(board, config)
    # --timing-allow-fail: a build that misses the clock still gets its bitstream and report
    # (timing_met false, the Fmax it reached); it is never programmed.
    plan = platform.build(LearnerBoard(config, clock_mhz=target, **gateware), name="loco",
                          do_build=False,
                          synth_opts=synth_opts,
                          nextpnr_opts=f"--report report.json --seed {seed} "
                                       f"--router {router} --timing-allow-fail")
    # execute_local instead of build(): the ULX3S platform insists on its programmer otherwise.
    try:
        products = plan.execute_local(str(out))
    except subprocess.CalledProcessError as error:
        raise BuildError(f"the yosys/nextpnr flow failed (exit status {error.returncode}) in "
                         f"{out}: its log is above; `sh build_loco.sh` there reruns it") from None
    for stale in out.glob("seed*"):         # a seed sweep of an earlier netlist (boards.seeds)
        stale.unlink()
    report = json.loads((out / "report.json").read_text())
    fmax = nextpnr_fmax(report)
    utilisation = {kind: {"used": v["used"], "available": v["available"]}
                   for kind, v in report["utilization"].items() if v["used"]}
    result = {"board": board, "device": platform.device, "sizes": list(config.sizes),
              "rank": config.learning.rank,
              **described(gateware),
              "reduced": _REDUCED.get(board, {}),
              "clock_mhz": target, "seed": seed, "router": router, "fmax_mhz": fmax,
              "multiplier_path_ns": multiplier_path_ns(report),
              "timing_met": all(v >= target for v in fmax.values()),
              "utilisation": utilisation, "baud": BAUD,
              "bitstream": str(out / bitstream)}
    (out / "report.json").write_text(json.dumps({**result, "nextpnr": report}, indent=2))
    rows = "\n".join(f"| {kind} | {v['used']} | {v['available']} | "
                     f"{100 * v['used'] / v['available']:.0f}% |"
                     for kind, v in utilisation.items())
    (out / "report.md").write_text(
        f"# {board} ({platform.device}), network {'-'.join(map(str, config.sizes))}"
        f"{f', low-rank part rank {config.learning.rank}' if config.learning.rank else ''}\n\n"
        f"Reduced variant: {_reduced_text(board)}.\n\n"
        f"Clock {target:g} MHz, Fmax {', '.join(f'{k}: {v} MHz' for k, v in fmax.items())} "
        f"({'met' if result['timing_met'] else 'NOT met'}); UART {BAUD} baud.\n\n"
        f"| Resource | Used | Available | % |\n|---|---|---|---|\n{rows}\n")
    if program:
        if not result["timing_met"]:
            raise BuildError(f"not programming {board}: Fmax {fmax} MHz misses the "
                             f"{target:g} MHz clock (report in {out})")
        platform.toolchain_program(products, "loco")
    return result

