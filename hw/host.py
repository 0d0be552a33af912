"""Byte-stream command processor in front of the learner (UART or any other byte transport).

The protocol (opcodes, layouts, error codes, framing) is defined in :mod:`hw.protocol`;
``docs/protocol.md`` describes it and :mod:`loco_sw.host` is the host side. Every request is
checked before anything is written: a bad one is answered ``NAK`` + error code and changes
nothing, and input is then dropped until the line has been idle for the frame timeout.
"""

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .formats import NetworkConfig
from .learner import Command, LearnerCore
from .protocol import (ACK, COMMANDS, FLAG_CENTROID, FLAG_PROJECTOR, FLAG_STEP_SHIFT, MEMORIES,
                       NAK, STREAM_TIMEOUT_CYCLES, Error, Opcode, argument_bytes, identity_bytes,
                       memory_words, word_bytes)


__all__ = ["HostInterface", "RequestChecker", "FrameTimer", "argument"]

# Argument bytes land in one register at fixed byte places, so that a field two commands carry
# (the encoder seed of TRAIN and INFER) is wired to the learner once.
_PLACES = {"layer": 0, "address": 1, "count": 4,
           "label": 0, "encoder_seed": 1, "perturb_seed": 5, "flags": 9}
_REGISTER_BYTES = max(place + next(f.size for c in COMMANDS.values() for f in c.arguments
                                     if f.name == name) for name, place in _PLACES.items())
_OPCODE_BITS = max(Opcode).bit_length()         # the opcodes are 1 .. 2**_OPCODE_BITS - 1
_MEMORY_READS = tuple(op for op, c in COMMANDS.items() if c.memory and c.reads)
_MEMORY_WRITES = tuple(op for op, c in COMMANDS.items() if c.memory and c.payload)
# Where SEND takes the bytes after the status byte: these commands' results, or (None) the word
# register (a read word, an error code).
_SOURCES = (None, Opcode.TRAIN, Opcode.INFER, Opcode.READ_COUNTERS)


def _first_place(opcode) -> int:
    """The register byte that argument byte 0 of ``opcode`` lands in (its fields stay in order)."""
    fields = COMMANDS[opcode].arguments
    first = _PLACES[fields[0].name] if fields else 0
    place = first
    for field in fields:
        assert _PLACES[field.name] == place, f"{opcode.name} {field.name} is out of place"
        place += field.size
    return first


def argument(arguments, name):
    """The bits of argument ``name`` in the argument register ``arguments``."""
    size = next(f.size for c in COMMANDS.values() for f in c.arguments if f.name == name)
    return arguments[8 * _PLACES[name]:8 * (_PLACES[name] + size)]


def _field(value, nbytes):
    """``value``'s bits zero-padded to ``nbytes`` bytes (the host sign-extends by format)."""
    return Cat(value.as_unsigned(), C(0, 8 * nbytes - len(value)))


class RequestChecker(wiring.Component):
    """The error code of a request whose header is in (0: good), combinationally: the checks of
    :mod:`hw.protocol` (``BAD_LAYER``, ``BAD_RANGE``, ``BAD_LABEL``, ``ZERO_SEED``,
    ``BAD_FLAGS``) against ``config``'s memories. Unknown opcodes are the parser's business.

    Members
    -------
    opcode : ``In(8)``
    arguments : ``In(8 * register bytes)``  the argument register (fields at :func:`argument`)
    error : ``Out(8)``
    """

    def __init__(self, config: NetworkConfig):
        self._config = config
        super().__init__({"opcode": In(8), "arguments": In(8 * _REGISTER_BYTES),
                          "error": Out(8)})

    def elaborate(self, platform):
        m = Module()
        cfg, learn = self._config, self._config.learning
        words_of = {memory: [memory_words(cfg, memory, layer) for layer in range(cfg.layers)]
                    for memory in MEMORIES}
        largest = max(max(words) for words in words_of.values())
        layer, label, flags = (argument(self.arguments, name)
                               for name in ("layer", "label", "flags"))
        start, count = argument(self.arguments, "address"), argument(self.arguments, "count")
        encoder_seed = argument(self.arguments, "encoder_seed")
        perturb_seed = argument(self.arguments, "perturb_seed")

        words = Signal(range(largest + 1))         # of the memory the request addresses
        layer_index = layer[:max(1, (cfg.layers - 1).bit_length())]
        with m.Switch(self.opcode):
            for code in (*_MEMORY_READS, *_MEMORY_WRITES):
                with m.Case(code):
                    table = words_of[COMMANDS[code].memory]
                    m.d.comb += words.eq(Array(C(w, range(largest + 1))
                                               for w in table)[layer_index])
        reserved = flags >> (FLAG_STEP_SHIFT + learn.step_shift_bits)
        # address + count <= words, in the width of the largest memory: wider address or count
        # bits must be zero.
        bits = len(words)
        fits = (start[bits:] == 0) & (count[bits:] == 0) & (start[:bits] + count[:bits] <= words)
        with m.Switch(self.opcode):
            with m.Case(*_MEMORY_READS, *_MEMORY_WRITES):
                with m.If(layer >= cfg.layers):
                    m.d.comb += self.error.eq(Error.BAD_LAYER)
                with m.Elif((count == 0) | ~fits):
                    m.d.comb += self.error.eq(Error.BAD_RANGE)
            with m.Case(Opcode.TRAIN):
                with m.If(label >= cfg.sizes[-1]):
                    m.d.comb += self.error.eq(Error.BAD_LABEL)
                with m.Elif((encoder_seed == 0) | (perturb_seed == 0)):
                    m.d.comb += self.error.eq(Error.ZERO_SEED)
                with m.Elif(reserved != 0):
                    m.d.comb += self.error.eq(Error.BAD_FLAGS)
            with m.Case(Opcode.INFER):
                with m.If(encoder_seed == 0):
                    m.d.comb += self.error.eq(Error.ZERO_SEED)
        return m


