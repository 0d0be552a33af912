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
    """One layer of ``m`` neurons with ``n`` inputs, one neuron at a time.

    Bit-exact with :func:`loco_sw.golden.lif_step` over
    :func:`loco_sw.golden.layer_currents`: per time step every neuron adds the forward weights
    (``master >> weight_shift``) of the inputs that spiked, its bias and, in a perturbed pass,
    ``+-sigma``, then leaks, saturates, fires and soft-resets (or only integrates, for the
    readout layer).

    Protocol: hold ``spikes_in``, ``negative``, ``invert``, ``first`` and ``perturb``; pulse
    ``start`` while ``busy`` is low. ``busy`` rises on the next cycle and falls when
    ``spikes_out`` holds the step's spikes. ``first`` treats every membrane as zero (the first
    step of a pass).
    Latency: ``m * (active inputs + 4) + 1`` cycles; inputs that did not spike cost nothing.

    Parameters
    ----------
    config : NetworkConfig
    layer : int
        Which layer (0-based) of ``config`` this core computes.
    init : list of int, optional
        Initial master weight words, row-major ``(m, n + 1)``, bias last in each row.

    Members
    -------
    spikes_in : ``In(n)``
    negative : ``In(m)``
        Per neuron, perturbation sign (1: ``-sigma``); used when ``perturb`` is set.
    invert : ``In(1)``
        Flips every sign (the antithetic pass, perturbed by ``-xi``).
    first, perturb, start : ``In(1)``
    busy : ``Out(1)``
    spikes_out : ``Out(m)``
    v_addr : ``In(range(m))``; v_data : ``Out(membrane)``; count_data : ``Out(range(T + 1))``
        Membrane and spike count (since the last ``first`` step) read port, data one cycle
        after the address, valid while idle.
    weights : ``In(weight_port_signature(m * (n + 1), master))``
        Master weight port for the learning unit; honoured only while idle.
    """

    def __init__(self, config: NetworkConfig, layer: int, *, init=None):
        self.check_layer(config, layer)
        self._n, self._m = config.sizes[layer], config.sizes[layer + 1]
        depth = self._m * (self._n + 1)
        if init is not None and len(init) != depth:
            raise ValueError(f"Initial weights must have {depth} words, not {len(init)}")
        self._init = list(init) if init is not None else [0] * depth
        lif = config.lif(layer)
        super().__init__(config, layer, {
            "spikes_in":  In(self._n),
            "negative":   In(self._m),
            "invert":     In(1),
            "first":      In(1),
            "perturb":    In(1),
            "start":      In(1),
            "busy":       Out(1),
            "spikes_out": Out(self._m),
            "v_addr":     In(range(self._m)),
            "v_data":     Out(fixed.shape(lif.membrane)),
            "count_data": Out(range(config.timesteps + 1)),
            "weights":    In(weight_port_signature(depth, fixed.shape(config.learning.master))),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, n, count = self._config, self._n, self._m
        lif = cfg.lif(self._layer)

        m.submodules.wmem = wmem = Memory(shape=fixed.shape(cfg.learning.master),
                                          depth=count * (n + 1), init=self._init)
        # Each membrane word carries the neuron's spike count of the pass beside it.
        count_bits = (cfg.timesteps + 1).bit_length()
        state = data.StructLayout({"v": fixed.shape(lif.membrane), "count": count_bits})
        m.submodules.vmem = vmem = Memory(shape=state, depth=count, init=[])
        w_rd, w_wr = wmem.read_port(), wmem.write_port()
        v_rd, v_wr = vmem.read_port(), vmem.write_port()

        neuron  = Signal(range(count))
        base    = Signal(range(count * (n + 1)))
        pending = Signal(n + 1)          # inputs still to add for this neuron, bias on top
        fetched = Signal()               # a weight read was issued last cycle
        acc_bits = lif.weight.width + (n + 1).bit_length() + 2   # sums of forward weights
        acc     = Signal(signed(acc_bits))
        first   = Signal()
        perturb = Signal()

        m.d.comb += [
            w_wr.addr.eq(self.weights.waddr),
            w_wr.data.eq(self.weights.wdata),
            w_wr.en.eq(self.weights.we & ~self.busy),
            self.weights.rdata.eq(w_rd.data),
            v_rd.addr.eq(Mux(self.busy, neuron, self.v_addr)),
            self.v_data.eq(v_rd.data.v),
            self.count_data.eq(v_rd.data.count),
        ]

        sigma = cfg.noise_amplitude_raw
        v_old  = Mux(first, 0, v_rd.data.v)
        count_old = Mux(first, 0, v_rd.data.count)
        negative = self.negative.bit_select(neuron, 1) ^ self.invert
        noise  = Mux(perturb, Mux(negative, -sigma, sigma), 0)
        current = acc + noise
        v_leak = v_old - (v_old >> lif.leak_shift) if lif.leak_shift else v_old
        v_sum  = Signal(fixed.shape(lif.membrane))
        m.d.comb += v_sum.eq(fixed.saturate(v_leak + current, lif.membrane))
        if lif.spiking:
            spike  = v_sum > lif.threshold_raw  # strictly above
            v_next = Mux(spike, v_sum - lif.threshold_raw, v_sum)
        else:
            spike, v_next = C(0), v_sum

        lowest = Signal.like(pending)           # the input whose weight is read this cycle
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += w_rd.addr.eq(self.weights.raddr)
                with m.If(self.start):
                    m.d.sync += [
                        self.busy.eq(1),
                        first.eq(self.first),
                        perturb.eq(self.perturb),
                        neuron.eq(0),
                        base.eq(0),
                        pending.eq(Cat(self.spikes_in, 1)),
                        fetched.eq(0),
                        acc.eq(0),
                    ]
                    m.next = "ACCUMULATE"
            with m.State("ACCUMULATE"):
                # One weight read per cycle, for the lowest pending input; the data arrives a
                # cycle later and is added then, so reads and adds overlap.
                # A signal, not an expression: each use of an expression's bit would copy the
                # n-bit negation into the netlist (Amaranth's conversion slowed quadratically).
                m.d.comb += lowest.eq(fixed.lowest_one(pending))
                m.d.comb += w_rd.addr.eq(base + fixed.one_hot_index(lowest))
                m.d.sync += fetched.eq(pending.any())
                m.d.sync += pending.eq(pending & ~lowest)
                with m.If(fetched):
                    m.d.sync += acc.eq(acc + (w_rd.data >> cfg.weight_shift))
                with m.If(~pending.any() & ~fetched):
                    m.next = "FIRE"
            with m.State("FIRE"):
                m.d.comb += [v_wr.addr.eq(neuron), v_wr.data.v.eq(v_next),
                             v_wr.data.count.eq(count_old + spike), v_wr.en.eq(1)]
                m.d.sync += self.spikes_out.bit_select(neuron, 1).eq(spike)
                with m.If(neuron == count - 1):
                    m.d.sync += self.busy.eq(0)
                    m.next = "IDLE"
                with m.Else():
                    m.d.sync += [
                        neuron.eq(neuron + 1),
                        base.eq(base + n + 1),
                        pending.eq(Cat(self.spikes_in, 1)),
                        acc.eq(0),
                    ]
                    m.next = "ACCUMULATE"
        return m
