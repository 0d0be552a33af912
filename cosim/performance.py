"""Cycle models of the learner, beside what its cycle counter measures.

* :func:`analytic_cycles` (by phase: :func:`analytic_phases`): the cycle formulas the blocks
  document (``LIFCore``, both passes in one step: ``1 + g (a0 + 3)`` plus ``g`` for layer 0's
  second pass, which shares the first pass's input sums, or ``g (a1 + 3)`` for a later layer's,
  ``g`` the neurons per lane; the encoder ``n0 + 3``, ``ceil(n0 / 2) + 3`` when layer 0 has lanes
  (two inputs a cycle); ``ProjectorUpdate``: low-rank stage, dots, expansion, update, centroid),
  combined as ``LearnerCore`` sequences them (encoder and layers side by side in waves, the
  slowest setting the pace, the signs drawn beside the first: :func:`wave_stages`; per-layer units
  fed their counts during the last waves, projecting meanwhile, then every layer's errors at once,
  and updating at the same time, a row of every lane at once; a shared unit fed after the readout,
  one layer after another, a row at a time);
* :func:`port_bound`: the accesses of the busiest weight memory (a lane's) in one TRAIN
  (``active + 1`` words per neuron of the lane, step and pass, once for both passes in layer 0;
  the update one access per word of each changed row of the lane, or of the layer when one
  port serves all its lanes: a shared unit), i.e. the cycles the present memory organisation
  needs at one access a cycle.

Both take a sample's :func:`workload`, read off the golden model's result of that TRAIN
(bit-exact with the gateware), and the learner's organisation (the ``LearnerCore`` arguments
``shared_update``, ``lanes``, ``parallel_slots``, as :func:`boards.build.board_gateware` gives
them; a missing one takes ``LearnerCore``'s default).
"""

from hw.learner import LearnerCore
from hw.neuron import LIFCore

__all__ = ["workload", "wave_stages", "analytic_cycles", "analytic_phases", "port_bound"]


def workload(golden: dict) -> dict:
    """What one TRAIN did, from the golden model's result of it
    (:func:`loco_sw.golden.train_step`): per layer and pass the input spikes summed over the T
    steps and per step, and the rows the update changed (their count and which)."""
    return {"spikes": golden["input_spikes"], "step_spikes": golden["input_spikes_per_step"],
            "rows": [int((e != 0).sum()) for e in golden["errors"]],
            "changed": [(e != 0).nonzero().flatten().tolist() for e in golden["errors"]]}


def _lane_rows(config, gateware):
    lanes = gateware.get("lanes") or (1,) * config.layers
    return [LIFCore.lane_rows(config, layer, count) for layer, count in enumerate(lanes)]


def _update_lanes(config, gateware):
    """Per layer, the lanes its update unit changes at once (1 with a shared unit)."""
    if gateware.get("shared_update"):
        return [1] * config.layers
    return list(gateware.get("lanes") or (1,) * config.layers)