class FrameTimer(wiring.Component):
    """Counts cycles without an input byte while ``listening``; ``timed_out`` is high in the
    ``timeout``-th such cycle (and the count restarts then, on a byte, or when not listening).

    Members
    -------
    listening : ``In(1)``   a frame is open (or a rejected one is being drained)
    byte : ``In(1)``        an input byte is offered this cycle
    timed_out : ``Out(1)``
    """

    listening: In(1)
    byte: In(1)
    timed_out: Out(1)

    def __init__(self, timeout: int):
        self._timeout = timeout
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        idle = Signal(range(self._timeout))
        m.d.comb += self.timed_out.eq(idle == self._timeout - 1)
        with m.If(~self.listening | self.byte | self.timed_out):
            m.d.sync += idle.eq(0)
        with m.Else():
            m.d.sync += idle.eq(idle + 1)
        return m


class _Registers:
    """The command processor's registers, shared by its groups of states."""

    def __init__(self, cfg: NetworkConfig):
        learn = cfg.learning
        largest = max(memory_words(cfg, memory, layer) for memory in MEMORIES
                      for layer in range(cfg.layers))
        self.arguments = Signal(8 * _REGISTER_BYTES)
        self.opcode    = Signal(8)
        self.count     = Signal(8)               # argument bytes received / reply bytes sent
        self.address   = Signal(range(largest + 1))
        self.remaining = Signal(range(largest + 1))
        self.word      = Signal(8 * max(word_bytes(learn.master), word_bytes(learn.basis)))
        # The bytes after a reply's status byte are taken straight from their source (the
        # learner's result registers, which hold still while idle, or ``word``), byte ``count``.
        self.source    = Signal(range(len(_SOURCES)))
        self.length    = Signal(4)               # reply bytes after the status byte
        self.status    = Signal()                # SEND starts with the status byte
        self.draining  = Signal()                # the status is NAK: then drop input until idle
        self.streaming = Signal()                # SEND goes on with the next word of a read


