"""The host protocol as data: opcodes, request and reply layouts, error codes, framing rules.

Standard library only. The gateware (:mod:`hw.host`) and the host driver (:mod:`loco_sw.host`)
are both built from these tables, and ``docs/protocol.md``'s reference section is generated from
them (``python -m hw.protocol --update docs/protocol.md``; a test checks it is current).

Framing: a request is an opcode byte, its fixed arguments, then (some opcodes) a payload; every
request gets exactly one reply, which starts with a status byte: ``ACK`` and the reply's fields,
or ``NAK`` and an :class:`Error` code. Multi-byte fields are little-endian; words travel as two's
complement in the fewest whole bytes of their format (:func:`word_bytes`). A request the gateware
rejects is answered ``NAK`` + an :class:`Error` code and changes nothing; after a ``NAK`` the
gateware drops every byte until the line has been idle for the frame timeout, so the rest of a
bad frame is never read as commands. A frame that stops mid-way is dropped after the same idle
time and answered ``NAK`` ``TIMEOUT``. A host regains sync by staying silent for the timeout,
discarding what it received, and sending ``PING``.
"""

import enum
from dataclasses import dataclass

__all__ = ["ACK", "NAK", "MAGIC", "VERSION", "ADDRESS_BYTES", "COUNT_BYTES", "MAX_COUNT",
           "FRAME_TIMEOUT_BYTE_TIMES", "UART_BYTE_BITS", "STREAM_TIMEOUT_CYCLES", "Opcode", "Error",
           "ERROR_MEANINGS", "Field", "Command", "COMMANDS",
           "FLAG_PROJECTOR", "FLAG_CENTROID", "FLAG_STEP_SHIFT", "MEMORIES", "word_bytes",
           "memory_words", "word_to_bytes", "word_from_bytes", "identity_bytes",
           "argument_bytes", "encode", "reference_markdown", "updated_document"]

ACK = 0xAA
NAK = 0xEE
MAGIC = b"LOCO"
VERSION = 2              # in the PING identity: a host and gateware of different versions differ
ADDRESS_BYTES = 3        # word address inside one layer's memory
COUNT_BYTES = 2          # words per read/write request
MAX_COUNT = (1 << 8 * COUNT_BYTES) - 1
# The idle time after which a partial frame is dropped (and, after a NAK, input is taken again),
# in byte times of the UART; a direct byte-stream interface counts cycles instead.
FRAME_TIMEOUT_BYTE_TIMES = 64
UART_BYTE_BITS = 10      # bit times per byte on the line: 8N1 (start, 8 data, stop)
STREAM_TIMEOUT_CYCLES = 4096


class Opcode(enum.IntEnum):
    PING = 0x01
    WRITE_INPUT = 0x02
    TRAIN = 0x03
    INFER = 0x04
    READ_WEIGHTS = 0x05
    WRITE_WEIGHTS = 0x06
    WRITE_BASIS = 0x07
    READ_CENTROIDS = 0x08
    READ_OUTPUTS = 0x09
    READ_COUNTERS = 0x0A
    READ_BASIS = 0x0B


class Error(enum.IntEnum):
    """The byte after a ``NAK``: why the request was rejected (nothing was changed)."""
    UNKNOWN_OPCODE = 0x01
    BAD_LAYER = 0x02
    BAD_RANGE = 0x03
    BAD_LABEL = 0x04
    ZERO_SEED = 0x05
    BAD_FLAGS = 0x06
    TIMEOUT = 0x07


ERROR_MEANINGS = {
    Error.UNKNOWN_OPCODE: "the first byte names no command",
    Error.BAD_LAYER: "layer >= the network's layers",
    Error.BAD_RANGE: "count 0, or address + count beyond the layer's memory",
    Error.BAD_LABEL: "label >= classes",
    Error.ZERO_SEED: "a seed of 0 (xorshift would stay at 0: no spikes, no noise)",
    Error.BAD_FLAGS: "a TRAIN flag bit the gateware was not built with",
    Error.TIMEOUT: "the frame stopped before its last byte (dropped)",
}


@dataclass(frozen=True)
class Field:
    """``size`` bytes, or the name of a :class:`hw.formats.LearningConfig` word format."""
    name: str
    size: int | str
    doc: str = ""

    def bytes_for(self, config) -> int:
        if isinstance(self.size, int):
            return self.size
        if self.size == "identity":
            return len(identity_bytes(config))
        return word_bytes(getattr(config.learning, self.size))


