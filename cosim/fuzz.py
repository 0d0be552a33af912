"""Protocol fuzzing: seeded random, mutated and valid frames against the gateware, every reply
byte and every stored word checked against a reference of the protocol built on the golden model.

:class:`ProtocolReference` says what the gateware must answer to a burst of request bytes that is
followed by an idle gap (the frame timeout), and applies the burst's effects to a
:class:`loco_sw.golden.GoldenState`: a valid write writes, a TRAIN trains (golden
:func:`~loco_sw.golden.train_step_seeded`), a rejected or truncated frame changes nothing beyond
the payload words that arrived whole. :func:`fuzz` sends frames through any transport of
:mod:`loco_sw.host` (in CI the compiled model), and after each one checks the reply byte for
byte, that the device answers PING, and that weights, bases and centroids equal the
reference's words (the input memory is checked through the TRAIN and INFER replies).
"""

import random
from collections import Counter
from dataclasses import dataclass, field

import torch

from hw.formats import NetworkConfig
from hw.protocol import (ACK, COMMANDS, FLAG_CENTROID, FLAG_PROJECTOR, FLAG_STEP_SHIFT, NAK,
                         Error, Opcode, argument_bytes, encode, identity_bytes, word_bytes,
                         word_from_bytes, word_to_bytes)
from loco_sw.golden import GoldenState, init_state, predict_seeded, refresh_bases, \
    train_step_seeded
from loco_sw.host import LearnerHost, ProtocolError

__all__ = ["ProtocolReference", "FuzzTally", "random_frame", "fuzz"]

ANY = None       # a reply byte the reference cannot know (a cycle count)


