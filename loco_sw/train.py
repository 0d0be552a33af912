"""Training loops: float LOCO/NP/DFA/BP (joint or class-incremental) and the fixed-point mode.

The float rules live in :mod:`loco_sw.rules`, the networks in :mod:`loco_sw.model`. The fixed-point
mode trains through the bit-exact golden model (:mod:`loco_sw.golden`), one sample at a time, so
its accuracy is what the hardware would reach with the same seeds.
"""

import dataclasses
import json
import math
import time
from dataclasses import dataclass

import torch

from hw.formats import ENCODER_BITS

from .model import INITS, Network, NeuronConfig
from .rules import CLUSTER_MODES, Projector, bp_gradients, dfa_gradients, np_gradients

__all__ = ["RULES", "FIXED_POINT_FIELDS", "TrainConfig", "class_incremental_tasks", "train",
           "fixed_point_network", "train_fixed_point"]

RULES = ("loco", "np", "dfa", "bp")
CALIBRATION_SAMPLES = 512       # training inputs the calibrated init looks at (first task's)


@dataclass(frozen=True)
class TrainConfig:
    """One training run. ``lr`` is the SGD step; NP/LOCO gradients carry ``1/sigma**2``."""

    rule: str = "loco"
    hidden: tuple = (64,)
    neuron: NeuronConfig = NeuronConfig()
    epochs: int = 20
    lr: float = 0.05
    momentum: float = 0.0
    sigma: float = 0.05
    noise: str = "gaussian"
    batch: int = 16
    seed: int = 0
    rank: int = 0
    lowrank_source: str = "running"
    centroid_momentum: float = 0.05
    refresh: int = 20
    init: str = "calibrated"
    init_gain: float = 1.0
    clusters: str = "labels"

    def __post_init__(self):
        if self.rule not in RULES:
            raise ValueError(f"Rule must be one of {', '.join(RULES)}, not {self.rule!r}")
        if not self.hidden or any(not isinstance(h, int) or h < 1 for h in self.hidden):
            raise ValueError(f"Hidden widths must be positive integers, not {self.hidden!r}")
        for name in ("epochs", "batch", "refresh"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name.capitalize()} must be a positive integer, "
                                 f"not {getattr(self, name)!r}")
        for name in ("lr", "sigma", "init_gain"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name.capitalize()} must be a positive finite number, "
                                 f"not {value!r}")
        if not 0 <= self.momentum < 1:
            raise ValueError(f"Momentum must be in [0, 1), not {self.momentum!r}")
        if self.noise not in ("gaussian", "rademacher"):
            raise ValueError(f"Noise must be 'gaussian' or 'rademacher', not {self.noise!r}")
        if self.rule in ("bp", "dfa") and self.neuron.kind != "rate":
            raise ValueError(f"Rule {self.rule!r} trains the rate model; use neuron 'rate'")
        if self.init not in INITS:
            raise ValueError(f"Init must be one of {', '.join(INITS)}, not {self.init!r}")
        if self.init != "uniform" and self.init_gain != 1.0:
            raise ValueError("An init gain applies to init 'uniform' only (the calibrated init "
                             "sets each neuron's scale from the data)")
        if self.clusters not in CLUSTER_MODES:
            raise ValueError(f"Clusters must be one of {', '.join(CLUSTER_MODES)}, "
                             f"not {self.clusters!r}")
        if self.clusters != "labels" and self.rule != "loco":
            raise ValueError("Label-free clusters apply to rule 'loco' only")
        if self.rank and self.rule != "loco":
            raise ValueError("A low-rank restriction (rank > 0) applies to rule 'loco' only")

    def to_dict(self):
        return dataclasses.asdict(self)


def class_incremental_tasks(classes: int, per_task: int) -> list:
    """``[[0, 1], [2, 3], ...]``: consecutive classes, ``per_task`` at a time."""
    if per_task < 1 or classes % per_task:
        raise ValueError(f"Classes per task must divide {classes}, not {per_task!r}")
    return [list(range(start, start + per_task)) for start in range(0, classes, per_task)]


def _accuracy(net, x, labels) -> float:
    if len(labels) == 0:
        return float("nan")
    return float((net.predict(x).argmax(1) == labels).double().mean())


