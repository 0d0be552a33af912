"""Running an Amaranth testbench (the bench verbs are in :mod:`cosim.amaranth_benches`)."""

import os
from pathlib import Path

from amaranth.sim import Simulator


__all__ = ["WAVES_DIR", "run_simulation"]

WAVES_DIR = Path(__file__).resolve().parent.parent / "build" / "waves"


def run_simulation(dut, *testbenches, processes=(), name, clk_period=1e-6):
    """Run ``testbenches`` against ``dut`` on one ``sync`` clock until all of them return.

    ``processes`` run alongside and are not waited for; ``clk_period=None``: no clock (a
    combinational ``dut``). ``LOCO_WAVES=1`` records the run into ``build/waves/<name>.vcd``.
    """
    sim = Simulator(dut)
    if clk_period is not None:
        sim.add_clock(clk_period)
    for testbench in testbenches:
        sim.add_testbench(testbench)
    for process in processes:
        sim.add_testbench(process, background=True)
    if os.environ.get("LOCO_WAVES") == "1":
        WAVES_DIR.mkdir(parents=True, exist_ok=True)
        with sim.write_vcd(str(WAVES_DIR / f"{name}.vcd")):  # 0.5 wants a str, not a Path
            sim.run()
    else:
        sim.run()
