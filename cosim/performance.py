"""Cycle models of the learner, beside what its cycle counter measures.

* :func:`analytic_cycles`: the cycle formulas the blocks document (``LIFCore``, both passes in
  one step: ``1 + g (a0 + 3)`` plus ``g`` for layer 0's second pass, which shares the first
  pass's input sums, or ``g (a1 + 3)`` for a later layer's, ``g`` the neurons per lane; the
  encoder ``n0 + 3``; ``ProjectorUpdate``: dots, expansion, update, centroid), combined as
  ``LearnerCore`` sequences them (encoder and layers side by side in waves, the slowest setting
  the pace; per-layer units update at the same time, a shared unit one layer after another);
* :func:`port_bound`: the accesses of the busiest layer weight memory in one TRAIN (``active +
  1`` words per neuron of a lane, step and pass, once for both passes in layer 0; the update
  one access per word of each changed row, through the one port the update unit has), i.e. the
  cycles the present memory organisation needs at one access a cycle.

Both take a sample's :func:`workload`, read off the golden model's result of that TRAIN
(bit-exact with the gateware), and the learner's organisation (the ``LearnerCore`` arguments
``shared_update``, ``lanes``, ``parallel_slots``, as :func:`boards.build.board_gateware` gives
them; a missing one takes ``LearnerCore``'s default).
"""

from hw.neuron import LIFCore

__all__ = ["workload", "analytic_cycles", "port_bound"]


def workload(golden: dict) -> dict:
    """What one TRAIN did, from the golden model's result of it
    (:func:`loco_sw.golden.train_step`): per layer and pass the input spikes summed over the T
    steps and per step, and the rows the update changed."""
    return {"spikes": golden["input_spikes"], "step_spikes": golden["input_spikes_per_step"],
            "rows": [int((e != 0).sum()) for e in golden["errors"]]}


def _lane_rows(config, gateware):
    lanes = gateware.get("lanes") or (1,) * config.layers
    return [LIFCore.lane_rows(config, layer, count) for layer, count in enumerate(lanes)]


def _projection(n: int, clusters: int, parallel: bool) -> int:
    """Cycles of a unit's dot products and expansion for ``n`` layer inputs."""
    if parallel:
        return (n + 4) + (n + 5)
    return (clusters + 1) * (n + 4) + (n + 1) * (clusters + 4)


def analytic_cycles(config, work, gateware: dict) -> float:
    """The learner's cycles for one TRAIN from the blocks' documented formulas (rank 0: the
    low-rank stage's cycles are not modelled). The steps run as ``T + L`` waves: in wave
    ``w`` the encoder (``n0 + 3`` cycles from the wave's start) encodes step ``w`` while layer
    ``l`` computes step ``w - 1 - l``; a wave lasts its slowest stage, plus a cycle."""
    if config.learning.rank:
        raise ValueError("The cycle model covers rank 0 only (no low-rank stage)")
    sizes, steps, clusters = config.sizes, config.timesteps, config.clusters
    layers = list(zip(sizes[:-1], sizes[1:], strict=True))
    rows = _lane_rows(config, gateware)
    parallel = gateware.get("parallel_slots") or (False,) * config.layers

    def core(layer, step):
        first, second = (work["step_spikes"][layer][p][step] for p in range(2))
        return 1 + rows[layer] * (first + 3) + \
            (rows[layer] if layer == 0 else rows[layer] * (second + 3))

    passes = 0
    for wave in range(steps + len(layers)):
        stages = [sizes[0] + 3] if wave < steps else []
        stages += [core(layer, wave - 1 - layer) for layer in range(len(layers))
                   if 0 <= wave - 1 - layer < steps]
        passes += max(stages) + 1
    feed = sum(n + m + 3 for n, m in layers)                           # counts + errors
    units = [_projection(n, clusters, parallel[layer])                 # dots + expansion
             + 2 * m + work["rows"][layer] * (n + 3)                   # update
             + n + 2 + 1                                               # centroid, done
             for layer, (n, m) in enumerate(layers)]
    return passes + feed + (sum(units) if gateware.get("shared_update") else max(units))


def port_bound(config, work, gateware: dict) -> int:
    """Accesses of the busiest layer weight memory in one TRAIN (one access a cycle)."""
    sizes, steps = config.sizes, config.timesteps
    reads = [rows * sum(s + steps for s in work["spikes"][layer][:1 if layer == 0 else 2])
             for layer, rows in enumerate(_lane_rows(config, gateware))]
    return max(read + work["rows"][layer] * (n + 1)
               for layer, (read, n) in enumerate(zip(reads, sizes[:-1], strict=True)))