def train(config: TrainConfig, data, *, tasks=None, progress=None) -> dict:
    """Train on ``data = (x_train, y_train, x_test, y_test)`` (x in [0, 1]).

    Without ``tasks`` every epoch sees all classes. With ``tasks`` (lists of classes) the tasks are
    learned one after another, ``config.epochs`` each, and ``accuracy_matrix[i][j]`` is the test
    accuracy on task ``j``'s classes after learning task ``i`` (one shared readout: class-
    incremental). ``progress(done, total, history)`` is called after each epoch.
    """
    x_train, y_train, x_test, y_test = data
    classes = int(max(int(y_train.max()), int(y_test.max()))) + 1
    gen = torch.Generator().manual_seed(config.seed)
    sizes = (x_train.shape[1], *config.hidden, classes)
    net = Network(sizes, config.neuron, gen, config.init_gain)
    schedule = tasks if tasks is not None else [list(range(classes))]
    if config.init == "calibrated":
        first_task = x_train[torch.isin(y_train, torch.tensor(schedule[0]))]
        order = torch.randperm(len(first_task), generator=gen)[:CALIBRATION_SAMPLES]
        net.calibrate(first_task[order], gen)
    projector = Projector(sizes, classes, momentum=config.centroid_momentum, rank=config.rank,
                          source=config.lowrank_source, clusters=config.clusters) \
        if config.rule == "loco" else None
    feedback = [torch.randn(classes, n, generator=gen, dtype=torch.float64) / classes ** 0.5
                for n in sizes[1:-1]]
    velocity = [torch.zeros_like(w) for w in net.weights]
    history = {"epoch": [], "task": [], "train_accuracy": [], "test_accuracy": [],
               "seconds": [], "step_ms": []}
    matrix, step, started = [], 0, time.monotonic()
    total = config.epochs * len(schedule)
    for task_index, task in enumerate(schedule):
        in_task = torch.isin(y_train, torch.tensor(task))
        xs, ys = x_train[in_task], y_train[in_task]
        for _ in range(config.epochs):
            order = torch.randperm(len(xs), generator=gen)
            step_time = 0.0
            for first in range(0, len(order), config.batch):
                index = order[first:first + config.batch]
                x, labels = xs[index], ys[index]
                target = torch.nn.functional.one_hot(labels, classes).to(x.dtype)
                tick = time.perf_counter()
                spikes = net.encode(x, gen)
                if config.rule == "bp":
                    grads = bp_gradients(net, x, target)
                elif config.rule == "dfa":
                    grads = dfa_gradients(net, x, target, feedback)
                else:
                    clean = None
                    if projector is not None:
                        clean = net.forward(x, spikes)      # also the gradients' clean pass
                        projector.observe(clean.inputs, labels)
                        if config.lowrank_source == "batch" and config.rank:
                            projector.rebuild(clean.inputs)
                        elif step % config.refresh == 0:
                            projector.rebuild()
                    grads, _ = np_gradients(net, x, target, sigma=config.sigma, generator=gen,
                                            noise=config.noise, projector=projector,
                                            labels=labels, spikes=spikes, clean=clean)
                for w, v, g in zip(net.weights, velocity, grads, strict=True):
                    v.mul_(config.momentum).add_(g)
                    w -= config.lr * v
                step_time += time.perf_counter() - tick
                step += 1
            history["epoch"].append(len(history["epoch"]) + 1)
            history["task"].append(task_index)
            history["train_accuracy"].append(_accuracy(net, x_train, y_train))
            history["test_accuracy"].append(_accuracy(net, x_test, y_test))
            history["seconds"].append(round(time.monotonic() - started, 3))
            history["step_ms"].append(1e3 * step_time / max(1, -(-len(xs) // config.batch)))
            if progress is not None:
                progress(len(history["epoch"]), total, history)
        if tasks is not None:
            masks = [torch.isin(y_test, torch.tensor(t)) for t in schedule]
            matrix.append([_accuracy(net, x_test[m], y_test[m]) for m in masks])
    result = {"config": config.to_dict(), "sizes": list(sizes), "history": history,
              "final_test_accuracy": history["test_accuracy"][-1],
              "diverged": not all(bool(torch.isfinite(w).all()) for w in net.weights),
              "network": net}
    if tasks is not None:
        result.update(continual_metrics(matrix), tasks=schedule, accuracy_matrix=matrix)
    return result


def continual_metrics(matrix) -> dict:
    """Average final accuracy over tasks and average forgetting (best earlier minus final)."""
    last = matrix[-1]
    forgetting = [max(row[j] for row in matrix[j:-1]) - last[j] for j in range(len(matrix) - 1)]
    return {"average_accuracy": sum(last) / len(last),
            "forgetting": sum(forgetting) / len(forgetting) if forgetting else 0.0}


def to_intensity(x: torch.Tensor) -> torch.Tensor:
    """Encoder intensities (``ENCODER_BITS`` = 8) of values in [0, 1]:
    ``min(round(256 x), 255)``."""
    levels = 1 << ENCODER_BITS
    return torch.clamp(torch.round(x * levels), max=levels - 1).to(torch.int64)


# What a fixed-point run takes from TrainConfig; the rest (step sizes, noise, rank, neuron) is
# the hardware's arithmetic, fixed by the NetworkConfig.
FIXED_POINT_FIELDS = ("rule", "hidden", "epochs", "seed", "refresh")


def fixed_point_network(config: TrainConfig, inputs: int, classes: int):
    """``DEFAULT_NETWORK`` resized to ``inputs``, ``config.hidden`` and ``classes`` (one cluster
    per class); raises ``ValueError`` for sizes the hardware cannot take."""
    from hw.formats import DEFAULT_NETWORK
    try:
        return dataclasses.replace(DEFAULT_NETWORK, sizes=(inputs, *config.hidden, classes),
                                   clusters=classes)
    except TypeError as error:                  # NetworkConfig's type-and-range checks
        raise ValueError(str(error)) from None


def train_fixed_point(config: TrainConfig, data, *, network=None, tasks=None,
                      step_schedule=None, hidden_bias=None, progress=None) -> dict:
    """Train the bit-exact fixed-point model (hardware arithmetic) on ``data``.

    ``network`` is the :class:`hw.formats.NetworkConfig` (default: ``DEFAULT_NETWORK`` resized to
    the data and ``config.hidden``). One sample per step, rule ``loco`` or ``np``; the projector
    bases are refreshed by the host routine every ``config.refresh`` samples. The TRAIN step
    shift follows ``step_schedule`` (default ``STEP_SHIFT_EPOCHS``; epochs counted within each
    task); hidden biases start at ``hidden_bias`` (default ``INIT_HIDDEN_BIAS``). ``tasks`` as in
    :func:`train` (class-incremental: ``config.epochs`` per task, ``accuracy_matrix``).
    """
    from hw.formats import INIT_HIDDEN_BIAS, STEP_SHIFT_EPOCHS, TEST_INDEX_BASE

    from .golden import init_state, predict, refresh_bases, step_shift_for_epoch, train_step

    if config.rule not in ("loco", "np"):
        raise ValueError(f"The fixed-point mode implements 'loco' and 'np', not {config.rule!r}")
    x_train, y_train, x_test, y_test = data
    classes = int(max(int(y_train.max()), int(y_test.max()))) + 1
    if network is None:
        network = fixed_point_network(config, x_train.shape[1], classes)
    xi_train, xi_test = to_intensity(x_train), to_intensity(x_test)
    test_index = range(TEST_INDEX_BASE, TEST_INDEX_BASE + len(y_test))
    state = init_state(network, seed=config.seed,
                       hidden_bias=INIT_HIDDEN_BIAS if hidden_bias is None else hidden_bias)
    gen = torch.Generator().manual_seed(config.seed)
    schedule = tasks if tasks is not None else [list(range(classes))]
    step_schedule = STEP_SHIFT_EPOCHS if step_schedule is None else tuple(step_schedule)
    history = {"epoch": [], "task": [], "test_accuracy": [], "seconds": []}
    matrix, step, started = [], 0, time.monotonic()
    for task_index, task in enumerate(schedule):
        in_task = torch.nonzero(torch.isin(y_train, torch.tensor(task))).flatten()
        for epoch in range(config.epochs):
            step_shift = step_shift_for_epoch(network, epoch, step_schedule)
            for i in in_task[torch.randperm(len(in_task), generator=gen)].tolist():
                if config.rule == "loco" and step % config.refresh == 0:
                    refresh_bases(network, state)
                train_step(network, state, xi_train[i], int(y_train[i]), step,
                           use_projector=config.rule == "loco", step_shift=step_shift)
                step += 1
            correct = predict(network, state, xi_test, test_index).argmax(1) == y_test
            history["epoch"].append(len(history["epoch"]) + 1)
            history["task"].append(task_index)
            history["test_accuracy"].append(float(correct.double().mean()))
            history["seconds"].append(round(time.monotonic() - started, 3))
            if progress is not None:
                progress(len(history["epoch"]), config.epochs * len(schedule), history)
        if tasks is not None:
            matrix.append([float(correct[torch.isin(y_test, torch.tensor(t))].double().mean())
                           for t in schedule])
    ran = {name: getattr(config, name) for name in FIXED_POINT_FIELDS}
    result = {"config": ran, "network_config": json.loads(network.to_json()),
              "sizes": list(network.sizes), "history": history,
              "final_test_accuracy": history["test_accuracy"][-1], "state": state}
    if tasks is not None:
        result.update(continual_metrics(matrix), tasks=schedule, accuracy_matrix=matrix)
    return result
