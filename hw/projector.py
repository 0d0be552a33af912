"""Cluster-orthogonal projector and rank-1 weight-update unit of one layer (or several)."""

from amaranth import *
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from . import fixed
from .formats import NetworkConfig
from .memory import SinglePortRAM
from .neuron import LayerComponent, LIFCore, lane_port_signature, weight_port_signature


__all__ = ["ProjectorUpdate", "WeightStep"]


class WeightStep(wiring.Component):
    """One saturating update word: ``wdata = saturate(old - round_shift(error * source,
    shift + step_shift), master)``, where ``shift`` is the readout's update shift when
    ``readout`` is high, else the hidden layers' (a unit serving only one kind of layer has one
    shift).

    Latency: one cycle. The product and ``old`` are registered (the multiplier's output was the
    middle of the UP5K build's critical path: memory -> multiplier -> rounding -> subtraction
    -> saturation -> weight write); ``wdata`` is for the ``error``, ``source`` and ``old`` of the
    cycle before, with this cycle's ``readout`` and ``step_shift`` (hold them).

    Parameters
    ----------
    config : NetworkConfig
    shifts : set of int
        The update shifts of the layers the unit serves.

    Members
    -------
    error : ``In(delta)``; source : ``In(vector)``; old : ``In(master)``; readout : ``In(1)``
    step_shift : ``In(step_shift_bits)``; wdata : ``Out(master)``
    """

    def __init__(self, config: NetworkConfig, shifts):
        learn = config.learning
        self._learning, self._shifts = learn, frozenset(shifts)
        super().__init__({
            "error": In(fixed.shape(learn.delta)), "source": In(fixed.shape(learn.vector)),
            "old": In(fixed.shape(learn.master)), "readout": In(1),
            "step_shift": In(learn.step_shift_bits), "wdata": Out(fixed.shape(learn.master)),
        })

    def elaborate(self, platform):
        m = Module()
        learn = self._learning
        product = Signal(signed(learn.delta.width + learn.vector.width))
        old = Signal.like(self.old)
        m.d.sync += [product.eq(self.error * self.source), old.eq(self.old)]

        def rounded(extra):
            if len(self._shifts) == 1:
                return fixed.round_shift(product, next(iter(self._shifts)) + extra)
            return Mux(self.readout,
                       fixed.round_shift(product, learn.readout_update_shift + extra),
                       fixed.round_shift(product, learn.update_shift + extra))

        step = Array(rounded(extra) for extra in
                     range(1 << learn.step_shift_bits))[self.step_shift]
        m.d.comb += self.wdata.eq(fixed.saturate(old - step, learn.master))
        return m


# Slot banks of at most this many words are asked for distributed (LUT) RAM.
_DISTRIBUTED_BANK_WORDS = 256


def _tree_sum(values):
    """The sum of ``values`` as a balanced tree of adders (depth ``ceil(log2(len))``)."""
    values = list(values)
    while len(values) > 1:
        pairs = zip(values[0::2], values[1::2], strict=False)    # an odd last one waits
        values = [a + b for a, b in pairs] + values[len(values) & ~1:]
    return values[0]


class _Datapath:
    """The unit's memories, registers and per-layer constants, shared by its groups of states
    (attributes are set by :meth:`ProjectorUpdate.elaborate`)."""


