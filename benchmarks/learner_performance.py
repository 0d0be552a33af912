"""On-chip learner performance: the default size (64-32-10, T=16, C=10) on digits, for both
boards' organisations, and the MNIST-size build (784-128-10 on the ULX3S) on MNIST.

Trains one whole digits epoch (shuffled, host basis refresh every 64 samples; ``--mnist-limit``
MNIST samples for the MNIST-size network) on the learner compiled by Verilator, reading each
TRAIN reply's cycle count (the gateware's own counter), then INFERs the test set; converts the
averages to samples/s at the learner's clock (the build's PLL clock, read with the achieved
Fmax from ``build/<build>/report.json`` when ``loco build`` has run; else the board's default
clock) and at the achieved Fmax.

Beside the measured cycles, two models of the same samples (:mod:`cosim.performance`; the
golden model trained in step gives each sample's spike counts and updated rows): the analytic
estimate from the blocks' cycle formulas, and the memory-port bound (the busiest layer weight
memory's accesses at one a cycle); ``cycles / bound`` is how close the design is to what its
own memory organisation allows.

``python benchmarks/learner_performance.py [--limit N]`` writes
``build/benchmarks/learner_performance.json``: per board (``icebreaker``, ``ulx3s-85f``,
``ulx3s-85f-784-128-10``) ``cycles_per_training_sample``,
``cycles_per_inference``, ``analytic_cycles_per_training_sample`` (and its
``analytic_phases``, :func:`cosim.performance.analytic_phases`), ``port_bound_cycles``,
``cycles_over_port_bound``, ``clock_mhz``, ``fmax_mhz``, ``samples_per_s`` (at the clock) and
``samples_per_s_at_fmax``; ``waves``: per stage of the waves (encoder, signs, each layer:
:func:`cosim.performance.wave_stages`) its mean cycles in a wave it runs in and the waves a
sample it sets the pace of (the slowest; a tie counts for the first listed); and
``what_if_encoder_inputs_per_cycle``: the analytic model of the
same samples with an encoder of 4 (or 8) inputs a cycle, everything else as built (a design
that does not exist: where the waves' pace would move), and its ratio to the port bound;
``what_if_pipelined_neurons``: the same with a fully pipelined neuron loop (``a + 1`` cycles a
neuron's pass, no last-add and FIRE cycles: ``neuron_overhead=0``), with the built encoder and
with one of 4 inputs a cycle.
"""

import argparse
import json
import statistics

import torch
from _common import ROOT, print_table, write_json

from cosim.lockstep import epoch_stream, load_weights
from cosim.performance import analytic_cycles, analytic_phases, port_bound, wave_stages, workload
from cosim.verilator import VerilatorTransport
from hw.learner import LearnerCore
from hw.formats import DEFAULT_NETWORK as NET
from hw.formats import ENCODER_SEED, TEST_INDEX_BASE
from boards.build import board_clock, board_config, board_gateware, build_name, described
from loco_sw.data import load_digits_split, load_mnist5k
from loco_sw.golden import init_state, refresh_bases, sample_seed, train_step
from loco_sw.host import LearnerHost
from loco_sw.train import to_intensity

# the device of each board (the organisation is boards.build's: board_gateware)
BOARDS = {"icebreaker": "iCE40UP5K", "ulx3s-85f": "ECP5-85F"}


REFRESH = 64
# Encoders modelled beside the built one (inputs a cycle)
WHAT_IF_ENCODERS = (4, 8)
# ... and, beside the built one, with a pipelined neuron loop
WHAT_IF_PIPELINED_ENCODERS = (4,)
# The MNIST-size network on the ECP5-85F (`loco build --board ulx3s-85f --sizes 784,128,10`)
MNIST_BOARD, MNIST_SIZES = "ulx3s-85f", (784, 128, 10)


