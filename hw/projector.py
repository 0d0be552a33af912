"""Cluster-orthogonal projector and rank-1 weight-update unit of one layer (or several)."""

from amaranth import *
from amaranth.lib import stream
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from . import fixed
from .formats import NetworkConfig
from .memory import SinglePortRAM
from .neuron import LayerComponent, weight_port_signature


__all__ = ["ProjectorUpdate"]


class ProjectorUpdate(LayerComponent):
    """Projects the presynaptic vector away from the other clusters and updates the weights.

    Bit-exact with :func:`loco_sw.golden.project`, :func:`~loco_sw.golden.weight_update` and
    :func:`~loco_sw.golden.centroid_update`. Per sample:

    1. ``x`` accepts the ``n`` presynaptic spike counts (the bias count ``T`` is appended here);
    2. ``e`` accepts the ``m`` per-neuron errors; the last one samples ``own``, ``use_projector``,
       ``update_centroid`` and ``step_shift`` and starts the unit (``busy`` rises);
    3. with the projector: with the low-rank part (``rank`` r > 0) first ``r`` dot products
       ``b_k = p_k . v``, the tracker rows ``Y_k`` moved toward ``b_k v`` and the low-rank part
       ``w = sum_k b_k p_k`` (:func:`loco_sw.golden.lowrank_part`,
       :func:`~loco_sw.golden.tracker_update`); then ``C + 1`` dot products ``a_k = q_k . w``
       (slots of :func:`loco_sw.golden.basis_slots`; ``w = v`` when r = 0), and
       ``u_j = w_j - sum_k +-a_k q_kj``; one MAC/cycle;
    4. ``W_ij -= round_shift(e_i u_j, shift + step_shift)`` over the ``weights`` port, one word
       per cycle, rows with ``e_i == 0`` skipped (saturating read-modify-write);
    5. optionally the own centroid moves toward ``v``; ``done`` pulses and ``busy`` falls.

    Cycles after the last ``e`` word, estimated from the state machine (not measured):
    ``(C + 1) * (n + 1) + 2`` (dots) + ``n * (C + 3)``
    (expansion) when projecting, plus ``r * (n + 1) + 2 + r * (n + 2) + n * (r + 2)`` with the
    low-rank part, ``2 m + (active rows) * (n + 2)`` (update),
    ``n + 2`` (centroid), 1 (done). The re-orthonormalisation of the bases is the host's job
    (see ``docs/design.md``): it writes them through ``basis_*``.

    Members
    -------
    x : ``In(stream.Signature(count))``; e : ``In(stream.Signature(delta))``
    own : ``In(range(C))``; use_projector, update_centroid : ``In(1)``
    step_shift : ``In(step_shift_bits)``
    busy, done : ``Out(1)``
    basis_addr, basis_wdata, basis_we, basis_rdata : basis memory port (``(2C + r) x (n + 1)``
        words; data one cycle later), the host's while ``busy`` is low
    centroid_raddr / centroid_rdata, u_raddr / u_rdata : read ports, data one cycle later, only
        while waiting for ``x`` (the centroid memory holds ``C + r`` rows: centroids, tracker)
    weights : ``Out(weight_port_signature(m * (n + 1), master))``
    layer_select : ``In(range(len(layers)))``
        With several layers (one unit shared by them, updating them one after another): which
        one; hold it from the first ``x`` word to ``done``, and while using the basis/centroid
        ports, whose addresses are relative to that layer's region.

    Parameters
    ----------
    config : NetworkConfig
    layer : int or tuple of int
        The layer this unit updates, or the layers it serves in turn.
    """

    def __init__(self, config: NetworkConfig, layer):
        layers = (layer,) if isinstance(layer, int) else tuple(layer)
        if not layers:
            raise TypeError("Layers must name at least one layer, not ()")
        for one in layers:
            self.check_layer(config, one)
        self._layers = layers
        self._ns = [config.sizes[one] + 1 for one in layers]
        self._ms = [config.sizes[one + 1] for one in layers]
        self._n, self._m = max(self._ns), max(self._ms)
        learn, n, clusters = config.learning, self._n, config.clusters
        basis_rows, centroid_rows = config.basis_rows, config.centroid_rows
        words = max(nl * ml for nl, ml in zip(self._ns, self._ms, strict=True))
        super().__init__(config, layers[0], {
            "layer_select":    In(range(len(layers))),
            "x":               In(stream.Signature(range(config.timesteps + 1))),
            "e":               In(stream.Signature(fixed.shape(learn.delta))),
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
            "weights":         Out(weight_port_signature(words, fixed.shape(learn.master))),
        })

    @property
    def layers(self):
        return self._layers

    def elaborate(self, platform):
        m = Module()
        cfg, learn, clusters = self._config, self._config.learning, self._config.clusters
        rank, basis_rows, centroid_rows = learn.rank, cfg.basis_rows, cfg.centroid_rows
        ns, ms = self._ns, self._ms
        frac = learn.vector.frac_bits

        def table(values):
            """The entry of ``values`` for the selected layer (a constant with one layer)."""
            if len(values) == 1:
                return C(values[0], range(values[0] + 1))
            return Array(C(v, range(max(values) + 1)) for v in values)[self.layer_select]

        n, rows = table(ns), table(ms)
        basis_base = table([sum(basis_rows * k for k in ns[:i]) for i in range(len(ns))])
        centroid_base = table([sum(centroid_rows * k for k in ns[:i]) for i in range(len(ns))])
        shifts = {learn.weight_shift_for(one, cfg.layers) for one in self._layers}
        readout = table([int(one == cfg.layers - 1) for one in self._layers])

        def memory(name, fmt, depth):
            mem = Memory(shape=fixed.shape(fmt), depth=depth, init=[])
            m.submodules[name] = mem
            return mem.read_port(), mem.write_port()

        x_rd, x_wr = memory("xmem", learn.vector, max(ns))      # v = counts << frac
        u_rd, u_wr = memory("umem", learn.vector, max(ns))      # projected vector
        e_rd, e_wr = memory("emem", learn.delta, max(ms))       # per-neuron errors
        # The bases are the host's while idle and the unit's while busy: one port will do.
        m.submodules.bmem = bmem = SinglePortRAM(fixed.shape(learn.basis),
                                                 basis_rows * sum(ns))
        b_read_addr = Signal.like(bmem.addr)
        c_rd, c_wr = memory("cmem", learn.vector, centroid_rows * sum(ns))

        coeff = Array(Signal(fixed.shape(learn.coeff), name=f"coeff{k}")
                      for k in range(clusters + 1))
        top_n, top_m = max(ns), max(ms)
        index   = Signal(range(max(top_n, top_m) + 1))  # inner position j (or row i on loads)
        slot    = Signal(range(clusters + 2))           # basis slot k in the dot/expand loops
        row     = Signal(range(top_m))
        base    = Signal(range(max(basis_rows * sum(ns), top_m * top_n) + 1))
        own_base = Signal.like(base)                    # first word of slot C + own
        waddr   = Signal.like(base)
        fetched = Signal()
        # Wide enough for the longer of the two sums: n products (dot) or C + 1 (expand).
        acc     = Signal(signed(learn.basis.width + max(learn.vector.width, learn.coeff.width + 1)
                                + max(top_n, clusters + 1).bit_length()))
        # Coefficient of the slot read last cycle; one bit wider, as the add-back slot negates.
        factor  = Signal(signed(learn.coeff.width + 1))
        error   = Signal(fixed.shape(learn.delta))
        own     = Signal(range(clusters))
        project = Signal()
        centroid = Signal()
        step_shift = Signal.like(self.step_shift)
        lowrank = Signal()                              # the low-rank stage of the projection
        source_data = Mux(project, u_rd.data, x_rd.data)
        # The cluster stage projects w (umem) with the low-rank part, else v (xmem).
        cluster_input = u_rd.data if rank else x_rd.data
        dot_data = Mux(lowrank, x_rd.data, cluster_input) if rank else x_rd.data
        last_slot = Mux(lowrank, rank - 1, clusters) if rank else C(clusters)

        m.d.comb += [
            bmem.addr.eq(Mux(self.busy, b_read_addr, basis_base + self.basis_addr)),
            bmem.wdata.eq(self.basis_wdata), bmem.we.eq(self.basis_we & ~self.busy),
            self.basis_rdata.eq(bmem.rdata),
            self.centroid_rdata.eq(c_rd.data),
            self.u_rdata.eq(u_rd.data),
        ]

        def table_product(values, factor):
            """``factor * values[selected layer]`` (constant multiplications, then a mux)."""
            if len(values) == 1:
                return factor * values[0]
            return Array(factor * v for v in values)[self.layer_select]

        lowrank_base = basis_base + table_product(ns, 2 * clusters)
        tracker_base = centroid_base + table_product(ns, clusters)

        def next_slot_base(k):
            # Cluster slots 0 .. C-1 are consecutive, the last one used is C + own; the low-rank
            # rows are consecutive.
            return Mux(~lowrank & (k + 1 == clusters), own_base, base + n)

        def move_row_toward(target):
            """Move the centroid-memory row at ``base`` toward ``target(v_j)`` by
            ``2**-centroid_shift``, a word per cycle (read, then write a cycle later); returns
            the condition that holds in the cycle after the last write."""
            m.d.sync += [fetched.eq(index < n), waddr.eq(base + index)]
            with m.If(index < n):
                m.d.comb += [c_rd.addr.eq(base + index), x_rd.addr.eq(index)]
                m.d.sync += index.eq(index + 1)
            with m.If(fetched):
                moved = c_rd.data + fixed.round_shift(target(x_rd.data) - c_rd.data,
                                                      learn.centroid_shift)
                m.d.comb += [c_wr.addr.eq(waddr), c_wr.data.eq(moved), c_wr.en.eq(1)]
            return ~fetched & (index == n)

        def first_slot_base():
            return Mux(lowrank, lowrank_base, basis_base) if rank else basis_base

        with m.FSM():
            with m.State("LOAD_X"):
                m.d.comb += [
                    self.x.ready.eq(1),
                    x_wr.addr.eq(index), x_wr.data.eq(self.x.payload << frac),
                    x_wr.en.eq(self.x.valid),
                    c_rd.addr.eq(centroid_base + self.centroid_raddr),
                    u_rd.addr.eq(self.u_raddr),
                ]
                with m.If(self.x.valid):
                    m.d.sync += index.eq(index + 1)
                    with m.If(index == n - 2):
                        m.next = "BIAS"
            with m.State("BIAS"):
                m.d.comb += [x_wr.addr.eq(n - 1), x_wr.data.eq(cfg.timesteps << frac),
                             x_wr.en.eq(1)]
                m.d.sync += index.eq(0)
                m.next = "LOAD_E"
            with m.State("LOAD_E"):
                m.d.comb += [
                    self.e.ready.eq(1),
                    e_wr.addr.eq(index), e_wr.data.eq(self.e.payload), e_wr.en.eq(self.e.valid),
                ]
                with m.If(self.e.valid):
                    m.d.sync += index.eq(index + 1)
                    with m.If(index == rows - 1):
                        m.d.sync += [
                            self.busy.eq(1), index.eq(0), slot.eq(0), acc.eq(0),
                            fetched.eq(0), row.eq(0),
                            base.eq(Mux(self.use_projector,
                                        lowrank_base if rank else basis_base, 0)),
                            lowrank.eq(self.use_projector if rank else 0),
                            own.eq(self.own),
                            own_base.eq(basis_base + table_product(ns, clusters + self.own)),
                            project.eq(self.use_projector), centroid.eq(self.update_centroid),
                            step_shift.eq(self.step_shift),
                        ]
                        with m.If(self.use_projector):
                            m.next = "DOT"
                        with m.Else():
                            m.next = "ROW"

            with m.State("DOT"):
                # a_k = sum_j q_kj v_j: a read of (q_kj, v_j) per cycle, accumulated a cycle later.
                # Addresses are driven only while in range (the memories have no word n).
                m.d.sync += fetched.eq(index < n)
                with m.If(index < n):
                    m.d.comb += [b_read_addr.eq(base + index), x_rd.addr.eq(index),
                                 u_rd.addr.eq(index)]
                    m.d.sync += index.eq(index + 1)
                with m.If(fetched):
                    m.d.sync += acc.eq(acc + bmem.rdata * dot_data)
                with m.Elif(index == n):
                    m.d.sync += [
                        coeff[slot].eq(fixed.saturate(fixed.round_shift(acc, learn.dot_shift),
                                                      learn.coeff)),
                        acc.eq(0), index.eq(0),
                    ]
                    with m.If(slot == last_slot):
                        m.d.sync += slot.eq(0)
                        if rank:
                            with m.If(lowrank):
                                m.d.sync += [base.eq(tracker_base), fetched.eq(0)]
                                m.next = "TRACK"
                            with m.Else():
                                m.d.sync += base.eq(basis_base)
                                m.next = "EXPAND"
                        else:
                            m.d.sync += base.eq(basis_base)
                            m.next = "EXPAND"
                    with m.Else():
                        m.d.sync += [slot.eq(slot + 1), base.eq(next_slot_base(slot))]

            if rank:
                with m.State("TRACK"):
                    # Y_kj += round_shift(saturate(round_shift(b_k v_j)) - Y_kj): row k = slot.
                    def tracked(v):
                        return fixed.saturate(
                            fixed.round_shift(coeff[slot] * v,
                                              learn.coeff.frac_bits + learn.tracker_shift),
                            learn.vector)
                    with m.If(move_row_toward(tracked)):
                        m.d.sync += index.eq(0)
                        with m.If(slot == rank - 1):
                            m.d.sync += [slot.eq(0), base.eq(lowrank_base), acc.eq(0)]
                            m.next = "EXPAND"
                        with m.Else():
                            m.d.sync += [slot.eq(slot + 1), base.eq(base + n)]

            with m.State("EXPAND"):
                # u_j = w_j - round_shift(sum_k +-a_k q_kj): inner loop over the slots. The
                # low-rank stage adds every slot back to a zero vector: w_j.
                m.d.comb += [x_rd.addr.eq(index), u_rd.addr.eq(index)]
                m.d.sync += fetched.eq(slot <= last_slot)
                with m.If(slot <= last_slot):
                    m.d.comb += b_read_addr.eq(base + index)
                    negate = (slot == clusters) | lowrank
                    m.d.sync += [
                        slot.eq(slot + 1), base.eq(next_slot_base(slot)),
                        factor.eq(Mux(negate, -coeff[slot], coeff[slot])),
                    ]
                with m.If(fetched):
                    m.d.sync += acc.eq(acc + bmem.rdata * factor)
                with m.Elif(slot == last_slot + 1):
                    correction = fixed.round_shift(acc, learn.expand_shift)
                    minuend = Mux(lowrank, 0, cluster_input) if rank else cluster_input
                    m.d.comb += [u_wr.addr.eq(index), u_wr.en.eq(1),
                                 u_wr.data.eq(fixed.saturate(minuend - correction,
                                                             learn.vector))]
                    m.d.sync += [acc.eq(0), slot.eq(0), base.eq(first_slot_base())]
                    with m.If(index == n - 1):
                        m.d.sync += index.eq(0)
                        if rank:
                            with m.If(lowrank):
                                m.d.sync += [lowrank.eq(0), base.eq(basis_base), fetched.eq(0)]
                                m.next = "DOT"
                            with m.Else():
                                m.d.sync += base.eq(0)
                                m.next = "ROW"
                        else:
                            m.d.sync += base.eq(0)
                            m.next = "ROW"
                    with m.Else():
                        m.d.sync += index.eq(index + 1)

            with m.State("ROW"):
                m.d.comb += e_rd.addr.eq(row)
                m.next = "ROW_CHECK"
            with m.State("ROW_CHECK"):
                m.d.sync += [error.eq(e_rd.data), index.eq(0), fetched.eq(0)]
                with m.If(e_rd.data != 0):
                    m.next = "COLUMNS"
                with m.Elif(row == rows - 1):
                    m.next = "CENTROID_START"
                with m.Else():
                    m.d.sync += [row.eq(row + 1), base.eq(base + n)]
                    m.next = "ROW"
            with m.State("COLUMNS"):
                # Saturating read-modify-write of W_i., one word per cycle.
                m.d.sync += [fetched.eq(index < n), waddr.eq(base + index)]
                with m.If(index < n):
                    m.d.comb += [self.weights.raddr.eq(base + index),
                                 x_rd.addr.eq(index), u_rd.addr.eq(index)]
                    m.d.sync += index.eq(index + 1)
                with m.If(fetched):
                    product = error * source_data

                    def rounded(extra):
                        if len(shifts) == 1:
                            return fixed.round_shift(product, next(iter(shifts)) + extra)
                        return Mux(readout,
                                   fixed.round_shift(product, learn.readout_update_shift + extra),
                                   fixed.round_shift(product, learn.update_shift + extra))
                    step = Array(rounded(extra) for extra in
                                 range(1 << learn.step_shift_bits))[step_shift]
                    m.d.comb += [
                        self.weights.waddr.eq(waddr), self.weights.we.eq(1),
                        self.weights.wdata.eq(fixed.saturate(self.weights.rdata - step,
                                                             learn.master)),
                    ]
                with m.Elif(index == n):
                    with m.If(row == rows - 1):
                        m.next = "CENTROID_START"
                    with m.Else():
                        m.d.sync += [row.eq(row + 1), base.eq(base + n)]
                        m.next = "ROW"

            with m.State("CENTROID_START"):
                m.d.sync += [index.eq(0), fetched.eq(0),
                             base.eq(centroid_base + table_product(ns, own))]
                with m.If(centroid):
                    m.next = "CENTROID"
                with m.Else():
                    m.next = "DONE"
            with m.State("CENTROID"):
                with m.If(move_row_toward(lambda v: v)):
                    m.next = "DONE"
            with m.State("DONE"):
                m.d.comb += self.done.eq(1)
                m.d.sync += [self.busy.eq(0), index.eq(0)]
                m.next = "LOAD_X"
        return m
