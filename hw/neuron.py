"""Time-multiplexed LIF layer: weights and membranes in memories, spike-driven accumulation."""

from amaranth import *
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from . import fixed
from .formats import NetworkConfig


__all__ = ["weight_port_signature", "LayerComponent", "LIFCore"]


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
    """One layer of ``m`` neurons with ``n`` inputs, one neuron at a time, for the two passes
    of a training sample in the same steps.

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
    sum is read once and serves both passes.

    Protocol: hold ``negative``, ``invert``, ``perturb``, ``first``, ``both`` and (vector inputs)
    ``spikes_in``, or (listed inputs) pulse ``clear`` and then ``append`` with
    ``append_index`` once per input that spiked, in any order; pulse ``start`` while ``busy`` is
    low (a cycle or more after the last append). ``busy`` rises on the next cycle and falls
    when ``spikes_out`` holds the step's spikes. ``first`` treats every membrane as zero (the
    first step of a pass).
    Latency: ``1 + m (a0 + 3)`` cycles, where ``a_p`` is the number of inputs that spiked in
    pass ``p``; with ``both``, ``+ m`` (listed inputs) or ``+ m (a1 + 3)``. Inputs that did not
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

    Members
    -------
    spikes_in : ``In(ArrayLayout(n, 2))``        per pass (vector inputs)
    clear, append : ``In(1)``; append_index : ``In(range(n))``   (listed inputs)
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
        Master weight port for the learning unit; honoured only while idle.
    """

    def __init__(self, config: NetworkConfig, layer: int, *, init=None, listed_inputs=False):
        self.check_layer(config, layer)
        self._n, self._m = config.sizes[layer], config.sizes[layer + 1]
        self._listed = bool(listed_inputs)
        depth = self._m * (self._n + 1)
        if init is not None and len(init) != depth:
            raise ValueError(f"Initial weights must have {depth} words, not {len(init)}")
        self._init = list(init) if init is not None else [0] * depth
        lif = config.lif(layer)
        if self._listed:
            inputs = {"clear": In(1), "append": In(1), "append_index": In(range(self._n))}
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
        })

    @property
    def listed_inputs(self):
        return self._listed

    def elaborate(self, platform):
        m = Module()
        cfg, n, count = self._config, self._n, self._m
        lif = cfg.lif(self._layer)

        m.submodules.wmem = wmem = Memory(shape=fixed.shape(cfg.learning.master),
                                          depth=count * (n + 1), init=self._init)
        # Each membrane word carries the neuron's spike count of the pass beside it; the word of
        # neuron i in pass p is at 2 i + p.
        count_bits = (cfg.timesteps + 1).bit_length()
        state = data.StructLayout({"v": fixed.shape(lif.membrane), "count": count_bits})
        m.submodules.vmem = vmem = Memory(shape=state, depth=2 * count, init=[])
        w_rd, w_wr = wmem.read_port(), wmem.write_port()
        v_rd, v_wr = vmem.read_port(), vmem.write_port()

        neuron  = Signal(range(count))
        base    = Signal(range(count * (n + 1)))
        fetched = Signal()               # a weight read was issued last cycle
        acc_bits = lif.weight.width + (n + 1).bit_length() + 2   # sums of forward weights
        acc     = Signal(signed(acc_bits))
        first   = Signal()
        both    = Signal()
        lane    = Signal()               # the pass being accumulated or fired
        read_lane = Signal()             # whose membrane word is read for the next FIRE

        m.d.comb += [
            w_wr.addr.eq(self.weights.waddr),
            w_wr.data.eq(self.weights.wdata),
            w_wr.en.eq(self.weights.we & ~self.busy),
            self.weights.rdata.eq(w_rd.data),
            v_rd.addr.eq(Mux(self.busy, Cat(read_lane, neuron), Cat(self.v_pass, self.v_addr))),
            self.v_data.eq(v_rd.data.v),
            self.count_data.eq(v_rd.data.count),
        ]

        sigma = cfg.noise_amplitude_raw
        v_old  = Mux(first, 0, v_rd.data.v)
        count_old = Mux(first, 0, v_rd.data.count)
        negative = self.negative.bit_select(neuron, 1) ^ self.invert.bit_select(lane, 1)
        noise  = Mux(self.perturb.bit_select(lane, 1), Mux(negative, -sigma, sigma), 0)
        current = acc + noise
        v_leak = v_old - (v_old >> lif.leak_shift) if lif.leak_shift else v_old
        v_sum  = Signal(fixed.shape(lif.membrane))
        m.d.comb += v_sum.eq(fixed.saturate(v_leak + current, lif.membrane))
        if lif.spiking:
            spike  = v_sum > lif.threshold_raw  # strictly above
            v_next = Mux(spike, v_sum - lif.threshold_raw, v_sum)
        else:
            spike, v_next = C(0), v_sum

        if self._listed:
            load, issue = self._listed_reader(m, w_rd, base)
        else:
            load, issue = self._vector_reader(m, w_rd, base)

        def restart(pass_):
            """Accumulate pass ``pass_`` of the current neuron from zero."""
            return [fetched.eq(0), acc.eq(0), *load(pass_)]

        m.d.comb += read_lane.eq(lane)
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += w_rd.addr.eq(self.weights.raddr)
                with m.If(self.start):
                    m.d.sync += [self.busy.eq(1), first.eq(self.first), both.eq(self.both),
                                 neuron.eq(0), base.eq(0), lane.eq(0), *restart(0)]
                    m.next = "ACCUMULATE"
            with m.State("ACCUMULATE"):
                # One weight read per cycle (``issue``); the data arrives a cycle later and is
                # added then, so reads and adds overlap.
                more = issue()
                m.d.sync += fetched.eq(more)
                with m.If(fetched):
                    m.d.sync += acc.eq(acc + (w_rd.data >> cfg.weight_shift))
                with m.If(fetched & ~more):         # the last word is being added
                    m.next = "FIRE"
            with m.State("FIRE"):
                m.d.comb += [v_wr.addr.eq(Cat(lane, neuron)), v_wr.data.v.eq(v_next),
                             v_wr.data.count.eq(count_old + spike), v_wr.en.eq(1)]
                with m.If(lane):
                    m.d.sync += self.spikes_out[1].bit_select(neuron, 1).eq(spike)
                with m.Else():
                    m.d.sync += self.spikes_out[0].bit_select(neuron, 1).eq(spike)
                with m.If(~lane & both):
                    m.d.sync += lane.eq(1)
                    if self._listed:
                        # Pass 1 fires next cycle on the same sum: read its membrane now.
                        m.d.comb += read_lane.eq(1)
                    else:
                        m.d.sync += restart(1)
                        m.next = "ACCUMULATE"
                with m.Elif(neuron == count - 1):
                    m.d.sync += self.busy.eq(0)
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [neuron.eq(neuron + 1), base.eq(base + n + 1), lane.eq(0),
                                 *restart(0)]
                    m.next = "ACCUMULATE"
        return m

    def _vector_reader(self, m, w_rd, base):
        """Vector inputs: the pending spikes of the pass, bias on top, lowest first. Returns
        ``load(pass)`` (statements restarting the reads) and ``issue()`` (addresses this cycle's
        read; returns whether there is one)."""
        pending = Signal(self._n + 1)     # inputs still to add for this neuron, bias on top
        # A signal, not an expression: each use of an expression's bit would copy the n-bit
        # negation into the netlist (Amaranth's conversion slowed quadratically).
        lowest = Signal.like(pending)     # the input whose weight is read this cycle

        def load(pass_):
            return [pending.eq(Cat(self.spikes_in[pass_], 1))]

        def issue():
            m.d.comb += [lowest.eq(fixed.lowest_one(pending)),
                         w_rd.addr.eq(base + fixed.one_hot_index(lowest))]
            m.d.sync += pending.eq(pending & ~lowest)
            return pending.any()
        return load, issue

    def _listed_reader(self, m, w_rd, base):
        """Listed inputs: the list's entries, then the bias. The list memory's read port holds
        entry 0 outside ACCUMULATE, so the first weight read starts at once."""
        n = self._n
        m.submodules.spike_list = spike_list = Memory(shape=range(n), depth=n, init=[])
        list_rd, list_wr = spike_list.read_port(), spike_list.write_port()
        length = Signal(range(n + 1))     # entries in the list
        position = Signal(range(n + 2))   # entry on the read port; ``length``: the bias
        m.d.comb += [list_wr.addr.eq(length), list_wr.data.eq(self.append_index),
                     list_wr.en.eq(self.append & ~self.busy)]
        with m.If(~self.busy & self.clear):
            m.d.sync += length.eq(0)
        with m.Elif(~self.busy & self.append):
            m.d.sync += length.eq(length + 1)

        def load(pass_):
            return [position.eq(0)]

        def issue():
            reading = position <= length
            m.d.comb += [list_rd.addr.eq(position + 1),
                         w_rd.addr.eq(base + Mux(position == length, n, list_rd.data))]
            with m.If(reading):
                m.d.sync += position.eq(position + 1)
            return reading
        return load, issue
