"""Host driver of the on-chip learner: one API over a serial port or over a simulation.

``LearnerHost(SerialTransport("/dev/ttyUSB1"), config)`` talks to a board;
``LearnerHost(SimulationTransport(config), config)`` to the gateware in Amaranth's simulator, byte
for byte the same protocol (:mod:`hw.host`). The high-level calls use the golden model's seed and
basis conventions, so a run on either is comparable word for word with :mod:`loco_sw.golden`.
"""

import time
from collections import deque

import numpy as np
import torch

from hw.formats import ENCODER_BITS, ENCODER_SEED, PERTURB_SEED, XORSHIFT_WIDTH, NetworkConfig
from hw.protocol import (ACK, COMMANDS, ERROR_MEANINGS, FLAG_CENTROID, FLAG_PROJECTOR,
                         FLAG_STEP_SHIFT, FRAME_TIMEOUT_BYTE_TIMES, NAK, STREAM_TIMEOUT_CYCLES,
                         UART_BYTE_BITS, Error, Opcode, encode, identity_bytes, memory_words,
                         word_bytes, word_from_bytes, word_to_bytes)

__all__ = ["ProtocolError", "CommandRejected", "SerialTransport", "SimulationTransport",
           "LearnerHost"]

_CHUNK = 4096        # words per read/write command


class ProtocolError(RuntimeError):
    """The gateware answered something the protocol does not allow (or nothing)."""


class CommandRejected(ProtocolError):
    """The gateware answered ``NAK``: ``error`` (a :class:`hw.protocol.Error`) says why."""

    def __init__(self, command: str, error: int):
        try:
            self.error = Error(error)
            name, meaning = self.error.name, ERROR_MEANINGS[self.error]
        except ValueError:
            self.error = error
            name, meaning = f"0x{error:02x}", "an error code this driver does not know"
        super().__init__(f"The gateware rejected {command}: {name} ({meaning})")


class SerialTransport:
    """A serial port (pyserial); a port that cannot be opened raises an ``OSError``."""

    def __init__(self, port: str, baud: int = 115200, timeout: float = 5.0):
        import serial
        self._port = serial.Serial(port, baud, timeout=timeout)
        self._baud = baud

    def pause(self):
        """Let the written bytes go out, then leave the line idle for twice the gateware's frame
        timeout (it drops a partial frame, and takes input again after a NAK)."""
        self._port.flush()
        time.sleep(2 * FRAME_TIMEOUT_BYTE_TIMES * UART_BYTE_BITS / self._baud)

    def write(self, data: bytes):
        self._port.write(data)

    def read(self, count: int) -> bytes:
        data = self._port.read(count)
        if len(data) != count:
            raise ProtocolError(f"Expected {count} bytes from {self._port.port}, got {len(data)}")
        return data

    def flush(self) -> int:
        """Drop bytes that arrived but were never read; returns how many."""
        dropped = self._port.in_waiting
        self._port.reset_input_buffer()
        return dropped


