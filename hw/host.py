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


__all__ = ["HostInterface"]

# Argument bytes land in one register at fixed byte places, so that a field two commands carry
# (the encoder seed of TRAIN and INFER) is wired to the learner once.
_PLACES = {"layer": 0, "address": 1, "count": 4,
           "label": 0, "encoder_seed": 1, "perturb_seed": 5, "flags": 9}
_REGISTER_BYTES = 10
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


def _field(value, nbytes):
    """``value``'s bits zero-padded to ``nbytes`` bytes (the host sign-extends by format)."""
    return Cat(value.as_unsigned(), C(0, 8 * nbytes - len(value)))


class HostInterface(wiring.Component):
    """Command processor that owns a :class:`LearnerCore` and talks bytes.

    Parameters
    ----------
    config : NetworkConfig
    init, shared_update :
        As :class:`LearnerCore`.
    timeout_cycles : int
        Cycles without an input byte after which a partial frame is dropped (``NAK TIMEOUT``)
        and after which input is taken again following a ``NAK`` (a bare byte stream has no
        byte time; :class:`hw.uart.UARTLearner` sets it from the baud rate).

    Members
    -------
    i : ``In(stream.Signature(8))``   requests from the host
    o : ``Out(stream.Signature(8))``  replies to the host
    """

    i: In(stream.Signature(8))
    o: Out(stream.Signature(8))

    def __init__(self, config: NetworkConfig, *, init=None, shared_update=False,
                 timeout_cycles: int = STREAM_TIMEOUT_CYCLES):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"Config must be a NetworkConfig, not {config!r}")
        if not isinstance(timeout_cycles, int) or isinstance(timeout_cycles, bool) or \
                not 2 <= timeout_cycles <= 1 << 24:
            raise ValueError(f"Timeout must be an integer number of cycles in [2, 2**24], "
                             f"not {timeout_cycles!r}")
        self._config = config
        self._init = init
        self._shared = shared_update
        self._timeout = timeout_cycles
        super().__init__()

    @property
    def config(self):
        return self._config

    def elaborate(self, platform):
        m = Module()
        cfg, learn = self._config, self._config.learning
        m.submodules.learner = learner = LearnerCore(cfg, init=self._init,
                                                     shared_update=self._shared)
        words_of = {memory: [memory_words(cfg, memory, layer) for layer in range(cfg.layers)]
                    for memory in MEMORIES}
        largest = max(max(words) for words in words_of.values())

        def by_opcode(values, width):
            """A table of constants indexed by the low opcode bits (0 where ``values`` has
            no entry)."""
            return Array(C(values.get(code, 0), width) for code in range(16))

        known = by_opcode(dict.fromkeys(COMMANDS, 1), 1)
        needed = by_opcode({code: argument_bytes(code) for code in COMMANDS}, 4)
        first_place = by_opcode({code: _first_place(code) for code in COMMANDS}, 4)

        args = Signal(8 * _REGISTER_BYTES)

        def place(name):
            size = next(f.size for c in COMMANDS.values() for f in c.arguments if f.name == name)
            return args[8 * _PLACES[name]:8 * (_PLACES[name] + size)]

        opcode     = Signal(8)
        count      = Signal(8)                   # argument bytes received / reply bytes sent
        address    = Signal(range(largest + 1))
        remaining  = Signal(range(largest + 1))
        word       = Signal(8 * max(word_bytes(learn.master), word_bytes(learn.basis)))
        # The bytes after a reply's status byte are taken straight from their source (the
        # learner's result registers, which hold still while idle, or ``word``), byte ``count``.
        source     = Signal(range(len(_SOURCES)))
        length     = Signal(4)                   # reply bytes after the status byte
        status     = Signal()                    # SEND starts with the status byte
        draining   = Signal()                    # the status is NAK: then drop input until idle
        streaming  = Signal()                    # SEND goes on with the next word of a read
        idle       = Signal(range(self._timeout))
        timed_out  = Signal()

        layer, label, flags = place("layer"), place("label"), place("flags")
        item_bytes = Mux(opcode == Opcode.WRITE_WEIGHTS, word_bytes(learn.master),
                         word_bytes(learn.basis))
        m.d.comb += [
            learner.label.eq(label),
            learner.encoder_seed.eq(place("encoder_seed")),
            learner.perturb_seed.eq(place("perturb_seed")),
            learner.use_projector.eq(flags[FLAG_PROJECTOR]),
            learner.update_centroid.eq(flags[FLAG_CENTROID]),
            learner.step_shift.eq(flags[FLAG_STEP_SHIFT:FLAG_STEP_SHIFT +
                                        learn.step_shift_bits]),
            learner.weight_layer.eq(layer),
            learner.store_layer.eq(layer),
            learner.weight_addr.eq(address),
            learner.basis_addr.eq(address),
            learner.centroid_addr.eq(address),
            learner.output_addr.eq(address),
            learner.input_addr.eq(address),
            learner.input_data.eq(self.i.payload),
        ]

        def reply_with(opcode, *, nak=False, read=False):
            """The status byte (ACK, or NAK: then drop input until idle), then the fixed reply
            of ``opcode`` (NAK: the error code in ``word``); a read then streams its words
            (SEND goes back to READ_ITEM)."""
            nbytes = 1 if nak else sum(f.bytes_for(cfg) for f in COMMANDS[opcode].reply)
            m.d.sync += [source.eq(_SOURCES.index(opcode if opcode in _SOURCES else None)),
                         length.eq(nbytes), count.eq(0), status.eq(1), draining.eq(nak),
                         streaming.eq(read)]
            m.next = "SEND"

        def reject(error):
            """NAK and ``error`` (a code or an 8-bit signal)."""
            m.d.sync += word.eq(error)
            reply_with(None, nak=True)

        results = {"prediction": learner.prediction, "delta": learner.delta,
                   "cycles": learner.cycles, "samples": learner.samples}
        reply_bytes = {opcode: Cat(*(_field(results[f.name], f.bytes_for(cfg))
                                     for f in COMMANDS[opcode].reply))
                       for opcode in _SOURCES if opcode is not None}
        reply_bytes[None] = word

        def error_of_request():
            """The error code of the request whose arguments are in, 0 if it is good."""
            error = Signal(8)
            layer_index = layer[:max(1, (cfg.layers - 1).bit_length())]

            words = Signal(range(largest + 1))         # of the memory the request addresses
            with m.Switch(opcode):
                for code in (*_MEMORY_READS, *_MEMORY_WRITES):
                    with m.Case(code):
                        table = words_of[COMMANDS[code].memory]
                        m.d.comb += words.eq(Array(C(w, range(largest + 1))
                                                   for w in table)[layer_index])
            reserved = flags >> (FLAG_STEP_SHIFT + learn.step_shift_bits)
            # address + count <= words, in the width of the largest memory: wider address or
            # count bits must be zero.
            start, count_ = place("address"), place("count")
            bits = len(address)
            fits = (start[bits:] == 0) & (count_[bits:] == 0) & \
                (start[:bits] + count_[:bits] <= words)
            with m.Switch(opcode):
                with m.Case(*_MEMORY_READS, *_MEMORY_WRITES):
                    with m.If(layer >= cfg.layers):
                        m.d.comb += error.eq(Error.BAD_LAYER)
                    with m.Elif((count_ == 0) | ~fits):
                        m.d.comb += error.eq(Error.BAD_RANGE)
                with m.Case(Opcode.TRAIN):
                    with m.If(label >= cfg.sizes[-1]):
                        m.d.comb += error.eq(Error.BAD_LABEL)
                    with m.Elif((place("encoder_seed") == 0) | (place("perturb_seed") == 0)):
                        m.d.comb += error.eq(Error.ZERO_SEED)
                    with m.Elif(reserved != 0):
                        m.d.comb += error.eq(Error.BAD_FLAGS)
                with m.Case(Opcode.INFER):
                    with m.If(place("encoder_seed") == 0):
                        m.d.comb += error.eq(Error.ZERO_SEED)
            return error

        with m.FSM() as fsm:
            with m.State("IDLE"):
                m.d.comb += self.i.ready.eq(1)
                with m.If(self.i.valid):
                    m.d.sync += [opcode.eq(self.i.payload), count.eq(0)]
                    with m.If((self.i.payload >= 16) | ~known[self.i.payload[:4]]):
                        reject(Error.UNKNOWN_OPCODE)
                    with m.Elif(needed[self.i.payload[:4]] == 0):
                        m.next = "DISPATCH"
                    with m.Else():
                        m.next = "ARGUMENTS"

            with m.State("ARGUMENTS"):
                m.d.comb += self.i.ready.eq(1)
                with m.If(self.i.valid):
                    target = count + first_place[opcode[:4]]
                    for b in range(_REGISTER_BYTES):
                        with m.If(target == b):
                            m.d.sync += args.word_select(b, 8).eq(self.i.payload)
                    m.d.sync += count.eq(count + 1)
                    with m.If(count == needed[opcode[:4]] - 1):
                        m.next = "DISPATCH"
                with m.Elif(timed_out):
                    reject(Error.TIMEOUT)

            with m.State("DISPATCH"):
                error = error_of_request()
                m.d.sync += [address.eq(place("address")), remaining.eq(place("count")),
                             count.eq(0), word.eq(0)]
                with m.If(error != 0):
                    reject(error)
                with m.Else():
                    with m.Switch(opcode):
                        with m.Case(Opcode.PING):
                            m.next = "SEND_IDENTITY"
                        with m.Case(Opcode.WRITE_INPUT):
                            m.d.sync += [address.eq(0), remaining.eq(cfg.sizes[0])]
                            m.next = "RECEIVE_INPUT"
                        with m.Case(Opcode.TRAIN):
                            m.next = "START_TRAIN"
                        with m.Case(Opcode.INFER):
                            m.next = "START_INFER"
                        with m.Case(*_MEMORY_READS):
                            reply_with(Opcode.READ_WEIGHTS, read=True)
                        with m.Case(Opcode.READ_OUTPUTS):
                            m.d.sync += [address.eq(0), remaining.eq(cfg.sizes[-1])]
                            reply_with(Opcode.READ_OUTPUTS, read=True)
                        with m.Case(*_MEMORY_WRITES):
                            m.next = "RECEIVE_ITEM"
                        with m.Case(Opcode.READ_COUNTERS):
                            reply_with(Opcode.READ_COUNTERS)

            with m.State("START_TRAIN"):
                m.d.comb += [learner.command.eq(Command.TRAIN), learner.start.eq(1)]
                m.next = "WAIT_LEARNER"
            with m.State("START_INFER"):
                m.d.comb += [learner.command.eq(Command.INFER), learner.start.eq(1)]
                m.next = "WAIT_LEARNER"
            with m.State("WAIT_LEARNER"):
                with m.If(~learner.busy):
                    with m.If(opcode == Opcode.TRAIN):
                        reply_with(Opcode.TRAIN)
                    with m.Else():
                        reply_with(Opcode.INFER)

            with m.State("RECEIVE_INPUT"):
                m.d.comb += self.i.ready.eq(1)
                with m.If(self.i.valid):
                    m.d.comb += learner.input_we.eq(1)
                    m.d.sync += [address.eq(address + 1), remaining.eq(remaining - 1)]
                    with m.If(remaining == 1):
                        reply_with(Opcode.WRITE_INPUT)
                with m.Elif(timed_out):
                    reject(Error.TIMEOUT)

            with m.State("RECEIVE_ITEM"):
                with m.If(remaining == 0):
                    reply_with(Opcode.WRITE_WEIGHTS)
                with m.Else():
                    m.d.comb += self.i.ready.eq(1)
                    with m.If(self.i.valid):
                        # Little-endian bytes shifted in from the top, as the arguments.
                        m.d.sync += [word.eq(Cat(word[8:], self.i.payload)),
                                     count.eq(count + 1)]
                        with m.If(count == item_bytes - 1):
                            m.next = "WRITE_ITEM"
                    with m.Elif(timed_out):
                        reject(Error.TIMEOUT)
            with m.State("WRITE_ITEM"):
                # The word sits at the top of the register; its format's bits are signed.
                def value(fmt):
                    start = len(word) - 8 * word_bytes(fmt)
                    return word[start:start + fmt.width].as_signed()

                m.d.comb += [learner.weight_wdata.eq(value(learn.master)),
                             learner.basis_wdata.eq(value(learn.basis)),
                             learner.weight_we.eq(opcode == Opcode.WRITE_WEIGHTS),
                             learner.basis_we.eq(opcode == Opcode.WRITE_BASIS)]
                m.d.sync += [address.eq(address + 1), remaining.eq(remaining - 1),
                             count.eq(0), word.eq(0)]
                m.next = "RECEIVE_ITEM"

            with m.State("READ_ITEM"):
                # The address is on the ports now; the word is there a cycle later.
                with m.If(remaining == 0):
                    m.next = "IDLE"
                with m.Else():
                    m.next = "READ_LATCH"
            with m.State("READ_LATCH"):
                sources = {Opcode.READ_WEIGHTS: (learner.weight_rdata, learn.master),
                          Opcode.READ_CENTROIDS: (learner.centroid_rdata, learn.vector),
                          Opcode.READ_BASIS: (learner.basis_rdata, learn.basis),
                          Opcode.READ_OUTPUTS: (learner.output_clean, learn.output)}
                with m.Switch(opcode):
                    for code, (data, fmt) in sources.items():
                        with m.Case(code):
                            m.d.sync += [word.eq(data), length.eq(word_bytes(fmt))]
                m.d.sync += [count.eq(0), status.eq(0), source.eq(_SOURCES.index(None)),
                             address.eq(address + 1), remaining.eq(remaining - 1)]
                m.next = "SEND"

            with m.State("SEND"):
                byte = Signal(8)
                with m.Switch(source):
                    for index, key in enumerate(_SOURCES):
                        with m.Case(index):
                            m.d.comb += byte.eq(reply_bytes[key].word_select(count[:3], 8))
                m.d.comb += [self.o.payload.eq(Mux(status, Mux(draining, NAK, ACK), byte)),
                             self.o.valid.eq(1)]
                with m.If(self.o.ready):
                    with m.If(status):
                        m.d.sync += status.eq(0)
                    with m.Else():
                        m.d.sync += count.eq(count + 1)
                    with m.If(Mux(status, length == 0, count == length - 1)):
                        m.d.sync += [count.eq(0), status.eq(0)]
                        with m.If(streaming):
                            m.next = "READ_ITEM"
                        with m.Elif(draining):
                            m.next = "DRAIN"
                        with m.Else():
                            m.next = "IDLE"
            with m.State("SEND_IDENTITY"):
                rom = bytes([ACK]) + identity_bytes(cfg)
                m.d.comb += [self.o.payload.eq(Array(C(b, 8) for b in rom)[count]),
                             self.o.valid.eq(1)]
                with m.If(self.o.ready):
                    m.d.sync += count.eq(count + 1)
                    with m.If(count == len(rom) - 1):
                        m.next = "IDLE"
            with m.State("DRAIN"):
                # After a NAK: the rest of the bad frame is dropped, up to an idle gap.
                m.d.comb += self.i.ready.eq(1)
                with m.If(timed_out):
                    m.next = "IDLE"

        # The frame timer: cycles without an input byte while a frame is open (or draining).
        listening = (fsm.ongoing("ARGUMENTS") | fsm.ongoing("RECEIVE_INPUT") |
                     fsm.ongoing("RECEIVE_ITEM") | fsm.ongoing("DRAIN"))
        m.d.comb += timed_out.eq(idle == self._timeout - 1)
        with m.If(~listening | self.i.valid | timed_out):
            m.d.sync += idle.eq(0)
        with m.Else():
            m.d.sync += idle.eq(idle + 1)
        return m
