"""The learner compiled by Verilator, driven from Python through the byte protocol.

:class:`VerilatorTransport` has the ``write``/``read`` interface of
:class:`loco_sw.host.SerialTransport` and :class:`loco_sw.host.SimulationTransport`, so
:class:`loco_sw.host.LearnerHost` drives the compiled :class:`hw.host.HostInterface` exactly as it
drives a board, ≈ 600× faster than Amaranth's simulator.

A model is the Amaranth Verilog of ``HostInterface(config, shared_update=...)`` (or any Verilog
with the same stream ports, such as a post-synthesis netlist), Verilated to C++ and linked with
``verilator_shim.cpp`` into a shared library loaded with :mod:`ctypes`. Builds are cached under
``build/verilator/<top>-<key>``, the key hashing the configuration, the gateware's sources, the
shim, the Verilator version and the flags: a change to any of them rebuilds.
"""

import ctypes
import fcntl
import functools
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from hw.formats import NetworkConfig
from hw.protocol import STREAM_TIMEOUT_CYCLES
from loco_sw.host import ProtocolError


__all__ = ["BUILD_ROOT", "VerilatorError", "verilator_version", "digest", "gateware_digest",
           "compile_verilog", "compile_learner", "VerilatorTransport"]

ROOT = Path(__file__).resolve().parent.parent
BUILD_ROOT = ROOT / "build" / "verilator"
SHIM = Path(__file__).resolve().parent / "verilator_shim.cpp"
_GATEWARE = ROOT / "hw"
# -O3: Verilator's own optimisations; X bits (uninitialised state, netlist `x` constants) take
# values from the seed given to the transport, so a design that depends on them shows it.
_FLAGS = ("--cc", "--exe", "--build", "-O3", "--x-assign", "unique", "--x-initial", "unique",
          "--noassert", "-Wno-fatal", "-Wno-lint", "-Wno-style")
_DEFAULT_MAX_CYCLES_PER_READ = 50_000_000


class VerilatorError(RuntimeError):
    """Verilator or a C++ compiler is missing, or a build failed (the message says which)."""


def _require(tool: str, package: str):
    if shutil.which(tool) is None:
        raise VerilatorError(f"{tool} not found: install it (`apt-get install {package}`; "
                             f"`make setup` does this)")


@functools.cache
def verilator_version() -> str:
    """``verilator --version``, e.g. ``Verilator 5.006 2023-01-22 rev (Debian 5.006-3)``."""
    _require("verilator", "verilator")
    return subprocess.run(["verilator", "--version"], capture_output=True, text=True,
                          check=True).stdout.strip()


