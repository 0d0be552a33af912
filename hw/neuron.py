"""Time-multiplexed LIF layer: weights and membranes in memories, spike-driven accumulation."""

from amaranth import *
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from . import fixed
from .formats import NetworkConfig


__all__ = ["weight_port_signature", "lane_port_signature", "LayerComponent", "LIFCore"]


def weight_port_signature(depth: int, data_shape) -> wiring.Signature:
    """A synchronous memory seen from its user: ``rdata`` is the word at ``raddr`` one cycle
    later (the old word if it is written in the same cycle); ``wdata`` is written at ``waddr``
    on the edge where ``we`` is high."""
    return wiring.Signature({
        "raddr": Out(range(depth)),
        "rdata": In(data_shape),
        "waddr": Out(range(depth)),
        "wdata": Out(data_shape),
        "we":    Out(1),
    })


def lane_port_signature(lanes: int, depth: int, data_shape) -> wiring.Signature:
    """The weight memories of ``lanes`` neuron lanes seen from a user that accesses the same
    word of every lane at once (:class:`LIFCore`'s ``lane_weights``): ``raddr``/``waddr`` are
    addresses in a lane's memory of ``depth`` words, ``rdata``/``wdata`` and ``we`` have one
    entry per lane; timing as :func:`weight_port_signature`. ``active`` says the port, not the
    flat one, drives the memories."""
    return wiring.Signature({
        "active": Out(1),
        "raddr":  Out(range(depth)),
        "rdata":  In(data.ArrayLayout(data_shape, lanes)),
        "waddr":  Out(range(depth)),
        "wdata":  Out(data.ArrayLayout(data_shape, lanes)),
        "we":     Out(lanes),
    })


class LayerComponent(wiring.Component):
    """A component that computes layer ``layer`` of a :class:`~hw.formats.NetworkConfig`.

    Raises
    ------
    TypeError
        If ``config`` is not a ``NetworkConfig`` or ``layer`` is not one of its layers.
    """

    @staticmethod
    def check_layer(config, layer) -> None:
        """Raise the documented ``TypeError`` unless ``layer`` is a layer of ``config``."""
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"Config must be a NetworkConfig, not {config!r}")
        if not isinstance(layer, int) or layer not in range(config.layers):
            raise TypeError(f"Layer must be an integer in [0, {config.layers}), not {layer!r}")

    def __init__(self, config: NetworkConfig, layer: int, members: dict):
        self.check_layer(config, layer)
        self._config = config
        self._layer = layer
        super().__init__(members)

    @property
    def config(self):
        return self._config

    @property
    def layer(self):
        return self._layer


