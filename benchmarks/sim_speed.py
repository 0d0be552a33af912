"""Simulator speed on the learner workload: Amaranth's simulator, cocotb + Icarus, Verilator.

One workload for all: the default 64-32-10 learner trains online on the same random samples
(``cosim.vectors.learner_vectors``, bases refreshed every 4 samples) and after every sample all
2 410 master weight words are read back and compared with the golden model. Amaranth and
cocotb + Icarus run the learner bench on ``LearnerCore`` (weights read through its port, one
word a cycle); the compiled model runs the same samples through ``LearnerHost`` and the byte
protocol of ``HostInterface`` (a heavier read-back: ≈ 5 cycles a word), and Amaranth is also
timed on that protocol workload (``SimulationTransport``). Each rate is
``(n_long - n_short) / (t_long - t_short)`` over two runs, so start-up (Verilog conversion,
compiling, golden vectors) is left out and reported apart.

``python benchmarks/sim_speed.py [--short 1 --long 3 --compiled 300]`` writes
``build/benchmarks/sim_speed.json``.
"""

import argparse
import time

from _common import print_table, write_json

from cosim.amaranth_benches import check_learner
from cosim.runner import run_cocotb
from cosim.vectors import learner_vectors
from cosim.verilator import VerilatorTransport, compile_learner, verilator_version
from hw.formats import DEFAULT_NETWORK as NET
from hw.learner import LearnerCore
from loco_sw.host import LearnerHost, SimulationTransport

SEED, REFRESH = 1, 4


def protocol_run(transport, vectors) -> float:
    """Train ``vectors`` through the byte protocol, every weight word checked; seconds taken."""
    host = LearnerHost(transport, NET)
    host.ping()
    for layer, words in enumerate(vectors["init"]):
        host.write_weights(layer, words)
    started = time.perf_counter()
    for index, sample in enumerate(vectors["samples"]):
        for layer, words in enumerate(sample["bases"] or []):
            host.write_basis(layer, words)
        host.write_input(sample["intensity"])
        reply = host.train(sample["label"], sample["encoder_seed"], sample["perturb_seed"])
        assert reply["delta"] == sample["delta"], f"sample {index}: delta"
        for layer, want in enumerate(sample["weights"]):
            assert host.read_weights(layer) == want, f"sample {index} layer {layer}: weights"
    return time.perf_counter() - started


def amaranth_core(vectors):
    started = time.perf_counter()
    check_learner(NET, vectors, name="sim-speed")
    return time.perf_counter() - started


def amaranth_protocol(vectors):
    return protocol_run(SimulationTransport(NET), vectors)


def cocotb_core(vectors):
    samples = len(vectors["samples"])
    env = {"LOCO_CONFIG": NET.to_json(), "LOCO_LAYER": "0", "LOCO_SEED": str(SEED),
           "LOCO_COUNT": str(samples), "LOCO_REFRESH": str(REFRESH),
           "COCOTB_TEST_FILTER": "learner_matches_golden"}
    started = time.perf_counter()
    run_cocotb(LearnerCore(NET), toplevel="learner", bench="cosim.tb_blocks",
               tag=f"speed{samples}", extra_env=env)
    return time.perf_counter() - started


def verilator_protocol(vectors):
    return protocol_run(VerilatorTransport(NET), vectors)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", type=int, default=1, help="samples in the short run")
    parser.add_argument("--long", type=int, default=3, help="samples in the long run (slow sims)")
    parser.add_argument("--compiled", type=int, default=300, help="long run on Verilator")
    args = parser.parse_args(argv)
    if not 1 <= args.short < args.long or args.compiled <= args.short:
        parser.error("need 1 <= --short < --long and --short < --compiled")
    started = time.perf_counter()
    compile_learner(NET)
    build_s = time.perf_counter() - started
    simulators = {
        "amaranth (LearnerCore bench)": (amaranth_core, args.long),
        "cocotb + icarus (LearnerCore bench)": (cocotb_core, args.long),
        "amaranth (byte protocol)": (amaranth_protocol, args.long),
        "verilator (byte protocol)": (verilator_protocol, args.compiled),
    }
    results = {}
    for name, (run, long) in simulators.items():
        times = {}
        for samples in (args.short, long):
            vectors = learner_vectors(NET, samples=samples, seed=SEED, refresh=REFRESH)
            times[samples] = run(vectors)
            print(f"{name}: {samples} samples in {times[samples]:.2f} s", flush=True)
        rate = (long - args.short) / (times[long] - times[args.short])
        results[name] = {"samples": [args.short, long],
                         "seconds": [round(times[args.short], 3), round(times[long], 3)],
                         "samples_per_s": round(rate, 3),
                         "startup_s": round(max(0.0, times[args.short] - args.short / rate), 2)}
    base = results["amaranth (LearnerCore bench)"]["samples_per_s"]
    for result in results.values():
        result["vs_amaranth"] = round(result["samples_per_s"] / base, 1)
    print_table(["simulator", "training samples/s (with read-back)", "× Amaranth", "start-up s"],
                [[name, r["samples_per_s"], r["vs_amaranth"], r["startup_s"]]
                 for name, r in results.items()])
    write_json("sim_speed", {"workload": "64-32-10 learner, online LOCO, every master weight "
                                         "word read back and compared after every sample",
                             "verilator": verilator_version(),
                             "verilator_build_s_or_cached": round(build_s, 1),
                             "simulators": results})


if __name__ == "__main__":
    main()