def builds(limit, mnist_limit) -> list:
    """Every build measured: (build name, board, network, dataset, its loader, samples per
    phase)."""
    mnist = board_config(MNIST_BOARD, MNIST_SIZES)
    return [(board, board, NET, "digits", load_digits_split, limit) for board in BOARDS] + \
        [(build_name(MNIST_BOARD, mnist), MNIST_BOARD, mnist, "mnist5k", load_mnist5k,
          mnist_limit)]


def measure(net, gateware: dict, data, limit) -> dict:
    """Cycles of every training sample of one epoch and of every test inference, and each
    training sample's analytic cycles and port bound."""
    x, y, xt, _ = data
    host = LearnerHost(VerilatorTransport(net, **gateware), net)
    host.ping()
    state = init_state(net, seed=1)
    load_weights(host, state)
    train, phases, bound, waves = [], [], [], []
    what_if = {inputs: [] for inputs in WHAT_IF_ENCODERS}
    built_encoder = LearnerCore.inputs_per_cycle(net, gateware["lanes"])
    pipelined = {inputs: [] for inputs in (built_encoder, *WHAT_IF_PIPELINED_ENCODERS)}
    for step, intensity, label in epoch_stream(x, y, torch.Generator().manual_seed(1), 0, limit):
        if step % REFRESH == 0:
            host.refresh_bases()
            refresh_bases(net, state)
        train.append(host.train_sample(step, intensity.tolist(), label)["cycles"])
        work = workload(train_step(net, state, intensity, label, step))
        phases.append(analytic_phases(net, work, gateware))
        bound.append(port_bound(net, work, gateware))
        waves.append(wave_stages(net, work, gateware))
        for inputs, cycles in what_if.items():
            cycles.append(analytic_cycles(net, work, gateware, inputs_per_cycle=inputs))
        for inputs, cycles in pipelined.items():
            cycles.append(analytic_cycles(net, work, gateware, inputs_per_cycle=inputs,
                                          neuron_overhead=0))
    infer = []
    for k, intensity in enumerate(xt[:limit]):
        host.write_input(intensity.tolist())
        infer.append(host.infer(sample_seed(ENCODER_SEED, TEST_INDEX_BASE + k))["cycles"])
    return {"train": train, "infer": infer, "phases": phases,
            "analytic": [sum(phase.values()) for phase in phases], "bound": bound,
            "waves": waves, "what_if": what_if, "pipelined": pipelined}


