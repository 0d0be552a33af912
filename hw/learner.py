"""The on-chip LOCO learner: encoder, LIF layers, noise, loss difference and per-layer updates.

Bit-exact with :func:`loco_sw.golden.train_step` (training) and :func:`loco_sw.golden.predict`
(inference) for the same seeds.
"""

from amaranth import *
from amaranth.lib import data, enum, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from . import fixed
from .formats import COUNTER_BITS, ENCODER_BITS, XORSHIFT_WIDTH, NetworkConfig
from .memory import SinglePortRAM
from .neuron import LIFCore
from .noise import NoiseGenerator
from .projector import ProjectorUpdate


__all__ = ["Command", "LearnerCore"]


class Command(enum.Enum, shape=2):
    """Values of :attr:`LearnerCore.command` (0: none; ``start`` with it does nothing)."""

    NONE = 0
    TRAIN = 1
    INFER = 2


class LearnerCore(wiring.Component):
    """A whole LOCO network on chip, one sample per command.

    Per ``TRAIN`` command: the perturbation lane is reseeded with ``perturb_seed`` and one sign
    per neuron is drawn (layer by layer); the encoder lane is reseeded with ``encoder_seed`` and
    a first pass of ``T`` steps runs through every layer, perturbed by ``-xi`` (antithetic, the
    default; with ``antithetic=False`` the signs are drawn after a clean first pass); a second
    pass replays the same input spikes with ``+xi`` currents; the readout gives ``delta``; each
    layer's :class:`ProjectorUpdate` is fed its presynaptic counts and errors, one layer after
    another (a few cycles per word), and the units then update their layers *at the same time*
    (the O(1)-in-depth update; with ``shared_update`` one unit takes the layers in turn);
    ``busy`` falls when all are done. ``INFER`` runs one clean pass. ``prediction`` is the
    argmax of the first pass's outputs (lowest index on ties). ``step_shift`` is added to the
    update shifts (the host's step-size schedule).

    Host-side ports (all honoured only while ``busy`` is low):

    * ``input_addr/input_data/input_we``: the ``n0`` input intensities (``ENCODER_BITS`` each);
    * ``weight_layer/weight_addr`` -> ``weight_rdata`` (a cycle later), ``weight_wdata/weight_we``;
    * ``store_layer`` picks the layer of the projector memories: ``basis_addr`` ->
      ``basis_rdata`` (a cycle later), ``basis_wdata/basis_we``; ``centroid_addr`` ->
      ``centroid_rdata``; ``output_addr`` -> ``output_clean`` (a cycle later).

    Parameters
    ----------
    config : NetworkConfig
    init : list of lists of int, optional
        Master weight words per layer (row-major, bias last).
    shared_update : bool
        One update unit for all layers, which it updates one after another (less logic, for
        small parts such as the iCE40UP5K), instead of one unit per layer working at once.
    """

    def __init__(self, config: NetworkConfig, *, init=None, shared_update=False):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"Config must be a NetworkConfig, not {config!r}")
        if init is not None and len(init) != config.layers:
            raise ValueError(f"Initial weights must list {config.layers} layers, not {len(init)}")
        self._config = config
        self._init = init
        self._shared = bool(shared_update)
        learn, sizes = config.learning, config.sizes
        max_words = max(m * (n + 1) for n, m in zip(sizes[:-1], sizes[1:], strict=True))
        max_basis = max(config.basis_rows * (n + 1) for n in sizes[:-1])
        max_centroid = max(config.centroid_rows * (n + 1) for n in sizes[:-1])
        super().__init__({
            "command":        In(Command),
            "start":          In(1),
            "label":          In(range(sizes[-1])),
            "encoder_seed":   In(XORSHIFT_WIDTH),
            "perturb_seed":   In(XORSHIFT_WIDTH),
            "use_projector":  In(1),
            "update_centroid": In(1),
            "step_shift":     In(learn.step_shift_bits),
            "busy":           Out(1),
            "prediction":     Out(range(sizes[-1])),
            "delta":          Out(fixed.shape(learn.delta)),
            "samples":        Out(COUNTER_BITS),
            "cycles":         Out(COUNTER_BITS),
            "input_addr":     In(range(sizes[0])),
            "input_data":     In(ENCODER_BITS),
            "input_we":       In(1),
            "weight_layer":   In(range(config.layers)),
            "weight_addr":    In(range(max_words)),
            "weight_rdata":   Out(fixed.shape(learn.master)),
            "weight_wdata":   In(fixed.shape(learn.master)),
            "weight_we":      In(1),
            "store_layer":    In(range(config.layers)),
            "basis_addr":     In(range(max_basis)),
            "basis_rdata":    Out(fixed.shape(learn.basis)),
            "basis_wdata":    In(fixed.shape(learn.basis)),
            "basis_we":       In(1),
            "centroid_addr":  In(range(max_centroid)),
            "centroid_rdata": Out(fixed.shape(learn.vector)),
            "output_addr":    In(range(sizes[-1])),
            "output_clean":   Out(fixed.shape(learn.output)),
        })

    @property
    def config(self):
        return self._config

    def elaborate(self, platform):
        m = Module()
        cfg, learn = self._config, self._config.learning
        sizes, layers, steps = cfg.sizes, cfg.layers, cfg.timesteps
        n0, classes = sizes[0], sizes[-1]

        m.submodules.noise = noise = NoiseGenerator()
        enc, pert = noise.encoder, noise.perturb
        cores = []
        for l in range(layers):
            init = self._init[l] if self._init is not None else None
            m.submodules[f"core{l}"] = core = LIFCore(cfg, l, init=init)
            cores.append(core)
        readout = cores[-1]
        # Update units and the layers each serves, in order.
        groups = [tuple(range(layers))] if self._shared else [(l,) for l in range(layers)]
        units = []
        for g, served in enumerate(groups):
            m.submodules[f"update{g}"] = unit = ProjectorUpdate(cfg, served)
            units.append(unit)
        group_of = {l: g for g, served in enumerate(groups) for l in served}

        # Input memory: each word holds an intensity and the input's spike count in this pass
        # (the cores keep their neurons' counts beside the membranes likewise).
        word = data.StructLayout({"intensity": ENCODER_BITS,
                                  "count": (steps + 1).bit_length()})
        m.submodules.inputs = input_mem = Memory(shape=word, depth=n0, init=[])
        in_rd, in_wr = input_mem.read_port(), input_mem.write_port()
        m.d.comb += [in_wr.addr.eq(self.input_addr), in_wr.data.intensity.eq(self.input_data),
                     in_wr.en.eq(self.input_we & ~self.busy)]

        in_spikes = Signal(n0)
        signs = Signal(sum(sizes[1:]))                  # perturbation signs, layer 0 first
        offsets = [sum(sizes[1:1 + l]) for l in range(layers)]
        # The first pass's outputs, for the loss difference and the host (READ_OUTPUTS): a
        # memory, not registers (on the UP5K a spare SPRAM block saves ~250 logic cells). Idle,
        # it is the host's read port.
        m.submodules.outputs = y_first = SinglePortRAM(fixed.shape(learn.output), classes)
        m.d.comb += [y_first.addr.eq(self.output_addr), self.output_clean.eq(y_first.rdata)]

        command = Signal(Command)
        noisy   = Signal()
        step    = Signal(range(steps + 1))
        layer   = Signal(range(layers + 1))
        index   = Signal(range(max(n0, classes, len(signs)) + 1))
        previous = (index - 1)[:len(index)]            # the position whose read data arrived
        fetched = Signal()
        acc     = Signal(signed(2 * learn.output.width + classes.bit_length() + 2))
        best    = Signal(fixed.shape(learn.output))
        label   = Signal(range(classes))
        # use_projector, update_centroid, step_shift
        flags   = Signal(2 + learn.step_shift_bits)
        feed_layer = Signal(range(layers))
        feed    = Signal(range(max(sizes) + 1))         # word being offered to the unit
        done_seen = Signal(len(units))

        # Antithetic: the first pass of a TRAIN is perturbed too, with the signs inverted.
        antithetic = learn.antithetic
        train_first = ~noisy & (command == Command.TRAIN)
        for l, core in enumerate(cores):
            m.d.comb += [
                core.spikes_in.eq(in_spikes if l == 0 else cores[l - 1].spikes_out),
                core.negative.eq(signs[offsets[l]:offsets[l] + sizes[l + 1]]),
                core.invert.eq(train_first if antithetic else 0),
                core.first.eq(step == 0),
                core.perturb.eq(noisy | train_first if antithetic else noisy),
            ]
        for g, (unit, served) in enumerate(zip(units, groups, strict=True)):
            m.d.comb += [
                unit.own.eq(label),
                unit.use_projector.eq(flags[0]),
                unit.update_centroid.eq(flags[1]),
                unit.step_shift.eq(flags[2:]),
                unit.basis_addr.eq(self.basis_addr),
                unit.basis_wdata.eq(self.basis_wdata),
                unit.centroid_raddr.eq(self.centroid_addr),
            ]
            position = {l: p for p, l in enumerate(served)}
            if len(served) > 1:
                m.d.comb += [
                    unit.layer_select.eq(Mux(self.busy, feed_layer, self.store_layer)),
                    unit.basis_we.eq(self.basis_we),
                    unit.weights.rdata.eq(Array(cores[l].weights.rdata
                                                for l in served)[feed_layer]),
                ]
            else:
                m.d.comb += [unit.basis_we.eq(self.basis_we & (self.store_layer == served[0])),
                             unit.weights.rdata.eq(cores[served[0]].weights.rdata)]
            with m.If(unit.done):
                m.d.sync += done_seen[g].eq(1)
            # The weight port of each served core: the unit's while it updates that core, the
            # host's while idle.
            for l in served:
                core = cores[l]
                host = ~self.busy & (self.weight_layer == l)
                mine = C(1) if len(served) == 1 else feed_layer == position[l]
                m.d.comb += [
                    core.weights.raddr.eq(Mux(host, self.weight_addr, unit.weights.raddr)),
                    core.weights.waddr.eq(Mux(host, self.weight_addr, unit.weights.waddr)),
                    core.weights.wdata.eq(Mux(host, self.weight_wdata, unit.weights.wdata)),
                    core.weights.we.eq(Mux(host, self.weight_we, unit.weights.we & mine)),
                ]
        m.d.comb += [
            self.weight_rdata.eq(Array(c.weights.rdata for c in cores)[self.weight_layer]),
            self.centroid_rdata.eq(Array(units[group_of[l]].centroid_rdata
                                         for l in range(layers))[self.store_layer]),
            self.basis_rdata.eq(Array(units[group_of[l]].basis_rdata
                                      for l in range(layers))[self.store_layer]),
        ]
        with m.If(self.busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)

        def count_source(l):
            """(read address, count data) of layer ``l``'s input spike counts."""
            if l == 0:
                return in_rd.addr, in_rd.data.count
            return cores[l - 1].v_addr, cores[l - 1].count_data

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start & ((self.command == Command.TRAIN) |
                                        (self.command == Command.INFER))):
                    m.d.sync += [self.busy.eq(1), self.cycles.eq(0), command.eq(self.command),
                                 label.eq(self.label), noisy.eq(0),
                                 flags.eq(Cat(self.use_projector, self.update_centroid,
                                              self.step_shift))]
                    m.next = "PASS"

            with m.State("PASS"):
                # Start a pass: replay the encoder stream (counts restart at step 0).
                m.d.comb += [enc.seed.eq(self.encoder_seed), enc.reseed.eq(1)]
                m.d.sync += [step.eq(0), index.eq(0), fetched.eq(0), acc.eq(0)]
                # The signs are drawn before the pass that first uses them.
                with m.If(train_first if antithetic else noisy):
                    m.d.comb += [pert.seed.eq(self.perturb_seed), pert.reseed.eq(1)]
                    m.next = "SIGNS"
                with m.Else():
                    m.next = "ENCODE"

            with m.State("SIGNS"):
                # One perturbation word per neuron, layer by layer; the first lands in bit 0.
                m.d.comb += pert.advance.eq(1)
                m.d.sync += [signs.eq(Cat(signs[1:], pert.negative)), index.eq(index + 1)]
                with m.If(index == len(signs) - 1):
                    m.d.sync += index.eq(0)
                    m.next = "ENCODE"

            with m.State("ENCODE"):
                # Input j spikes when the low bits of its encoder word are below its intensity;
                # its count is updated in the same memory word.
                m.d.sync += fetched.eq(index < n0)
                with m.If(index < n0):       # no address n0 while the last read drains
                    m.d.comb += in_rd.addr.eq(index)
                    m.d.sync += index.eq(index + 1)
                with m.If(fetched):
                    spike = enc.word[:ENCODER_BITS] < in_rd.data.intensity
                    m.d.comb += [
                        enc.advance.eq(1),
                        in_wr.addr.eq(previous), in_wr.en.eq(1),
                        in_wr.data.intensity.eq(in_rd.data.intensity),
                        in_wr.data.count.eq(Mux(step == 0, 0, in_rd.data.count) + spike),
                    ]
                    m.d.sync += in_spikes.eq(Cat(in_spikes[1:], spike))  # input 0 ends in bit 0
                with m.Elif(index == n0):
                    m.d.sync += [layer.eq(0), index.eq(0)]
                    m.next = "LAYER_START"

            with m.State("LAYER_START"):
                for l, core in enumerate(cores):
                    m.d.comb += core.start.eq(layer == l)
                m.next = "LAYER_WAIT"

            with m.State("LAYER_WAIT"):
                with m.If(~Array(core.busy for core in cores)[layer]):
                    with m.If(layer == layers - 1):
                        m.next = "NEXT_STEP"
                    with m.Else():
                        m.d.sync += layer.eq(layer + 1)
                        m.next = "LAYER_START"

            with m.State("NEXT_STEP"):
                m.d.sync += [step.eq(step + 1), index.eq(0), fetched.eq(0)]
                with m.If(step == steps - 1):
                    m.next = "READOUT"
                with m.Else():
                    m.next = "ENCODE"

            with m.State("READOUT"):
                # y_k = saturate(round_shift(v_k, log2 T)); in the noisy pass the loss
                # difference sum_k (y~_k - y_k)(y~_k + y_k - 2 t_k) accumulates on the way.
                # The noisy pass reads the first pass's y_k beside v_k (both a cycle later).
                m.d.sync += fetched.eq(index < classes)
                with m.If(index < classes):  # no address `classes` while the last read drains
                    m.d.comb += [readout.v_addr.eq(index), y_first.addr.eq(index)]
                    m.d.sync += index.eq(index + 1)
                with m.If(fetched):
                    y = fixed.saturate(fixed.round_shift(readout.v_data, cfg.log2_timesteps),
                                       learn.output)
                    with m.If(noisy):
                        clean = y_first.rdata
                        target = Mux(previous == label, learn.output.one, 0)
                        m.d.sync += acc.eq(acc + (y - clean) * (y + clean - 2 * target))
                    with m.Else():
                        # The argmax runs along (the first maximum wins, as torch.argmax).
                        m.d.comb += [y_first.addr.eq(previous), y_first.wdata.eq(y),
                                     y_first.we.eq(1)]
                        with m.If((previous == 0) | (y > best)):
                            m.d.sync += [best.eq(y), self.prediction.eq(previous)]
                with m.Elif(index == classes):
                    m.d.sync += index.eq(0)
                    with m.If(noisy):
                        m.next = "DELTA_ROUND"
                    with m.Elif(command == Command.TRAIN):
                        m.d.sync += noisy.eq(1)
                        m.next = "PASS"
                    with m.Else():
                        m.d.sync += self.busy.eq(0)
                        m.next = "IDLE"

            with m.State("DELTA_ROUND"):
                m.d.sync += [
                    self.delta.eq(fixed.saturate_symmetric(
                        fixed.round_shift(acc, learn.delta_shift), learn.delta)),
                    feed_layer.eq(0), feed.eq(0), done_seen.eq(0),
                ]
                m.next = "FEED_X"

            # Feeding the update units, one layer after another: its presynaptic counts, then
            # its errors, each read from memory (address one cycle, word offered the next). A
            # unit starts on its last error word; separate units work while the next is fed,
            # a shared one is waited for.
            with m.State("FEED_X"):
                with m.Switch(feed_layer):
                    for l in range(layers):
                        with m.Case(l):
                            addr, _ = count_source(l)
                            m.d.comb += addr.eq(feed)
                m.next = "OFFER_X"
            with m.State("OFFER_X"):
                with m.Switch(feed_layer):
                    for l in range(layers):
                        with m.Case(l):
                            addr, count = count_source(l)
                            unit = units[group_of[l]]
                            m.d.comb += [addr.eq(feed), unit.x.payload.eq(count),
                                         unit.x.valid.eq(1)]
                            with m.If(unit.x.ready):
                                m.d.sync += feed.eq(feed + 1)
                                with m.If(feed == sizes[l] - 1):
                                    m.d.sync += feed.eq(0)
                                    m.next = "FEED_E"
                                with m.Else():
                                    m.next = "FEED_X"
            with m.State("FEED_E"):
                with m.Switch(feed_layer):
                    for l in range(layers - 1):
                        with m.Case(l):
                            m.d.comb += cores[l].v_addr.eq(feed)
                m.next = "OFFER_E"
            with m.State("OFFER_E"):
                with m.Switch(feed_layer):
                    for l in range(layers):
                        with m.Case(l):
                            unit = units[group_of[l]]
                            if l == layers - 1:
                                mask = C(1)
                            else:
                                count = cores[l].count_data
                                m.d.comb += cores[l].v_addr.eq(feed)
                                mask = (count > 0) & (count < steps)
                            negative = signs.bit_select(offsets[l] + feed, 1)
                            error = Mux(mask, Mux(negative, -self.delta, self.delta), 0)
                            m.d.comb += [unit.e.payload.eq(error), unit.e.valid.eq(1)]
                            with m.If(unit.e.ready):
                                m.d.sync += feed.eq(feed + 1)
                                with m.If(feed == sizes[l + 1] - 1):
                                    m.d.sync += feed.eq(0)
                                    m.next = "NEXT_LAYER"
                                with m.Else():
                                    m.next = "FEED_E"
            with m.State("NEXT_LAYER"):
                last = feed_layer == layers - 1
                if self._shared:
                    # The shared unit finishes this layer before it takes the next.
                    with m.If(done_seen[0]):
                        with m.If(last):
                            m.next = "FINISH"
                        with m.Else():
                            m.d.sync += [done_seen.eq(0), feed_layer.eq(feed_layer + 1)]
                            m.next = "FEED_X"
                else:
                    with m.If(last):
                        m.next = "WAIT_UPDATES"
                    with m.Else():
                        m.d.sync += feed_layer.eq(feed_layer + 1)
                        m.next = "FEED_X"
            with m.State("WAIT_UPDATES"):
                with m.If(done_seen.all()):
                    m.next = "FINISH"
            with m.State("FINISH"):
                m.d.sync += [self.busy.eq(0), self.samples.eq(self.samples + 1)]
                m.next = "IDLE"
        return m
