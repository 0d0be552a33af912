"""Train the gateware and the golden model side by side, comparing every word after every sample.

The gateware is reached only through :class:`loco_sw.host.LearnerHost` (any transport: the
compiled model, Amaranth's simulator, a board), so this checks what a host sees: per training
sample the prediction and delta in the TRAIN reply, the first-pass outputs, every master weight word
and every centroid word of every layer. :class:`Tally` counts the words compared and the ones
that differ; the first difference is described in words.
"""

from dataclasses import dataclass, field

import torch

from hw.formats import ENCODER_SEED, TEST_INDEX_BASE, NetworkConfig
from loco_sw.golden import GoldenState, predict, refresh_bases, sample_seed, train_step


__all__ = ["Tally", "load_weights", "epoch_stream", "train_lockstep", "infer_lockstep",
           "rtl_accuracy"]


@dataclass
class Tally:
    """What a lockstep run compared, and what differed."""

    samples: int = 0
    words_compared: int = 0
    mismatched_words: int = 0
    first_mismatch: str | None = None
    train_cycles: list = field(default_factory=list)
    infer_cycles: list = field(default_factory=list)

    def compare(self, what: str, got: list, want: list):
        self.words_compared += len(want)
        if got == want:
            return
        if len(got) != len(want):
            bad = max(len(got), len(want))
            where = f"{len(got)} words, want {len(want)}"
        else:
            differ = [k for k, (g, w) in enumerate(zip(got, want, strict=True)) if g != w]
            bad = len(differ)
            where = f"word {differ[0]} is {got[differ[0]]}, want {want[differ[0]]}"
        self.mismatched_words += bad
        if self.first_mismatch is None:
            self.first_mismatch = f"{what}: {where}"


def load_weights(host, state: GoldenState):
    """Write the golden state's master weights into the gateware (as a host does at start)."""
    for layer, words in enumerate(state.master):
        host.write_weights(layer, words.flatten().tolist())


def epoch_stream(x, y, generator: torch.Generator, first_step: int, limit=None) -> list:
    """One epoch of :func:`loco_sw.train.train_fixed_point`'s sample stream: ``(step,
    intensity, label)`` in the order of a shuffle drawn from ``generator``, steps (which pick
    the seeds) counting on from ``first_step``; only the first ``limit`` when given."""
    order = torch.randperm(len(y), generator=generator).tolist()[:limit]
    return [(first_step + k, x[i], int(y[i])) for k, i in enumerate(order)]


def train_lockstep(host, config: NetworkConfig, state: GoldenState, stream, tally: Tally, *,
                   refresh: int = 64, use_projector: bool = True, step_shift: int = 0,
                   progress=None) -> list:
    """Train on ``stream`` (``(step, intensity, label)`` triples; ``step`` picks the seeds) on
    the gateware behind ``host`` and on ``state``, in step; every ``refresh``-th step both
    recompute the projector bases from their centroids first (LOCO only). ``step_shift``: the
    step-size schedule's extra update shift for this stream. Returns the golden model's
    result of each sample (:func:`loco_sw.golden.train_step`)."""
    results = []
    for step, intensity, label in stream:
        if use_projector and step % refresh == 0:
            host.refresh_bases()
            refresh_bases(config, state)
        reply = host.train_sample(step, intensity.tolist(), int(label),
                                  use_projector=use_projector, step_shift=step_shift)
        golden = train_step(config, state, intensity, int(label), step,
                            use_projector=use_projector, step_shift=step_shift)
        name = f"sample {tally.samples} (step {step})"
        tally.compare(f"{name} prediction", [reply["prediction"]],
                      [int(golden["y_first"].argmax())])
        tally.compare(f"{name} delta", [reply["delta"]], [golden["delta"]])
        tally.compare(f"{name} first-pass outputs", host.read_outputs(), golden["y_first"].tolist())
        for layer in range(config.layers):
            tally.compare(f"{name} layer {layer} weights", host.read_weights(layer),
                          state.master[layer].flatten().tolist())
            tally.compare(f"{name} layer {layer} centroids", host.read_centroids(layer),
                          state.centroids[layer].flatten().tolist())
        tally.train_cycles.append(reply["cycles"])
        tally.samples += 1
        results.append(golden)
        if progress is not None:
            progress()
    return results


def infer_lockstep(host, config: NetworkConfig, state: GoldenState, intensities, indices,
                   tally: Tally) -> list:
    """INFER every sample on the gateware; returns its predictions, each compared with the
    golden model's (``indices`` pick the encoder seeds)."""
    want = predict(config, state, torch.as_tensor(intensities), indices).argmax(1).tolist()
    got = []
    for index, intensity in zip(indices, intensities, strict=True):
        host.write_input(intensity.tolist())
        reply = host.infer(sample_seed(ENCODER_SEED, int(index)))
        got.append(reply["prediction"])
        tally.infer_cycles.append(reply["cycles"])
    tally.compare("test-set predictions", got, want)
    return got


def rtl_accuracy(host, config: NetworkConfig, state: GoldenState, intensities, labels,
                 tally: Tally) -> float:
    """Test accuracy of the gateware's own INFER predictions (test samples numbered from
    ``TEST_INDEX_BASE``, as :func:`loco_sw.train.train_fixed_point` numbers them)."""
    indices = range(TEST_INDEX_BASE, TEST_INDEX_BASE + len(labels))
    predictions = infer_lockstep(host, config, state, intensities, indices, tally)
    return float((torch.tensor(predictions) == torch.as_tensor(labels)).double().mean())
