"""``loco``: the one command line of loco-fpga.

Subcommands (``loco <subcommand> --help`` for each):

``train``    train a network in software (float LOCO/NP/DFA/BP, or ``--fixed-point``: the
             bit-exact golden model) -> ``runs/<name>/``
``sim``      train and infer on the simulated gateware (Verilator or Amaranth's simulator), the
             golden model in lockstep -> ``runs/<name>/``
``build``    place, route and pack a board's bitstream -> ``build/<board>/``
``program``  build and load it onto the board
``report``   the one-page report of a build -> ``build/<board>/report.{md,json}``
``seeds``    place and route a build's netlist with more nextpnr seeds -> ``seeds.json``
``board``    talk to a learner over a serial port (or a simulated one): ping, load, read,
             train, infer

Arguments are checked before any work starts; an error is one line on stderr and exit code 2.
"""

import argparse
import json
import sys

from hw.formats import DEFAULT_NETWORK

__all__ = ["main", "run_command", "build_parser", "CliError"]

BOARD_NAMES = ("icebreaker", "ulx3s-85f")      # boards.build.BOARDS, without importing Amaranth


class CliError(Exception):
    """A problem the user can fix, said in one line (exit code 2)."""


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line (``loco sim: error: ...``, exit code 2); ``--help`` has the
    usage."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def int_list(text: str) -> list:
    """``64,32,10`` -> ``[64, 32, 10]``."""
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of "
                                         f"integers") from None


def _add_board(parser, *, required=True):
    parser.add_argument("--board", choices=BOARD_NAMES, required=required,
                        default=None if required else "ulx3s-85f",
                        help="icebreaker (iCE40UP5K, one shared update unit, no step-size "
                             "schedule) or ulx3s-85f (ECP5-85F, a unit per layer)"
                             + ("" if required else "; default ulx3s-85f"))


def _add_build_network(parser):
    """``--sizes``, ``--rank`` and ``--lanes`` of a subcommand that works on an existing
    build."""
    parser.add_argument("--sizes", type=int_list,
                        help="the network of the build (as given to `loco build`; default the "
                             "board's)")
    parser.add_argument("--rank", type=int,
                        help="the build's low-rank part (as given to `loco build`; default off)")
    parser.add_argument("--lanes", type=int_list,
                        help="the build's neuron lanes per layer (as given to `loco build`; "
                             "default the board's)")


