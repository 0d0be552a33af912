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
from .neuron import LIFCore, weight_port_signature
from .noise import NoiseGenerator
from .projector import ProjectorUpdate


__all__ = ["Command", "LearnerCore", "host_ports", "WeightPortArbiter", "ReadoutUnit"]


class Command(enum.Enum, shape=2):
    """Values of :attr:`LearnerCore.command` (0: none; ``start`` with it does nothing)."""

    NONE = 0
    TRAIN = 1
    INFER = 2


def host_ports(config: NetworkConfig) -> dict:
    """:class:`LearnerCore`'s memory ports as its host sees them (the learner's members are
    these, flipped); every read's data comes a cycle after its address (a weight's
    :attr:`LearnerCore.weights_read_latency` cycles after, a basis word's
    :attr:`LearnerCore.basis_read_latency`), and the ports are honoured only while the
    learner is idle.

    * ``inputs``: ``addr``, ``data`` (``ENCODER_BITS``), ``we``: the ``n0`` input intensities;
    * ``weights``: ``layer``, ``addr`` -> ``rdata``; ``wdata``, ``we``: master weight words;
    * ``projector``: ``layer`` picks the layer of the update unit's memories; ``basis_addr`` ->
      ``basis_rdata``, ``basis_wdata``, ``basis_we``; ``centroid_addr`` -> ``centroid_rdata``;
    * ``outputs``: ``addr`` -> ``data``: the first pass's output words.
    """
    learn, sizes = config.learning, config.sizes
    max_words = max(m * (n + 1) for n, m in zip(sizes[:-1], sizes[1:], strict=True))
    max_basis = max(config.basis_rows * (n + 1) for n in sizes[:-1])
    max_centroid = max(config.centroid_rows * (n + 1) for n in sizes[:-1])
    master, basis = fixed.shape(learn.master), fixed.shape(learn.basis)
    return {
        "inputs": In(wiring.Signature({"addr": Out(range(sizes[0])), "data": Out(ENCODER_BITS),
                                       "we": Out(1)})),
        "weights": In(wiring.Signature({"layer": Out(range(config.layers)),
                                        "addr": Out(range(max_words)), "rdata": In(master),
                                        "wdata": Out(master), "we": Out(1)})),
        "projector": In(wiring.Signature({
            "layer": Out(range(config.layers)), "basis_addr": Out(range(max_basis)),
            "basis_rdata": In(basis), "basis_wdata": Out(basis), "basis_we": Out(1),
            "centroid_addr": Out(range(max_centroid)),
            "centroid_rdata": In(fixed.shape(learn.vector))})),
        "outputs": In(wiring.Signature({"addr": Out(range(sizes[-1])),
                                        "data": In(fixed.shape(learn.output))})),
    }


class WeightPortArbiter(wiring.Component):
    """Who uses each layer's weight memory: the host while the learner is idle
    (``host_layer`` picks the layer), else the update unit that serves the layer (a shared unit
    only on the layer it is being fed, ``feed_layer``). A unit that updates a row of every
    lane at once (``lane_layers``) reaches its layer's lanes directly (``LIFCore``'s
    ``lane_weights``): the core's flat port is then the host's alone, and there is no
    ``unit<g>``.

    Parameters
    ----------
    config : NetworkConfig
    groups : tuple of tuples
        The layers each update unit serves, in order.
    lane_layers : set of int
        The layers whose (one-layer) units use the lanes' port.

    Members
    -------
    busy, feed_layer : ``In``           the learner's state
    host_layer, host_addr, host_wdata, host_we : ``In``; host_rdata : ``Out``
        (:meth:`read_latency` cycles later)
    core<l> : ``Out(weight_port_signature)``  to layer ``l``'s memory
    unit<g> : ``In(weight_port_signature)``   from update unit ``g``
    """

    def __init__(self, config: NetworkConfig, groups, lane_layers=frozenset()):
        self._config, self._groups = config, tuple(tuple(served) for served in groups)
        self._lane_layers = frozenset(lane_layers)
        sizes, master = config.sizes, fixed.shape(config.learning.master)
        words = [(n + 1) * m for n, m in zip(sizes[:-1], sizes[1:], strict=True)]
        members = {"busy": In(1), "feed_layer": In(range(config.layers)),
                   "host_layer": In(range(config.layers)), "host_addr": In(range(max(words))),
                   "host_wdata": In(master), "host_we": In(1), "host_rdata": Out(master)}
        for l, depth in enumerate(words):
            members[f"core{l}"] = Out(weight_port_signature(depth, master))
        for g, served in enumerate(self._groups):
            if served[0] not in self._lane_layers:
                members[f"unit{g}"] = In(weight_port_signature(max(words[l] for l in served),
                                                               master))
        super().__init__(members)

    def elaborate(self, platform):
        m = Module()
        cores = [getattr(self, f"core{l}") for l in range(self._config.layers)]
        for g, served in enumerate(self._groups):
            if served[0] in self._lane_layers:
                core, host = cores[served[0]], ~self.busy & (self.host_layer == served[0])
                m.d.comb += [core.raddr.eq(self.host_addr), core.waddr.eq(self.host_addr),
                             core.wdata.eq(self.host_wdata), core.we.eq(host & self.host_we)]
                continue
            unit = getattr(self, f"unit{g}")
            if len(served) > 1:
                m.d.comb += unit.rdata.eq(Array(cores[l].rdata for l in served)[self.feed_layer])
            else:
                m.d.comb += unit.rdata.eq(cores[served[0]].rdata)
            for position, l in enumerate(served):
                host = ~self.busy & (self.host_layer == l)
                mine = C(1) if len(served) == 1 else self.feed_layer == position
                m.d.comb += [
                    cores[l].raddr.eq(Mux(host, self.host_addr, unit.raddr)),
                    cores[l].waddr.eq(Mux(host, self.host_addr, unit.waddr)),
                    cores[l].wdata.eq(Mux(host, self.host_wdata, unit.wdata)),
                    cores[l].we.eq(Mux(host, self.host_we, unit.we & mine)),
                ]
        # With lane layers a host read takes three cycles: their cores register the split
        # address and each lane's word themselves (LIFCore's ``lane_port``); the other layers'
        # words are registered twice here, to match.
        words = [core.rdata for core in cores]
        if self._lane_layers and len(self._lane_layers) < len(cores):
            held, later = Signal.like(self.host_rdata), Signal.like(self.host_rdata)
            m.d.sync += [held.eq(Array(words)[self.host_layer]), later.eq(held)]
            words = [word if l in self._lane_layers else later for l, word in enumerate(words)]
        m.d.comb += self.host_rdata.eq(Array(words)[self.host_layer])
        return m

    @staticmethod
    def read_latency(lane_layers) -> int:
        """Cycles from ``host_addr`` to ``host_rdata``: 3 with any ``lane_layers``, else 1."""
        return 3 if lane_layers else 1