class SimulationTransport:
    """The gateware in Amaranth's simulator, driven byte by byte.

    ``uart_divisor=None`` feeds :class:`hw.host.HostInterface`'s byte streams directly (fast);
    a number simulates :class:`hw.uart.UARTLearner` bit by bit at that many cycles per bit.
    ``shared_update``, ``lanes``, ``parallel_slots``: the learner's organisation
    (:class:`hw.learner.LearnerCore`).
    """

    def __init__(self, config: NetworkConfig, *, init=None, uart_divisor=None,
                 shared_update: bool = False, lanes=None, parallel_slots=None,
                 max_cycles_per_read: int = 2_000_000):
        from amaranth.sim import Simulator

        from hw.host import HostInterface
        from hw.uart import UARTLearner

        self._to_dut, self._from_dut = deque(), bytearray()
        self._period, self._max_cycles = 1e-6, max_cycles_per_read
        self.cycles = 0
        if uart_divisor is None:
            self.timeout_cycles = STREAM_TIMEOUT_CYCLES
            dut = HostInterface(config, init=init, shared_update=shared_update, lanes=lanes,
                                parallel_slots=parallel_slots,
                                timeout_cycles=self.timeout_cycles)
            sim = Simulator(dut)
            sim.add_testbench(self._stream_feeder(dut), background=True)
            sim.add_testbench(self._stream_collector(dut), background=True)
        else:
            self.timeout_cycles = FRAME_TIMEOUT_BYTE_TIMES * UART_BYTE_BITS * uart_divisor
            dut = UARTLearner(config, uart_divisor, init=init, shared_update=shared_update,
                              lanes=lanes, parallel_slots=parallel_slots)
            sim = Simulator(dut)
            sim.add_testbench(self._uart_feeder(dut, uart_divisor), background=True)
            sim.add_testbench(self._uart_collector(dut, uart_divisor), background=True)
        sim.add_clock(self._period)
        self._sim = sim

    def _stream_feeder(self, dut):
        async def feeder(ctx):
            while True:
                if self._to_dut:
                    ctx.set(dut.i.payload, self._to_dut.popleft())
                    ctx.set(dut.i.valid, 1)
                    await ctx.tick()
                    while not ctx.get(dut.i.ready):          # held until accepted
                        await ctx.tick()
                    ctx.set(dut.i.valid, 0)
                else:
                    await ctx.tick()
        return feeder

    def _stream_collector(self, dut):
        async def collector(ctx):
            ctx.set(dut.o.ready, 1)
            while True:
                _, _, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload)
                if valid:
                    self._from_dut.append(payload)
        return collector

    def _uart_feeder(self, dut, divisor):
        async def feeder(ctx):
            ctx.set(dut.rx, 1)
            while True:
                if not self._to_dut:
                    await ctx.tick()
                    continue
                byte = self._to_dut.popleft()
                for bit in [0, *((byte >> k) & 1 for k in range(8)), 1]:
                    ctx.set(dut.rx, bit)
                    await ctx.tick().repeat(divisor)
        return feeder

    def _uart_collector(self, dut, divisor):
        async def collector(ctx):
            while True:
                while ctx.get(dut.tx):                      # wait for a start bit
                    await ctx.tick()
                await ctx.tick().repeat(divisor + divisor // 2)
                byte = 0
                for k in range(8):
                    byte |= ctx.get(dut.tx) << k
                    await ctx.tick().repeat(divisor)
                self._from_dut.append(byte)
        return collector

    def write(self, data: bytes):
        self._to_dut.extend(data)

    def _run(self, cycles: int):
        self.cycles += cycles
        self._sim.run_until(self.cycles * self._period)

    def read(self, count: int) -> bytes:
        start = self.cycles
        while len(self._from_dut) < count:
            if self.cycles - start >= self._max_cycles:
                raise ProtocolError(f"No {count}-byte reply within {self._max_cycles} "
                                    f"simulated cycles")
            self._run(min(2000, self._max_cycles))
        data = bytes(self._from_dut[:count])
        del self._from_dut[:count]
        return data

    def pause(self):
        """Let the queued request bytes go out, then leave the input idle for twice the frame
        timeout."""
        start = self.cycles
        while self._to_dut and self.cycles - start < self._max_cycles:
            self._run(2000)
        self._run(2 * self.timeout_cycles)

    def flush(self) -> int:
        """Drop bytes that arrived but were never read; returns how many."""
        dropped = len(self._from_dut)
        self._from_dut.clear()
        return dropped


def _words(data: bytes, nbytes: int, bits: int) -> list:
    """``data`` cut into little-endian ``nbytes``-byte words of two's complement ``bits`` bits
    (vectorised: a weight read-back is thousands of words)."""
    raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, nbytes).astype(np.int64)
    value = (raw << (8 * np.arange(nbytes, dtype=np.int64))).sum(axis=1) & ((1 << bits) - 1)
    return np.where(value >> (bits - 1), value - (1 << bits), value).tolist()


def _check_int(name, value, lo, hi):
    """``value`` must be an int in ``[lo, hi)`` (a clear ValueError, not a deep OverflowError)."""
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value < hi:
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}), not {value!r}")


