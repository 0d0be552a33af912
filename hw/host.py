"""Byte-stream command protocol in front of the learner (UART or any other byte transport).

Every request is an opcode byte and fixed-size arguments, then for some opcodes a payload; every
request gets a reply. Multi-byte fields are little-endian; words are two's complement in the
fewest whole bytes of their format. ``docs/protocol.md`` tabulates it; :mod:`loco_sw.host` is the
host side.
"""

from amaranth import *
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .formats import XORSHIFT_WIDTH, NetworkConfig
from .learner import Command, LearnerCore


__all__ = ["Opcode", "ARGUMENT_BYTES", "ACK", "NAK", "MAGIC", "word_bytes", "identity_bytes",
           "HostInterface"]

_REPLY_BYTES = 8    # the longest fixed reply: READ_COUNTERS
ACK = 0xAA
NAK = 0xEE
MAGIC = b"LOCO"


class Opcode:
    PING = 0x01            # -> MAGIC, layers, sizes (2 bytes each), T, clusters
    WRITE_INPUT = 0x02     # + n0 intensity bytes -> ACK
    TRAIN = 0x03           # label, encoder seed (4), perturb seed (4), flags -> pred, delta, cycles
    INFER = 0x04           # encoder seed (4) -> prediction, cycles (4)
    READ_WEIGHTS = 0x05    # layer, address (2), count (2) -> count master words
    WRITE_WEIGHTS = 0x06   # layer, address (2), count (2) + count master words -> ACK
    WRITE_BASIS = 0x07     # layer, address (2), count (2) + count basis words -> ACK
    READ_CENTROIDS = 0x08  # layer, address (2), count (2) -> count vector words
    READ_OUTPUTS = 0x09    # -> K clean output words of the last pass
    READ_COUNTERS = 0x0A   # -> samples trained (4), cycles of the last command (4)


ARGUMENT_BYTES = {
    Opcode.PING: 0, Opcode.WRITE_INPUT: 0, Opcode.TRAIN: 10, Opcode.INFER: 4,
    Opcode.READ_WEIGHTS: 5, Opcode.WRITE_WEIGHTS: 5, Opcode.WRITE_BASIS: 5,
    Opcode.READ_CENTROIDS: 5, Opcode.READ_OUTPUTS: 0, Opcode.READ_COUNTERS: 0,
}


def word_bytes(fmt) -> int:
    """Bytes that carry one word of ``fmt`` on the wire."""
    return (fmt.width + 7) // 8


def identity_bytes(config: NetworkConfig) -> bytes:
    """The reply to ``PING``: who the gateware is, so the host can check its configuration."""
    sizes = b"".join(size.to_bytes(2, "little") for size in config.sizes)
    return MAGIC + bytes([config.layers]) + sizes + bytes([config.timesteps, config.clusters])


def _field(value, nbytes):
    """``value``'s bits zero-padded to ``nbytes`` bytes (the host sign-extends by format)."""
    return Cat(value.as_unsigned(), C(0, 8 * nbytes - len(value)))