class ReadoutUnit(wiring.Component):
    """The readout's outputs, the prediction and the loss difference ``delta``.

    Per class word (``valid``, class ``index``, readout membrane ``v``):
    ``y = saturate(round_shift(v, log2 T), output)``. In the first pass (``noisy`` low) the
    argmax of ``y`` runs along (the first maximum wins, as ``torch.argmax``) into
    ``prediction``; in the noisy pass, with the first pass's ``clean`` word beside it,
    ``acc += (y - clean) * (y + clean - 2 t)`` where ``t`` is one for the ``label``'s class.
    ``clear`` zeroes ``acc``; ``finish`` sets ``delta = saturate_symmetric(round_shift(acc,
    delta_shift))``.

    Latency: ``y`` is combinational; ``acc`` and ``prediction`` take a word one cycle after its
    ``valid`` cycle (its factors are registered before the multiply: the membrane read, the
    rounding and the products were the UP5K build's critical path), so ``finish`` comes a cycle
    or more after the last word.

    Members
    -------
    valid, index, v, clean, noisy, label, clear, finish : ``In``
    y : ``Out(output)`` (combinational); prediction, delta : ``Out`` (registers)
    """

    def __init__(self, config: NetworkConfig):
        self._config = config
        learn, classes = config.learning, config.sizes[-1]
        super().__init__({
            "valid": In(1), "index": In(range(classes)), "noisy": In(1),
            "label": In(range(classes)), "clear": In(1), "finish": In(1),
            "v": In(fixed.shape(config.readout.membrane)),
            "clean": In(fixed.shape(learn.output)),
            "y": Out(fixed.shape(learn.output)),
            "prediction": Out(range(classes)),
            "delta": Out(fixed.shape(learn.delta)),
        })

    def elaborate(self, platform):
        m = Module()
        cfg, learn = self._config, self._config.learning
        classes = cfg.sizes[-1]
        acc = Signal(signed(2 * learn.output.width + classes.bit_length() + 2))
        best = Signal(fixed.shape(learn.output))
        m.d.comb += self.y.eq(fixed.saturate(fixed.round_shift(self.v, cfg.log2_timesteps),
                                             learn.output))
        # The word's factors and argmax candidate, registered (stage 1); then used (stage 2).
        valid, noisy, index = Signal(), Signal(), Signal.like(self.index)
        y = Signal.like(self.y)
        difference = Signal(signed(learn.output.width + 1))
        total = Signal(signed(learn.output.width + 2))
        target = Mux(self.index == self.label, learn.output.one, 0)
        m.d.sync += [valid.eq(self.valid), noisy.eq(self.noisy), index.eq(self.index),
                     y.eq(self.y), difference.eq(self.y - self.clean),
                     total.eq(self.y + self.clean - 2 * target)]
        with m.If(self.clear):
            m.d.sync += acc.eq(0)
        with m.If(valid & noisy):
            m.d.sync += acc.eq(acc + difference * total)
        with m.If(valid & ~noisy & ((index == 0) | (y > best))):
            m.d.sync += [best.eq(y), self.prediction.eq(index)]
        with m.If(self.finish):
            m.d.sync += self.delta.eq(fixed.saturate_symmetric(
                fixed.round_shift(acc, learn.delta_shift), learn.delta))
        return m


