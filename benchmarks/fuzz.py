"""Protocol fuzzing at scale: ≥ 100 000 seeded frames against the compiled gateware.

Each frame (a valid request, a mutated one, or random bytes) is followed by the frame timeout's
idle gap; every reply byte is compared with :class:`cosim.fuzz.ProtocolReference`, then the
device must answer PING and every weight, basis and centroid word must equal the reference's
(see ``docs/protocol.md``). ``make test`` runs 10 000 of these; this runs the long tally.

``python benchmarks/fuzz.py [--frames 100000] [--seed 0] [--network small|default]`` writes
``build/benchmarks/fuzz.json``: frames by kind, commands run and errors by name, bytes and words
compared, and the failure counts (reply mismatches, silent corruptions, PING failures).
"""

import argparse
import dataclasses
import sys
import time

from _common import positive_int, print_table, write_json
from tqdm import tqdm

from cosim.fuzz import fuzz
from cosim.verilator import VerilatorTransport
from hw.formats import DEFAULT_NETWORK

NETWORKS = {
    "small": dataclasses.replace(DEFAULT_NETWORK, sizes=(12, 6, 4), timesteps=8, clusters=4),
    "default": DEFAULT_NETWORK,
}
TIMEOUT_CYCLES = 64


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=positive_int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--network", choices=NETWORKS, default="small",
                        help="small: 12-6-4, T 8 (fast); default: 64-32-10")
    args = parser.parse_args(argv)
    config = NETWORKS[args.network]
    transport = VerilatorTransport(config, timeout_cycles=TIMEOUT_CYCLES,
                                   max_cycles_per_read=1_000_000)
    bar = tqdm(total=args.frames, unit="frame", file=sys.stderr, mininterval=1)
    started = time.monotonic()
    tally = fuzz(transport, config, args.frames, seed=args.seed, progress=lambda: bar.update())
    bar.close()
    seconds = time.monotonic() - started
    print_table(["outcome", "count"], sorted(tally.outcomes.items()))
    print(f"{tally.frames} frames ({dict(tally.kinds)}) in {seconds:.0f} s: "
          f"{tally.reply_bytes_compared} reply bytes and {tally.words_compared} stored words "
          f"compared; reply mismatches {tally.reply_mismatches}, silent corruptions "
          f"{tally.silent_corruptions}, PING failures {tally.ping_failures}")
    for failure in tally.failures:
        print("  ", failure)
    write_json("fuzz", {"network": args.network, "sizes": list(config.sizes),
                        "seed": args.seed, "timeout_cycles": TIMEOUT_CYCLES,
                        "seconds": round(seconds, 1), **tally.to_json()})
    return 0 if tally.clean else 1


if __name__ == "__main__":
    sys.exit(main())
