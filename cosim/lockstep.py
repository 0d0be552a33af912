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
           "rtl_accuracy", "VERIFY_LEVELS", "train_gateware"]

# What train_lockstep reads back and compares after each sample: "all" (prediction, delta,
# first-pass outputs, every weight and centroid word) or "replies" (the TRAIN reply's prediction
# and delta only: what a board on a 115 200-baud line can afford every sample).
VERIFY_LEVELS = ("all", "replies")


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
                   verify: str = "all", progress=None) -> list:
    """Train on ``stream`` (``(step, intensity, label)`` triples; ``step`` picks the seeds) on
    the gateware behind ``host`` and on ``state``, in step; every ``refresh``-th step both
    recompute the projector bases from their centroids first (LOCO only). ``step_shift``: the
    step-size schedule's extra update shift for this stream; ``verify``: one of
    :data:`VERIFY_LEVELS`. Returns the golden model's result of each sample
    (:func:`loco_sw.golden.train_step`)."""
    if verify not in VERIFY_LEVELS:
        raise ValueError(f"verify must be one of {VERIFY_LEVELS}, not {verify!r}")
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
        if verify == "all":
            tally.compare(f"{name} first-pass outputs", host.read_outputs(),
                          golden["y_first"].tolist())
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


def train_gateware(host, config: NetworkConfig, data, *, epochs: int, seed: int = 0,
                   limit: int | None = None, test_limit: int | None = None, refresh: int = 64,
                   verify: str = "all", label: str = "gateware", on_phase=None) -> dict:
    """Fixed-point LOCO trained **on the gateware** behind ``host``, the golden model in step.

    ``data`` = ``(x, y, x_test, y_test)`` as intensities. Loads the golden initial weights of
    ``seed``, measures the test accuracy of the gateware's own INFER predictions before training
    and after each of ``epochs`` epochs (the stream, seeds and step-size schedule of
    :func:`loco_sw.train.train_fixed_point`; ``limit`` / ``test_limit``: only the first samples
    of each shuffled epoch / of the test set). ``on_phase("train" | "infer")`` is called as
    the work switches. Stops at the first epoch with a mismatch. Returns
    ``{"test_accuracy_per_epoch", "tally", "state"}``.
    """
    import sys

    from tqdm import tqdm

    from hw.formats import STEP_SHIFT_EPOCHS
    from loco_sw.golden import init_state, step_shift_for_epoch

    x, y, x_test, y_test = data
    x_test, y_test = x_test[:test_limit], y_test[:test_limit]
    state, tally = init_state(config, seed=seed), Tally()
    on_phase = on_phase or (lambda phase: None)
    load_weights(host, state)
    generator, step, accuracy = torch.Generator().manual_seed(seed), 0, []

    def evaluate():
        on_phase("infer")
        accuracy.append(rtl_accuracy(host, config, state, x_test, y_test, tally))
        on_phase("train")

    evaluate()
    for epoch in range(epochs):
        stream = epoch_stream(x, y, generator, step, limit)
        step += len(stream)
        with tqdm(total=len(stream), desc=f"{label} epoch {epoch + 1}", unit="sample",
                  file=sys.stderr) as bar:
            train_lockstep(host, config, state, stream, tally, refresh=refresh, verify=verify,
                           step_shift=step_shift_for_epoch(config, epoch, STEP_SHIFT_EPOCHS),
                           progress=lambda: bar.update(1))
        evaluate()
        print(f"{label} epoch {epoch + 1}: test accuracy {accuracy[-1]:.3f} (inferred on the "
              f"gateware), {tally.words_compared} words compared, {tally.mismatched_words} "
              f"differ", file=sys.stderr)
        if tally.mismatched_words:
            break
    return {"test_accuracy_per_epoch": accuracy, "tally": tally, "state": state}