def build_parser() -> argparse.ArgumentParser:
    from loco_sw import cli as train_cli

    from . import gateware

    parser = _Parser(
        prog="loco", description="loco-fpga: LOCO on-chip learning, from software training to "
                                "the board.",
        epilog="Subcommands: " + ", ".join(("train", "sim", "build", "program", "report", "seeds",
                                            "board")) + ". Each has --help.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="SUBCOMMAND")

    p = sub.add_parser("train", help="train in software -> runs/<name>/",
                       description=train_cli.__doc__)
    train_cli.add_arguments(p)
    p.set_defaults(run=train_cli.run)

    p = sub.add_parser("sim", help="train/infer on the simulated gateware, golden in lockstep",
                       description=gateware.sim.__doc__)
    _add_board(p, required=False)
    gateware.add_sim_arguments(p)
    p.set_defaults(run=gateware.sim)

    for name, text in (("build", "place, route and pack BOARD's bitstream -> build/<board>/"),
                       ("program", "build BOARD's bitstream and load it onto the board")):
        p = sub.add_parser(name, help=text, description=text)
        _add_board(p)
        p.add_argument("--sizes", type=int_list,
                       help=f"layer sizes (default {','.join(map(str, DEFAULT_NETWORK.sizes))})")
        p.add_argument("--rank", type=int, help="low-rank part on, rank R (default: off)")
        p.add_argument("--lanes", type=int_list,
                       help="neuron lanes per layer, e.g. 16,5: fewer take more cycles and "
                            "less logic (default: the board's, ulx3s-85f 32,10 for 64-32-10, "
                            "icebreaker 1,1); the build goes to build/<board>-lanes<a>-<b>/")
        p.add_argument("--clock", type=float, metavar="MHZ",
                       help="the learner's clock from the PLL (default: the board's, "
                            "icebreaker 18, ulx3s-85f 40)")
        p.add_argument("--seed", type=positive_int,
                       help="nextpnr's placement seed (default 1; 3 for the ulx3s-85f's "
                            "default network, placed with seed 3 and routed with router2: "
                            "with nextpnr's default router it does not route)")
        p.set_defaults(run=_build, program=name == "program")

    p = sub.add_parser("report", help="one-page report of BOARD's build (after `loco build`)",
                       description="Bit-exact lockstep co-simulation of the build's network, "
                                   "cycles, timing, utilisation, accuracy -> "
                                   "build/<board>/report.{md,json}")
    _add_board(p)
    _add_build_network(p)
    p.add_argument("--samples", type=positive_int, default=200,
                   help="samples trained in lockstep (default 200; digits for 64 inputs, "
                        "MNIST for 784)")
    p.set_defaults(run=_report)

    p = sub.add_parser("seeds", help="place and route BOARD's netlist with more nextpnr seeds",
                       description="Rerun the build's nextpnr on its netlist with other seeds "
                                   "(the bitstream untouched) -> build/<board>/seeds.json")
    _add_board(p)
    _add_build_network(p)
    p.add_argument("--seeds", type=int_list, default=[2, 3, 4, 5],
                   help="nextpnr seeds besides the build's own (default 2,3,4,5)")
    p.set_defaults(run=_seeds)

    p = sub.add_parser("board", help="ping / load / read / train / infer a learner over a "
                                     "serial port (or a simulated one)",
                       description=gateware.__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_board(p)
    gateware.add_board_arguments(p)
    for p in sub.choices.values():           # errors are reported by the subcommand's parser
        p.set_defaults(subparser=p)
    return parser


def _build(parser, args):
    from boards.build import board_clock, board_config, build_board
    if args.sizes is not None and (len(args.sizes) < 2 or min(args.sizes) < 1):
        parser.error(f"--sizes needs at least two positive sizes, not {args.sizes}")
    _check_rank(parser, args)
    config = board_config(args.board, args.sizes, args.rank)
    _check_lanes(parser, args, config)
    try:
        clock = board_clock(args.board, args.clock, config)
    except ValueError as error:
        parser.error(f"--clock: {error}")
    from pathlib import Path
    result = build_board(args.board, args.sizes, rank=args.rank, lanes=args.lanes,
                         clock_mhz=clock, seed=args.seed, program=args.program)
    print((Path(result["bitstream"]).parent / "report.md").read_text())
    print(json.dumps({k: result[k] for k in ("board", "fmax_mhz", "timing_met", "bitstream")}))
    return result


def _check_rank(parser, args):
    if args.rank is not None and args.rank < 1:
        parser.error(f"--rank must be at least 1, not {args.rank}")


def _check_lanes(parser, args, config):
    """``--lanes``: one count per layer of ``config``, none leaving a lane without neurons."""
    from boards.build import board_gateware
    if args.lanes is not None:
        try:
            board_gateware(args.board, config, args.lanes)
        except ValueError as error:
            parser.error(f"--lanes: {error}")


def _report(parser, args):
    from boards.build import board_config, build_name
    from boards.report import ROOT, board_report
    _check_rank(parser, args)
    config = board_config(args.board, args.sizes, args.rank)
    _check_lanes(parser, args, config)
    result = board_report(args.board, sizes=args.sizes, rank=args.rank, lanes=args.lanes,
                          samples=args.samples)
    name = build_name(args.board, config, args.lanes)
    print((ROOT / "build" / name / "report.md").read_text())
    return result


def _seeds(parser, args):
    from boards.build import board_config
    from boards.seeds import seed_sweep
    _check_rank(parser, args)
    _check_lanes(parser, args, board_config(args.board, args.sizes, args.rank))
    if min(args.seeds) < 1:
        parser.error(f"--seeds must be positive, not {args.seeds}")
    result = seed_sweep(args.board, args.seeds, sizes=args.sizes, rank=args.rank,
                        lanes=args.lanes)
    for seed, fmax in result["fmax_mhz"].items():
        print(f"seed {seed}: {fmax:6.2f} MHz ({'met' if result['met'][seed] else 'NOT met'} "
              f"at {result['clock_mhz']:g} MHz)")
    low, mean, high = result["fmax_min_mean_max"]
    print(f"Fmax min / mean / max: {low:.2f} / {mean:.2f} / {high:.2f} MHz")
    return result


def _user_errors() -> tuple:
    """The exceptions that describe a problem with the user's input or setup (one line each);
    anything else is a bug and keeps its traceback."""
    from boards.build import BuildError
    from boards.report import ReportError
    from boards.seeds import SeedSweepError
    from cosim.verilator import VerilatorError
    from loco_sw.data import DataError
    from loco_sw.host import ProtocolError
    return (CliError, ValueError, OSError, DataError, ProtocolError, BuildError, ReportError,
            SeedSweepError, VerilatorError)


def main(argv=None) -> None:
    """The ``loco`` console script."""
    run_command(argv)


def run_command(argv=None, *, transport=None):
    """Run one subcommand; returns its result (what it printed, as data). ``transport``: the
    byte transport ``loco board`` talks through instead of opening one (tests hand it a
    simulated board that lives across calls)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    subparser = args.subparser
    try:
        if args.command == "board":
            from . import gateware
            return gateware.board(subparser, args, transport=transport)
        return args.run(subparser, args)
    except _user_errors() as error:
        subparser.exit(2, f"{subparser.prog}: error: {error}\n")
    except KeyboardInterrupt:
        subparser.exit(130, f"{subparser.prog}: interrupted\n")


if __name__ == "__main__":
    main(sys.argv[1:])
