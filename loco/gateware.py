"""``loco board``: a learner over a serial port, or over a simulated one.

  loco board --board icebreaker --port /dev/ttyUSB1 ping
  loco board --board icebreaker --port /dev/ttyUSB1 load [--weights FILE | --seed N]
  loco board --board icebreaker --port /dev/ttyUSB1 read --out FILE
  loco board --board icebreaker --port /dev/ttyUSB1 train [--epochs N] [--verify replies|all]
  loco board --board icebreaker --port /dev/ttyUSB1 infer [--test-limit N]

``--simulate verilator|amaranth`` instead of ``--port``: the board's gateware in a simulator (it
lives for one command; ``train`` loads its initial weights itself). ``train`` keeps the golden
model in step and compares what ``--verify`` says after every sample; a board keeps the trained
weights, so ``infer`` and ``read`` afterwards see them. The digits data (sklearn) throughout.
``read`` writes a JSON file that ``load --weights`` takes back.
"""

import json
import sys
import time
from pathlib import Path

__all__ = ["add_sim_arguments", "sim", "add_board_arguments", "board", "WEIGHTS_FORMAT"]

SIMULATORS = ("verilator", "amaranth")
WEIGHTS_FORMAT = "loco-fpga learner state"      # the "format" field of `read`'s JSON file


def _positive_int(text):
    from .cli import positive_int
    return positive_int(text)


def _add_training_arguments(p, *, verify_default):
    p.add_argument("--epochs", type=_positive_int, default=1, help="epochs (default 1)")
    p.add_argument("--limit", type=_positive_int,
                   help="train only the first N samples of each shuffled epoch")
    p.add_argument("--test-limit", type=_positive_int,
                   help="infer only the first N test samples after each epoch")
    p.add_argument("--seed", type=int, default=0,
                   help="initial weights and shuffles (train_fixed_point's seed; default 0)")
    p.add_argument("--refresh", type=_positive_int, default=64,
                   help="host basis refresh period in samples (default 64)")
    p.add_argument("--verify", choices=("all", "replies"), default=verify_default,
                   help="compare after every sample: every weight, centroid and output word "
                        "(all) or the TRAIN reply's prediction and delta (replies) "
                        f"(default {verify_default})")
    p.add_argument("--name", help="run name (default: gateware-<board>)")
    p.add_argument("--runs", type=Path, default=Path("runs"), help="output root (default runs)")


def add_sim_arguments(p):
    p.add_argument("--simulator", choices=SIMULATORS, default="verilator",
                   help="Verilator (compiled, ~2 000 samples/min) or Amaranth's simulator "
                        "(~650x slower: use --limit)")
    _add_training_arguments(p, verify_default="all")


def _network(board: str):
    """The board's network and its learner's organisation (``shared_update``, ``lanes``,
    ``parallel_slots``)."""
    from boards.build import board_config, board_gateware
    config = board_config(board)
    return config, board_gateware(board, config)


def _described(gateware: dict) -> dict:
    """The organisation as the run's metrics record it (JSON: tuples as lists)."""
    from boards.build import described
    return described(gateware)


def _simulated_transport(simulator: str, config, gateware: dict):
    if simulator == "verilator":
        from cosim.verilator import VerilatorTransport
        print("compiling the gateware with Verilator (cached under build/verilator/)",
              file=sys.stderr)
        return VerilatorTransport(config, **gateware)
    from loco_sw.host import SimulationTransport
    return SimulationTransport(config, **gateware)


def _digits():
    from loco_sw.data import load_digits_split
    from loco_sw.train import to_intensity
    x, y, xt, yt = load_digits_split()
    return to_intensity(x), y, to_intensity(xt), yt


