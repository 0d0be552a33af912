"""Formats that scale: no datapath quantity saturates on real 784-input MNIST images."""

import dataclasses

from hw.formats import DEFAULT_NETWORK
from loco_sw.data import load_mnist5k
from loco_sw.ranges import QUANTITIES, collect, summarise
from loco_sw.train import to_intensity

MNIST = dataclasses.replace(DEFAULT_NETWORK, sizes=(784, 32, 10), learning=dataclasses.replace(
    DEFAULT_NETWORK.learning, rank=4, tracker_shift=4))


def test_no_quantity_saturates_on_real_mnist():
    x, y, _, _ = load_mnist5k()
    probe, _ = collect(MNIST, to_intensity(x), y, samples=160, seed=0)
    rows = summarise(probe, MNIST)
    assert {(r["layer"], r["quantity"]) for r in rows} == \
        {(layer, q) for layer in (0, 1) for q in QUANTITIES if q != "delta"} | {(1, "delta")}
    saturated = [(r["layer"], r["quantity"], r["saturated_fraction"]) for r in rows
                 if r["saturated_fraction"] > 0]
    assert saturated == []
    assert all(r["values"] > 0 for r in rows)
    # The check can fail: the coefficients on this data exceed the old Q8.8 range (+-128).
    coeff = max(max(-r["min_raw"], r["max_raw"]) for r in rows if r["quantity"] == "coeff")
    assert coeff / MNIST.learning.coeff.one > 128