class LIFCore(LayerComponent):
    """One layer of ``m`` neurons with ``n`` inputs, one neuron per lane at a time, for the
    two passes of a training sample in the same steps.

    Bit-exact with :func:`loco_sw.golden.lif_step` over
    :func:`loco_sw.golden.layer_currents`, per pass: every step each neuron adds the forward
    weights (``master >> weight_shift``) of the inputs that spiked, its bias and, in a perturbed
    pass, ``+-sigma``, then leaks, saturates, fires and soft-resets (or only integrates, for the
    readout layer). Pass 0 is a sample's first pass; with ``both`` set, pass 1 (the second)
    runs in the same step, neuron by neuron, on its own membranes and spikes.

    The inputs come in one of two ways. By default as spike vectors, one per pass
    (``spikes_in``), whose weights are read lowest input first. With ``listed_inputs`` (layer 0:
    both passes see the same encoded input) as a *list* of the inputs that spiked, appended
    while idle: the weight address is the list word plus the row base (no ``n``-bit priority
    encoder on the path: at ``n = 784`` that encoder limited the clock), and a neuron's input
    sum is read once and serves both passes. With ``appends = A`` of 2 or 4 up to ``A`` inputs
    are appended a cycle (an encoder of ``A`` inputs a cycle): the list is kept in ``A``
    memories, entry ``e`` in memory ``e % A``.

    With ``lanes`` > 1 the neurons are split into lanes of ``g = ceil(m / lanes)``: lane ``b``
    holds neurons ``b g ... b g + g - 1``, their weight rows in a memory of its own and their
    membranes in another. Every lane reads the same word (its neuron's weight of the same input)
    each cycle and fires its neuron in the same cycle, so a step takes ``g`` neuron times
    instead of ``m``; their FIRE runs in two stages (the terms beside the input sum registered
    the cycle before: :meth:`_staged_fire`), in the same cycles. The weight port keeps the flat
    row-major addresses (lane and word found by comparing the address with constants), so the
    update unit and the host do not change.
    With ``lane_port`` a second port, ``lane_weights``, reaches the same word of every lane at
    once (an update unit that changes a row of every lane at a time); while its ``active`` is
    high it drives the memories instead of ``weights``.

    Protocol: hold ``negative``, ``invert``, ``perturb``, ``first``, ``both`` while ``busy``;
    pulse ``start`` while ``busy`` is low. The step's inputs are taken at ``start``: the vector
    ``spikes_in`` is sampled then (it may change while the core runs), and (listed inputs) the
    list is the inputs appended (``append`` with ``append_index``, once per input that spiked,
    in any order; with ``appends`` above 1, ``append`` bit ``k`` appends ``append_index[k]``,
    lower bits' first) since the previous ``start`` — appends may go on while the core runs, for the
    next step (double-buffered list); an append in the ``start`` cycle belongs to the next
    step. ``busy`` rises on the next cycle and falls when ``spikes_out`` holds the step's spikes.
    ``first`` treats every membrane as zero (the first step of a pass).
    Latency: ``1 + g (a0 + 3)`` cycles, where ``a_p`` is the number of inputs that spiked in
    pass ``p``; with ``both``, ``+ g`` (listed inputs) or ``+ g (a1 + 3)``. Inputs that did not
    spike cost nothing.

    Parameters
    ----------
    config : NetworkConfig
    layer : int
        Which layer (0-based) of ``config`` this core computes.
    init : list of int, optional
        Initial master weight words, row-major ``(m, n + 1)``, bias last in each row.
    listed_inputs : bool
        The inputs come as a list of spiking inputs, the same for both passes.
    appends : int
        Inputs appended to the list a cycle at most, 1, 2 or 4 (listed inputs).
    lanes : int
        Neuron lanes (see above); no lane may be left without neurons.
    lane_port : bool
        Add the ``lane_weights`` port (see above).

    Members
    -------
    spikes_in : ``In(ArrayLayout(n, 2))``        per pass (vector inputs)
    append : ``In(appends)``; append_index : ``In(range(n))``, with ``appends`` above 1
    ``In(ArrayLayout(range(n), appends))``   (listed inputs)
    negative : ``In(m)``
        Per neuron, perturbation sign (1: ``-sigma``); used in a pass whose ``perturb`` is set.
    invert, perturb : ``In(2)``
        Per pass (bit ``p``): flip every sign (the antithetic first pass, perturbed by
        ``-xi``); add the perturbation.
    first, both, start : ``In(1)``
    busy : ``Out(1)``
    spikes_out : ``Out(ArrayLayout(m, 2))``      per pass
    v_pass : ``In(1)``; v_addr : ``In(range(m))``; v_data : ``Out(membrane)``;
    count_data : ``Out(range(T + 1))``
        Membrane and spike count (since the last ``first`` step) read port of pass ``v_pass``,
        data one cycle after the address, valid while idle.
    weights : ``In(weight_port_signature(m * (n + 1), master))``
        Master weight port for the learning unit; honoured only while idle. With ``lane_port``
        it is the host's alone: its addresses are split into (lane, word) and registered
        before they reach the memories, so ``rdata`` comes three cycles after ``raddr`` (each
        lane's word also registered before the lane is chosen) and a write lands a cycle
        after it is asked for (as reads are addressed a cycle later, a read asked for after a
        write still sees it).
    lane_weights : ``In(lane_port_signature(lanes, g * (n + 1), master))``
        With ``lane_port``: the same word of every lane at once (lane ``b``'s word ``k (n + 1)
        + j`` is weight ``j`` of neuron ``b g + k``); honoured only while idle.
    """

    def __init__(self, config: NetworkConfig, layer: int, *, init=None, listed_inputs=False,
                 appends=1, lanes=1, lane_port=False):
        self.check_layer(config, layer)
        self._n, self._m = config.sizes[layer], config.sizes[layer + 1]
        self._listed = bool(listed_inputs)
        if appends not in (1, 2, 4) or isinstance(appends, bool) or \
                (appends > 1 and not self._listed):
            raise ValueError(f"Appends must be 1, or 2 or 4 with listed inputs, not {appends!r}")
        self._appends = appends
        self._lanes, self._rows = lanes, self.lane_rows(config, layer, lanes)
        self._lane_port = bool(lane_port)
        depth = self._m * (self._n + 1)
        if init is not None and len(init) != depth:
            raise ValueError(f"Initial weights must have {depth} words, not {len(init)}")
        self._init = list(init) if init is not None else [0] * depth
        lif = config.lif(layer)
        if self._listed:
            index = range(self._n) if appends == 1 else data.ArrayLayout(range(self._n), appends)
            inputs = {"append": In(appends), "append_index": In(index)}
        else:
            inputs = {"spikes_in": In(data.ArrayLayout(self._n, 2))}
        super().__init__(config, layer, {
            **inputs,
            "negative":   In(self._m),
            "invert":     In(2),
            "perturb":    In(2),
            "first":      In(1),
            "both":       In(1),
            "start":      In(1),
            "busy":       Out(1),
            "spikes_out": Out(data.ArrayLayout(self._m, 2)),
            "v_pass":     In(1),
            "v_addr":     In(range(self._m)),
            "v_data":     Out(fixed.shape(lif.membrane)),
            "count_data": Out(range(config.timesteps + 1)),
            "weights":    In(weight_port_signature(depth, fixed.shape(config.learning.master))),
            **({"lane_weights": In(lane_port_signature(
                lanes, self._rows * (self._n + 1), fixed.shape(config.learning.master)))}
               if self._lane_port else {}),
        })

    @staticmethod
    def lane_rows(config, layer, lanes) -> int:
        """Neurons per lane, ``ceil(m / lanes)``, of layer ``layer`` in ``lanes`` lanes.

        Raises
        ------
        ValueError
            Unless ``lanes`` is a positive integer that leaves no lane without neurons.
        """
        count = config.sizes[layer + 1]
        rows = -(-count // lanes) if isinstance(lanes, int) and lanes > 0 else 0
        if not isinstance(lanes, int) or isinstance(lanes, bool) or lanes < 1 or \
                (lanes - 1) * rows >= count:
            raise ValueError(f"Lanes must be a positive integer that leaves no lane without "
                             f"neurons (layer {layer} has {count}), not {lanes!r}")
        return rows

    @staticmethod
    def lane_holds(config, layer, lanes, lane, row):
        """Whether row ``row`` (a value) of lane ``lane`` of ``layer`` in ``lanes`` lanes is one
        of the layer's neurons: only the last lanes' rows can lie past them."""
        rows, count = LIFCore.lane_rows(config, layer, lanes), config.sizes[layer + 1]
        return C(1) if (lane + 1) * rows <= count else lane * rows + row < count

    @property
    def listed_inputs(self):
        return self._listed

    @property
    def appends(self):
        return self._appends

    @property
    def lanes(self):
        return self._lanes

    def _split(self, m, address, unit):
        """``(lane, local)`` of a flat ``address`` into memories of ``unit`` words per lane
        (lane ``b`` holds flat words ``b unit`` up to ``(b + 1) unit``): comparisons with
        constants, no divider."""
        if self._lanes == 1:
            return C(0, 1), address
        lane = Signal(range(self._lanes))
        local = Signal(range(unit))
        m.d.comb += [lane.eq(0), local.eq(address)]
        for b in range(1, self._lanes):
            with m.If(address >= b * unit):
                m.d.comb += [lane.eq(b), local.eq(address - b * unit)]
        return lane, local

    def elaborate(self, platform):
        m = Module()
        cfg, n = self._config, self._n
        lanes, rows = self._lanes, self._rows
        lif = cfg.lif(self._layer)
        lane_words = rows * (n + 1)

        # Lane b holds neurons b rows ... (b + 1) rows - 1: its weight rows in a memory of its
        # own and its membrane words (neuron b rows + k of pass p at 2 k + p, beside the
        # spike count of that pass) in another. All lanes read the same address.
        count_bits = (cfg.timesteps + 1).bit_length()
        state = data.StructLayout({"v": fixed.shape(lif.membrane), "count": count_bits})
        padded = self._init + [0] * (lanes * lane_words - len(self._init))
        w_rds, w_wrs, v_rds, v_wrs = [], [], [], []
        for b in range(lanes):
            suffix = "" if lanes == 1 else str(b)
            wmem = Memory(shape=fixed.shape(cfg.learning.master), depth=lane_words,
                          init=padded[b * lane_words:(b + 1) * lane_words])
            vmem = Memory(shape=state, depth=2 * rows, init=[])
            m.submodules[f"wmem{suffix}"], m.submodules[f"vmem{suffix}"] = wmem, vmem
            w_rds.append(wmem.read_port())
            w_wrs.append(wmem.write_port())
            v_rds.append(vmem.read_port())
            v_wrs.append(vmem.write_port())

        group   = Signal(range(rows))    # neuron k of every lane
        base    = Signal(range(lane_words))
        fetched = Signal()               # a weight read was issued last cycle
        acc_bits = lif.weight.width + (n + 1).bit_length() + 2   # sums of forward weights

        def named(name, b):
            """A per-lane signal's name (numbered only with several lanes)."""
            return name if lanes == 1 else f"{name}{b}"
        accs    = [Signal(signed(acc_bits), name=named("acc", b)) for b in range(lanes)]
        first   = Signal()
        both    = Signal()
        this_pass = Signal()             # the pass being accumulated or fired
        read_pass = Signal()             # whose membrane word is read for the next FIRE
        weight_addr = Signal(range(lane_words))     # every lane's weight read address

        # The update unit's and the host's flat addresses, and the membrane reads when idle.
        raddr_lane, raddr_local = self._split(m, self.weights.raddr, lane_words)
        waddr_lane, waddr_local = self._split(m, self.weights.waddr, lane_words)
        v_lane, v_local = self._split(m, self.v_addr, rows)
        if self._lane_port:
            # The host's port (this core's alone): the split addresses registered before the
            # memories, a write's enable per lane (the host's flat address through the split
            # into layer 1's ten lane memories headed the ECP5 build's critical path).
            split = raddr_lane, raddr_local, waddr_local
            raddr_lane, raddr_local, waddr_local = (Signal.like(one) for one in split)
            wdata, host_we = Signal.like(self.weights.wdata), Signal(lanes)
            m.d.sync += [raddr_lane.eq(split[0]), raddr_local.eq(split[1]),
                         waddr_local.eq(split[2]), wdata.eq(self.weights.wdata),
                         host_we.eq(Cat(self.weights.we & ~self.busy & (waddr_lane == b)
                                        for b in range(lanes)))]
        rdata_lane, v_data_lane = Signal.like(raddr_lane), Signal.like(v_lane)
        m.d.sync += [rdata_lane.eq(raddr_lane), v_data_lane.eq(v_lane)]
        for b in range(lanes):
            if self._lane_port:
                port = self.lane_weights
                writes = [
                    w_wrs[b].addr.eq(Mux(port.active, port.waddr, waddr_local)),
                    w_wrs[b].data.eq(Mux(port.active, port.wdata[b], wdata)),
                    w_wrs[b].en.eq(Mux(port.active, port.we[b] & ~self.busy, host_we[b])),
                    port.rdata[b].eq(w_rds[b].data),
                ]
            else:
                writes = [
                    w_wrs[b].addr.eq(waddr_local),
                    w_wrs[b].data.eq(self.weights.wdata),
                    w_wrs[b].en.eq(self.weights.we & ~self.busy & (waddr_lane == b)),
                ]
            m.d.comb += [
                w_rds[b].addr.eq(weight_addr),
                *writes,
                v_rds[b].addr.eq(Mux(self.busy, Cat(read_pass, group),
                                     Cat(self.v_pass, v_local))),
            ]
        v_word = Array(v_rd.data for v_rd in v_rds)[v_data_lane] if lanes > 1 else v_rds[0].data
        words, words_lane = [w_rd.data for w_rd in w_rds], rdata_lane
        if self._lane_port:
            # The flat port is the host's alone: each lane's read data registered beside its
            # memory before the lane is chosen (the memories, spread over the die, into the
            # host's reply register were the ECP5 build's critical path).
            words = [Signal.like(w_rd.data, name=named("host_word", b))
                     for b, w_rd in enumerate(w_rds)]
            words_lane = Signal.like(rdata_lane)
            m.d.sync += [*(word.eq(w_rd.data) for word, w_rd in zip(words, w_rds, strict=True)),
                         words_lane.eq(rdata_lane)]
        m.d.comb += [
            self.weights.rdata.eq(Array(words)[words_lane] if lanes > 1 else words[0]),
            self.v_data.eq(v_word.v),
            self.count_data.eq(v_word.count),
        ]

        # Each lane's perturbation sign of the group's neuron, registered: the group changes as
        # ACCUMULATE starts, which lasts two cycles or more before FIRE (the ``m``-way choice
        # was the head of both builds' critical path, into the membrane sum).
        signs = [Signal(name=named("sign", b)) for b in range(lanes)]
        chosen = [self.negative[b * rows:(b + 1) * rows].bit_select(group, 1)
                  for b in range(lanes)]
        m.d.sync += [sign.eq(one) for sign, one in zip(signs, chosen, strict=True)]
        if lanes > 1:
            # The passes' controls, which reach every lane, are taken at ``start`` into
            # registers of the core's own (the learner's command register, 4.25 ns of routing
            # away from 32 lanes, headed the ECP5's critical path); they are held while busy.
            invert, perturb = Signal.like(self.invert), Signal.like(self.perturb)
            with m.If(~self.busy):
                m.d.sync += [invert.eq(self.invert), perturb.eq(self.perturb)]
        else:
            invert, perturb = self.invert, self.perturb

        def membrane_terms(b, pass_):
            """Lane ``b``'s neuron's terms beside its input sum, from the membrane word on the
            read port, of pass ``pass_``: (leaked membrane, perturbation, old spike count)."""
            sigma = cfg.noise_amplitude_raw
            v_old  = Mux(first, 0, v_rds[b].data.v)
            count_old = Mux(first, 0, v_rds[b].data.count)
            negative = signs[b] ^ invert.bit_select(pass_, 1)
            noise  = Mux(perturb.bit_select(pass_, 1), Mux(negative, -sigma, sigma), 0)
            v_leak = v_old - (v_old >> lif.leak_shift) if lif.leak_shift else v_old
            return v_leak, noise, count_old

        def single_stage_fire(b):
            """Lane ``b``'s neuron of this group: (membrane and count to write, spike)."""
            v_leak, noise, count_old = membrane_terms(b, this_pass)
            current = accs[b] + noise
            v_sum  = Signal(fixed.shape(lif.membrane), name=named("v_sum", b))
            m.d.comb += v_sum.eq(fixed.saturate(v_leak + current, lif.membrane))
            if lif.spiking:
                spike  = v_sum > lif.threshold_raw  # strictly above
                v_next = Mux(spike, v_sum - lif.threshold_raw, v_sum)
            else:
                spike, v_next = C(0), v_sum
            return v_next, count_old + spike, spike

        fire = self._staged_fire(m, named, accs, membrane_terms, read_pass) if lanes > 1 \
            else single_stage_fire
        if self._listed:
            load, issue = self._listed_reader(m, weight_addr, base)
        else:
            load, issue = self._vector_reader(m, weight_addr, base)

        def restart(pass_):
            """Accumulate pass ``pass_`` of the current group from zero."""
            return [fetched.eq(0), *(acc.eq(0) for acc in accs), *load(pass_)]

        m.d.comb += read_pass.eq(this_pass)
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += weight_addr.eq(Mux(self.lane_weights.active, self.lane_weights.raddr,
                                               raddr_local) if self._lane_port else raddr_local)
                with m.If(self.start):
                    m.d.sync += [self.busy.eq(1), first.eq(self.first), both.eq(self.both),
                                 group.eq(0), base.eq(0), this_pass.eq(0), *restart(0)]
                    m.next = "ACCUMULATE"
            with m.State("ACCUMULATE"):
                # One weight read per cycle (``issue``), the same word of every lane; the data
                # arrives a cycle later and is added then, so reads and adds overlap.
                more = issue()
                m.d.sync += fetched.eq(more)
                if lanes > 1 and self._listed:
                    # Staged: pass 1's membrane word is read in the last cycle, for its terms.
                    with m.If(fetched & ~more & both):
                        m.d.comb += read_pass.eq(1)
                with m.If(fetched):
                    m.d.sync += [acc.eq(acc + (w_rd.data >> cfg.weight_shift))
                                 for acc, w_rd in zip(accs, w_rds, strict=True)]
                with m.If(fetched & ~more):         # the last word is being added
                    m.next = "FIRE"
            with m.State("FIRE"):
                for b in range(lanes):
                    v_next, count_next, spike = fire(b)
                    m.d.comb += [v_wrs[b].addr.eq(Cat(this_pass, group)),
                                 v_wrs[b].data.v.eq(v_next),
                                 v_wrs[b].data.count.eq(count_next), v_wrs[b].en.eq(1)]
                    spikes = [self.spikes_out[p][b * rows:(b + 1) * rows].bit_select(group, 1)
                              for p in range(2)]
                    # The last lanes' groups past the layer's neurons compute nothing kept.
                    with m.If(self.lane_holds(cfg, self._layer, lanes, b, group)):
                        with m.If(this_pass):
                            m.d.sync += spikes[1].eq(spike)
                        with m.Else():
                            m.d.sync += spikes[0].eq(spike)
                with m.If(~this_pass & both):
                    m.d.sync += this_pass.eq(1)
                    if self._listed:
                        # Pass 1 fires next cycle on the same sums: read its membranes now.
                        m.d.comb += read_pass.eq(1)
                    else:
                        m.d.sync += restart(1)
                        m.next = "ACCUMULATE"
                with m.Elif(group == rows - 1):
                    m.d.sync += self.busy.eq(0)
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [group.eq(group + 1), base.eq(base + n + 1), this_pass.eq(0),
                                 *restart(0)]
                    m.next = "ACCUMULATE"
        return m

    def _staged_fire(self, m, named, accs, membrane_terms, read_pass):
        """With lanes, FIRE in two stages: each cycle every lane registers its neuron's terms
        beside the input sum (leaked membrane plus perturbation, that minus the threshold, the
        old count) from the membrane word on its read port, of the pass read the cycle before
        (``read_pass``, registered); FIRE adds the sum to them (one adder deep: the membrane
        read, leak and perturbation were the ECP5 build's critical path). The word a FIRE
        needs is read from two cycles before it (ACCUMULATE lasts two or more; listed, pass
        1's in ACCUMULATE's last cycle). Returns ``fire(b)`` as the one-stage FIRE's, the
        same results: a spike is ``v_leak + I > threshold`` (the saturated sum is above the
        threshold exactly then, the threshold being below the membrane's maximum), and the
        soft reset ``min(v_leak + I - threshold, max - threshold)``."""
        lif = self._config.lif(self._layer)
        fmt, data_pass = lif.membrane, Signal()
        m.d.sync += data_pass.eq(read_pass)
        staged = []
        for b, acc in enumerate(accs):
            v_leak, noise, count_old = membrane_terms(b, data_pass)
            perturbed = v_leak + noise
            held_v = Signal(perturbed.shape(), name=named("held_v", b))
            held_count = Signal(count_old.shape(), name=named("held_count", b))
            m.d.sync += [held_v.eq(perturbed), held_count.eq(count_old)]
            held_over = None
            if lif.spiking:
                over_threshold = perturbed - lif.threshold_raw
                held_over = Signal(over_threshold.shape(), name=named("held_over", b))
                m.d.sync += held_over.eq(over_threshold)
            staged.append((acc, held_v, held_count, held_over))

        def fire(b):
            acc, held_v, held_count, held_over = staged[b]
            v_sum = Signal(fixed.shape(fmt), name=named("v_sum", b))
            m.d.comb += v_sum.eq(fixed.saturate(acc + held_v, fmt))
            if not lif.spiking:
                return v_sum, held_count, C(0)
            over = Signal((acc + held_over).shape(), name=named("over", b))   # sum - threshold
            m.d.comb += over.eq(acc + held_over)
            spike = ~over[-1] & over.any() if lif.threshold_raw < fmt.max_raw else C(0)
            top = fmt.max_raw - lif.threshold_raw
            return Mux(spike, Mux(over > top, top, over), v_sum), held_count + spike, spike
        return fire

    def _vector_reader(self, m, address, base):
        """Vector inputs: the pending spikes of the pass, bias on top, lowest first. Returns
        ``load(pass)`` (statements restarting the reads) and ``issue()`` (addresses this cycle's
        read; returns whether there is one)."""
        pending = Signal(self._n + 1)     # inputs still to add for this neuron, bias on top
        # A signal, not an expression: each use of an expression's bit would copy the n-bit
        # negation into the netlist (Amaranth's conversion slowed quadratically).
        lowest = Signal.like(pending)     # the input whose weight is read this cycle
        # The step's inputs, sampled at start (the layer below may fire its next step now).
        latched = Signal.like(self.spikes_in)
        with m.If(~self.busy):
            m.d.sync += latched.eq(self.spikes_in)
        spikes = Mux(self.busy, latched, self.spikes_in)

        def load(pass_):
            return [pending.eq(Cat(spikes[pass_ * self._n:(pass_ + 1) * self._n], 1))]

        def issue():
            m.d.comb += [lowest.eq(fixed.lowest_one(pending)),
                         address.eq(base + fixed.one_hot_index(lowest))]
            m.d.sync += pending.eq(pending & ~lowest)
            return pending.any()
        return load, issue

    def _listed_reader(self, m, address, base):
        """Listed inputs: the list's entries, then the bias. Two lists (entry ``e`` of list ``b``
        at ``2 e + b``; with ``A`` appends a cycle, in ``A`` memories, entry ``e`` at
        ``2 (e // A) + b`` of memory ``e % A``): the one being read and the one being appended
        to, swapped at ``start``. The read port holds entry 0 outside
        ACCUMULATE, so the first weight read starts at once."""
        n = self._n
        reading_list = Signal()           # the list being read; the other is appended to
        length = Signal(range(n + 1))     # entries in the list being read
        appended = Signal(range(n + 1))   # entries in the list being appended to
        position = Signal(range(n + 2))   # entry on the read port; ``length``: the bias
        # ``position <= length`` kept in a register of its own (the compare, into every lane's
        # membrane read address through ``read_pass``, headed the ECP5 build's critical path):
        # set by a load (``length`` changes only then), cleared once the bias is issued.
        reading = Signal()
        taking = self.start & ~self.busy  # the lists swap
        if self._appends == 1:
            entry, request, added = self._single_list(m, reading_list, appended, taking)
        else:
            entry, request, added = self._banked_list(m, reading_list, appended, taking)
        with m.If(taking):
            m.d.sync += [reading_list.eq(~reading_list), length.eq(appended),
                         appended.eq(added)]
        with m.Elif(self.append.any()):
            m.d.sync += appended.eq(appended + (1 if self._appends == 1 else added))

        def load(pass_):
            return [position.eq(0), reading.eq(1)]

        def issue():
            at_bias = position == length
            m.d.comb += [request(reading_list, position + 1),
                         address.eq(base + Mux(at_bias, n, entry))]
            with m.If(reading):
                m.d.sync += [position.eq(position + 1), reading.eq(~at_bias)]
            return reading
        return load, issue

    def _single_list(self, m, reading_list, appended, taking):
        """The lists in one memory, an append a cycle. Returns the entry on the read port,
        ``request(list, entry)`` (the statement reading that entry next cycle) and the
        entries appended this cycle."""
        n = self._n
        m.submodules.spike_list = spike_list = Memory(shape=range(n), depth=2 * n, init=[])
        list_rd, list_wr = spike_list.read_port(), spike_list.write_port()
        m.d.comb += [list_wr.addr.eq(Mux(taking, Cat(reading_list, 0),
                                         Cat(~reading_list, appended))),
                     list_wr.data.eq(self.append_index), list_wr.en.eq(self.append),
                     # entry 0 of the list read next (the appended one, from ``start`` on)
                     list_rd.addr.eq(Cat(Mux(taking, ~reading_list, reading_list), 0))]

        def request(which, entry):
            return list_rd.addr.eq(Cat(which, entry))
        return list_rd.data, request, self.append

    def _banked_list(self, m, reading_list, appended, taking):
        """The lists in ``A = appends`` memories, entry ``e`` in memory ``e % A``, up to ``A``
        appends a cycle (the ``k``-th set ``append`` bit's index at the list's next entry plus
        ``k``: consecutive entries, so one per memory). Returns what :meth:`_single_list`
        does."""
        n, count = self._n, self._appends
        bits = count.bit_length() - 1                    # log2 A
        rds, wrs = [], []
        for bank in range(count):
            memory = Memory(shape=range(n), depth=2 * -(-n // count), init=[])
            m.submodules[f"spike_list_{bank}"] = memory
            rds.append(memory.read_port())
            wrs.append(memory.write_port())
        added = Signal(range(count + 1))
        m.d.comb += added.eq(sum(self.append))
        # The k-th set append (k = 0 ... A - 1): the lowest set bit not among the k before it.
        ones_before = [C(0)]                               # set bits below each bit
        for bit in range(1, count - 1):
            ones_before.append(ones_before[-1] + self.append[bit - 1])
        kth = []
        for k in range(count):
            index = self.append_index[count - 1]
            for bit in reversed(range(k, count - 1)):     # bits below k have fewer before them
                index = Mux(self.append[bit] & (ones_before[bit] == k),
                            self.append_index[bit], index)
            kth.append(index)
        target = Mux(taking, reading_list, ~reading_list)   # the list appended to
        entry = Mux(taking, 0, appended)                     # where the first append goes
        for bank, wr in enumerate(wrs):
            offset = (bank - entry[:bits])[:bits]           # which append lands here
            m.d.comb += [wr.addr.eq(Cat(target, ((entry + offset) >> bits)[:len(wr.addr) - 1])),
                         wr.data.eq(Array(kth)[offset]),
                         wr.en.eq(added > offset)]
        # Every memory reads the wanted entry's row; its bank, registered, picks.
        wanted_list, wanted = Signal(), Signal(range(n + 2))
        bank = Signal(bits)
        m.d.comb += [wanted_list.eq(Mux(taking, ~reading_list, reading_list)), wanted.eq(0),
                     *(rd.addr.eq(Cat(wanted_list, wanted >> bits)) for rd in rds)]
        m.d.sync += bank.eq(wanted[:bits])

        def request(which, entry):
            return [wanted_list.eq(which), wanted.eq(entry)]
        return Array(rd.data for rd in rds)[bank], request, added