class ProtocolReference:
    """The gateware's protocol, byte for byte, on a golden state (updated in place)."""

    def __init__(self, config: NetworkConfig, state: GoldenState):
        self.config, self.state = config, state
        self.inputs = [0] * config.sizes[0]
        self.outputs = [0] * config.sizes[-1]
        self.samples = 0

    def memory(self, memory: str, layer: int) -> torch.Tensor:
        """The flat words of ``layer``'s ``memory`` (a :attr:`hw.protocol.Command.memory`)."""
        store = {"master": self.state.master, "basis": self.state.bases,
                 "vector": self.state.centroids}[memory]
        return store[layer].view(-1)

    def _error(self, opcode, args) -> int:
        cfg = self.config
        memory = COMMANDS[opcode].memory
        if memory:
            if args["layer"] >= cfg.layers:
                return Error.BAD_LAYER
            words = len(self.memory(memory, args["layer"]))
            if args["count"] == 0 or args["address"] + args["count"] > words:
                return Error.BAD_RANGE
        if opcode == Opcode.TRAIN:
            if args["label"] >= cfg.sizes[-1]:
                return Error.BAD_LABEL
            if args["encoder_seed"] == 0 or args["perturb_seed"] == 0:
                return Error.ZERO_SEED
            if args["flags"] >> (FLAG_STEP_SHIFT + cfg.learning.step_shift_bits):
                return Error.BAD_FLAGS
        if opcode == Opcode.INFER and args["encoder_seed"] == 0:
            return Error.ZERO_SEED
        return 0

    def burst(self, data: bytes) -> tuple:
        """``(expected reply, outcomes)`` of ``data`` then an idle gap: the reply as a list of
        bytes (``ANY`` where the gateware reports cycles), the outcomes as names (an opcode
        that ran, or an error)."""
        reply, outcomes, at = [], [], 0

        def reject(error):
            reply.extend([NAK, error])
            outcomes.append(Error(error).name)

        while at < len(data):
            opcode = data[at]
            at += 1
            if opcode not in COMMANDS:
                reject(Error.UNKNOWN_OPCODE)
                break
            opcode = Opcode(opcode)
            if len(data) - at < argument_bytes(opcode):
                reject(Error.TIMEOUT)
                break
            args = {}
            for f in COMMANDS[opcode].arguments:
                args[f.name] = int.from_bytes(data[at:at + f.size], "little")
                at += f.size
            error = self._error(opcode, args)
            if error:
                reject(error)
                break
            at, complete = self._run(opcode, args, data, at, reply)
            if not complete:
                reject(Error.TIMEOUT)
                break
            outcomes.append(opcode.name)
        return reply, outcomes

    def _run(self, opcode, args, data, at, reply) -> tuple:
        """Runs an accepted command whose arguments end at ``at``; returns (where its payload
        ended, whether it was complete)."""
        cfg, learn = self.config, self.config.learning
        memory = COMMANDS[opcode].memory
        if opcode == Opcode.WRITE_INPUT:
            taken = data[at:at + cfg.sizes[0]]
            self.inputs[:len(taken)] = list(taken)
            if len(taken) < cfg.sizes[0]:
                return len(data), False
            reply.append(ACK)
            return at + len(taken), True
        if memory and COMMANDS[opcode].payload:
            fmt = getattr(learn, memory)
            n = word_bytes(fmt)
            words = self.memory(memory, args["layer"])
            whole = min(args["count"], (len(data) - at) // n)
            for k in range(whole):
                words[args["address"] + k] = word_from_bytes(data[at + k * n:at + (k + 1) * n],
                                                             fmt.width)
            if whole < args["count"]:
                return len(data), False
            reply.append(ACK)
            return at + whole * n, True
        reply.append(ACK)
        if opcode == Opcode.PING:
            reply.extend(identity_bytes(cfg))
        elif memory:
            fmt = getattr(learn, memory)
            words = self.memory(memory, args["layer"])
            for word in words[args["address"]:args["address"] + args["count"]].tolist():
                reply.extend(word_to_bytes(word, word_bytes(fmt)))
        elif opcode == Opcode.READ_OUTPUTS:
            for word in self.outputs:
                reply.extend(word_to_bytes(word, word_bytes(learn.output)))
        elif opcode == Opcode.READ_COUNTERS:
            reply.extend([*word_to_bytes(self.samples, 4), *[ANY] * 4])
        elif opcode == Opcode.TRAIN:
            flags = args["flags"]
            step_shift = (flags >> FLAG_STEP_SHIFT) & ((1 << learn.step_shift_bits) - 1)
            golden = train_step_seeded(
                cfg, self.state, torch.tensor(self.inputs), args["label"],
                args["encoder_seed"], args["perturb_seed"],
                use_projector=bool(flags >> FLAG_PROJECTOR & 1),
                update_centroids=bool(flags >> FLAG_CENTROID & 1), step_shift=step_shift)
            self.outputs = golden["y_first"].tolist()
            self.samples += 1
            reply.append(int(golden["y_first"].argmax()))
            reply.extend([*word_to_bytes(golden["delta"], word_bytes(learn.delta)), *[ANY] * 4])
        elif opcode == Opcode.INFER:
            y = predict_seeded(cfg, self.state, torch.tensor([self.inputs]),
                               [args["encoder_seed"]])[0]
            self.outputs = y.tolist()
            reply.append(int(y.argmax()))
            reply.extend([ANY] * 4)
        return at, True


def _random_words(rng: random.Random, fmt, count: int) -> list:
    """Words over the format's whole range, most of them small (as trained words are)."""
    return [rng.randint(fmt.min_raw, fmt.max_raw) >> rng.randint(0, fmt.width - 1)
            for _ in range(count)]


def _valid_request(rng: random.Random, reference: ProtocolReference) -> bytes:
    cfg, learn = reference.config, reference.config.learning
    opcode = rng.choice(list(COMMANDS))
    memory = COMMANDS[opcode].memory
    out = bytes([opcode])
    if memory:
        layer = rng.randrange(cfg.layers)
        words = len(reference.memory(memory, layer))
        count = rng.randint(1, min(words, 48))
        address = rng.randint(0, words - count)
        out = encode(opcode, layer=layer, address=address, count=count)
        if COMMANDS[opcode].payload:
            fmt = getattr(learn, memory)
            out += b"".join(word_to_bytes(w, word_bytes(fmt))
                            for w in _random_words(rng, fmt, count))
    elif opcode == Opcode.WRITE_INPUT:
        out += rng.randbytes(cfg.sizes[0])
    elif opcode == Opcode.TRAIN:
        flags = rng.randrange(1 << (FLAG_STEP_SHIFT + learn.step_shift_bits))
        label = rng.randrange(cfg.sizes[-1])
        encoder_seed, perturb_seed = rng.randrange(1, 1 << 32), rng.randrange(1, 1 << 32)
        out = encode(opcode, label=label, encoder_seed=encoder_seed, perturb_seed=perturb_seed,
                     flags=flags)
    elif opcode == Opcode.INFER:
        out = encode(opcode, encoder_seed=rng.randrange(1, 1 << 32))
    return out


def _mutated(rng: random.Random, frame: bytes) -> bytes:
    data = bytearray(frame)
    how = rng.randrange(6)
    if how == 0:                                     # flip a few bits
        for _ in range(rng.randint(1, 3)):
            data[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
    elif how == 1 and len(data) > 1:                 # truncate
        del data[rng.randint(1, len(data) - 1):]
    elif how == 2:                                   # extend
        data += rng.randbytes(rng.randint(1, 8))
    elif how == 3:                                   # one byte anywhere
        data[rng.randrange(len(data))] = rng.randrange(256)
    elif how == 4:                                   # a field's byte at an extreme
        data[rng.randrange(len(data))] = rng.choice([0x00, 0xFF, 0x80, 0x7F])
    else:                                            # a run of zeros (a zero seed, count)
        start = rng.randrange(len(data))
        data[start:start + rng.randint(1, 4)] = bytes(min(4, len(data) - start))
    return bytes(data)


def random_frame(rng: random.Random, reference: ProtocolReference) -> tuple:
    """``(kind, bytes)``: a valid request, a mutated one, or random bytes."""
    roll = rng.random()
    if roll < 0.35:
        return "valid", _valid_request(rng, reference)
    if roll < 0.75:
        return "mutated", _mutated(rng, _valid_request(rng, reference))
    return "random", rng.randbytes(rng.randint(1, 48))


@dataclass
class FuzzTally:
    frames: int = 0
    kinds: Counter = field(default_factory=Counter)
    outcomes: Counter = field(default_factory=Counter)      # commands run, errors by name
    reply_bytes_compared: int = 0
    words_compared: int = 0
    reply_mismatches: int = 0
    silent_corruptions: int = 0       # state differing from the reference after a frame
    ping_failures: int = 0
    failures: list = field(default_factory=list)           # the first few, described

    def fail(self, what: str):
        if len(self.failures) < 10:
            self.failures.append(what)

    @property
    def clean(self) -> bool:
        return not (self.reply_mismatches or self.silent_corruptions or self.ping_failures)

    def to_json(self) -> dict:
        return {"frames": self.frames, "kinds": dict(self.kinds),
                "outcomes": dict(sorted(self.outcomes.items())),
                "reply_bytes_compared": self.reply_bytes_compared,
                "words_compared": self.words_compared,
                "reply_mismatches": self.reply_mismatches,
                "silent_corruptions": self.silent_corruptions,
                "ping_failures": self.ping_failures, "failures": self.failures}


def _device_state(host: LearnerHost, config: NetworkConfig) -> dict:
    """Every word of every layer memory, by (memory, layer)."""
    return {(memory, layer): read(layer) for layer in range(config.layers)
            for memory, read in (("master", host.read_weights), ("basis", host.read_basis),
                                 ("vector", host.read_centroids))}


def fuzz(transport, config: NetworkConfig, frames: int, *, seed: int = 0,
         progress=None) -> FuzzTally:
    """Send ``frames`` seeded frames through ``transport`` (each followed by the frame
    timeout's idle gap) and check each against :class:`ProtocolReference`."""
    rng = random.Random(seed)
    host = LearnerHost(transport, config)
    host.ping()
    state = init_state(config, seed)
    refresh_bases(config, state)
    for layer in range(config.layers):
        host.write_weights(layer, state.master[layer].flatten().tolist())
        host.write_basis(layer, state.bases[layer].flatten().tolist())
    reference = ProtocolReference(config, state)
    tally = FuzzTally()
    for index in range(frames):
        kind, data = random_frame(rng, reference)
        where = f"frame {index} ({kind}, {data[:24].hex()}{'...' if len(data) > 24 else ''})"
        want, outcomes = reference.burst(data)
        tally.frames += 1
        tally.kinds[kind] += 1
        tally.outcomes.update(outcomes)
        transport.write(data)
        try:
            got = list(transport.read(len(want))) if want else []
        except ProtocolError as error:
            got = []
            tally.fail(f"{where}: {error}")
        transport.pause()
        extra = transport.flush()
        tally.reply_bytes_compared += len(want)
        if extra or len(got) != len(want) or any(w is not ANY and g != w
                                                 for g, w in zip(got, want, strict=False)):
            tally.reply_mismatches += 1
            tally.fail(f"{where}: reply {bytes(got).hex()} (+{extra} bytes), want "
                       f"{''.join('??' if w is ANY else f'{w:02x}' for w in want)}")
        try:
            host.ping()
        except ProtocolError as error:
            tally.ping_failures += 1
            tally.fail(f"{where}: PING after it: {error}")
            host.resync()
        for (memory, layer), words in _device_state(host, config).items():
            stored = reference.memory(memory, layer)
            expected = stored.tolist()
            tally.words_compared += len(expected)
            if words != expected:
                tally.silent_corruptions += 1
                bad = next(k for k, (g, w) in enumerate(zip(words, expected, strict=True))
                           if g != w)
                tally.fail(f"{where}: layer {layer} {memory} word {bad} is {words[bad]}, want "
                           f"{expected[bad]} (outcomes {outcomes})")
                stored[:] = torch.tensor(words)           # count each corruption once
        if progress is not None:
            progress()
    return tally