@dataclass(frozen=True)
class Command:
    opcode: Opcode
    arguments: tuple = ()
    payload: str | None = None       # memory written from the payload, if any
    reply: tuple = ()                # fixed reply fields after ACK (a read: ``count`` words)
    reads: str | None = None         # format of the words a read returns
    doc: str = ""

    @property
    def memory(self) -> str | None:
        """The layer memory a read or write addresses (its word format's name: ``master``,
        ``basis`` or ``vector``), or None for the other commands."""
        return (self.payload or self.reads) if self.arguments == _MEMORY else None


_LAYER = Field("layer", 1, "layer number, < layers")
_ADDRESS = Field("address", ADDRESS_BYTES, "first word")
_COUNT = Field("count", COUNT_BYTES, "words, >= 1; address + count <= the memory's words")
_MEMORY = (_LAYER, _ADDRESS, _COUNT)
_ENCODER_SEED = Field("encoder_seed", 4, "input spike generator seed, != 0")
_CYCLES = Field("cycles", 4, "clock cycles the command took")

COMMANDS = {command.opcode: command for command in [
    Command(Opcode.PING, reply=(Field("identity", "identity", "see below"),),
            doc="who the gateware is; the host checks its configuration"),
    Command(Opcode.WRITE_INPUT, payload="input",
            doc="the n0 input intensities, 1 byte each (0..255)"),
    Command(Opcode.TRAIN,
            arguments=(Field("label", 1, "< classes"), _ENCODER_SEED,
                       Field("perturb_seed", 4, "perturbation seed, != 0"),
                       Field("flags", 1, "see below")),
            reply=(Field("prediction", 1), Field("delta", "delta", "dL, delta format"), _CYCLES),
            doc="one LOCO (or NP) step on the input written last"),
    Command(Opcode.INFER, arguments=(_ENCODER_SEED,),
            reply=(Field("prediction", 1), _CYCLES), doc="a clean pass"),
    Command(Opcode.READ_WEIGHTS, arguments=_MEMORY, reads="master",
            doc="master weights, row-major (m, n + 1), bias last"),
    Command(Opcode.WRITE_WEIGHTS, arguments=_MEMORY, payload="master",
            doc="master weights"),
    Command(Opcode.WRITE_BASIS, arguments=_MEMORY, payload="basis",
            doc="projector bases, (2C + r, n + 1)"),
    Command(Opcode.READ_CENTROIDS, arguments=_MEMORY, reads="vector",
            doc="centroids and low-rank tracker rows, (C + r, n + 1)"),
    Command(Opcode.READ_OUTPUTS, reads="output",
            doc="the K output words of the last pass (TRAIN: its first pass)"),
    Command(Opcode.READ_COUNTERS,
            reply=(Field("samples", 4, "TRAIN commands run"),
                   Field("cycles", 4, "cycles of the last TRAIN/INFER")),
            doc="activity counters"),
    Command(Opcode.READ_BASIS, arguments=_MEMORY, reads="basis",
            doc="projector bases, (2C + r, n + 1)"),
]}

MEMORIES = ("master", "basis", "vector")     # the per-layer memories reads and writes address

# TRAIN flags: bit 0 use the projector (LOCO; clear: plain NP), bit 1 update the own centroid,
# bits 2.. the step shift (as many bits as the gateware's step_shift_bits).
FLAG_PROJECTOR, FLAG_CENTROID, FLAG_STEP_SHIFT = 0, 1, 2


def word_bytes(fmt) -> int:
    """Bytes that carry one word of ``fmt`` on the wire."""
    return (fmt.width + 7) // 8


def memory_words(config, memory: str, layer: int) -> int:
    """Words of ``layer``'s ``memory`` (a :attr:`Command.memory`): rows x (n + 1), row-major."""
    rows = {"master": config.sizes[layer + 1], "basis": config.basis_rows,
            "vector": config.centroid_rows}[memory]
    return rows * (config.sizes[layer] + 1)


def word_to_bytes(value: int, nbytes: int) -> bytes:
    """A word as it travels: two's complement in ``nbytes`` little-endian bytes."""
    return (int(value) & ((1 << 8 * nbytes) - 1)).to_bytes(nbytes, "little")


def word_from_bytes(data: bytes, width: int) -> int:
    """The signed ``width``-bit word in little-endian ``data`` (higher bits ignored)."""
    value = int.from_bytes(data, "little") & ((1 << width) - 1)
    return value - (1 << width) if value >> (width - 1) else value