class ProjectorUpdate(LayerComponent):
    """Projects the presynaptic vector away from the other clusters and updates the weights.

    Bit-exact with :func:`loco_sw.golden.project`, :func:`~loco_sw.golden.weight_update` and
    :func:`~loco_sw.golden.centroid_update`. Per sample (``early``: 1, then 3 and 5 while 2 is
    taken, then 4; see the parameter):

    1. ``x`` accepts the ``n`` presynaptic spike counts (the bias count ``T`` is appended here);
    2. ``e`` accepts the ``m`` per-neuron errors (with ``lanes``, ``g`` words: word ``k`` holds
       row ``k`` of every lane, lane ``b``'s the error of neuron ``b g + k``, ignored past the
       layer's neurons); the last one samples ``own``, ``use_projector``,
       ``update_centroid`` and ``step_shift`` and starts the unit (``busy`` rises; ``early``: the
       cycle after the last ``x`` word does);
    3. with the projector: with the low-rank part (``rank`` r > 0) first ``r`` dot products
       ``b_k = p_k . v``, the tracker rows ``Y_k`` moved toward ``b_k v`` and the low-rank part
       ``w = sum_k b_k p_k`` (:func:`loco_sw.golden.lowrank_part`,
       :func:`~loco_sw.golden.tracker_update`); then ``C + 1`` dot products ``a_k = q_k . w``
       (slots of :func:`loco_sw.golden.basis_slots`; ``w = v`` when r = 0), and
       ``u_j = w_j - sum_k +-a_k q_kj``; one MAC/cycle;
    4. ``W_ij -= round_shift(e_i u_j, shift + step_shift)`` over the ``weights`` port, one word
       per cycle, rows with ``e_i == 0`` skipped (saturating read-modify-write);
    5. optionally the own centroid moves toward ``v``; ``done`` pulses and ``busy`` falls.

    Cycles after the last ``e`` word until ``done``, from the state machine, for ``n`` layer
    inputs (``tests/test_blocks.py`` checks them to the cycle; the learner's cycle model,
    :mod:`cosim.performance`, uses them): ``(C + 1) * (n + 4)`` (dots) + ``(n + 1) * (C + 4)``
    (expansion) when projecting (``n + 4`` + ``n + 5`` with ``parallel_slots``), plus
    ``r * (n + 4) + r * (n + 4) + (n + 1) * (r + 3)`` with the low-rank part;
    ``2 m + (active rows) * (n + 4)`` (update; ``2 g + (active lane rows) * (n + 4)`` with
    ``lanes``); 1, plus ``n + 3`` when the centroid moves (with ``parallel_slots`` while
    projecting it moves beside the expansion: nothing more). With ``parallel_slots`` and
    ``early`` (rank 0) the dots run as the counts load: their ``n + 4`` cycles become 3, also
    without the projector. Every multiply is
    registered before its add (a cycle more per dot product, expanded word and updated row).
    ``early``: the projection and the centroid's cycles ``D`` run from the cycle after the
    bias word (BIAS), the update's ``U`` start a cycle after both they and the last ``e`` word
    are done: with the ``E`` error words (``m``, or ``g`` with lanes) a word a cycle right after
    the counts, ``max(1 + D - E, 1) + U`` cycles after the last one.
    **Streamed rows** (``parallel_slots`` and ``early``, rank 0): the rows are swept by a state
    machine of their own beside the projection, each word ``j`` read only once the expansion
    has written ``u_j``. With BIAS as cycle 0 and the last error word taken in cycle ``E``
    (the expansion runs from cycle 4 and writes ``u_j`` in cycle ``7 + j``): projecting, the
    rows start (ROW) in cycle ``S = max(5, E + 2)``, the first changed row's reads stalled by
    ``max(0, 8 - (S + 2 k0 + 2))`` cycles (``k0`` its index), and WAIT_E is reached in cycle
    ``n + 10``; without the projector the rows start in ``max(5, E + 2)``, or when the
    centroid moves (it reads ``v``, as they then do) after it, ``max(n + 10, E + 2)`` with
    WAIT_E in ``n + 8``. ``done`` comes a cycle after the later of WAIT_E and the rows' end
    (``S + U`` plus the stall): ``max(WAIT_E, S + U + stall) - E`` cycles after the last error
    word.
    The re-orthonormalisation of the bases is the host's job (see ``docs/design.md``): it
    writes them through ``basis_*``.

    Members
    -------
    x : ``In(stream.Signature(count))``; e : ``In(stream.Signature(delta))``, with ``lanes``
        ``In(stream.Signature(ArrayLayout(delta, lanes)))`` (a row of every lane a word)
    own : ``In(range(C))``; use_projector, update_centroid : ``In(1)``
    step_shift : ``In(step_shift_bits)``
    busy, done : ``Out(1)``
    basis_addr, basis_wdata, basis_we, basis_rdata : basis memory port (``(2C + r) x (n + 1)``
        words; data :attr:`basis_read_latency` cycles later; with ``parallel_slots`` a write
        lands a cycle later and holds the next ``x`` word off meanwhile), the host's while
        ``busy`` is low
    centroid_raddr / centroid_rdata, u_raddr / u_rdata : read ports, data one cycle later, only
        while waiting for ``x`` (the centroid memory holds ``C + r`` rows: centroids, tracker)
    weights : ``Out(weight_port_signature(m * (n + 1), master))``
        With ``lanes`` > 1: ``Out(lane_port_signature(lanes, g * (n + 1), master))``, the
        layer's lane memories (:class:`hw.neuron.LIFCore`'s ``lane_weights``; ``active`` while
        ``busy``).
    layer_select : ``In(range(len(layers)))``
        With several layers (one unit shared by them, updating them one after another): which
        one; hold it from the first ``x`` word to ``done``, and while using the basis/centroid
        ports, whose addresses are relative to that layer's region.

    The states come in groups, each built by a method: taking a sample in (``_load_states``),
    the projection (``_projection_states``), the weight and centroid updates
    (``_update_states``).

    Parameters
    ----------
    config : NetworkConfig
    layer : int or tuple of int
        The layer this unit updates, or the layers it serves in turn.
    parallel_slots : bool
        Compute the cluster stage's ``C + 1`` dot products, and the ``C + 1`` terms of each
        expanded word, at once: ``C + 1`` multipliers and the basis memory banked by slot (slot
        ``k < C`` in bank ``k``, the rows ``C ..`` in bank ``C``), for a unit of one layer. The
        dots take ``n + 4`` cycles and the expansion ``n + 5`` (``n`` layer inputs) instead of
        ``(C + 1)(n + 4)`` and ``(n + 1)(C + 4)``, and the own centroid moves beside the
        expansion (the same reads of ``v``); early (rank 0), the dots run on the loads of
        ``x``, and 3 cycles drain them; the low-rank stage stays one MAC a cycle (on bank ``C``).
        The arithmetic, the ports and the host's basis addresses do not
        change.
    early : bool
        Start on the counts, for a unit of one layer: the sample's controls are latched (and
        ``busy`` rises) in the cycle after the last ``x`` word, the projection and then the
        centroid move run at once, and the ``e`` words are taken meanwhile (or later); the
        rows are updated once both are done (the centroid moves before the rows: separate
        memories, the same results). A learner can feed the counts before it knows the errors.
    lanes : int
        The neuron lanes of the layer (:class:`hw.neuron.LIFCore`, ``g = ceil(m / lanes)``
        neurons each), for a unit of one layer: with more than one, the unit changes row ``k``
        of every lane at once (rows ``k, g + k, 2 g + k, ...``: a :class:`WeightStep` per
        lane, the errors banked by lane and taken a row of every lane a word) through the
        lanes' port, and skips ``k`` when all of them have a zero error. The update takes
        ``2 g + (active k) * (n + 4)`` cycles instead of ``2 m + (active rows) * (n + 4)``.
    """

    def __init__(self, config: NetworkConfig, layer, *, parallel_slots=False, lanes=1,
                 early=False):
        layers = (layer,) if isinstance(layer, int) else tuple(layer)
        if not layers:
            raise TypeError("Layers must name at least one layer, not ()")
        for one in layers:
            self.check_layer(config, one)
        if parallel_slots and len(layers) > 1:
            raise ValueError(f"Parallel slots need a unit of one layer, not of layers {layers}")
        if lanes != 1 and len(layers) > 1:
            raise ValueError(f"Lanes need a unit of one layer, not of layers {layers}")
        if early and len(layers) > 1:
            raise ValueError(f"An early start needs a unit of one layer, not of layers {layers}")
        self._layers = layers
        self._early = bool(early)
        self._parallel = bool(parallel_slots)
        self._lanes, self._lane_rows = lanes, LIFCore.lane_rows(config, layers[0], lanes)
        self._ns = [config.sizes[one] + 1 for one in layers]
        self._ms = [config.sizes[one + 1] for one in layers]
        self._n, self._m = max(self._ns), max(self._ms)
        learn, n, clusters = config.learning, self._n, config.clusters
        basis_rows, centroid_rows = config.basis_rows, config.centroid_rows
        words = max(nl * ml for nl, ml in zip(self._ns, self._ms, strict=True))
        super().__init__(config, layers[0], {
            "layer_select":    In(range(len(layers))),
            "x":               In(stream.Signature(range(config.timesteps + 1))),
            "e":               In(stream.Signature(
                fixed.shape(learn.delta) if lanes == 1 else
                data.ArrayLayout(fixed.shape(learn.delta), lanes))),
            "own":             In(range(clusters)),
            "use_projector":   In(1),
            "update_centroid": In(1),
            "step_shift":      In(learn.step_shift_bits),
            "busy":            Out(1),
            "done":            Out(1),
            "basis_addr":      In(range(basis_rows * n)),
            "basis_wdata":     In(fixed.shape(learn.basis)),
            "basis_we":        In(1),
            "basis_rdata":     Out(fixed.shape(learn.basis)),
            "centroid_raddr":  In(range(centroid_rows * n)),
            "centroid_rdata":  Out(fixed.shape(learn.vector)),
            "u_raddr":         In(range(n)),
            "u_rdata":         Out(fixed.shape(learn.vector)),
            "weights":         Out(
                weight_port_signature(words, fixed.shape(learn.master)) if lanes == 1 else
                lane_port_signature(lanes, self._lane_rows * n, fixed.shape(learn.master))),
        })

    @property
    def layers(self):
        return self._layers

    @property
    def parallel_slots(self):
        return self._parallel

    @property
    def lanes(self):
        return self._lanes

    @property
    def basis_read_latency(self) -> int:
        """Cycles from ``basis_addr`` to ``basis_rdata`` (:meth:`basis_latency`)."""
        return self.basis_latency(self._parallel)

    @staticmethod
    def basis_latency(parallel_slots: bool) -> int:
        """Cycles from ``basis_addr`` to ``basis_rdata`` of a unit with or without
        ``parallel_slots``: 2 with them (the host's split address registered beside the
        banks), else 1."""
        return 2 if parallel_slots else 1

    @property
    def early(self):
        return self._early

    def elaborate(self, platform):
        m = Module()
        cfg, learn, clusters = self._config, self._config.learning, self._config.clusters
        rank, basis_rows, centroid_rows = learn.rank, cfg.basis_rows, cfg.centroid_rows
        ns, ms = self._ns, self._ms
        d = _Datapath()

        def table(values):
            """The entry of ``values`` for the selected layer (a constant with one layer)."""
            if len(values) == 1:
                return C(values[0], range(values[0] + 1))
            return Array(C(v, range(max(values) + 1)) for v in values)[self.layer_select]

        d.n, d.rows = table(ns), table(ms)
        d.basis_base = table([sum(basis_rows * k for k in ns[:i]) for i in range(len(ns))])
        d.centroid_base = table([sum(centroid_rows * k for k in ns[:i])
                                 for i in range(len(ns))])

        def memory(name, fmt, depth):
            mem = Memory(shape=fixed.shape(fmt), depth=depth, init=[])
            m.submodules[name] = mem
            return mem.read_port(), mem.write_port()

        d.x_rd, d.x_wr = memory("xmem", learn.vector, max(ns))      # v = counts << frac
        d.u_rd, d.u_wr = memory("umem", learn.vector, max(ns))      # projected vector
        if self._lanes == 1:
            d.e_rd, d.e_wr = memory("emem", learn.delta, max(ms))   # per-neuron errors
        else:                                                       # lane b's in emem<b>
            d.e_ports = [memory(f"emem{b}", learn.delta, self._lane_rows)
                         for b in range(self._lanes)]
        # The bases are the host's while idle and the unit's while busy: one port will do.
        if self._parallel:
            self._basis_banks(m, d)
        else:
            m.submodules.bmem = d.bmem = SinglePortRAM(fixed.shape(learn.basis),
                                                       basis_rows * sum(ns))
        d.b_read_addr = Signal.like(d.bmem.addr)
        d.c_rd, d.c_wr = memory("cmem", learn.vector, centroid_rows * sum(ns))
        shifts = {learn.weight_shift_for(one, cfg.layers) for one in self._layers}
        if self._lanes == 1:
            m.submodules.step = d.step = WeightStep(cfg, shifts)
        else:
            d.steps = [WeightStep(cfg, shifts) for _ in range(self._lanes)]
            for b, step in enumerate(d.steps):
                m.submodules[f"step{b}"] = step

        d.coeff = Array(Signal(fixed.shape(learn.coeff), name=f"coeff{k}")
                        for k in range(clusters + 1))
        top_n, top_m = max(ns), max(ms)
        d.index   = Signal(range(max(top_n, top_m) + 1))  # inner position j (or row i on loads)
        d.slot    = Signal(range(clusters + 2))           # basis slot k in the dot/expand loops
        d.row     = Signal(range(top_m))
        d.base    = Signal(range(max(basis_rows * sum(ns), top_m * top_n) + 1))
        d.own_base = Signal.like(d.base)                  # d.own_slot_base(own), latched
        d.waddr   = Signal.like(d.base)
        d.write_addr = Signal.like(d.base)                # d.waddr a cycle later
        d.fetched = Signal()
        d.stepped = Signal()              # the weight step's (registered) word is ready
        d.multiplied = Signal()           # the MAC's registered product is ready
        # Wide enough for the longer of the two sums: n products (dot) or C + 1 (expand).
        d.acc     = Signal(signed(learn.basis.width + max(learn.vector.width,
                                                          learn.coeff.width + 1)
                                  + max(top_n, clusters + 1).bit_length()))
        # Coefficient of the slot read last cycle; one bit wider, as the add-back slot negates.
        d.factor  = Signal(signed(learn.coeff.width + 1))
        # The MAC's product, registered before the add (the basis memory's output, the
        # multiplier and the accumulator's adder were the ECP5 build's critical path).
        d.product = Signal(signed(learn.basis.width + max(learn.vector.width,
                                                          learn.coeff.width + 1)))
        d.own     = Signal(range(clusters))
        d.error   = Signal(fixed.shape(learn.delta))  # of the row being updated
        if self._lanes > 1:                           # of each lane's row being updated
            d.errors = [Signal(fixed.shape(learn.delta), name=f"error{b}")
                        for b in range(self._lanes)]
            d.changing = Signal(self._lanes)          # the lanes whose row changes
        # Errors taken: the position's own counter early, else the loads' (d.index).
        d.e_count = Signal(range(top_m)) if self._early else d.index
        if self._early:
            d.e_open = Signal()                       # taking errors
        # The order of the stages: projection, rows, centroid; early, projection, centroid,
        # (errors), rows.
        d.after_projection = "CENTROID_START" if self._early else "ROW"
        d.after_centroid = "WAIT_E" if self._early else "DONE"
        d.after_rows = "DONE" if self._early else "CENTROID_START"
        d.step_shift = Signal.like(self.step_shift)
        d.project = Signal()
        d.centroid = Signal()
        d.lowrank = Signal()                              # the low-rank stage of the projection
        # The cluster stage projects w (umem) with the low-rank part, else v (xmem).
        d.cluster_input = d.u_rd.data if rank else d.x_rd.data
        d.last_slot = Mux(d.lowrank, rank - 1, clusters) if rank else C(clusters)

        basis_port = [] if self._parallel else [       # the banks' port: _connect_basis_banks
            d.bmem.addr.eq(Mux(self.busy, d.b_read_addr, d.basis_base + self.basis_addr)),
            d.bmem.wdata.eq(self.basis_wdata), d.bmem.we.eq(self.basis_we & ~self.busy),
            self.basis_rdata.eq(d.bmem.rdata),
        ]
        if self._lanes == 1:
            steps = [
                d.step.readout.eq(table([int(one == cfg.layers - 1) for one in self._layers])),
                d.step.step_shift.eq(d.step_shift), d.step.error.eq(d.error),
                d.step.old.eq(self.weights.rdata),
                d.step.source.eq(Mux(d.project, d.u_rd.data, d.x_rd.data)),
            ]
        else:
            steps = [self.weights.active.eq(self.busy)]
            for b, step in enumerate(d.steps):
                steps += [step.readout.eq(int(self._layers[0] == cfg.layers - 1)),
                          step.step_shift.eq(d.step_shift), step.error.eq(d.errors[b]),
                          step.old.eq(self.weights.rdata[b]),
                          step.source.eq(Mux(d.project, d.u_rd.data, d.x_rd.data))]
        m.d.comb += [
            *steps,
            *basis_port,
            self.centroid_rdata.eq(d.c_rd.data),
            self.u_rdata.eq(d.u_rd.data),
        ]

        def table_product(values, factor):
            """``factor * values[selected layer]`` (constant multiplications, then a mux)."""
            if len(values) == 1:
                return factor * values[0]
            return Array(factor * v for v in values)[self.layer_select]

        d.table_product = table_product
        # The low-rank rows: after the own slots in bank C when banked, else after all 2C slots.
        d.lowrank_base = C(clusters * ns[0]) if self._parallel else \
            d.basis_base + table_product(ns, 2 * clusters)
        d.tracker_base = d.centroid_base + table_product(ns, clusters)
        d.centroid_row = lambda own: d.centroid_base + table_product(ns, own)
        # The first word of slot C + own: row own of bank C when banked, else in bmem.
        d.own_slot_base = (lambda own: table_product(ns, own)) if self._parallel else \
            (lambda own: d.basis_base + table_product(ns, clusters + own))
        # Early with parallel slots and no low-rank stage, the cluster stage's dots run as the
        # counts load.
        d.dots_on_load = self._parallel and self._early and not rank
        # Then the rows are streamed too: swept beside the expansion, by a state machine of
        # their own (_sweep), each word read once the expansion has written its u_j.
        d.streamed = d.dots_on_load
        if d.streamed:
            d.sweep = _Datapath()
            d.sweep.row = Signal.like(d.row, name="sweep_row")
            d.sweep.base = Signal.like(d.base, name="sweep_base")
            d.sweep.index = Signal.like(d.index, name="sweep_index")
            d.sweep.waddr = Signal.like(d.base, name="sweep_waddr")
            d.sweep.write_addr = Signal.like(d.base, name="sweep_write_addr")
            d.sweep.fetched = Signal(name="sweep_fetched")
            d.sweep.stepped = Signal(name="sweep_stepped")
            d.sweep_armed = Signal()    # the rows may start (once the errors are in)
            d.swept = Signal()          # the rows are done
            d.u_written = d.waddr       # EXPAND_ALL's u address: the words of u written
        if self._parallel:
            d.c_waddr = Signal.like(d.base)               # the centroid's, beside EXPAND_ALL
            d.unit_reads = Signal()                       # the unit addresses the banks
            m.d.comb += d.unit_reads.eq(self.busy)
            self._connect_basis_banks(m, d)
            self._slot_multipliers(m, d)

        with m.FSM():
            self._load_states(m, d)
            if rank or not self._parallel:
                self._projection_states(m, d)
            if self._parallel:
                self._parallel_projection_states(m, d)
            self._update_states(m, d)
        if d.streamed:
            self._sweep(m, d)
        if self._early:
            self._early_errors(m, d)
        return m

    def _basis_banks(self, m, d):
        """The basis memory banked by slot: bank ``k < C`` holds row ``k`` (``n`` words), bank
        ``C`` the rows ``C .. 2C + r - 1`` (the own slots, then the low-rank rows); ``d.bmem``
        is bank ``C``, the one the one-MAC-a-cycle states read."""
        cfg, n = self._config, self._ns[0]
        shape = fixed.shape(cfg.learning.basis)
        # A bank of a few hundred words would leave most of a block RAM (1 024 x 18 on the
        # ECP5) empty, and C of them per unit do not fit beside the MNIST build's weights.
        attrs = {"ram_style": "distributed"} if n <= _DISTRIBUTED_BANK_WORDS else None
        d.banks = [SinglePortRAM(shape, n, attrs=attrs) for _ in range(cfg.clusters)]
        d.banks.append(SinglePortRAM(shape, (cfg.basis_rows - cfg.clusters) * n))
        for k, bank in enumerate(d.banks):
            m.submodules[f"bank{k}"] = bank
        d.bmem = d.banks[-1]
        d.slot_read_addr = Signal(range(n))              # the unit's address of banks 0 .. C-1

    def _connect_basis_banks(self, m, d):
        """The host's flat basis address ``row * n + j`` split into (bank, word) by comparing
        with the row starts, and registered with the write data and a write enable per bank
        (the split into layer 0's eleven LUT-RAM banks headed the ECP5 build's critical path):
        a write lands a cycle after it is asked for, a read is addressed a cycle later and
        answers the cycle after that (:attr:`basis_read_latency`), so a read after a write
        still sees it. An ``x`` word waits while a write is pending (that cycle is the host's
        at the banks). While ``d.unit_reads`` (``busy``, and loads when the dots run on
        them), banks ``0 .. C-1`` read at ``d.slot_read_addr`` and bank ``C`` at
        ``d.b_read_addr``."""
        clusters, n = self._config.clusters, self._ns[0]
        split_bank = Signal(range(clusters + 1))
        split_word = Signal(range(n))                  # in banks 0 .. C-1
        for k in range(clusters + 1):
            with m.If(self.basis_addr >= k * n):
                m.d.comb += split_bank.eq(k)
                m.d.comb += split_word.eq(self.basis_addr - k * n if k < clusters else 0)
        split_own = Mux(split_bank == clusters, self.basis_addr - clusters * n, 0)
        host_bank, host_word = Signal.like(split_bank), Signal.like(split_word)
        own_word, wdata = Signal.like(d.b_read_addr), Signal.like(self.basis_wdata)
        d.host_writes = Signal(clusters + 1)           # the registered write enable per bank
        m.d.sync += [host_bank.eq(split_bank), host_word.eq(split_word), own_word.eq(split_own),
                     wdata.eq(self.basis_wdata),
                     d.host_writes.eq(Cat(self.basis_we & ~self.busy & (split_bank == k)
                                          for k in range(clusters + 1)))]
        read_bank = Signal.like(host_bank)
        m.d.sync += read_bank.eq(host_bank)
        m.d.comb += self.basis_rdata.eq(Array(bank.rdata for bank in d.banks)[read_bank])
        for k, bank in enumerate(d.banks):
            m.d.comb += [
                bank.addr.eq(Mux(d.unit_reads, d.b_read_addr, own_word) if k == clusters else
                             Mux(d.unit_reads, d.slot_read_addr, host_word)),
                bank.wdata.eq(wdata),
                bank.we.eq(d.host_writes[k]),
            ]

    def _move_row_toward(self, m, d, target, waddr=None, factor=None):
        """Move the centroid-memory row at ``base`` toward ``target(v_j)`` by
        ``2**-centroid_shift``, a word per cycle (read, then write a cycle later, at ``waddr``,
        a register: ``d.waddr`` by default); returns the condition that holds in the cycle
        after the last write. With ``factor``, ``target`` gets ``factor * v_j``, registered
        first (its multiply headed the rank-4 build's critical path): each write comes a
        cycle later, ``n + 4`` cycles a row instead of ``n + 3``."""
        waddr = d.waddr if waddr is None else waddr
        # With the product's stage, the address is held a cycle more.
        fetched_addr = waddr if factor is None else Signal.like(waddr)
        m.d.sync += [d.fetched.eq(d.index < d.n), fetched_addr.eq(d.base + d.index)]
        with m.If(d.index < d.n):
            m.d.comb += [d.c_rd.addr.eq(d.base + d.index), d.x_rd.addr.eq(d.index)]
            m.d.sync += d.index.eq(d.index + 1)
        if factor is None:
            writing, old, moving = d.fetched, d.c_rd.data, target(d.x_rd.data)
        else:
            old = Signal.like(d.c_rd.data)
            product = Signal(signed(len(factor) + len(d.x_rd.data)))
            m.d.sync += [waddr.eq(fetched_addr), d.multiplied.eq(d.fetched),
                         old.eq(d.c_rd.data), product.eq(factor * d.x_rd.data)]
            writing, moving = d.multiplied, target(product)
        with m.If(writing):
            moved = old + fixed.round_shift(moving - old, self._config.learning.centroid_shift)
            m.d.comb += [d.c_wr.addr.eq(waddr), d.c_wr.data.eq(moved), d.c_wr.en.eq(1)]
        done = ~d.fetched & (d.index == d.n)
        return done if factor is None else done & ~d.multiplied

    def _load_states(self, m, d):
        """LOAD_X (the counts, shifted to vector words) -> BIAS (T appended) -> LOAD_E (the
        errors; the last one latches the sample's controls and starts the unit). Early, BIAS
        latches them and starts the unit, and the errors are taken beside the projection
        (:meth:`_take_errors`). Waiting for ``x``, the centroid and ``u`` memories are the
        host's read ports."""
        cfg, learn = self._config, self._config.learning
        frac, rank = learn.vector.frac_bits, learn.rank
        with m.State("LOAD_X"):
            # With the banks, a host write still pending holds the first word off.
            ready = ~d.host_writes.any() if self._parallel else C(1)
            taken = self.x.valid & ready if self._parallel else self.x.valid
            m.d.comb += [
                self.x.ready.eq(ready),
                d.x_wr.addr.eq(d.index), d.x_wr.data.eq(self.x.payload << frac),
                d.x_wr.en.eq(taken),
                d.c_rd.addr.eq(d.centroid_base + self.centroid_raddr),
                d.u_rd.addr.eq(self.u_raddr),
            ]
            with m.If(taken):
                m.d.sync += d.index.eq(d.index + 1)
                with m.If(d.index == d.n - 2):
                    m.next = "BIAS"
            if d.dots_on_load:
                self._dots_on_load_step(m, d, d.index, self.x.payload << frac, taken)

        def start():
            """Latch the sample's controls, raise ``busy`` and go to the first stage."""
            m.d.sync += [
                self.busy.eq(1), d.index.eq(0), d.slot.eq(0), d.acc.eq(0),
                d.fetched.eq(0), d.row.eq(0),
                d.base.eq(Mux(self.use_projector,
                              d.lowrank_base if rank else
                              d.centroid_row(self.own) if self._parallel else d.basis_base, 0)),
                d.lowrank.eq(self.use_projector if rank else 0),
                d.own.eq(self.own),
                d.own_base.eq(d.own_slot_base(self.own)),
                d.project.eq(self.use_projector), d.centroid.eq(self.update_centroid),
                d.step_shift.eq(self.step_shift),
            ]
            if d.streamed:
                m.d.sync += [d.sweep_armed.eq(0), d.swept.eq(0)]
            if d.dots_on_load:
                m.next = "DOTS_DRAIN"                     # every sample drains the dots
            else:
                with m.If(self.use_projector):
                    m.next = "DOT_ALL" if self._parallel and not rank else "DOT"
                with m.Else():
                    m.next = d.after_projection

        with m.State("BIAS"):
            m.d.comb += [d.x_wr.addr.eq(d.n - 1), d.x_wr.data.eq(cfg.timesteps << frac),
                         d.x_wr.en.eq(1)]
            m.d.sync += d.index.eq(0)
            if self._early:
                m.d.sync += d.e_count.eq(0)
            if self._early:
                m.d.sync += d.e_open.eq(1)
                start()
            else:
                m.next = "LOAD_E"
            if d.dots_on_load:
                # The bias word's slot words (start() sets fetched low: overridden here).
                self._dots_on_load_step(m, d, d.n - 1, cfg.timesteps << frac)
        if self._early:
            with m.State("WAIT_E"):
                if d.streamed:
                    # The rows may start now (projecting, they may have since the expansion
                    # started); done once they are.
                    m.d.sync += d.sweep_armed.eq(1)
                    with m.If(d.swept):
                        m.next = "DONE"
                else:
                    # The rows start from row 0, word 0 of the weights once every error is in.
                    m.d.sync += [d.row.eq(0), d.base.eq(0), d.index.eq(0), d.fetched.eq(0)]
                    with m.If(~d.e_open):
                        m.next = "ROW"
        else:
            with m.State("LOAD_E"):
                self._take_errors(m, d, start)

    def _early_errors(self, m, d):
        """Early, beside the state machine: the errors are taken from BIAS on (``e_open``),
        while the projection and the centroid move run."""
        def close():
            m.d.sync += d.e_open.eq(0)

        with m.If(d.e_open):
            self._take_errors(m, d, close)

    def _take_errors(self, m, d, on_last):
        """Take the ``e`` stream's word into the error memory (error ``i`` at row ``i``; with
        lanes, word ``k`` at row ``k`` of every lane's memory; ``d.e_count`` counts the words);
        ``on_last()`` adds what happens as the last one is taken."""
        m.d.comb += self.e.ready.eq(1)
        if self._lanes == 1:
            m.d.comb += [d.e_wr.addr.eq(d.e_count), d.e_wr.data.eq(self.e.payload),
                         d.e_wr.en.eq(self.e.valid)]
            last = d.rows - 1
        else:
            for b, (_, e_wr) in enumerate(d.e_ports):
                m.d.comb += [e_wr.addr.eq(d.e_count), e_wr.data.eq(self.e.payload[b]),
                             e_wr.en.eq(self.e.valid)]
            last = self._lane_rows - 1
        with m.If(self.e.valid):
            m.d.sync += d.e_count.eq(d.e_count + 1)
            with m.If(d.e_count == last):
                on_last()

    def _projection_states(self, m, d):
        """DOT (``a_k = q_k . w``, a MAC a cycle), TRACK (the low-rank tracker rows), EXPAND
        (``u_j = w_j - round_shift(sum_k +-a_k q_kj)``); the low-rank stage runs first."""
        learn, clusters = self._config.learning, self._config.clusters
        rank = learn.rank
        dot_data = Mux(d.lowrank, d.x_rd.data, d.cluster_input) if rank else d.x_rd.data

        def next_slot_base(k):
            # Cluster slots 0 .. C-1 are consecutive, the last one used is C + own; the low-rank
            # rows are consecutive.
            return Mux(~d.lowrank & (k + 1 == clusters), d.own_base, d.base + d.n)

        with m.State("DOT"):
            # a_k = sum_j q_kj v_j: a read of (q_kj, v_j) per cycle, accumulated a cycle later.
            # Addresses are driven only while in range (the memories have no word n).
            # The product is registered, and added a cycle later.
            m.d.sync += [d.fetched.eq(d.index < d.n), d.multiplied.eq(d.fetched),
                         d.product.eq(d.bmem.rdata * dot_data)]
            with m.If(d.index < d.n):
                m.d.comb += [d.b_read_addr.eq(d.base + d.index), d.x_rd.addr.eq(d.index),
                             d.u_rd.addr.eq(d.index)]
                m.d.sync += d.index.eq(d.index + 1)
            with m.If(d.multiplied):
                m.d.sync += d.acc.eq(d.acc + d.product)
            with m.Elif(~d.fetched & (d.index == d.n)):
                m.d.sync += [
                    d.coeff[d.slot].eq(fixed.saturate(fixed.round_shift(d.acc, learn.dot_shift),
                                                      learn.coeff)),
                    d.acc.eq(0), d.index.eq(0),
                ]
                with m.If(d.slot == d.last_slot):
                    m.d.sync += d.slot.eq(0)
                    if rank:
                        with m.If(d.lowrank):
                            m.d.sync += [d.base.eq(d.tracker_base), d.fetched.eq(0)]
                            m.next = "TRACK"
                        with m.Else():
                            m.d.sync += d.base.eq(d.basis_base)
                            m.next = "EXPAND"
                    else:
                        m.d.sync += d.base.eq(d.basis_base)
                        m.next = "EXPAND"
                with m.Else():
                    m.d.sync += [d.slot.eq(d.slot + 1), d.base.eq(next_slot_base(d.slot))]

        if rank:
            with m.State("TRACK"):
                # Y_kj += round_shift(saturate(round_shift(b_k v_j)) - Y_kj): row k = slot.
                def tracked(product):
                    return fixed.saturate(
                        fixed.round_shift(product, learn.coeff.frac_bits + learn.tracker_shift),
                        learn.vector)
                with m.If(self._move_row_toward(m, d, tracked, factor=d.coeff[d.slot])):
                    m.d.sync += d.index.eq(0)
                    with m.If(d.slot == rank - 1):
                        m.d.sync += [d.slot.eq(0), d.base.eq(d.lowrank_base), d.acc.eq(0)]
                        m.next = "EXPAND"
                    with m.Else():
                        m.d.sync += [d.slot.eq(d.slot + 1), d.base.eq(d.base + d.n)]

        with m.State("EXPAND"):
            # u_j = w_j - round_shift(sum_k +-a_k q_kj): inner loop over the slots. The
            # low-rank stage adds every slot back to a zero vector: w_j.
            m.d.comb += [d.x_rd.addr.eq(d.index), d.u_rd.addr.eq(d.index)]
            m.d.sync += [d.fetched.eq(d.slot <= d.last_slot), d.multiplied.eq(d.fetched),
                         d.product.eq(d.bmem.rdata * d.factor)]
            with m.If(d.slot <= d.last_slot):
                m.d.comb += d.b_read_addr.eq(d.base + d.index)
                negate = (d.slot == clusters) | d.lowrank
                m.d.sync += [
                    d.slot.eq(d.slot + 1), d.base.eq(next_slot_base(d.slot)),
                    d.factor.eq(Mux(negate, -d.coeff[d.slot], d.coeff[d.slot])),
                ]
            with m.If(d.multiplied):
                m.d.sync += d.acc.eq(d.acc + d.product)
            with m.Elif(~d.fetched & (d.slot == d.last_slot + 1)):
                correction = fixed.round_shift(d.acc, learn.expand_shift)
                minuend = Mux(d.lowrank, 0, d.cluster_input) if rank else d.cluster_input
                m.d.comb += [d.u_wr.addr.eq(d.index), d.u_wr.en.eq(1),
                             d.u_wr.data.eq(fixed.saturate(minuend - correction, learn.vector))]
                first_slot_base = Mux(d.lowrank, d.lowrank_base, d.basis_base) if rank \
                    else d.basis_base
                m.d.sync += [d.acc.eq(0), d.slot.eq(0), d.base.eq(first_slot_base)]
                with m.If(d.index == d.n - 1):
                    m.d.sync += d.index.eq(0)
                    if rank:
                        with m.If(d.lowrank):
                            m.d.sync += [d.lowrank.eq(0), d.fetched.eq(0),
                                         d.base.eq(d.centroid_row(d.own) if self._parallel
                                                   else d.basis_base)]
                            m.next = "DOT_ALL" if self._parallel else "DOT"
                        with m.Else():
                            m.d.sync += d.base.eq(0)
                            m.next = d.after_projection
                    else:
                        m.d.sync += d.base.eq(0)
                        m.next = d.after_projection
                with m.Else():
                    m.d.sync += d.index.eq(d.index + 1)

    def _slot_multipliers(self, m, d):
        """The parallel slots' multipliers, one per slot: ``d.products[k]`` is bank ``k``'s
        word times ``w_j`` (``d.cluster_input``; ``d.loaded`` when the dots run on the loads),
        or times the slot's coefficient while ``d.expanding``, registered; ``d.accs``: the
        dots' accumulators, ``d.add_products()`` adds the products to them."""
        learn, clusters = self._config.learning, self._config.clusters
        product_shape = signed(learn.basis.width + max(learn.vector.width, learn.coeff.width))
        d.products = [Signal(product_shape, name=f"product{k}") for k in range(clusters + 1)]
        d.accs = [Signal(d.acc.shape(), name=f"acc{k}") for k in range(clusters + 1)]
        d.expanding = Signal()
        if d.dots_on_load:
            d.loaded = Signal.like(d.cluster_input)   # the word whose slot words are read
        operand = d.loaded if d.dots_on_load else d.cluster_input
        m.d.sync += [product.eq(bank.rdata * Mux(d.expanding, d.coeff[k], operand))
                     for k, (product, bank) in enumerate(zip(d.products, d.banks,
                                                            strict=True))]

        def add_products():
            m.d.sync += [acc.eq(acc + product)
                         for acc, product in zip(d.accs, d.products, strict=True)]
        d.add_products = add_products

    def _dots_on_load_step(self, m, d, word, value, valid=None):
        """With the dots on the loads, a loading cycle's step of their pipeline: read word
        ``word`` of every slot for ``value`` (``w_j``) when ``valid`` (always when None),
        multiplied the next cycle (``d.fetched``), added the one after (``d.multiplied``)."""
        def read():
            own_base = d.own_slot_base(self.own)       # the controls are not latched yet
            m.d.comb += [d.unit_reads.eq(1), d.slot_read_addr.eq(word),
                         d.b_read_addr.eq(own_base + word)]
            m.d.sync += d.loaded.eq(value)
        if valid is None:
            read()
        else:
            with m.If(valid):
                read()
        m.d.sync += [d.fetched.eq(1 if valid is None else valid), d.multiplied.eq(d.fetched)]
        with m.If(d.multiplied):
            d.add_products()

    def _parallel_projection_states(self, m, d):
        """DOT_ALL (the ``C + 1`` dot products at once: a word of every slot read a cycle,
        multiplied the next, accumulated the one after) and EXPAND_ALL (``u_j`` from its
        ``C + 1`` terms: read, multiply, sum, write; the own centroid moves beside it); ``n + 4``
        and ``n + 5`` cycles for ``n`` layer inputs (the bias word is the ``n + 1``-th). One
        multiplier per slot serves both: its second operand is ``w_j``, then the slot's
        coefficient. With the dots on the loads (LOAD_X and BIAS), DOTS_DRAIN adds the last
        two words' products instead of DOT_ALL (3 cycles)."""
        learn, clusters = self._config.learning, self._config.clusters
        accs, products, expanding = d.accs, d.products, d.expanding
        summed = Signal()                                     # the sum of the terms is ready
        total = Signal(d.acc.shape())
        minuend = [Signal.like(d.cluster_input, name=f"minuend{i}") for i in range(2)]

        def read_slots():
            """Read word ``index`` of every slot and of ``w`` while in range."""
            m.d.sync += [d.fetched.eq(d.index < d.n), d.multiplied.eq(d.fetched)]
            with m.If(d.index < d.n):
                m.d.comb += [d.slot_read_addr.eq(d.index),
                             d.b_read_addr.eq(d.own_base + d.index), d.x_rd.addr.eq(d.index)]
                if learn.rank:                            # w: the cluster stage's input
                    m.d.comb += d.u_rd.addr.eq(d.index)
                m.d.sync += d.index.eq(d.index + 1)

        def finish_dots():
            m.d.sync += [
                d.coeff[k].eq(fixed.saturate(fixed.round_shift(acc, learn.dot_shift),
                                             learn.coeff))
                for k, acc in enumerate(accs)]
            m.d.sync += [acc.eq(0) for acc in accs]
            m.d.sync += [d.index.eq(0), d.waddr.eq(0), expanding.eq(1)]
            if d.streamed:
                # The rows may start now: projecting, behind the expansion (they read u); else
                # unless the centroid moves (it reads v, as they then do).
                m.d.sync += d.sweep_armed.eq(d.project | ~d.centroid)
            m.next = "EXPAND_ALL"

        if d.dots_on_load:
            with m.State("DOTS_DRAIN"):
                m.d.sync += [d.fetched.eq(0), d.multiplied.eq(d.fetched)]
                with m.If(d.multiplied):
                    d.add_products()
                with m.Elif(~d.fetched):
                    finish_dots()
                    with m.If(~d.project):                # the sums are cleared, not used
                        m.d.sync += expanding.eq(0)
                        m.next = d.after_projection
        else:
            with m.State("DOT_ALL"):
                read_slots()
                with m.If(d.multiplied):
                    d.add_products()
                with m.Elif(~d.fetched & (d.index == d.n)):
                    finish_dots()

        with m.State("EXPAND_ALL"):
            # u_j = w_j - round_shift(sum_k<C a_k q_kj - a_C q_Cj): slot C is added back.
            read_slots()
            # The own centroid moves beside (the same reads of v; d.base: its row).
            with m.If(d.centroid):
                self._move_row_toward(m, d, lambda v: v, waddr=d.c_waddr)
            m.d.sync += [summed.eq(d.multiplied),
                         total.eq(_tree_sum(products[:clusters]) - products[clusters]),
                         minuend[0].eq(d.cluster_input), minuend[1].eq(minuend[0])]
            with m.If(summed):
                correction = fixed.round_shift(total, learn.expand_shift)
                m.d.comb += [d.u_wr.addr.eq(d.waddr), d.u_wr.en.eq(1),
                             d.u_wr.data.eq(fixed.saturate(minuend[1] - correction,
                                                           learn.vector))]
                m.d.sync += d.waddr.eq(d.waddr + 1)
            with m.Elif(~d.fetched & ~d.multiplied & (d.index == d.n)):
                m.d.sync += [d.index.eq(0), d.base.eq(0), expanding.eq(0), d.centroid.eq(0)]
                m.next = d.after_projection

    def _update_states(self, m, d):
        """The rows (:meth:`_row_states`; streamed, in a state machine of their own beside
        this one: :meth:`_sweep`), the own centroid (CENTROID_START, CENTROID) and DONE."""
        if not d.streamed:
            def rows_done():
                m.next = d.after_rows
            self._row_states(m, d, d, rows_done)
        with m.State("CENTROID_START"):
            m.d.sync += [d.index.eq(0), d.fetched.eq(0), d.base.eq(d.centroid_row(d.own))]
            with m.If(d.centroid):
                m.next = "CENTROID"
            with m.Else():
                m.next = d.after_centroid
        with m.State("CENTROID"):
            with m.If(self._move_row_toward(m, d, lambda v: v)):
                m.next = d.after_centroid
        with m.State("DONE"):
            m.d.comb += self.done.eq(1)
            m.d.sync += [self.busy.eq(0), d.index.eq(0)]
            m.next = "LOAD_X"

    def _sweep(self, m, d):
        """Streamed, the rows in a state machine of their own (``d.sweep``'s registers),
        beside the projection: they start once the errors are in and ``d.sweep_armed`` (the
        expansion has started, or WAIT_E has been reached), and set ``d.swept`` when done."""
        rows = d.sweep
        with m.FSM(name="sweep"):
            with m.State("SWEEP_IDLE"):
                with m.If(d.sweep_armed & ~d.e_open & ~d.swept):
                    m.d.sync += [rows.row.eq(0), rows.base.eq(0), rows.index.eq(0),
                                 rows.fetched.eq(0)]
                    m.next = "ROW"

            def rows_done():
                m.d.sync += d.swept.eq(1)
                m.next = "SWEEP_IDLE"
            self._row_states(m, d, rows, rows_done)

    def _row_states(self, m, d, rows, rows_done):
        """ROW / ROW_CHECK (rows with a zero error skipped), COLUMNS (saturating
        read-modify-write of ``W_i.``, a word a cycle, through :class:`WeightStep`); then
        ``rows_done()``. ``rows`` holds the sweep's registers (``row``, ``base``, ``index``,
        ``fetched``, ``stepped``, ``waddr``, ``write_addr``). With lanes, ``row`` is a lane's
        row: the same row of every lane at once. Streamed, word ``j`` of a row is read only
        once the expansion has written ``u_j`` (``d.u_written``)."""
        lanes, lane_rows = self._lanes, self._lane_rows
        with m.State("ROW"):
            if lanes == 1:
                m.d.comb += d.e_rd.addr.eq(rows.row)
            else:
                m.d.comb += [e_rd.addr.eq(rows.row) for e_rd, _ in d.e_ports]
            m.next = "ROW_CHECK"

        def next_row():
            """On to the next row, or on after the last one."""
            with m.If(rows.row == (d.rows - 1 if lanes == 1 else lane_rows - 1)):
                rows_done()
            with m.Else():
                m.d.sync += [rows.row.eq(rows.row + 1), rows.base.eq(rows.base + d.n)]
                m.next = "ROW"

        with m.State("ROW_CHECK"):
            if lanes == 1:
                m.d.sync += [d.error.eq(d.e_rd.data), rows.index.eq(0), rows.fetched.eq(0)]
                changes = d.e_rd.data != 0
            else:
                # The last lanes' rows past the layer's neurons have no error word.
                errors = [Mux(LIFCore.lane_holds(self._config, self._layers[0], lanes, b,
                                                 rows.row), e_rd.data, 0)
                          for b, (e_rd, _) in enumerate(d.e_ports)]
                nonzero = Cat(error != 0 for error in errors)
                m.d.sync += [rows.index.eq(0), rows.fetched.eq(0), d.changing.eq(nonzero),
                             *(mine.eq(error) for mine, error in zip(d.errors, errors,
                                                                     strict=True))]
                changes = nonzero.any()
            with m.If(changes):
                m.next = "COLUMNS"
            with m.Else():
                next_row()
        with m.State("COLUMNS"):
            # Read a word (cycle 0), step it (1: the step's registers), write it (2).
            in_range = rows.index < d.n      # addresses are driven only while in range
            issue = in_range
            if d.streamed:
                # A read waits for u_j; its addresses need not (an unused read is harmless:
                # the stall kept off the address path, the ECP5 build's critical path).
                issue = in_range & (~d.project | (rows.index < d.u_written))
            m.d.sync += [rows.fetched.eq(issue), rows.waddr.eq(rows.base + rows.index),
                         rows.stepped.eq(rows.fetched), rows.write_addr.eq(rows.waddr)]
            with m.If(in_range):
                m.d.comb += self.weights.raddr.eq(rows.base + rows.index)
                if d.streamed:      # the expansion reads v meanwhile: only the source's port
                    with m.If(d.project):
                        m.d.comb += d.u_rd.addr.eq(rows.index)
                    with m.Else():
                        m.d.comb += d.x_rd.addr.eq(rows.index)
                else:
                    m.d.comb += [d.x_rd.addr.eq(rows.index), d.u_rd.addr.eq(rows.index)]
            with m.If(issue):
                m.d.sync += rows.index.eq(rows.index + 1)
            with m.If(rows.stepped):
                if lanes == 1:
                    m.d.comb += [self.weights.waddr.eq(rows.write_addr), self.weights.we.eq(1),
                                 self.weights.wdata.eq(d.step.wdata)]
                else:
                    m.d.comb += [self.weights.waddr.eq(rows.write_addr),
                                 self.weights.we.eq(d.changing),
                                 *(self.weights.wdata[b].eq(step.wdata)
                                   for b, step in enumerate(d.steps))]
            with m.Elif(~rows.fetched & (rows.index == d.n)):
                next_row()