def _train(parser, args, host, config, what: dict) -> dict:
    """Train on the gateware behind ``host`` as ``args`` say; writes ``runs/<name>/``."""
    from cosim.lockstep import train_gateware
    from loco_sw.cli import write_run_dir
    from loco_sw.plots import learning_curves

    from .cli import CliError

    host.ping()
    started = time.perf_counter()
    run = train_gateware(host, config, _digits(), epochs=args.epochs, seed=args.seed,
                         limit=args.limit, test_limit=args.test_limit, refresh=args.refresh,
                         verify=args.verify, label=what["board"])
    tally, accuracy = run["tally"], run["test_accuracy_per_epoch"]
    options = {k: getattr(args, k) for k in ("epochs", "seed", "refresh", "verify", "limit",
                                             "test_limit") if getattr(args, k) is not None}
    metrics = {**what, "network": list(config.sizes), **options,
               "dataset": "sklearn digits 8x8", "samples": tally.samples,
               "words_compared": tally.words_compared,
               "mismatched_words": tally.mismatched_words,
               "first_mismatch": tally.first_mismatch,
               "test_accuracy_per_epoch": [round(a, 4) for a in accuracy],
               "cycles_per_training_sample": round(sum(tally.train_cycles) / tally.samples),
               "cycles_per_inference": round(sum(tally.infer_cycles) / len(tally.infer_cycles)),
               "seconds": round(time.perf_counter() - started, 1)}
    run_dir = args.runs / (args.name or f"gateware-{what['board']}")

    def write(folder):
        (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
        learning_curves({f"fixed-point LOCO on the gateware ({what['board']})":
                         {"epoch": list(range(len(accuracy))), "test_accuracy": accuracy}},
                        folder / "gateware.png",
                        title=f"digits, {'-'.join(map(str, config.sizes))}")

    write_run_dir(run_dir, write)
    print(json.dumps({**{k: metrics[k] for k in ("board", "samples", "mismatched_words",
                                                 "test_accuracy_per_epoch")},
                      "run_dir": str(run_dir)}))
    if tally.mismatched_words:
        raise CliError(f"the gateware differs from the golden model: {tally.first_mismatch} "
                       f"(see {run_dir / 'metrics.json'})")
    return metrics


def sim(parser, args) -> dict:
    """Fixed-point LOCO trained on the board's gateware in a simulator, bit-exact: the golden
    model in lockstep (every weight, centroid and output word compared after every sample with
    --verify all), the test set inferred on the gateware after every epoch. Writes
    runs/<name>/metrics.json and gateware.png."""
    from loco_sw.cli import check_run_name
    from loco_sw.host import LearnerHost
    check_run_name(parser, args)
    config, gateware = _network(args.board)
    transport = _simulated_transport(args.simulator, config, gateware)
    return _train(parser, args, LearnerHost(transport, config), config,
                  {"board": args.board, "simulator": args.simulator, **_described(gateware)})


def add_board_arguments(p):
    where = p.add_mutually_exclusive_group()
    where.add_argument("--port", help="serial port of the board, e.g. /dev/ttyUSB1")
    where.add_argument("--simulate", choices=SIMULATORS,
                       help="no board: the gateware in this simulator")
    p.add_argument("--baud", type=_positive_int, default=115200,
                   help="with --port (default 115200, the bitstream's)")
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("ping", help="check that the board runs this --board's gateware")
    load = actions.add_parser("load", help="write weights: a seed's initial ones or a file")
    source = load.add_mutually_exclusive_group()
    source.add_argument("--weights", type=Path, help="a JSON file written by `read`")
    source.add_argument("--seed", type=int, default=0,
                        help="the golden model's initial weights of this seed (default 0)")
    read = actions.add_parser("read", help="read weights, centroids, bases and counters")
    read.add_argument("--out", type=Path, required=True, help="JSON file to write")
    train = actions.add_parser("train", help="train on digits (its initial weights loaded "
                                             "first), golden model in step -> runs/<name>/")
    _add_training_arguments(train, verify_default="replies")
    infer = actions.add_parser("infer", help="test accuracy of the weights the board holds")
    infer.add_argument("--test-limit", type=_positive_int, help="only the first N test samples")
    p.set_defaults(action_parsers=actions.choices)


def _read_weights_file(path: Path, config) -> list:
    """The per-layer weight words of a ``read`` file, checked against ``config``."""
    from .cli import CliError
    try:
        state = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CliError(f"{path} cannot be read as JSON: {error}") from None
    if not isinstance(state, dict) or state.get("format") != WEIGHTS_FORMAT:
        raise CliError(f"{path} is not a file written by `loco board read`")
    if state.get("sizes") != list(config.sizes):
        raise CliError(f"{path} holds a {state.get('sizes')} network, the board "
                       f"{list(config.sizes)}")
    weights = state.get("weights")
    if not isinstance(weights, list) or len(weights) != config.layers:
        raise CliError(f"{path}: 'weights' must hold {config.layers} layers")
    return weights


def board(parser, args, *, transport=None):
    """Run one ``loco board`` action; ``transport`` replaces the port/simulator (tests)."""
    from loco_sw.cli import check_run_name
    from loco_sw.host import LearnerHost, SerialTransport

    config, gateware = _network(args.board)
    action_parser = args.action_parsers[args.action]
    if transport is None and args.port is None and args.simulate is None:
        parser.error("give --port (a board) or --simulate (a simulated one)")
    if args.port is None and args.baud != 115200:
        parser.error("--baud applies to --port only")
    weights = None
    if args.action == "load" and args.weights is not None:
        weights = _read_weights_file(args.weights, config)
    if args.action == "read" and (args.out.is_dir() or not args.out.parent.is_dir()):
        action_parser.error(f"--out {args.out} must be a file in an existing directory")
    if args.action == "train":
        check_run_name(action_parser, args)
    if transport is None:
        transport = SerialTransport(args.port, args.baud) if args.port else \
            _simulated_transport(args.simulate, config, gateware)
    host = LearnerHost(transport, config)
    return _ACTIONS[args.action](action_parser, args, host, config, weights=weights,
                                 gateware=gateware)


def _ping(parser, args, host, config, **_):
    identity = host.ping()
    result = {"board": args.board, "identity": identity.hex(), "sizes": list(config.sizes),
              "timesteps": config.timesteps, "clusters": config.clusters,
              "rank": config.learning.rank}
    print(json.dumps(result))
    return result


def _load(parser, args, host, config, *, weights, **_):
    from loco_sw.golden import init_state
    host.ping()
    if weights is None:
        weights = [w.flatten().tolist() for w in init_state(config, seed=args.seed).master]
    for layer, words in enumerate(weights):
        host.write_weights(layer, words)
    result = {"board": args.board, "loaded": str(args.weights) if args.weights
              else f"initial weights of seed {args.seed}",
              "words": sum(len(words) for words in weights)}
    print(json.dumps(result))
    return result


def _read(parser, args, host, config, **_):
    host.ping()
    state = {"format": WEIGHTS_FORMAT, "board": args.board, "sizes": list(config.sizes),
             "weights": [host.read_weights(k) for k in range(config.layers)],
             "centroids": [host.read_centroids(k) for k in range(config.layers)],
             "bases": [host.read_basis(k) for k in range(config.layers)],
             "counters": host.counters()}
    partial = args.out.with_name(f".{args.out.name}.partial")
    partial.write_text(json.dumps(state))
    partial.replace(args.out)
    print(json.dumps({"board": args.board, "out": str(args.out),
                      "weight_words": sum(map(len, state["weights"]))}))
    return state


def _board_train(parser, args, host, config, *, gateware, **_):
    where = {"port": args.port} if args.port else {"simulator": args.simulate or "given"}
    return _train(parser, args, host, config, {"board": args.board, **where,
                                               **_described(gateware)})


def _infer(parser, args, host, config, **_):
    from hw.formats import TEST_INDEX_BASE
    host.ping()
    _, _, x_test, y_test = _digits()
    x_test, y_test = x_test[:args.test_limit], y_test[:args.test_limit]
    predictions = [host.infer_sample(TEST_INDEX_BASE + k, intensity.tolist())
                   for k, intensity in enumerate(x_test)]
    correct = sum(int(p == int(label)) for p, label in zip(predictions, y_test, strict=True))
    result = {"board": args.board, "test_samples": len(predictions),
              "test_accuracy": round(correct / len(predictions), 4)}
    print(json.dumps(result))
    return {**result, "predictions": predictions}


_ACTIONS = {"ping": _ping, "load": _load, "read": _read, "train": _board_train, "infer": _infer}