class _Registers:
    """The learner's sequencing registers, shared by its groups of states."""

    def __init__(self, cfg: NetworkConfig, units: int, *, error_words=None):
        sizes, learn = cfg.sizes, cfg.learning
        n0, classes = sizes[0], sizes[-1]
        self.signs     = Signal(sum(sizes[1:]))      # perturbation signs, layer 0 first
        self.signing   = Signal()                    # drawing them (beside wave 0)
        self.command   = Signal(Command)
        self.noisy     = Signal()                    # reading the second pass's words
        # Wave w: the encoder runs step w, layer l step w - 1 - l (those in range), at once.
        self.wave      = Signal(range(cfg.timesteps + cfg.layers))
        self.encoding  = Signal()                    # the encoder runs
        self.enc_index = Signal(range(n0 + 1))       # its input read this cycle
        self.enc_fetched = Signal()                  # its read data arrives this cycle
        self.index     = Signal(range(max(classes, len(self.signs)) + 1))   # signs, readout
        self.previous  = (self.index - 1)[:len(self.index)]   # whose read data arrived
        self.fetched   = Signal()
        self.label     = Signal(range(classes))
        self.flags     = Signal(2 + learn.step_shift_bits)  # projector, centroid, step shift
        self.feed_layer = Signal(range(cfg.layers))
        self.feed      = Signal(range(max(sizes) + 1))       # word being offered to the unit
        self.done_seen = Signal(units)
        if error_words is None:
            return
        self.error_words = error_words                       # per layer (a list of ints)
        # Per-layer units take their counts during the last waves (LearnerCore._feed_counts).
        self.x_feeding = Signal()
        self.x_layer   = Signal(range(cfg.layers))
        self.x_feed    = Signal(range(max(sizes) + 1))
        self.x_addressed = Signal()                          # word x_feed's data arrives
        # Each hidden neuron's error mask (it spiked, but not in every step), layer 0 first,
        # as two sticky bits of its second pass's spikes, kept as the waves pass them on
        # (LearnerCore._masks): final when the waves end, so the errors need no reads.
        self.spiked    = Signal(sum(sizes[1:-1]))
        self.missed    = Signal(sum(sizes[1:-1]))
        self.e_feeds   = [Signal(range(words + 1), name=f"e_feed{l}")   # error words offered
                          for l, words in enumerate(error_words)]