def identity_bytes(config) -> bytes:
    """The reply to ``PING``: MAGIC, VERSION, layers, each size (2 bytes), T (2 bytes), clusters,
    rank; ``12 + 2 * layers`` bytes."""
    sizes = b"".join(size.to_bytes(2, "little") for size in config.sizes)
    return MAGIC + bytes([VERSION, config.layers]) + sizes + \
        config.timesteps.to_bytes(2, "little") + bytes([config.clusters, config.learning.rank])


def argument_bytes(opcode) -> int:
    return sum(field.size for field in COMMANDS[opcode].arguments)


def encode(opcode, **values) -> bytes:
    """A request's opcode and arguments (no payload), each value checked against its field."""
    command = COMMANDS[Opcode(opcode)]
    names = [field.name for field in command.arguments]
    if sorted(values) != sorted(names):
        raise TypeError(f"{command.opcode.name} takes arguments {names}, not {sorted(values)}")
    out = bytes([command.opcode])
    for field in command.arguments:
        value = values[field.name]
        if not isinstance(value, int) or isinstance(value, bool) or \
                not 0 <= value < 1 << 8 * field.size:
            raise ValueError(f"{command.opcode.name} {field.name} must be an integer in "
                             f"[0, {1 << 8 * field.size}), not {value!r}")
        out += value.to_bytes(field.size, "little")
    return out


def _layout(fields) -> str:
    def size(field):
        if isinstance(field.size, int):
            return f"{field.size} B"
        return "see below" if field.size == "identity" else f"{field.size} word"
    return ", ".join(f"{field.name} ({size(field)})" for field in fields) or "–"


def reference_markdown() -> str:
    """The generated reference section of ``docs/protocol.md``."""
    lines = [(f"Every reply starts with `ACK` (0x{ACK:02X}) and the fields below, or with `NAK` "
             f"(0x{NAK:02X}) and an error code."), "",
             "| Op | Name | Arguments | Payload | Reply | What |", "|---|---|---|---|---|---|"]
    for command in COMMANDS.values():
        payload = f"count {command.payload} words" if command.payload in ("master", "basis") \
            else ("n0 bytes" if command.payload else "–")
        reply = f"count {command.reads} words" if command.reads else _layout(command.reply)
        if command.opcode == Opcode.READ_OUTPUTS:
            reply = "K output words"
        reply = "ACK" if reply == "–" else f"ACK, {reply}"
        lines.append(f"| 0x{command.opcode:02X} | {command.opcode.name} | "
                     f"{_layout(command.arguments)} | {payload} | {reply} | {command.doc} |")
    lines += ["", "Argument fields:", ""]
    seen = set()
    for command in COMMANDS.values():
        for field in command.arguments:
            if field.name not in seen and field.doc:
                seen.add(field.name)
                lines.append(f"- `{field.name}`: {field.doc}")
    lines += ["", "Error codes (the byte after `NAK`):", "", "| Code | Name | Meaning |",
              "|---|---|---|"]
    lines += [f"| 0x{code:02X} | {code.name} | {ERROR_MEANINGS[code]} |" for code in Error]
    lines += ["", (f"Identity (PING reply): `{MAGIC.decode()}`, version ({VERSION}), layers, "
              "each layer size (2 B), T (2 B), clusters, rank."),
              (f"Frame timeout: {FRAME_TIMEOUT_BYTE_TIMES} byte times of idle line on the UART "
              f"(a bare byte stream: `hw.host.HostInterface(timeout_cycles=...)`, default "
              f"{STREAM_TIMEOUT_CYCLES} cycles of no input).")]
    return "\n".join(lines) + "\n"


_BEGIN = "<!-- generated by `python -m hw.protocol --update docs/protocol.md`: begin -->"
_END = "<!-- generated: end -->"


def updated_document(text: str) -> str:
    """``text`` (``docs/protocol.md``) with its generated section replaced by the current one."""
    head, begin, rest = text.partition(_BEGIN)
    _, end, tail = rest.partition(_END)
    if not begin or not end:
        raise ValueError(f"The document has no generated section ({_BEGIN} ... {_END})")
    return head + _BEGIN + "\n" + reference_markdown() + _END + tail


if __name__ == "__main__":
    import argparse
    import pathlib
    parser = argparse.ArgumentParser(description="Print (or update in place) the protocol "
                                                 "reference of docs/protocol.md")
    parser.add_argument("--update", type=pathlib.Path, metavar="FILE")
    args = parser.parse_args()
    if args.update:
        args.update.write_text(updated_document(args.update.read_text()))
    else:
        print(reference_markdown(), end="")