class LearnerHost:
    """Commands of :mod:`hw.protocol`, and the host's share of LOCO (seeds, basis refresh).

    Every argument is checked before a byte is sent (a one-line ``ValueError``); every command
    first drops reply bytes left over from an earlier one; every reply is checked for its status
    byte, length and plausibility. A ``NAK`` raises :class:`CommandRejected` (with the error
    code), anything else wrong :class:`ProtocolError`; either way the driver then lets the line
    go idle for the gateware's frame timeout and drops what arrived (``resync``), so the next
    command starts in step. The transport provides ``write``, ``read``, ``flush`` and ``pause``.
    """

    def __init__(self, transport, config: NetworkConfig):
        if not isinstance(config, NetworkConfig):
            raise TypeError(f"Config must be a NetworkConfig, not {config!r}")
        self._io, self._config = transport, config

    @property
    def config(self):
        return self._config

    def resync(self):
        """Regain step with the gateware: idle line for the frame timeout, drop what arrived."""
        self._io.pause()
        self._io.flush()

    def _command(self, request: bytes, reply_bytes: int) -> bytes:
        """Send ``request``; returns the ``reply_bytes`` bytes after the ACK."""
        name = Opcode(request[0]).name
        self._io.flush()
        self._io.write(request)
        try:
            status = self._io.read(1)[0]
            if status == NAK:
                raise CommandRejected(name, self._io.read(1)[0])
            if status != ACK:
                raise ProtocolError(f"Expected ACK (0x{ACK:02x}) or NAK (0x{NAK:02x}) in reply "
                                    f"to {name}, got 0x{status:02x}")
            return self._io.read(reply_bytes)
        except ProtocolError:
            self.resync()
            raise

    def _fields(self, opcode, data: bytes) -> dict:
        """A fixed reply cut into its fields: byte counts unsigned, format words signed."""
        out, at = {}, 0
        for field in COMMANDS[opcode].reply:
            size = field.bytes_for(self._config)
            raw = data[at:at + size]
            out[field.name] = int.from_bytes(raw, "little") if isinstance(field.size, int) \
                else word_from_bytes(raw, getattr(self._config.learning, field.size).width)
            at += size
        return out

    def _reply_bytes(self, opcode) -> int:
        return sum(field.bytes_for(self._config) for field in COMMANDS[opcode].reply)

    def ping(self) -> bytes:
        """Check that the gateware was built for this host's configuration."""
        want = identity_bytes(self._config)
        got = self._command(encode(Opcode.PING), len(want))
        if got != want:
            raise ProtocolError(f"Gateware identifies as {got!r}, the host expects {want!r}: "
                                f"rebuild one of them with the same NetworkConfig")
        return got

    def write_input(self, intensity):
        values = [int(v) for v in intensity]
        levels = 1 << ENCODER_BITS
        if len(values) != self._config.sizes[0] or not all(0 <= v < levels for v in values):
            raise ValueError(f"Input must be {self._config.sizes[0]} intensities in "
                             f"[0, {levels})")
        self._command(encode(Opcode.WRITE_INPUT) + bytes(values), 0)

    def train(self, label: int, encoder_seed: int, perturb_seed: int, *,
              use_projector: bool = True, update_centroid: bool = True,
              step_shift: int = 0) -> dict:
        _check_int("Label", label, 0, self._config.sizes[-1])
        _check_int("Step shift", step_shift, 0, 1 << self._config.learning.step_shift_bits)
        _check_int("Encoder seed", encoder_seed, 1, 1 << XORSHIFT_WIDTH)
        _check_int("Perturbation seed", perturb_seed, 1, 1 << XORSHIFT_WIDTH)
        flags = int(use_projector) << FLAG_PROJECTOR | int(update_centroid) << FLAG_CENTROID | \
            step_shift << FLAG_STEP_SHIFT
        request = encode(Opcode.TRAIN, label=label, encoder_seed=encoder_seed,
                         perturb_seed=perturb_seed, flags=flags)
        result = self._fields(Opcode.TRAIN,
                              self._command(request, self._reply_bytes(Opcode.TRAIN)))
        self._check_reply("TRAIN", result)
        return result

    def infer(self, encoder_seed: int) -> dict:
        _check_int("Encoder seed", encoder_seed, 1, 1 << XORSHIFT_WIDTH)
        result = self._fields(Opcode.INFER,
                              self._command(encode(Opcode.INFER, encoder_seed=encoder_seed),
                                            self._reply_bytes(Opcode.INFER)))
        self._check_reply("INFER", result)
        return result

    def _check_reply(self, command, result):
        """A prediction names a class and a command takes cycles; anything else is garbage."""
        classes = self._config.sizes[-1]
        if result["prediction"] >= classes or result["cycles"] == 0:
            self.resync()
            raise ProtocolError(f"Implausible {command} reply: prediction "
                                f"{result['prediction']} of {classes} classes, "
                                f"{result['cycles']} cycles")

    def _memory(self, opcode, layer):
        """(word format, words) of the layer memory ``opcode`` addresses."""
        _check_int("Layer", layer, 0, self._config.layers)
        memory = COMMANDS[opcode].memory
        return getattr(self._config.learning, memory), memory_words(self._config, memory, layer)

    def _read(self, opcode, layer) -> list:
        """Every word of ``layer``'s memory, in chunks."""
        fmt, count = self._memory(opcode, layer)
        words, n, address = [], word_bytes(fmt), 0
        while count > 0:
            chunk = min(count, _CHUNK)
            request = encode(opcode, layer=layer, address=address, count=chunk)
            words += _words(self._command(request, chunk * n), n, fmt.width)
            address, count = address + chunk, count - chunk
        return words

    def _write(self, opcode, layer, words, what):
        """All of ``layer``'s memory (``what`` names its words in errors), in chunks."""
        fmt, expected = self._memory(opcode, layer)
        words = list(words)
        if len(words) != expected:
            raise ValueError(f"Layer {layer} takes {expected} {what} words, not {len(words)}")
        for index, word in enumerate(words):
            if not isinstance(word, int) or isinstance(word, bool) or \
                    not fmt.min_raw <= word <= fmt.max_raw:
                raise ValueError(f"{what.capitalize()} word {index} must be an integer in "
                                 f"[{fmt.min_raw}, {fmt.max_raw}] ({fmt}), not {word!r}")
        n = word_bytes(fmt)
        for start in range(0, len(words), _CHUNK):
            chunk = words[start:start + _CHUNK]
            request = encode(opcode, layer=layer, address=start, count=len(chunk))
            self._command(request + b"".join(word_to_bytes(w, n) for w in chunk), 0)

    def read_weights(self, layer: int) -> list:
        return self._read(Opcode.READ_WEIGHTS, layer)

    def write_weights(self, layer: int, words):
        self._write(Opcode.WRITE_WEIGHTS, layer, words, "master weight")

    def write_basis(self, layer: int, words):
        self._write(Opcode.WRITE_BASIS, layer, words, "basis")

    def read_basis(self, layer: int) -> list:
        return self._read(Opcode.READ_BASIS, layer)

    def read_centroids(self, layer: int) -> list:
        return self._read(Opcode.READ_CENTROIDS, layer)

    def read_outputs(self) -> list:
        fmt = self._config.learning.output
        n = word_bytes(fmt)
        data = self._command(encode(Opcode.READ_OUTPUTS), self._config.sizes[-1] * n)
        return _words(data, n, fmt.width)

    def counters(self) -> dict:
        return self._fields(Opcode.READ_COUNTERS,
                            self._command(encode(Opcode.READ_COUNTERS),
                                          self._reply_bytes(Opcode.READ_COUNTERS)))

    # --- the host's share of LOCO -----------------------------------------------------------

    def train_sample(self, index: int, intensity, label: int, *, use_projector=True,
                     step_shift=0) -> dict:
        """Train on one sample with the golden model's seeds for sample number ``index``."""
        from .golden import sample_seed
        self.write_input(intensity)
        return self.train(label, sample_seed(ENCODER_SEED, index),
                          sample_seed(PERTURB_SEED, index), use_projector=use_projector,
                          step_shift=step_shift)

    def infer_sample(self, index: int, intensity) -> int:
        from .golden import sample_seed
        self.write_input(intensity)
        return self.infer(sample_seed(ENCODER_SEED, index))["prediction"]

    def refresh_bases(self):
        """Read every layer's centroids (and tracker rows), re-orthonormalise them, write the
        bases back."""
        from .golden import orthonormal_bases
        for layer in range(self._config.layers):
            centroids = torch.tensor(self.read_centroids(layer)).view(self._config.centroid_rows,
                                                                      -1)
            self.write_basis(layer, orthonormal_bases(centroids, self._config).flatten().tolist())