class LearnerCore(wiring.Component):
    """A whole LOCO network on chip, one sample per command.

    Per ``TRAIN`` command: the perturbation lane is reseeded with ``perturb_seed`` and one sign
    per neuron is drawn (layer by layer, beside the first wave, which no layer needs); the
    encoder lane is reseeded with ``encoder_seed`` and ``T`` steps run through every layer,
    each step computing both passes on the same encoded input spikes: a first pass perturbed
    by ``-xi`` (antithetic, the default; clean with ``antithetic=False``) and a second with
    ``+xi`` currents, each neuron's layer-0 input sum read once for both. The encoder and the
    layers work side by side, in ``T + L`` waves: in wave ``w`` the encoder encodes step ``w``
    while layer ``l`` computes step ``w - 1 - l``. The readout gives ``delta``. Each layer's
    :class:`ProjectorUpdate` is fed its presynaptic counts as soon as they are final, during
    the last waves, one layer after another (a word a cycle), and (started early) projects
    while the waves and the readout run; right after the readout every layer's errors are fed
    at once (a hidden neuron's mask was kept as the waves passed its spikes on; a unit with
    lanes takes a row of every lane a word) and the units update their layers *at the same
    time* (the O(1)-in-depth update), each sweeping its rows behind its expansion. With
    ``shared_update`` one unit takes the layers in turn, fed counts and errors after the
    readout (a hidden error's mask read from its count). ``busy`` falls when all are done.
    ``INFER`` runs one clean pass. ``prediction`` is the argmax of the first pass's outputs
    (lowest index on ties). ``step_shift`` is added to the update shifts (the host's step-size
    schedule).

    The host's memory ports, ``inputs``, ``weights``, ``projector`` and ``outputs``, are
    described by :func:`host_ports` (all honoured only while ``busy`` is low).

    Parameters
    ----------
    config : NetworkConfig
    init : list of lists of int, optional
        Master weight words per layer (row-major, bias last).
    shared_update : bool
        One update unit for all layers, which it updates one after another (less logic, for
        small parts such as the iCE40UP5K), instead of one unit per layer working at once.
    lanes : tuple of int, optional
        Neuron lanes per layer (:class:`hw.neuron.LIFCore`; default one each): more lanes,
        fewer cycles a step and more memories and logic. A layer's own update unit changes a
        row of every lane at once (:class:`ProjectorUpdate`'s ``lanes``). With lanes in layer 0
        the encoder takes several inputs a cycle (:meth:`inputs_per_cycle`: the input memory in
        as many banks, as many encoder draws a cycle and appends to layer 0's list): layer 0
        would otherwise wait for it. The arithmetic does not change.
    parallel_slots : tuple of bool, optional
        Per layer, whether its update unit computes the projection's ``C + 1`` slots at once
        (:class:`ProjectorUpdate`'s ``parallel_slots``: ``C + 1`` multipliers, the basis memory
        banked by slot; default off for every layer). Needs per-layer units.
    """

    def __init__(self, config: NetworkConfig, *, init=None, shared_update=False, lanes=None,
                 parallel_slots=None):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"Config must be a NetworkConfig, not {config!r}")
        if init is not None and len(init) != config.layers:
            raise ValueError(f"Initial weights must list {config.layers} layers, not {len(init)}")
        lanes = (1,) * config.layers if lanes is None else lanes
        if not isinstance(lanes, tuple) or len(lanes) != config.layers:
            raise ValueError(f"Lanes must be a tuple of {config.layers} lane counts (one per "
                             f"layer), not {lanes!r}")
        for layer, count in enumerate(lanes):     # LIFCore's check, raised here and now
            LIFCore.lane_rows(config, layer, count)
        parallel_slots = (False,) * config.layers if parallel_slots is None else parallel_slots
        if not isinstance(parallel_slots, tuple) or len(parallel_slots) != config.layers or \
                not all(isinstance(one, bool) for one in parallel_slots):
            raise ValueError(f"Parallel slots must be a tuple of {config.layers} bools (one per "
                             f"layer), not {parallel_slots!r}")
        if shared_update and any(parallel_slots):
            raise ValueError("Parallel slots need one update unit per layer, not a shared one")
        self._config = config
        self._init = init
        self._shared = bool(shared_update)
        self._lanes = lanes
        self._parallel_slots = parallel_slots
        learn, sizes = config.learning, config.sizes
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
            **host_ports(config),
        })

    @property
    def config(self):
        return self._config

    @property
    def weights_read_latency(self) -> int:
        """Cycles from ``weights.addr`` to ``weights.rdata`` (:func:`host_ports`): 3 where a
        layer's update unit reaches its lanes directly (the host's split address and word
        then registered beside its memories), else 1."""
        return WeightPortArbiter.read_latency(self._lane_layers())

    @property
    def basis_read_latency(self) -> int:
        """Cycles from ``projector.basis_addr`` to ``projector.basis_rdata``: the slowest
        unit's (:meth:`ProjectorUpdate.basis_latency`; only a unit of its own projects its
        slots at once)."""
        return ProjectorUpdate.basis_latency(not self._shared and any(self._parallel_slots))

    @property
    def host_read_latency(self) -> int:
        """Cycles a host waits for any read's word: the slowest port's."""
        return max(self.weights_read_latency, self.basis_read_latency)

    def _lane_layers(self):
        """The layers whose unit of its own updates a row of every lane at once."""
        return {l for l in range(self._config.layers) if not self._shared and self._lanes[l] > 1}

    @staticmethod
    def inputs_per_cycle(config: NetworkConfig, lanes) -> int:
        """Inputs the encoder of ``config``'s learner takes a cycle with neuron ``lanes`` per
        layer: four when layer 0's lanes hold a neuron each (a step then takes about as many
        cycles as inputs spiked, far fewer than inputs), two with other lanes in layer 0 (it
        would otherwise wait for the encoder), else one."""
        if lanes[0] == 1:
            return 1
        return 4 if LIFCore.lane_rows(config, 0, lanes[0]) == 1 else 2

    def elaborate(self, platform):
        m = Module()
        cfg, learn = self._config, self._config.learning
        sizes, layers = cfg.sizes, cfg.layers
        per_cycle = self.inputs_per_cycle(cfg, self._lanes)
        m.submodules.noise = noise = NoiseGenerator(draws={"encoder": per_cycle})
        # A unit of its own updates a row of every lane of its layer at once.
        lane_layers = self._lane_layers()
        cores = []
        for l in range(layers):
            init = self._init[l] if self._init is not None else None
            # Layer 0's input, the same in both passes, comes as a list of the inputs that
            # spiked (written while encoding); one weight read serves both passes.
            m.submodules[f"core{l}"] = core = LIFCore(cfg, l, init=init, listed_inputs=l == 0,
                                                      appends=per_cycle if l == 0 else 1,
                                                      lanes=self._lanes[l],
                                                      lane_port=l in lane_layers)
            cores.append(core)
        # Update units and the layers each serves, in order.
        groups = [tuple(range(layers))] if self._shared else [(l,) for l in range(layers)]
        units = []
        for g, served in enumerate(groups):
            parallel = not self._shared and self._parallel_slots[served[0]]
            lanes = self._lanes[served[0]] if served[0] in lane_layers else 1
            m.submodules[f"update{g}"] = unit = ProjectorUpdate(cfg, served,
                                                                parallel_slots=parallel,
                                                                lanes=lanes,
                                                                early=not self._shared)
            units.append(unit)
        m.submodules.ports = ports = WeightPortArbiter(cfg, groups, lane_layers)
        m.submodules.readout = readout = ReadoutUnit(cfg)
        # Per-layer units: their error words (a row of every lane each with lanes).
        r = _Registers(cfg, len(units), error_words=None if self._shared else
                       [LIFCore.lane_rows(cfg, l, unit.lanes) for l, unit in enumerate(units)])

        # Input memory: each word holds an intensity and the input's spike count in this pass
        # (the cores keep their neurons' counts beside the membranes likewise).
        word = data.StructLayout({"intensity": ENCODER_BITS,
                                  "count": (cfg.timesteps + 1).bit_length()})
        if per_cycle > 1:
            inputs, counts = self._input_banks(m, word, per_cycle)
        else:
            m.submodules.inputs = input_mem = Memory(shape=word, depth=sizes[0], init=[])
            inputs = [(input_mem.read_port(), input_mem.write_port())]
            m.d.comb += [inputs[0][1].addr.eq(self.inputs.addr),
                         inputs[0][1].data.intensity.eq(self.inputs.data),
                         inputs[0][1].en.eq(self.inputs.we & ~self.busy)]
            counts = inputs[0][0].addr, inputs[0][0].data.count
        # The first pass's outputs, for the loss difference and the host (READ_OUTPUTS): a
        # memory, not registers (on the UP5K a spare SPRAM block saves ~250 logic cells). Idle,
        # it is the host's read port.
        m.submodules.outputs = y_first = SinglePortRAM(fixed.shape(learn.output), sizes[-1])
        m.d.comb += [y_first.addr.eq(self.outputs.addr), self.outputs.data.eq(y_first.rdata)]

        # A TRAIN runs both passes in the same steps; antithetic, its first pass is perturbed
        # too, with the signs inverted. Memory reads (readout, update feed) see pass r.noisy.
        train = r.command == Command.TRAIN
        first_perturbed = train if learn.antithetic else C(0)
        offsets = [sum(sizes[1:1 + l]) for l in range(layers)]
        for l, core in enumerate(cores):
            if l > 0:
                m.d.comb += core.spikes_in.eq(cores[l - 1].spikes_out)
            m.d.comb += [
                core.negative.eq(r.signs[offsets[l]:offsets[l] + sizes[l + 1]]),
                core.invert.eq(Cat(first_perturbed, 0)),
                core.perturb.eq(Cat(first_perturbed, 1)),
                core.first.eq(r.wave == l + 1),
                core.both.eq(train),
                # Per-layer units: a hidden layer's counts and membranes are read only for the
                # update, the second pass's, from the last waves on (before r.noisy rises).
                core.v_pass.eq(1 if not self._shared and l < layers - 1 else r.noisy),
            ]
            wiring.connect(m, getattr(ports, f"core{l}"), core.weights)
        host = self.projector                 # the host's port to the update units
        for g, (unit, served) in enumerate(zip(units, groups, strict=True)):
            m.d.comb += [
                unit.own.eq(r.label), unit.use_projector.eq(r.flags[0]),
                unit.update_centroid.eq(r.flags[1]), unit.step_shift.eq(r.flags[2:]),
                unit.basis_addr.eq(host.basis_addr), unit.basis_wdata.eq(host.basis_wdata),
                unit.centroid_raddr.eq(host.centroid_addr),
            ]
            if len(served) > 1:
                m.d.comb += [unit.layer_select.eq(Mux(self.busy, r.feed_layer, host.layer)),
                             unit.basis_we.eq(host.basis_we)]
            else:
                m.d.comb += unit.basis_we.eq(host.basis_we & (host.layer == served[0]))
            if served[0] in lane_layers:
                wiring.connect(m, unit.weights, cores[served[0]].lane_weights)
            else:
                wiring.connect(m, unit.weights, getattr(ports, f"unit{g}"))
            with m.If(unit.done):
                m.d.sync += r.done_seen[g].eq(1)
        group_of = {l: g for g, served in enumerate(groups) for l in served}
        m.d.comb += [
            ports.busy.eq(self.busy), ports.feed_layer.eq(r.feed_layer),
            ports.host_layer.eq(self.weights.layer), ports.host_addr.eq(self.weights.addr),
            ports.host_wdata.eq(self.weights.wdata), ports.host_we.eq(self.weights.we),
            self.weights.rdata.eq(ports.host_rdata),
            self.projector.centroid_rdata.eq(Array(units[group_of[l]].centroid_rdata
                                         for l in range(layers))[self.projector.layer]),
            self.projector.basis_rdata.eq(Array(units[group_of[l]].basis_rdata
                                      for l in range(layers))[self.projector.layer]),
            readout.index.eq(r.previous), readout.noisy.eq(r.noisy), readout.label.eq(r.label),
            readout.v.eq(cores[-1].v_data), readout.clean.eq(y_first.rdata),
            self.prediction.eq(readout.prediction), self.delta.eq(readout.delta),
        ]
        with m.If(self.busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)

        unit_of = [units[group_of[l]] for l in range(layers)]

        def count_source(l):
            """(read address, count data a cycle later) of layer ``l``'s input spike counts."""
            if l == 0:
                return counts
            return cores[l - 1].v_addr, cores[l - 1].count_data

        with m.FSM():
            self._pass_states(m, r, noise, cores, readout, offsets)
            self._readout_states(m, r, cores[-1], y_first, readout)
            if self._shared:
                self._shared_feed_states(m, r, count_source, cores, units[0], offsets)
            else:
                self._error_states(m, r, unit_of, offsets)
        self._signs(m, r, noise.perturb)
        self._encoder(m, r, noise.encoder, inputs, cores[0])
        if not self._shared:
            self._feed_counts(m, r, count_source, unit_of)
        return m

    def _input_banks(self, m, word, count):
        """The input memory in ``count`` banks (``inputs_<k>``: input ``j`` in bank ``j %
        count``), for the encoder of ``count`` inputs a cycle. Returns the banks' (read, write)
        ports and the update feed's (input address, its count a cycle later)."""
        n0 = self._config.sizes[0]
        bits = count.bit_length() - 1
        inputs = []
        for bank in range(count):
            mem = Memory(shape=word, depth=-(-(n0 - bank) // count), init=[])
            m.submodules[f"inputs_{bank}"] = mem
            rd, wr = mem.read_port(), mem.write_port()
            m.d.comb += [wr.addr.eq(self.inputs.addr[bits:]),
                         wr.data.intensity.eq(self.inputs.data),
                         wr.en.eq(self.inputs.we & ~self.busy & (self.inputs.addr[:bits] == bank))]
            inputs.append((rd, wr))
        address, bank = Signal(range(n0)), Signal(bits)
        m.d.comb += [rd.addr.eq(address[bits:]) for rd, _ in inputs]
        m.d.sync += bank.eq(address[:bits])
        return inputs, (address, Array(rd.data.count for rd, _ in inputs)[bank])

    def _pass_states(self, m, r, noise, cores, readout, offsets):
        """IDLE -> PASS (reseed; a TRAIN's signs are drawn beside wave 0, :meth:`_signs`) ->
        ``T + L`` waves (WAVE starts them, WAVE_WAIT waits for all): in wave ``w`` the encoder
        encodes step ``w`` into layer 0's input list while layer ``l`` computes step
        ``w - 1 - l`` (both passes of a TRAIN), each on what the stage before it made in the
        wave before (the cores take their inputs at start) -> READOUT. ``offsets``: each layer's
        first neuron in ``r.signs`` (and the masks)."""
        cfg = self._config
        steps, layers = cfg.timesteps, cfg.layers
        with m.State("IDLE"):
            with m.If(self.start & ((self.command == Command.TRAIN) |
                                    (self.command == Command.INFER))):
                m.d.sync += [self.busy.eq(1), self.cycles.eq(0), r.command.eq(self.command),
                             r.label.eq(self.label), r.noisy.eq(0),
                             r.flags.eq(Cat(self.use_projector, self.update_centroid,
                                            self.step_shift))]
                m.next = "PASS"
        with m.State("PASS"):
            # Start the passes: seed the encoder stream (counts restart at step 0).
            enc, pert = noise.encoder, noise.perturb
            m.d.comb += [enc.seed.eq(self.encoder_seed), enc.reseed.eq(1), readout.clear.eq(1)]
            m.d.sync += [r.wave.eq(0), r.index.eq(0), r.fetched.eq(0)]
            if not self._shared:
                m.d.sync += [r.spiked.eq(0), r.missed.eq(0)]
            with m.If(r.command == Command.TRAIN):
                m.d.comb += [pert.seed.eq(self.perturb_seed), pert.reseed.eq(1)]
                m.d.sync += r.signing.eq(1)
            m.next = "WAVE"
        with m.State("WAVE"):
            with m.If(r.wave < steps):
                m.d.sync += [r.encoding.eq(1), r.enc_index.eq(0), r.enc_fetched.eq(0)]
            if not self._shared:
                self._masks(m, r, cores, offsets)
                # The input counts are final: per-layer units take their counts from now on.
                with m.If((r.wave == steps) & (r.command == Command.TRAIN)):
                    m.d.sync += [r.x_feeding.eq(1), r.x_layer.eq(0), r.x_feed.eq(0),
                                 r.x_addressed.eq(0)]
            for l, core in enumerate(cores):
                m.d.comb += core.start.eq((r.wave >= l + 1) & (r.wave <= steps + l))
            m.next = "WAVE_WAIT"
        with m.State("WAVE_WAIT"):
            with m.If(~r.encoding & ~r.signing & ~Cat(core.busy for core in cores).any()):
                with m.If(r.wave == steps + layers - 1):
                    m.next = "READOUT"
                with m.Else():
                    m.d.sync += r.wave.eq(r.wave + 1)
                    m.next = "WAVE"

    @staticmethod
    def _signs(m, r, pert):
        """A TRAIN's perturbation signs, beside wave 0 while ``r.signing`` (no core runs in
        it; wave 1 waits for them): one perturbation word per neuron, layer by layer, a word
        a cycle; the first lands in bit 0."""
        with m.If(r.signing):
            m.d.comb += pert.advance.eq(1)
            m.d.sync += [r.signs.eq(Cat(r.signs[1:], pert.negative)), r.index.eq(r.index + 1)]
            with m.If(r.index == len(r.signs) - 1):
                m.d.sync += [r.signing.eq(0), r.index.eq(0)]

    def _encoder(self, m, r, enc, inputs, core):
        """The encoder, beside the state machine while ``r.encoding``: input ``j`` spikes when
        the low bits of its encoder word are below its intensity; its count is updated in the
        same memory word, and a spike is appended to layer 0's input list. One input a cycle,
        ``n0 + 2`` cycles; with ``A`` input banks (``inputs``' pairs of ports, input ``j`` in
        bank ``j % A``) ``A``, bank ``k`` taking the cycle's ``k``-th draw (the last group's
        missing inputs none), ``ceil(n0 / A) + 2``."""
        n0 = self._config.sizes[0]
        width = len(inputs)
        bits = width.bit_length() - 1
        reads = -(-n0 // width)                              # per bank
        previous = (r.enc_index - 1)[:len(r.enc_index)]      # whose read data arrives
        in_last = n0 - (reads - 1) * width                   # inputs in the last group
        last = previous == reads - 1 if in_last < width else C(0)
        with m.If(r.encoding):
            m.d.sync += r.enc_fetched.eq(r.enc_index < reads)
            with m.If(r.enc_index < reads):  # no address past the end while the last drains
                m.d.comb += [rd.addr.eq(r.enc_index) for rd, _ in inputs]
                m.d.sync += r.enc_index.eq(r.enc_index + 1)
            with m.If(r.enc_fetched):
                draws = [enc.word] if width == 1 else list(enc.words)
                spikes = []
                for bank, (rd, wr) in enumerate(inputs):
                    present = ~last if bank >= in_last else C(1)
                    spike = (draws[bank][:ENCODER_BITS] < rd.data.intensity) & present
                    m.d.comb += [
                        wr.addr.eq(previous), wr.en.eq(present),
                        wr.data.intensity.eq(rd.data.intensity),
                        wr.data.count.eq(Mux(r.wave == 0, 0, rd.data.count) + spike),
                    ]
                    spikes.append(spike)
                if width == 1:
                    m.d.comb += [enc.advance.eq(1), core.append.eq(spikes[0]),
                                 core.append_index.eq(previous)]
                else:
                    m.d.comb += [enc.advance_by.eq(Mux(last, in_last, width)),
                                 core.append.eq(Cat(spikes)),
                                 *(core.append_index[bank].eq(Cat(C(bank, bits), previous))
                                   for bank in range(width))]
            with m.Elif(r.enc_index == reads):
                m.d.sync += r.encoding.eq(0)

    def _readout_states(self, m, r, readout_core, y_first, readout):
        """READOUT: each class's membrane of the first pass through the :class:`ReadoutUnit`,
        which stores its outputs; a TRAIN then reads the second pass's (``r.noisy``) with the
        first pass's output beside it (both a cycle later), and ``delta`` follows (DELTA_ROUND);
        an INFER ends."""
        classes = self._config.sizes[-1]
        with m.State("READOUT"):
            m.d.sync += r.fetched.eq(r.index < classes)
            m.d.comb += readout.valid.eq(r.fetched)
            with m.If(r.index < classes):  # no address `classes` while the last read drains
                m.d.comb += [readout_core.v_addr.eq(r.index), y_first.addr.eq(r.index)]
                m.d.sync += r.index.eq(r.index + 1)
            with m.If(r.fetched):
                with m.If(~r.noisy):
                    m.d.comb += [y_first.addr.eq(r.previous), y_first.wdata.eq(readout.y),
                                 y_first.we.eq(1)]
            with m.Elif(r.index == classes):
                m.d.sync += r.index.eq(0)
                with m.If(r.noisy):
                    m.next = "DELTA_ROUND"
                with m.Elif(r.command == Command.TRAIN):
                    m.d.sync += r.noisy.eq(1)
                with m.Else():
                    m.d.sync += self.busy.eq(0)
                    m.next = "IDLE"
        with m.State("DELTA_ROUND"):
            m.d.comb += readout.finish.eq(1)
            m.d.sync += r.done_seen.eq(0)
            if self._shared:
                m.d.sync += [r.feed_layer.eq(0), r.feed.eq(0)]
                m.next = "FEED_X"
            else:
                m.d.sync += [feed.eq(0) for feed in r.e_feeds]
                m.next = "ERRORS"

    def _shared_feed_states(self, m, r, count_source, cores, unit, offsets):
        """Feeding a shared update unit, one layer after another: its presynaptic counts, then
        its errors. Each word is read from memory (FEED_* addresses the first word; OFFER_*
        offers a word a cycle, addressing the next one as the unit takes it, but for the last:
        only addresses in range). The unit starts on its last error word and is waited for
        before the next layer (FINISH after the last)."""
        cfg = self._config
        sizes, layers, steps = cfg.sizes, cfg.layers, cfg.timesteps
        with m.State("FEED_X"):
            with m.Switch(r.feed_layer):
                for l in range(layers):
                    with m.Case(l):
                        m.d.comb += count_source(l)[0].eq(r.feed)
            m.next = "OFFER_X"
        with m.State("OFFER_X"), m.Switch(r.feed_layer):
            for l in range(layers):
                with m.Case(l):
                    def counts_done():
                        m.d.sync += r.feed.eq(0)
                        m.next = "FEED_E"
                    _offer_count(m, unit.x, *count_source(l), r.feed, sizes[l], counts_done)
        with m.State("FEED_E"):
            with m.Switch(r.feed_layer):
                for l in range(layers - 1):
                    with m.Case(l):
                        m.d.comb += cores[l].v_addr.eq(r.feed)
            m.next = "OFFER_E"
        with m.State("OFFER_E"), m.Switch(r.feed_layer):
            for l in range(layers):
                with m.Case(l):
                    e = unit.e
                    if l == layers - 1:
                        mask = C(1)
                    else:
                        count = cores[l].count_data
                        more = e.ready & (r.feed != sizes[l + 1] - 1)
                        m.d.comb += cores[l].v_addr.eq(Mux(more, r.feed + 1, r.feed))
                        mask = (count > 0) & (count < steps)
                    negative = r.signs.bit_select(offsets[l] + r.feed, 1)
                    m.d.comb += [e.payload.eq(self._error(mask, negative)), e.valid.eq(1)]
                    with m.If(e.ready):
                        m.d.sync += r.feed.eq(r.feed + 1)
                        with m.If(r.feed == sizes[l + 1] - 1):
                            m.d.sync += r.feed.eq(0)
                            m.next = "NEXT_LAYER"
        with m.State("NEXT_LAYER"):
            with m.If(r.done_seen[0]):
                with m.If(r.feed_layer == layers - 1):
                    m.next = "FINISH"
                with m.Else():
                    m.d.sync += [r.done_seen.eq(0), r.feed_layer.eq(r.feed_layer + 1)]
                    m.next = "FEED_X"
        self._finish_state(m)

    def _error_states(self, m, r, unit_of, offsets):
        """Per-layer units, which take their counts during the last waves (:meth:`_feed_counts`):
        ERRORS offers every layer's errors at once, right after DELTA_ROUND, a word a cycle
        each (a unit with lanes takes a row of every lane a word; no memory read: the masks
        are kept as the waves pass the spikes on, :meth:`_masks`); a unit takes them from
        its bias word on, and updates meanwhile; the units are waited for (WAIT_UPDATES, then
        FINISH)."""
        cfg = self._config

        def error(l, neuron):
            """Layer ``l``'s error of ``neuron`` (a neuron of the layer, or past them)."""
            if l == cfg.layers - 1:
                mask = C(1)
            else:
                mask = r.spiked.bit_select(offsets[l] + neuron, 1) & \
                    r.missed.bit_select(offsets[l] + neuron, 1)
            return self._error(mask, r.signs.bit_select(offsets[l] + neuron, 1))

        with m.State("ERRORS"):
            offering = []
            for l, (unit, feed) in enumerate(zip(unit_of, r.e_feeds, strict=True)):
                words = r.error_words[l]
                pending = feed != words
                if unit.lanes == 1:
                    m.d.comb += unit.e.payload.eq(error(l, feed))
                else:
                    # Lane b's row ``feed``: neuron b g + feed (past the layer's: ignored).
                    m.d.comb += [unit.e.payload[b].eq(error(l, b * words + feed))
                                 for b in range(unit.lanes)]
                m.d.comb += unit.e.valid.eq(pending)
                with m.If(pending & unit.e.ready):
                    m.d.sync += feed.eq(feed + 1)
                offering.append(pending)
            with m.If(~Cat(offering).any()):
                m.next = "WAIT_UPDATES"
        with m.State("WAIT_UPDATES"):
            with m.If(r.done_seen.all()):
                m.next = "FINISH"
        self._finish_state(m)

    def _error(self, mask, negative):
        """A neuron's error: ``-+delta`` by its perturbation sign where ``mask``, else 0."""
        return Mux(mask, Mux(negative, -self.delta, self.delta), 0)

    def _finish_state(self, m):
        with m.State("FINISH"):
            m.d.sync += [self.busy.eq(0), self.samples.eq(self.samples + 1)]
            m.next = "IDLE"

    def _feed_counts(self, m, r, count_source, unit_of):
        """Per-layer units' counts, beside the state machine while ``r.x_feeding`` (from wave
        ``T``, a TRAIN's): layer ``l``'s once its source is final, the inputs' from wave ``T``
        and layer ``l - 1``'s from wave ``T + l`` (its last step was wave ``T + l - 1``), one
        layer after another, a word a cycle (addressed a cycle ahead, as OFFER_X). The units
        project (and move their centroids) while the last waves and the readout run."""
        cfg = self._config
        sizes, steps = cfg.sizes, cfg.timesteps
        with m.If(r.x_feeding), m.Switch(r.x_layer):
            for l in range(cfg.layers):
                with m.Case(l):
                    addr, count = count_source(l)
                    x = unit_of[l].x
                    with m.If(~r.x_addressed):
                        with m.If(r.wave >= steps + l):
                            m.d.comb += addr.eq(r.x_feed)
                            m.d.sync += r.x_addressed.eq(1)
                    with m.Else():
                        def layer_done(l=l):
                            m.d.sync += [r.x_feed.eq(0), r.x_addressed.eq(0)]
                            if l == cfg.layers - 1:
                                m.d.sync += r.x_feeding.eq(0)
                            else:
                                m.d.sync += r.x_layer.eq(l + 1)
                        _offer_count(m, x, addr, count, r.x_feed, sizes[l], layer_done)

    def _masks(self, m, r, cores, offsets):
        """Per-layer units: each hidden neuron's error mask (its second pass's count ``c`` has
        ``0 < c < T``: it spiked, but not in every step) as two sticky bits, ``r.spiked`` and
        ``r.missed``, cleared in PASS and updated in each WAVE cycle from the spikes that
        layer ``l`` hands on then (step ``w - 2 - l`` of wave ``w``, those in range): final
        when the last wave starts, so ERRORS need not wait for the counts. Call in WAVE."""
        cfg = self._config
        steps = cfg.timesteps
        for l, core in enumerate(cores[:-1]):
            span = slice(offsets[l], offsets[l] + cfg.sizes[l + 1])
            spikes = core.spikes_out[1]
            with m.If((r.wave >= l + 2) & (r.wave <= steps + l + 1)):
                m.d.sync += [r.spiked[span].eq(r.spiked[span] | spikes),
                             r.missed[span].eq(r.missed[span] | ~spikes)]


def _offer_count(m, x, addr, count, index, words, on_last):
    """Offer count word ``index`` (its data ``count`` addressed the cycle before) on the unit's
    ``x`` stream, addressing the next one as the unit takes it (the last: its own address, so
    that no address is out of range); ``on_last()`` adds what happens as the last one of
    ``words`` is taken."""
    more = x.ready & (index != words - 1)
    m.d.comb += [addr.eq(Mux(more, index + 1, index)), x.payload.eq(count), x.valid.eq(1)]
    with m.If(x.ready):
        m.d.sync += index.eq(index + 1)
        with m.If(index == words - 1):
            on_last()