def _changed_per_lane(work, layer, lanes, rows):
    """The changed rows of ``layer`` in each of ``lanes`` lanes of ``rows`` neurons."""
    return [sum(1 for i in work["changed"][layer] if i // rows == b) for b in range(lanes)]


def _projection(n: int, clusters: int, rank: int = 0, parallel: bool = False) -> int:
    """Cycles of a unit's projection for ``n`` layer inputs and its centroid's move: the
    low-rank stage's dots, tracker rows and expansion (rank ``r``), then the cluster stage's
    dot products and expansion one slot at a time and the move (after CENTROID_START), or with
    ``parallel`` slots all slots at once, the move beside the expansion."""
    lowrank = 2 * rank * (n + 4) + (n + 1) * (rank + 3) if rank else 0
    if parallel:
        return lowrank + (n + 4) + (n + 5) + 1
    return lowrank + (clusters + 1) * (n + 4) + (n + 1) * (clusters + 4) + 1 + n + 3


# A neuron's cycles in LIFCore beyond its ``a + 1`` weight reads (a pass): the last add, FIRE.
NEURON_OVERHEAD = 2


def _what_if(value, built, what, minimum):
    """``value``, or ``built`` when None; ``ValueError`` naming ``what`` unless ``value`` is an
    int of at least ``minimum`` (0 or 1)."""
    if value is None:
        return built
    if isinstance(value, int) and not isinstance(value, bool) and value >= minimum:
        return value
    kind = "a positive int" if minimum else "a non-negative int"
    raise ValueError(f"{what} must be {kind}, not {value!r}")


# Early units with parallel slots: cycles after the bias word that drain the dots (run on the
# loads of the counts) before the expansion starts.
DOTS_DRAIN = 3


def wave_stages(config, work, gateware: dict, *, inputs_per_cycle=None,
                neuron_overhead=None) -> list:
    """Per wave of one TRAIN (``T + L`` of them), the cycles of each stage that runs in it, from
    the wave's start: ``"encoder"`` (``ceil(n0 / e) + 3``, ``e`` inputs a cycle:
    :meth:`hw.learner.LearnerCore.inputs_per_cycle`) encodes step ``w``, ``"signs"`` (wave 0:
    one perturbation sign per neuron a cycle) and ``"layer l"`` computes step ``w - 1 - l``
    (``LIFCore``: ``1 + g (a0 + 3)`` plus ``g`` for layer 0's second pass or ``g (a1 + 3)`` for
    a later layer's). A wave lasts its slowest stage, plus a cycle.

    What-ifs, for planning: models of designs that do not exist, everything else as built.
    ``inputs_per_cycle`` (a positive int): an encoder of that many inputs a cycle (default:
    the gateware's own); ``neuron_overhead`` (a non-negative int): the cycles a neuron's pass
    takes beyond its ``a + 1`` weight reads (built: 2, the last add and FIRE; 0 is a fully
    pipelined neuron loop, ``a + 1``)."""
    sizes, steps = config.sizes, config.timesteps
    rows = _lane_rows(config, gateware)
    built = LearnerCore.inputs_per_cycle(config,
                                     gateware.get("lanes") or (1,) * config.layers)
    per_cycle = _what_if(inputs_per_cycle, built, "Inputs a cycle", 1)
    extra = 1 + _what_if(neuron_overhead, NEURON_OVERHEAD, "Neuron overhead", 0)

    def core(layer, step):
        first, second = (work["step_spikes"][layer][p][step] for p in range(2))
        return 1 + rows[layer] * (first + extra) + \
            (rows[layer] if layer == 0 else rows[layer] * (second + extra))

    waves = []
    for wave in range(steps + config.layers):
        stages = {"encoder": -(-sizes[0] // per_cycle) + 3} if wave < steps else {}
        if wave == 0:
            stages["signs"] = sum(sizes[1:])
        stages.update({f"layer {layer}": core(layer, wave - 1 - layer)
                       for layer in range(config.layers) if 0 <= wave - 1 - layer < steps})
        waves.append(stages)
    return waves


def analytic_cycles(config, work, gateware: dict, **what_if) -> int:
    """The learner's cycles for one TRAIN from the blocks' documented formulas: the sum of
    :func:`analytic_phases` (and its what-ifs)."""
    return sum(analytic_phases(config, work, gateware, **what_if).values())


def analytic_phases(config, work, gateware: dict, *, inputs_per_cycle=None,
                    neuron_overhead=None) -> dict:
    """The learner's cycles for one TRAIN from the blocks' documented formulas, by phase
    (the projector on; with the low-rank part its stage first, one MAC a cycle): per-layer units
    ``start`` (IDLE, PASS; the signs are drawn in wave 0), ``waves``, ``after_waves`` (the
    readout, the errors, the update units' rest: their counts and projections overlap the last
    waves); a shared unit ``waves``, ``feed`` (counts and errors), ``updates`` (projection,
    rows, centroid; layer after layer). The waves: :func:`wave_stages` (and its what-ifs,
    ``inputs_per_cycle`` and ``neuron_overhead``)."""
    sizes, steps, clusters, rank = config.sizes, config.timesteps, config.clusters, \
        config.learning.rank
    layers = list(zip(sizes[:-1], sizes[1:], strict=True))
    rows = _lane_rows(config, gateware)
    parallel = gateware.get("parallel_slots") or (False,) * config.layers
    at_once = _update_lanes(config, gateware)

    def update(layer, n, m):
        """The update's cycles: 2 per row visited, ``n + 4`` per row changed (a row of each
        lane at once with lane updates)."""
        if at_once[layer] == 1:
            return 2 * m + work["rows"][layer] * (n + 4)
        group = rows[layer]
        return 2 * group + len({i % group for i in work["changed"][layer]}) * (n + 4)

    wave_starts = [0]
    for stages in wave_stages(config, work, gateware, inputs_per_cycle=inputs_per_cycle,
                              neuron_overhead=neuron_overhead):
        wave_starts.append(wave_starts[-1] + max(stages.values()) + 1)
    passes = wave_starts[-1]
    if gateware.get("shared_update"):
        projections = [_projection(n, clusters, rank) for n, _ in layers]
        feed = sum(n + m + 3 for n, m in layers)                       # counts + errors
        units = [projection + update(layer, n, m) + 1                  # update, done
                 for layer, ((n, m), projection) in enumerate(zip(layers, projections,
                                                                  strict=True))]
        return {"waves": passes, "feed": feed, "updates": sum(units)}
    # Per-layer units: layer l's counts fed from wave T + l on (after the layer before's), a
    # word a cycle after an addressing cycle; the unit projects from the cycle after them
    # (BIAS) while the readout (classes + 1 cycles a pass, then DELTA_ROUND) runs; then every
    # layer's errors at once (the masks were kept during the waves), a word a cycle each (a
    # row of every lane a word with lanes), each unit taking them from the cycle after its
    # BIAS; ProjectorUpdate's formulas (early) from there.
    bias, fed = [], wave_starts[steps]                               # each unit's BIAS cycle
    for layer, (n, _) in enumerate(layers):
        addressed = max(fed, wave_starts[steps + layer])
        fed = addressed + n + 1
        bias.append(fed)
    errors = passes + 2 * (sizes[-1] + 1) + 1                         # the first ERRORS cycle

    def layer_done(layer, n, m):
        """The cycle before unit ``layer``'s DONE (ProjectorUpdate's formulas, BIAS = 0)."""
        words = rows[layer] if at_once[layer] > 1 else m
        last_error = max(errors - bias[layer], 1) + words - 1
        cycles = update(layer, n, m)
        if not parallel[layer] or rank:             # the rows after the projection
            ready = 1 + _projection(n, clusters, rank, parallel[layer])
            return bias[layer] + max(ready, last_error + 1) + cycles
        # Streamed rows (parallel slots): they start with the expansion (DOTS_DRAIN cycles
        # after BIAS) once the errors are in, a changed row's reads behind u's writes.
        # (the rows swept: a lane's with lane updates, as many as error words, else the layer's)
        start = max(DOTS_DRAIN + 2, last_error + 2)
        first = min((i % words for i in work["changed"][layer]), default=None)
        stall = 0 if first is None else max(0, DOTS_DRAIN + 5 - (start + 2 * first + 2))
        return bias[layer] + max(DOTS_DRAIN + (n + 5) + 2, start + cycles + stall)
    done = max(layer_done(layer, n, m) for layer, (n, m) in enumerate(layers))
    return {"start": 2, "waves": passes,                               # IDLE, PASS
            "after_waves": done - passes + 3}                          # units seen, FINISH


def port_bound(config, work, gateware: dict) -> int:
    """Accesses of the busiest weight memory in one TRAIN (one access a cycle)."""
    sizes, steps = config.sizes, config.timesteps
    lane_rows, at_once = _lane_rows(config, gateware), _update_lanes(config, gateware)
    bound = 0
    for layer, (rows, n) in enumerate(zip(lane_rows, sizes[:-1], strict=True)):
        reads = rows * sum(s + steps for s in work["spikes"][layer][:1 if layer == 0 else 2])
        changed = work["rows"][layer] if at_once[layer] == 1 else \
            max(_changed_per_lane(work, layer, at_once[layer], rows))
        bound = max(bound, reads + changed * (n + 1))
    return bound