class HostInterface(wiring.Component):
    """Command processor that owns a :class:`LearnerCore` and talks bytes.

    Members
    -------
    i : ``In(stream.Signature(8))``   requests from the host
    o : ``Out(stream.Signature(8))``  replies to the host
    """

    i: In(stream.Signature(8))
    o: Out(stream.Signature(8))

    def __init__(self, config: NetworkConfig, *, init=None, shared_update=False):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"Config must be a NetworkConfig, not {config!r}")
        self._config = config
        self._init = init
        self._shared = shared_update
        super().__init__()

    @property
    def config(self):
        return self._config

    def elaborate(self, platform):
        m = Module()
        cfg, learn = self._config, self._config.learning
        m.submodules.learner = learner = LearnerCore(cfg, init=self._init,
                                                     shared_update=self._shared)

        rom = identity_bytes(cfg)
        needed_table = Array(C(ARGUMENT_BYTES.get(code, 0), 4) for code in range(16))
        known = Array(C(code in ARGUMENT_BYTES, 1) for code in range(16))

        opcode    = Signal(8)
        args      = Signal(8 * max(ARGUMENT_BYTES.values()))
        count     = Signal(8)                    # argument bytes received / reply bytes sent
        layer     = Signal(8)
        address   = Signal(16)
        remaining = Signal(16)
        word      = Signal(8 * max(word_bytes(learn.master), word_bytes(learn.basis)))
        reply     = Signal(8 * _REPLY_BYTES)
        length    = Signal(4)
        label     = Signal(8)
        seeds     = Signal(2 * XORSHIFT_WIDTH)
        flags     = Signal(8)

        is_read = (opcode == Opcode.READ_WEIGHTS) | (opcode == Opcode.READ_CENTROIDS) | \
            (opcode == Opcode.READ_OUTPUTS)
        item_bytes = Mux(opcode == Opcode.WRITE_WEIGHTS, word_bytes(learn.master),
                         word_bytes(learn.basis))
        read_bytes = Mux(opcode == Opcode.READ_WEIGHTS, word_bytes(learn.master),
                         Mux(opcode == Opcode.READ_CENTROIDS, word_bytes(learn.vector),
                             word_bytes(learn.output)))

        m.d.comb += [
            learner.label.eq(label),
            learner.encoder_seed.eq(seeds[:32]),
            learner.perturb_seed.eq(seeds[32:]),
            learner.use_projector.eq(flags[0]),
            learner.update_centroid.eq(flags[1]),
            learner.step_shift.eq(flags[2:2 + learn.step_shift_bits]),
            learner.weight_layer.eq(layer),
            learner.weight_addr.eq(address),
            learner.weight_wdata.eq(word),
            learner.basis_layer.eq(layer),
            learner.basis_addr.eq(address),
            learner.basis_data.eq(word),
            learner.centroid_layer.eq(layer),
            learner.centroid_addr.eq(address),
            learner.output_addr.eq(address),
            learner.input_addr.eq(address),
            learner.input_data.eq(self.i.payload),
        ]

        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.i.ready.eq(1)
                with m.If(self.i.valid):
                    m.d.sync += [opcode.eq(self.i.payload), count.eq(0)]
                    with m.If((self.i.payload >= 16) | ~known[self.i.payload[:4]]):
                        m.d.sync += [reply.eq(NAK), length.eq(1)]
                        m.next = "SEND"
                    with m.Elif(needed_table[self.i.payload[:4]] == 0):
                        m.next = "DISPATCH"
                    with m.Else():
                        m.next = "ARGUMENTS"
            with m.State("ARGUMENTS"):
                # Shifted in from the top: after k bytes the first one is at args[80 - 8k].
                m.d.comb += self.i.ready.eq(1)
                with m.If(self.i.valid):
                    m.d.sync += [args.eq(Cat(args[8:], self.i.payload)), count.eq(count + 1)]
                    with m.If(count == needed_table[opcode[:4]] - 1):
                        m.next = "DISPATCH"
            with m.State("DISPATCH"):
                def field(offset, size, total):
                    """Bytes ``offset .. offset + size`` of a ``total``-byte argument list."""
                    start = 8 * (len(args) // 8 - total + offset)
                    return args[start:start + 8 * size]

                m.d.sync += [layer.eq(field(0, 1, 5)), address.eq(field(1, 2, 5)),
                             remaining.eq(field(3, 2, 5)), count.eq(0), word.eq(0)]
                with m.Switch(opcode):
                    with m.Case(Opcode.PING):
                        m.next = "SEND_IDENTITY"
                    with m.Case(Opcode.WRITE_INPUT):
                        m.d.sync += [address.eq(0), remaining.eq(cfg.sizes[0])]
                        m.next = "RECEIVE_INPUT"
                    with m.Case(Opcode.TRAIN):
                        m.d.sync += [label.eq(field(0, 1, 10)), seeds.eq(field(1, 8, 10)),
                                     flags.eq(field(9, 1, 10))]    # the TRAIN layout
                        m.next = "START_TRAIN"
                    with m.Case(Opcode.INFER):
                        m.d.sync += seeds[:32].eq(field(0, 4, 4))
                        m.next = "START_INFER"
                    with m.Case(Opcode.READ_WEIGHTS, Opcode.READ_CENTROIDS):
                        m.next = "READ_ITEM"
                    with m.Case(Opcode.READ_OUTPUTS):
                        m.d.sync += [address.eq(0), remaining.eq(cfg.sizes[-1])]
                        m.next = "READ_ITEM"
                    with m.Case(Opcode.WRITE_WEIGHTS, Opcode.WRITE_BASIS):
                        m.next = "RECEIVE_ITEM"
                    with m.Case(Opcode.READ_COUNTERS):
                        m.d.sync += [reply.eq(Cat(learner.samples, learner.cycles)),
                                     length.eq(8)]
                        m.next = "SEND"

            with m.State("START_TRAIN"):
                m.d.comb += [learner.command.eq(Command.TRAIN), learner.start.eq(1)]
                m.next = "WAIT_LEARNER"
            with m.State("START_INFER"):
                m.d.comb += [learner.command.eq(Command.INFER), learner.start.eq(1)]
                m.next = "WAIT_LEARNER"
            with m.State("WAIT_LEARNER"):
                with m.If(~learner.busy):
                    prediction = _field(learner.prediction, 1)
                    with m.If(opcode == Opcode.TRAIN):
                        delta = _field(learner.delta, word_bytes(learn.delta))
                        m.d.sync += [reply.eq(Cat(prediction, delta, learner.cycles)),
                                     length.eq(1 + word_bytes(learn.delta) + 4)]
                    with m.Else():
                        m.d.sync += [reply.eq(Cat(prediction, learner.cycles)), length.eq(5)]
                    m.next = "SEND"

            with m.State("RECEIVE_INPUT"):
                m.d.comb += self.i.ready.eq(1)
                with m.If(self.i.valid):
                    m.d.comb += learner.input_we.eq(1)
                    m.d.sync += [address.eq(address + 1), remaining.eq(remaining - 1)]
                    with m.If(remaining == 1):
                        m.d.sync += [reply.eq(ACK), length.eq(1)]
                        m.next = "SEND"

            with m.State("RECEIVE_ITEM"):
                with m.If(remaining == 0):
                    m.d.sync += [reply.eq(ACK), length.eq(1)]
                    m.next = "SEND"
                with m.Else():
                    m.d.comb += self.i.ready.eq(1)
                    with m.If(self.i.valid):
                        # Little-endian bytes shifted in from the top, as the arguments.
                        m.d.sync += [word.eq(Cat(word[8:], self.i.payload)),
                                     count.eq(count + 1)]
                        with m.If(count == item_bytes - 1):
                            m.next = "WRITE_ITEM"
            with m.State("WRITE_ITEM"):
                # The word sits at the top of the register; its format's bits are signed.
                def value(fmt):
                    start = len(word) - 8 * word_bytes(fmt)
                    return word[start:start + fmt.width].as_signed()

                m.d.comb += [learner.weight_wdata.eq(value(learn.master)),
                             learner.basis_data.eq(value(learn.basis)),
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
                data = Mux(opcode == Opcode.READ_WEIGHTS, learner.weight_rdata,
                           Mux(opcode == Opcode.READ_CENTROIDS, learner.centroid_rdata,
                               learner.output_clean))
                m.d.sync += [reply.eq(data), length.eq(read_bytes), count.eq(0),
                             address.eq(address + 1), remaining.eq(remaining - 1)]
                m.next = "SEND"

            with m.State("SEND"):
                m.d.comb += [self.o.payload.eq(reply[:8]), self.o.valid.eq(1)]
                with m.If(self.o.ready):
                    m.d.sync += [count.eq(count + 1), reply.eq(reply >> 8)]
                    with m.If(count == length - 1):
                        m.d.sync += count.eq(0)
                        with m.If(is_read):
                            m.next = "READ_ITEM"
                        with m.Else():
                            m.next = "IDLE"
            with m.State("SEND_IDENTITY"):
                m.d.comb += [self.o.payload.eq(Array(C(b, 8) for b in rom)[count]),
                             self.o.valid.eq(1)]
                with m.If(self.o.ready):
                    m.d.sync += count.eq(count + 1)
                    with m.If(count == len(rom) - 1):
                        m.next = "IDLE"
        return m