def digest(*parts) -> str:
    """A short hash of ``parts`` (bytes, or anything ``str`` renders)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else str(part).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def compile_verilog(sources, top: str, *, key: str, defines=(),
                    optimise: str = "-O2") -> Path:
    """Verilate ``sources`` (a callable returning ``{file name: Verilog text}``, called only
    when the build is not cached) with top module ``top`` and link the shim; returns the
    shared library. ``key`` names everything the sources depend on; concurrent callers with the
    same key share one build. ``optimise`` is the C++ compiler's level (a large netlist
    compiles minutes faster at ``-O1`` and runs a few times slower)."""
    _require("verilator", "verilator")
    _require("g++", "g++")
    key = digest(key, SHIM.read_bytes(), verilator_version(), _FLAGS, defines, optimise)
    out = BUILD_ROOT / f"{top}-{key}"
    library = out / f"lib{top}.so"
    if library.exists():
        return library
    BUILD_ROOT.mkdir(parents=True, exist_ok=True)
    with open(BUILD_ROOT / f"{top}-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)          # another worker may be building the same
        if library.exists():
            return library
        staging = BUILD_ROOT / f"{top}-{key}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        names = []
        for name, text in sources().items():
            (staging / name).write_text(text)
            names.append(name)
        prefix = f"V{top}"
        cflags = f"-fPIC {optimise} -DLOCO_TOP={prefix} -DLOCO_TOP_HEADER='\"{prefix}.h\"'"
        command = ["verilator", *_FLAGS, "-j", str(os.cpu_count() or 1), "--top-module", top,
                   "--prefix", prefix, "--Mdir", "obj", "-CFLAGS", cflags,
                   "-LDFLAGS", "-shared -Wl,-Bsymbolic", "-o", f"lib{top}.so",
                   *(f"+define+{d}" for d in defines), *names, str(SHIM)]
        result = subprocess.run(command, cwd=staging, capture_output=True, text=True)
        (staging / "build.log").write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            raise VerilatorError(f"Verilator build of {top} failed; see "
                                 f"{staging / 'build.log'}:\n{result.stderr[-2000:]}")
        (staging / "obj" / f"lib{top}.so").rename(staging / f"lib{top}.so")
        shutil.rmtree(out, ignore_errors=True)
        staging.rename(out)
    return library


def gateware_digest() -> str:
    """A hash of every gateware source file (``hw/*.py``)."""
    return digest(*(p.read_bytes() for p in sorted(_GATEWARE.glob("*.py"))))


def compile_learner(config: NetworkConfig, *, shared_update: bool = False, lanes=None,
                    parallel_slots=None, timeout_cycles: int = STREAM_TIMEOUT_CYCLES) -> Path:
    """The cached Verilator build of ``HostInterface(config, shared_update=..., lanes=...,
    parallel_slots=..., timeout_cycles=...)`` (no initial weights: the host loads them, as on
    a board)."""
    if not isinstance(config, NetworkConfig):
        raise TypeError(f"Config must be a NetworkConfig, not {config!r}")
    from amaranth import __version__ as amaranth_version

    def sources():
        from amaranth.back import verilog

        from hw.host import HostInterface
        dut = HostInterface(config, shared_update=shared_update, lanes=lanes,
                            parallel_slots=parallel_slots, timeout_cycles=timeout_cycles)
        return {"loco_host.v": verilog.convert(dut, name="loco_host", emit_src=False)}

    key = digest(config.to_json(), bool(shared_update), repr(lanes), repr(parallel_slots),
                 timeout_cycles,
                 gateware_digest(), amaranth_version)
    return compile_verilog(sources, "loco_host", key=key)


class VerilatorTransport:
    """A compiled byte-stream learner: ``write`` queues request bytes, ``read`` runs the clock
    until the reply bytes are there.

    Parameters
    ----------
    config : NetworkConfig, optional
        Build (or reuse) the RTL of this configuration; or give ``library``.
    shared_update, lanes, parallel_slots :
        The learner's organisation (:class:`hw.learner.LearnerCore`): one update unit for all
        layers (the iCE40UP5K's), neuron lanes per layer, units projecting all slots at once.
    library : path, optional
        A shared library made by :func:`compile_verilog` (e.g. a netlist).
    timeout_cycles : int
        The frame timeout the model is built with (``HostInterface(timeout_cycles=...)``;
        with ``library``, the one it was built with).
    max_cycles_per_read : int
        A read that gets no complete reply within this many cycles raises
        :class:`loco_sw.host.ProtocolError` (the limit is per read, not per lifetime).
    x_seed : int
        0: uninitialised state and ``x`` bits start as zeros; otherwise as random bits from this
        seed (Verilator's ``randReset(2)``).
    """

    def __init__(self, config: NetworkConfig | None = None, *, shared_update: bool = False,
                 lanes=None, parallel_slots=None, library=None,
                 timeout_cycles: int = STREAM_TIMEOUT_CYCLES,
                 max_cycles_per_read: int = _DEFAULT_MAX_CYCLES_PER_READ, x_seed: int = 0):
        self._handle = None
        if (config is None) == (library is None):
            raise ValueError("Give either a NetworkConfig or a compiled library, not both")
        if not isinstance(max_cycles_per_read, int) or max_cycles_per_read < 1:
            raise ValueError(f"max_cycles_per_read must be a positive int, "
                             f"not {max_cycles_per_read!r}")
        if not isinstance(x_seed, int) or not 0 <= x_seed < 2 ** 31:
            raise ValueError(f"x_seed must be an int in [0, 2**31), not {x_seed!r}")
        if library is None:
            library = compile_learner(config, shared_update=shared_update, lanes=lanes,
                                      parallel_slots=parallel_slots,
                                      timeout_cycles=timeout_cycles)
        self.timeout_cycles = timeout_cycles
        lib = ctypes.CDLL(str(library))
        lib.loco_new.restype = ctypes.c_void_p
        lib.loco_new.argtypes = [ctypes.c_int, ctypes.c_int]
        for name in ("loco_free",):
            getattr(lib, name).argtypes = [ctypes.c_void_p]
        lib.loco_write.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.loco_run.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint64]
        lib.loco_run.restype = ctypes.c_size_t
        lib.loco_read.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.loco_read.restype = ctypes.c_size_t
        lib.loco_pending.argtypes = [ctypes.c_void_p]
        lib.loco_pending.restype = ctypes.c_size_t
        lib.loco_cycles.argtypes = [ctypes.c_void_p]
        lib.loco_cycles.restype = ctypes.c_uint64
        self._lib, self._max_cycles = lib, max_cycles_per_read
        self._handle = lib.loco_new(2 if x_seed else 0, x_seed)
        self.library = Path(library)

    @property
    def cycles(self) -> int:
        """Clock cycles simulated so far."""
        return self._lib.loco_cycles(self._handle)

    def write(self, data: bytes):
        data = bytes(data)
        self._lib.loco_write(self._handle, data, len(data))

    def read(self, count: int) -> bytes:
        if self._lib.loco_run(self._handle, count, self._max_cycles) < count:
            raise ProtocolError(f"No {count}-byte reply within {self._max_cycles} cycles")
        buffer = ctypes.create_string_buffer(count)
        self._lib.loco_read(self._handle, buffer, count)
        return buffer.raw

    def run_idle(self, cycles: int):
        """Run ``cycles`` clock cycles (queued request bytes go in; replies are kept)."""
        self._lib.loco_run(self._handle, 1 << 62, cycles)

    def pause(self):
        """Let the queued request bytes go in, then leave the input idle for twice the frame
        timeout (the gateware drops a partial frame, and takes input again after a NAK)."""
        start = self.cycles
        while self._lib.loco_pending(self._handle) and self.cycles - start < self._max_cycles:
            self.run_idle(1000)
        self.run_idle(2 * self.timeout_cycles)

    def flush(self) -> int:
        """Drop reply bytes that arrived but were never read (a late or unread reply); returns
        how many."""
        dropped, buffer = 0, ctypes.create_string_buffer(4096)
        while read := self._lib.loco_read(self._handle, buffer, len(buffer)):
            dropped += read
        return dropped

    def close(self):
        if self._handle is not None:
            self._lib.loco_free(self._handle)
            self._handle = None

    def __del__(self):
        self.close()
