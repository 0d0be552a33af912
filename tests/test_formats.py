import dataclasses

import pytest

from hw.formats import (DEFAULT_NETWORK, LearningConfig, LIFConfig, NetworkConfig, QFormat,
                        round_shift)


def test_qformat_ranges():
    fmt = QFormat(4, 12)
    assert (fmt.width, fmt.min_raw, fmt.max_raw, fmt.one, str(fmt)) == \
        (16, -32768, 32767, 4096, "Q4.12")
    assert fmt.from_float(100.0) == 32767 and fmt.from_float(-100.0) == -32768
    assert fmt.to_float(fmt.from_float(0.25)) == 0.25


@pytest.mark.parametrize("value, shift, want", [
    (5, 1, 3), (-5, 1, -2), (4, 2, 1), (6, 2, 2), (-6, 2, -1), (-7, 2, -2), (7, 0, 7),
])
def test_round_shift_rounds_half_up(value, shift, want):
    assert round_shift(value, shift) == want


@pytest.mark.parametrize("args, message", [
    ((0, 4), r"^Integer bits must be an integer >= 1, not 0$"),
    ((4, -1), r"^Fraction bits must be an integer >= 0, not -1$"),
    ((4.0, 1), r"^Integer bits must be an integer >= 1, not 4\.0$"),
])
def test_qformat_rejects(args, message):
    with pytest.raises(TypeError, match=message):
        QFormat(*args)


def test_lif_rejects_bad_parameters():
    with pytest.raises(ValueError, match=r"^Weight format Q4\.8 and membrane format Q8\.10 must "
                                         r"have the same number of fraction bits$"):
        LIFConfig(weight=QFormat(4, 8))
    with pytest.raises(ValueError, match=r"^Threshold 1000\.0 is not representable as a positive "
                                         r"Q8\.10 number$"):
        LIFConfig(threshold=1000.0)
    with pytest.raises(TypeError, match=r"^Leak shift must be an integer \[0, 17\], not 18$"):
        LIFConfig(leak_shift=18)
    with pytest.raises(TypeError, match=r"^Membrane format must be a QFormat, not 16$"):
        LIFConfig(membrane=16)


def test_learning_rejects_bad_parameters():
    with pytest.raises(ValueError, match=r"^Basis format must be Q1\.n"):
        LearningConfig(basis=QFormat(2, 14))
    with pytest.raises(TypeError, match=r"^Update shift must be an integer \[0, 48\], not -1$"):
        LearningConfig(update_shift=-1)
    with pytest.raises(TypeError, match=r"^Rank must be an integer \[0, 64\], not -1$"):
        LearningConfig(rank=-1)
    with pytest.raises(ValueError, match=r"^Master format Q4\.60 is wider than 32 bits"):
        LearningConfig(master=QFormat(4, 60))
    with pytest.raises(TypeError, match=r"^Antithetic must be a bool, not 1$"):
        LearningConfig(antithetic=1)


@pytest.mark.parametrize("changes, error, message", [
    ({"sizes": (64,)}, TypeError, r"^Sizes must be a tuple of at least two layer widths"),
    ({"sizes": [64, 10]}, TypeError, r"^Sizes must be a tuple"),
    ({"sizes": (64, 0, 10)}, TypeError, r"^Layer width must be an integer \[1, 4096\], not 0$"),
    ({"timesteps": 12}, ValueError, r"^Time steps must be a power of two, not 12$"),
    ({"noise_amplitude": 0.0}, ValueError, r"^Noise amplitude must be a positive Q4\.10 number"),
    ({"readout": LIFConfig()}, ValueError, r"^Readout neuron must be an integrator"),
    ({"hidden": LIFConfig(threshold=None)}, ValueError, r"^Hidden neuron must be a spiking"),
    ({"clusters": 0}, TypeError, r"^Clusters must be an integer \[1, 64\], not 0$"),
    ({"timesteps": 1024}, ValueError, r"^Vector format Q10\.6 cannot hold a spike count of 1024$"),
    ({"sizes": (12, 6, 4), "clusters": 2}, ValueError,
     r"^Clusters \(2\) must be at least the classes \(4\): each label is its own cluster$"),
    ({"sizes": (4096, 4096, 10)}, ValueError,
     (r"^Layer 0 \(4096 -> 4096\) holds 16781312 words, more than the protocol's 24-bit "
      r"address reaches \(16777216\)$")),
    ({"sizes": (4,) * 130}, ValueError,
     r"^A network of 129 layers cannot identify itself over the protocol \(at most 121"),
    ({"noise_amplitude": 1000}, ValueError, r"^Noise amplitude must be a positive Q4\.10 number"),
    ({"noise_amplitude": 0.0001}, ValueError, r"^Noise amplitude must be a positive Q4\.10"),
    ({"sizes": (1100, 32, 10)}, ValueError,
     (r"^Coefficient format Q10\.6 cannot hold a projection quantity of up to 536\.2 "
      r"\(T = 16, 1100 inputs\): widen it$")),
    ({"sizes": (784, 32, 10), "learning": LearningConfig(rank=4, tracker_shift=3)}, ValueError,
     (r"^Tracker shift 3 lets the tracker products saturate Q10\.6 \(T = 16, 784 inputs\): "
      r"use >= 4$")),
    ({"learning": LearningConfig(rank=12)}, ValueError,
     r"^Rank 12 exceeds the clusters \+ 1 = 11 coefficient registers"),
    ({"sizes": (3, 4, 10), "learning": LearningConfig(rank=5)}, ValueError,
     r"^Rank 5 exceeds .* or a layer's 4 inputs$"),
])
def test_network_rejects_bad_parameters(changes, error, message):
    with pytest.raises(error, match=message):
        dataclasses.replace(DEFAULT_NETWORK, **changes)


def test_network_json_round_trip():
    config = dataclasses.replace(DEFAULT_NETWORK, sizes=(16, 8, 4), timesteps=8)
    assert NetworkConfig.from_json(config.to_json()) == config


@pytest.mark.parametrize("module, allowed", [
    ("formats", {"dataclasses", "json", "protocol"}),
    ("protocol", {"enum", "dataclasses", "argparse", "pathlib"}),
])
def test_the_shared_definitions_are_standard_library_only(module, allowed):
    """hw.formats and hw.protocol are what the host driver shares with the gateware: they must
    not pull in Amaranth (or anything beyond the standard library)."""
    import ast
    import importlib
    tree = ast.parse(open(importlib.import_module(f"hw.{module}").__file__).read())
    modules = {alias.name.split(".")[0] for node in ast.walk(tree)
               if isinstance(node, ast.Import) for alias in node.names}
    modules |= {node.module.split(".")[0] for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and node.module}
    assert modules <= allowed


def test_the_host_driver_does_not_import_the_gateware():
    import subprocess
    import sys
    code = ("import sys, loco_sw.host; "
            "print(sorted(m for m in sys.modules if m == 'amaranth' or m.startswith('hw.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "['hw.formats', 'hw.protocol']"


def test_with_lowrank_raises_the_tracker_shift_only_where_needed():
    assert DEFAULT_NETWORK.with_lowrank(4).learning.tracker_shift == 3
    mnist = dataclasses.replace(DEFAULT_NETWORK, sizes=(784, 32, 10)).with_lowrank(4)
    assert (mnist.learning.rank, mnist.learning.tracker_shift) == (4, 4)