def wave_summary(samples) -> dict:
    """Per stage of the waves, over ``samples`` (each a :func:`wave_stages` list): its mean
    cycles in a wave it runs in, and the mean waves a sample it sets the pace of."""
    cycles, paced = {}, {}
    for waves in samples:
        for stages in waves:
            for stage, length in stages.items():
                cycles.setdefault(stage, []).append(length)
                paced.setdefault(stage, 0)
            paced[max(stages, key=stages.get)] += 1
    return {stage: {"cycles_per_wave": statistics.fmean(cycles[stage]),
                    "waves_paced_per_sample": paced[stage] / len(samples)}
            for stage in cycles}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=None,
                        help="samples per phase (default: the whole epoch and test set)")
    parser.add_argument("--mnist-limit", type=int, default=100,
                        help="samples per phase of the MNIST-size build (default 100)")
    args = parser.parse_args()

    rows, boards = [], {}
    for name, board, net, dataset, loader, limit in builds(args.limit, args.mnist_limit):
        device = BOARDS[board]
        gateware = board_gateware(board, net)
        shared = gateware["shared_update"]
        x, y, xt, yt = loader()
        run = measure(net, gateware, (to_intensity(x), y, to_intensity(xt), yt), limit)
        train_cycles, analytic = statistics.fmean(run["train"]), statistics.fmean(run["analytic"])
        bound = statistics.fmean(run["bound"])
        what_if = {inputs: statistics.fmean(cycles) for inputs, cycles in run["what_if"].items()}
        pipelined = {inputs: statistics.fmean(cycles)
                     for inputs, cycles in run["pipelined"].items()}
        infer_cycles = statistics.fmean(run["infer"])
        report = ROOT / "build" / name / "report.json"
        built = json.loads(report.read_text()) if report.exists() else {}
        fmax = min(built["fmax_mhz"].values()) if "fmax_mhz" in built else None
        clock = built.get("clock_mhz", board_clock(board, config=net))
        boards[name] = {
            "device": device, "network": list(net.sizes), **described(gateware),
            "dataset": dataset,
            "training_samples": len(run["train"]), "inferences": len(run["infer"]),
            "cycles_per_training_sample": train_cycles,
            "training_cycles_min_max": [min(run["train"]), max(run["train"])],
            "cycles_per_inference": infer_cycles,
            "analytic_cycles_per_training_sample": analytic,
            "analytic_over_measured": analytic / train_cycles,
            "analytic_phases": {phase: statistics.fmean(one[phase] for one in run["phases"])
                                for phase in run["phases"][0]},
            "port_bound_cycles": bound, "cycles_over_port_bound": train_cycles / bound,
            "waves": wave_summary(run["waves"]),
            "clock_mhz": clock, "fmax_mhz": fmax,
            "samples_per_s": clock * 1e6 / train_cycles,
            "samples_per_s_at_fmax": fmax * 1e6 / train_cycles if fmax else None,
            "inferences_per_s": clock * 1e6 / infer_cycles,
            "what_if_encoder_inputs_per_cycle": {
                str(inputs): {"analytic_cycles_per_training_sample": cycles,
                              "over_port_bound": cycles / bound}
                for inputs, cycles in what_if.items()},
            "what_if_pipelined_neurons": {
                str(inputs): {"analytic_cycles_per_training_sample": cycles,
                              "over_port_bound": cycles / bound}
                for inputs, cycles in pipelined.items()}}
        at_once = [str(layer) for layer, on in enumerate(gateware["parallel_slots"]) if on]
        rows.append([name, "shared" if shared else "per layer", ",".join(at_once) or "-",
                     ",".join(map(str, gateware["lanes"])), f"{train_cycles:.0f}",
                     f"{analytic:.0f}", f"{bound:.0f}", f"{train_cycles / bound:.2f}",
                     f"{clock:g}", f"{fmax:.2f}" if fmax else "not built",
                     f"{clock * 1e6 / train_cycles:.0f}",
                     f"{fmax * 1e6 / train_cycles:.0f}" if fmax else "-"])
    print_table(["board", "update units", "slots at once", "lanes", "cycles/sample", "analytic",
                 "port bound", "cycles / bound", "clock MHz", "Fmax MHz", "samples/s @clock",
                 "samples/s @Fmax"], rows)
    print_table(["board", "cycles/sample (model)",
                 *(f"{inputs}-input encoder (model)" for inputs in WHAT_IF_ENCODERS),
                 *(f"{inputs}-input / bound" for inputs in WHAT_IF_ENCODERS)],
                [[name, f"{one['analytic_cycles_per_training_sample']:.0f}",
                  *(f"{what['analytic_cycles_per_training_sample']:.0f}"
                    for what in one["what_if_encoder_inputs_per_cycle"].values()),
                  *(f"{what['over_port_bound']:.2f}"
                    for what in one["what_if_encoder_inputs_per_cycle"].values())]
                 for name, one in boards.items()])
    print_table(["board", "pipelined neurons, encoder inputs a cycle", "cycles/sample (model)",
                 "/ bound"],
                [[name, inputs, f"{what['analytic_cycles_per_training_sample']:.0f}",
                  f"{what['over_port_bound']:.2f}"]
                 for name, one in boards.items()
                 for inputs, what in one["what_if_pipelined_neurons"].items()])
    print_table(["board", "wave stage", "cycles a wave (mean)", "waves it paces a sample"],
                [[name, stage, f"{one['cycles_per_wave']:.1f}",
                  f"{one['waves_paced_per_sample']:.1f}"]
                 for name, board in boards.items() for stage, one in board["waves"].items()])
    write_json("learner_performance", {
        "network": list(NET.sizes), "timesteps": NET.timesteps, "clusters": NET.clusters,
        "boards": boards})


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