class HostInterface(wiring.Component):
    """Command processor that owns a :class:`LearnerCore` and talks bytes.

    Parameters
    ----------
    config : NetworkConfig
    init, shared_update, lanes, parallel_slots :
        As :class:`LearnerCore`.
    timeout_cycles : int
        Cycles without an input byte after which a partial frame is dropped (``NAK TIMEOUT``)
        and after which input is taken again following a ``NAK`` (a bare byte stream has no
        byte time; :class:`hw.uart.UARTLearner` sets it from the baud rate).

    Members
    -------
    i : ``In(stream.Signature(8))``   requests from the host
    o : ``Out(stream.Signature(8))``  replies to the host

    The states come in groups, each built by a method: parsing a request (``_parse``),
    running it (``_run``), taking a payload in (``_receive``), sending replies (``_send``).
    """

    i: In(stream.Signature(8))
    o: Out(stream.Signature(8))

    def __init__(self, config: NetworkConfig, *, init=None, shared_update=False, lanes=None,
                 parallel_slots=None, timeout_cycles: int = STREAM_TIMEOUT_CYCLES):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"Config must be a NetworkConfig, not {config!r}")
        if not isinstance(timeout_cycles, int) or isinstance(timeout_cycles, bool) or \
                not 2 <= timeout_cycles <= 1 << 24:
            raise ValueError(f"Timeout must be an integer number of cycles in [2, 2**24], "
                             f"not {timeout_cycles!r}")
        self._config = config
        self._init = init
        self._shared, self._lanes = shared_update, lanes
        self._parallel_slots = parallel_slots
        self._timeout = timeout_cycles
        super().__init__()

    @property
    def config(self):
        return self._config

    def elaborate(self, platform):
        m = Module()
        cfg, learn = self._config, self._config.learning
        m.submodules.learner = learner = LearnerCore(cfg, init=self._init,
                                                     shared_update=self._shared,
                                                     lanes=self._lanes,
                                                     parallel_slots=self._parallel_slots)
        m.submodules.checker = checker = RequestChecker(cfg)
        m.submodules.timer = timer = FrameTimer(self._timeout)
        r = _Registers(cfg)
        flags = argument(r.arguments, "flags")
        m.d.comb += [
            checker.opcode.eq(r.opcode), checker.arguments.eq(r.arguments),
            learner.label.eq(argument(r.arguments, "label")),
            learner.encoder_seed.eq(argument(r.arguments, "encoder_seed")),
            learner.perturb_seed.eq(argument(r.arguments, "perturb_seed")),
            learner.use_projector.eq(flags[FLAG_PROJECTOR]),
            learner.update_centroid.eq(flags[FLAG_CENTROID]),
            learner.step_shift.eq(flags[FLAG_STEP_SHIFT:FLAG_STEP_SHIFT +
                                        learn.step_shift_bits]),
            learner.weights.layer.eq(argument(r.arguments, "layer")),
            learner.projector.layer.eq(argument(r.arguments, "layer")),
            learner.inputs.data.eq(self.i.payload),
        ]
        m.d.comb += [learner.weights.addr.eq(r.address), learner.inputs.addr.eq(r.address),
                     learner.projector.basis_addr.eq(r.address),
                     learner.projector.centroid_addr.eq(r.address),
                     learner.outputs.addr.eq(r.address)]

        def reply_with(opcode, *, nak=False, read=False):
            """The status byte (ACK, or NAK: then drop input until idle), then the fixed reply
            of ``opcode`` (NAK: the error code in ``word``); a read then streams its words
            (SEND goes back to READ_ITEM)."""
            nbytes = 1 if nak else sum(f.bytes_for(cfg) for f in COMMANDS[opcode].reply)
            m.d.sync += [r.source.eq(_SOURCES.index(opcode if opcode in _SOURCES else None)),
                         r.length.eq(nbytes), r.count.eq(0), r.status.eq(1),
                         r.draining.eq(nak), r.streaming.eq(read)]
            m.next = "SEND"

        def reject(error):
            """NAK and ``error`` (a code or an 8-bit signal)."""
            m.d.sync += r.word.eq(error)
            reply_with(None, nak=True)

        with m.FSM() as fsm:
            self._parse(m, r, checker.error, timer.timed_out, reply_with, reject)
            self._run(m, r, learner, reply_with)
            self._receive(m, r, learner, timer.timed_out, reply_with, reject)
            self._send(m, r, learner)
            with m.State("DRAIN"):
                # After a NAK: the rest of the bad frame is dropped, up to an idle gap.
                m.d.comb += self.i.ready.eq(1)
                with m.If(timer.timed_out):
                    m.next = "IDLE"
        m.d.comb += [timer.byte.eq(self.i.valid),
                     timer.listening.eq(fsm.ongoing("ARGUMENTS") | fsm.ongoing("RECEIVE_INPUT") |
                                        fsm.ongoing("RECEIVE_ITEM") | fsm.ongoing("DRAIN"))]
        return m

    def _parse(self, m, r, error, timed_out, reply_with, reject):
        """IDLE -> ARGUMENTS -> DISPATCH: the opcode, its argument bytes into their places of
        the argument register, the checks, then the state that runs the request."""
        cfg = self._config

        def by_opcode(values, width):
            """Constants indexed by the low opcode bits (0 where ``values`` has no entry)."""
            return Array(C(values.get(code, 0), width) for code in range(1 << _OPCODE_BITS))

        known = by_opcode(dict.fromkeys(COMMANDS, 1), 1)
        needed = by_opcode({code: argument_bytes(code) for code in COMMANDS}, 4)
        first_place = by_opcode({code: _first_place(code) for code in COMMANDS}, 4)
        low = r.opcode[:_OPCODE_BITS]
        with m.State("IDLE"):
            m.d.comb += self.i.ready.eq(1)
            with m.If(self.i.valid):
                m.d.sync += [r.opcode.eq(self.i.payload), r.count.eq(0)]
                byte_low = self.i.payload[:_OPCODE_BITS]
                with m.If((self.i.payload >> _OPCODE_BITS != 0) | ~known[byte_low]):
                    reject(Error.UNKNOWN_OPCODE)
                with m.Elif(needed[byte_low] == 0):
                    m.next = "DISPATCH"
                with m.Else():
                    m.next = "ARGUMENTS"
        with m.State("ARGUMENTS"):
            m.d.comb += self.i.ready.eq(1)
            with m.If(self.i.valid):
                target = r.count + first_place[low]
                for b in range(_REGISTER_BYTES):
                    with m.If(target == b):
                        m.d.sync += r.arguments.word_select(b, 8).eq(self.i.payload)
                m.d.sync += r.count.eq(r.count + 1)
                with m.If(r.count == needed[low] - 1):
                    m.next = "DISPATCH"
            with m.Elif(timed_out):
                reject(Error.TIMEOUT)
        with m.State("DISPATCH"):
            m.d.sync += [r.address.eq(argument(r.arguments, "address")),
                         r.remaining.eq(argument(r.arguments, "count")),
                         r.count.eq(0), r.word.eq(0)]
            with m.If(error != 0):
                reject(error)
            with m.Else():
                with m.Switch(r.opcode):
                    with m.Case(Opcode.PING):
                        m.next = "SEND_IDENTITY"
                    with m.Case(Opcode.WRITE_INPUT):
                        m.d.sync += [r.address.eq(0), r.remaining.eq(cfg.sizes[0])]
                        m.next = "RECEIVE_INPUT"
                    with m.Case(Opcode.TRAIN):
                        m.next = "START_TRAIN"
                    with m.Case(Opcode.INFER):
                        m.next = "START_INFER"
                    with m.Case(*_MEMORY_READS):
                        reply_with(Opcode.READ_WEIGHTS, read=True)
                    with m.Case(Opcode.READ_OUTPUTS):
                        m.d.sync += [r.address.eq(0), r.remaining.eq(cfg.sizes[-1])]
                        reply_with(Opcode.READ_OUTPUTS, read=True)
                    with m.Case(*_MEMORY_WRITES):
                        m.next = "RECEIVE_ITEM"
                    with m.Case(Opcode.READ_COUNTERS):
                        reply_with(Opcode.READ_COUNTERS)

    def _run(self, m, r, learner, reply_with):
        """TRAIN and INFER: start the learner, wait, reply with its results."""
        for name, command in (("START_TRAIN", Command.TRAIN), ("START_INFER", Command.INFER)):
            with m.State(name):
                m.d.comb += [learner.command.eq(command), learner.start.eq(1)]
                m.next = "WAIT_LEARNER"
        with m.State("WAIT_LEARNER"):
            with m.If(~learner.busy):
                with m.If(r.opcode == Opcode.TRAIN):
                    reply_with(Opcode.TRAIN)
                with m.Else():
                    reply_with(Opcode.INFER)

    def _receive(self, m, r, learner, timed_out, reply_with, reject):
        """A payload: input intensities (a byte each) or memory words (little-endian)."""
        learn = self._config.learning
        with m.State("RECEIVE_INPUT"):
            m.d.comb += self.i.ready.eq(1)
            with m.If(self.i.valid):
                m.d.comb += learner.inputs.we.eq(1)
                m.d.sync += [r.address.eq(r.address + 1), r.remaining.eq(r.remaining - 1)]
                with m.If(r.remaining == 1):
                    reply_with(Opcode.WRITE_INPUT)
            with m.Elif(timed_out):
                reject(Error.TIMEOUT)
        item_bytes = Mux(r.opcode == Opcode.WRITE_WEIGHTS, word_bytes(learn.master),
                         word_bytes(learn.basis))
        with m.State("RECEIVE_ITEM"):
            with m.If(r.remaining == 0):
                reply_with(Opcode.WRITE_WEIGHTS)
            with m.Else():
                m.d.comb += self.i.ready.eq(1)
                with m.If(self.i.valid):
                    # Little-endian bytes shifted in from the top, as the arguments.
                    m.d.sync += [r.word.eq(Cat(r.word[8:], self.i.payload)),
                                 r.count.eq(r.count + 1)]
                    with m.If(r.count == item_bytes - 1):
                        m.next = "WRITE_ITEM"
                with m.Elif(timed_out):
                    reject(Error.TIMEOUT)
        with m.State("WRITE_ITEM"):
            # The word sits at the top of the register; its format's bits are signed.
            def value(fmt):
                start = len(r.word) - 8 * word_bytes(fmt)
                return r.word[start:start + fmt.width].as_signed()

            m.d.comb += [learner.weights.wdata.eq(value(learn.master)),
                         learner.projector.basis_wdata.eq(value(learn.basis)),
                         learner.weights.we.eq(r.opcode == Opcode.WRITE_WEIGHTS),
                         learner.projector.basis_we.eq(r.opcode == Opcode.WRITE_BASIS)]
            m.d.sync += [r.address.eq(r.address + 1), r.remaining.eq(r.remaining - 1),
                         r.count.eq(0), r.word.eq(0)]
            m.next = "RECEIVE_ITEM"

    def _send(self, m, r, learner):
        """Replies: the status byte and fixed fields (SEND), the words of a read one by one
        (READ_ITEM, READ_WAIT_<k>, READ_LATCH, SEND again), the PING identity (SEND_IDENTITY)."""
        cfg, learn = self._config, self._config.learning
        # The address is on the ports from READ_ITEM on; the word is there a cycle later, a
        # weight's or basis word's up to ``host_read_latency`` cycles later: every read waits
        # for the slowest.
        waits = [f"READ_WAIT_{k}" for k in range(learner.host_read_latency - 1)]
        latch = [*waits, "READ_LATCH"]
        with m.State("READ_ITEM"):
            with m.If(r.remaining == 0):
                m.next = "IDLE"
            with m.Else():
                m.next = latch[0]
        for state, after in zip(waits, latch[1:], strict=True):
            with m.State(state):
                m.next = after
        with m.State("READ_LATCH"):
            sources = {Opcode.READ_WEIGHTS: (learner.weights.rdata, learn.master),
                       Opcode.READ_CENTROIDS: (learner.projector.centroid_rdata, learn.vector),
                       Opcode.READ_BASIS: (learner.projector.basis_rdata, learn.basis),
                       Opcode.READ_OUTPUTS: (learner.outputs.data, learn.output)}
            with m.Switch(r.opcode):
                for code, (data, fmt) in sources.items():
                    with m.Case(code):
                        m.d.sync += [r.word.eq(data), r.length.eq(word_bytes(fmt))]
            m.d.sync += [r.count.eq(0), r.status.eq(0), r.source.eq(_SOURCES.index(None)),
                         r.address.eq(r.address + 1), r.remaining.eq(r.remaining - 1)]
            m.next = "SEND"
        results = {"prediction": learner.prediction, "delta": learner.delta,
                   "cycles": learner.cycles, "samples": learner.samples}
        reply_bytes = {opcode: Cat(*(_field(results[f.name], f.bytes_for(cfg))
                                     for f in COMMANDS[opcode].reply))
                       for opcode in _SOURCES if opcode is not None}
        reply_bytes[None] = r.word
        with m.State("SEND"):
            byte = Signal(8)
            with m.Switch(r.source):
                for index, key in enumerate(_SOURCES):
                    with m.Case(index):
                        m.d.comb += byte.eq(reply_bytes[key].word_select(r.count[:3], 8))
            m.d.comb += [self.o.payload.eq(Mux(r.status, Mux(r.draining, NAK, ACK), byte)),
                         self.o.valid.eq(1)]
            with m.If(self.o.ready):
                with m.If(r.status):
                    m.d.sync += r.status.eq(0)
                with m.Else():
                    m.d.sync += r.count.eq(r.count + 1)
                with m.If(Mux(r.status, r.length == 0, r.count == r.length - 1)):
                    m.d.sync += [r.count.eq(0), r.status.eq(0)]
                    with m.If(r.streaming):
                        m.next = "READ_ITEM"
                    with m.Elif(r.draining):
                        m.next = "DRAIN"
                    with m.Else():
                        m.next = "IDLE"
        with m.State("SEND_IDENTITY"):
            rom = bytes([ACK]) + identity_bytes(cfg)
            m.d.comb += [self.o.payload.eq(Array(C(b, 8) for b in rom)[r.count]),
                         self.o.valid.eq(1)]
            with m.If(self.o.ready):
                m.d.sync += r.count.eq(r.count + 1)
                with m.If(r.count == len(rom) - 1):
                    m.next = "IDLE"
