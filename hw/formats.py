"""Number formats and constants shared by the gateware, the golden model and the benches.

This is the only place where word widths, binary points, shifts, seeds and the noise generator's
recurrence are written down. It imports only the standard library, so :mod:`loco_sw` reads it
without Amaranth and :mod:`hw` reads it without PyTorch.

Arithmetic conventions (each has a directed test in ``tests/test_golden.py``):

* **Rounding of right shifts** is *round half up*: ``round_shift(v, s) = (v + 2**(s-1)) >> s``
  for ``s > 0`` with an arithmetic (flooring) ``>>``; ``s == 0`` is the identity.
* **Saturation** clamps to the destination :class:`QFormat`; it happens only where a docstring says
  so, never on intermediate sums (those are kept wide enough to be exact).
* **The LIF leak** is ``v - (v >> leak_shift)`` (floor), so it costs a subtractor, no multiplier.
* **Spikes** fire when the potential is *strictly* above the threshold, which is then subtracted in
  the same step (soft reset).
"""

import dataclasses
import json
from dataclasses import dataclass

from .protocol import ADDRESS_BYTES, MEMORIES, memory_words


__all__ = [
    "QFormat", "round_shift", "LIFConfig", "LearningConfig", "NetworkConfig",
    "XORSHIFT_WIDTH", "XORSHIFT_SHIFTS", "xorshift32", "ENCODER_SEED", "PERTURB_SEED",
    "LOWRANK_START_SEED", "LOWRANK_GRAM_SCHMIDT_TOL", "TEST_INDEX_BASE", "INIT_HIDDEN_BIAS",
    "STEP_SHIFT_EPOCHS", "MAX_LAYER_WORDS", "MAX_LAYERS", "MAX_FORMAT_WIDTH",
    "ENCODER_BITS", "GRAM_SCHMIDT_TOL", "SEED_HASH", "READOUT_INIT_SCALE", "COUNTER_BITS",
    "DEFAULT_HIDDEN", "DEFAULT_READOUT",
    "DEFAULT_LEARNING", "DEFAULT_NETWORK",
]


# Limits of the host protocol (hw.protocol): words per layer and memory (the address field),
# layers (the PING reply, ACK and 12 + 2 * layers identity bytes, is counted in 8 bits).
MAX_LAYER_WORDS = 1 << 8 * ADDRESS_BYTES
MAX_LAYERS = 121
# The golden model computes in int64: products of two words and their sums must stay exact.
MAX_FORMAT_WIDTH = 32


def _check_int(name, value, lo, hi=None):
    if not isinstance(value, int) or isinstance(value, bool) or value < lo or \
            (hi is not None and value > hi):
        bound = f"[{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise TypeError(f"{name} must be an integer {bound}, not {value!r}")


@dataclass(frozen=True)
class QFormat:
    """Two's complement fixed-point format.

    A raw word ``r`` stands for ``r * 2 ** -frac_bits``. The sign bit is counted in ``int_bits``,
    so ``QFormat(4, 12)`` is the 16-bit format often written Q4.12.

    Raises
    ------
    TypeError
        If ``int_bits`` is not an integer >= 1 or ``frac_bits`` is not an integer >= 0.
    """

    int_bits: int
    frac_bits: int

    def __post_init__(self):
        _check_int("Integer bits", self.int_bits, 1)
        _check_int("Fraction bits", self.frac_bits, 0)

    def __str__(self):
        return f"Q{self.int_bits}.{self.frac_bits}"

    @property
    def width(self) -> int:
        return self.int_bits + self.frac_bits

    @property
    def min_raw(self) -> int:
        return -(1 << (self.width - 1))

    @property
    def max_raw(self) -> int:
        return (1 << (self.width - 1)) - 1

    @property
    def one(self) -> int:
        """Raw word of 1.0 (may exceed ``max_raw`` when ``int_bits == 1``)."""
        return 1 << self.frac_bits

    def saturate(self, raw: int) -> int:
        """Clamp ``raw`` to the range of this format."""
        return min(max(raw, self.min_raw), self.max_raw)

    def from_float(self, value: float) -> int:
        """Round ``value`` to the nearest raw word (ties to even), saturating."""
        return self.saturate(round(value * (1 << self.frac_bits)))

    def to_float(self, raw: int) -> float:
        return raw / (1 << self.frac_bits)


def round_shift(value, shift: int):
    """Shift ``value`` right by ``shift`` bits, rounding half up (the rule every block uses).

    Operators only, so the one definition serves Python ints, the golden model's ``int64``
    tensors and the gateware's Amaranth values (``>>`` is arithmetic on signed values)."""
    _check_int("Shift", shift, 0)
    return value if shift == 0 else (value + (1 << (shift - 1))) >> shift


@dataclass(frozen=True)
class LIFConfig:
    """One layer's neuron: leaky integrate-and-fire, or a non-spiking integrator (readout).

    Per time step, with ``I`` the (exact, wide) sum of the weights of the inputs that spiked, the
    bias and the perturbation current::

        v_leak = v - (v >> leak_shift)          # leak_shift == 0: no leak (IF / integrator)
        v_sum  = saturate(v_leak + I, membrane)
        spike  = v_sum > threshold              # threshold None: never (integrator)
        v_next = v_sum - threshold if spike else v_sum

    Parameters
    ----------
    membrane : QFormat
        Membrane potential format.
    weight : QFormat
        Forward weight (synaptic current) format; must share the membrane's binary point.
    threshold : float or None
        Firing threshold; ``None`` makes the layer a non-spiking integrator (the readout layer).
    leak_shift : int
        Leak ``beta = 1 - 2**-leak_shift``; 0 means no leak.

    Raises
    ------
    TypeError
        If a format is not a :class:`QFormat` or ``leak_shift`` is not an integer in range.
    ValueError
        If the formats disagree on the binary point or the threshold does not fit the membrane.
    """

    membrane: QFormat = QFormat(8, 10)
    weight: QFormat = QFormat(4, 10)
    threshold: float | None = 1.0
    leak_shift: int = 4

    def __post_init__(self):
        for name in ("membrane", "weight"):
            if not isinstance(getattr(self, name), QFormat):
                raise TypeError(f"{name.capitalize()} format must be a QFormat, "
                                f"not {getattr(self, name)!r}")
        if self.weight.frac_bits != self.membrane.frac_bits:
            raise ValueError(f"Weight format {self.weight} and membrane format {self.membrane} "
                             f"must have the same number of fraction bits")
        if self.weight.width > self.membrane.width:
            raise ValueError(f"Weight format {self.weight} is wider than membrane format "
                             f"{self.membrane}")
        if self.threshold is not None:
            if not isinstance(self.threshold, (int, float)) or isinstance(self.threshold, bool):
                raise TypeError(f"Threshold must be a number or None, not {self.threshold!r}")
            raw = round(self.threshold * self.membrane.one)
            if not 0 < raw <= self.membrane.max_raw:
                raise ValueError(f"Threshold {self.threshold!r} is not representable as a "
                                 f"positive {self.membrane} number")
        _check_int("Leak shift", self.leak_shift, 0, self.membrane.width - 1)

    @property
    def spiking(self) -> bool:
        return self.threshold is not None

    @property
    def threshold_raw(self) -> int:
        if self.threshold is None:
            raise ValueError("An integrator (threshold None) has no threshold")
        return self.membrane.from_float(self.threshold)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, fields: dict) -> "LIFConfig":
        fields = dict(fields)
        return cls(membrane=QFormat(**fields.pop("membrane")),
                   weight=QFormat(**fields.pop("weight")), **fields)


@dataclass(frozen=True)
class LearningConfig:
    """Formats and shifts of the learning datapath (loss difference, projector, weight update).

    The datapath, per sample and layer (golden model: :mod:`loco_sw.golden.learning`)::

        y        = saturate(round_shift(sum_t I_t, log2 T), output)         # readout, per class
        dL       = clamp(round_shift(sum_k (y~_k - y_k)(y~_k + y_k - 2 t_k),
                                     2*output.frac - delta.frac), +-delta.max)  # 1/K into eta
        e_i      = m_i * (xi_i < 0 ? -dL : dL)                             # Rademacher xi
        v_j      = x~_j << vector.frac                                     # counts, bias = T
        a_k      = saturate(round_shift(sum_j q_kj v_j, dot_shift), coeff)
        u_j      = saturate(v_j - round_shift(sum_k +-q_kj a_k, expand_shift), vector)
        # dot_shift = basis.frac + vector.frac - coeff.frac, expand_shift = basis.frac +
        # coeff.frac - vector.frac; "+-": the add-back slot (basis_slots) is negated
                                                                           # "remove" (clusters)
        W_ij     = saturate(W_ij - round_shift(e_i * u_j, shift), master)  # shift: see below
        c_kj    += round_shift((x~_j << vector.frac) - c_kj, centroid_shift)  # own cluster only

    With the low-rank part on (``rank`` r > 0) the cluster projection acts on the part of ``v`` in
    the tracked principal subspace ``span(p_0 .. p_r-1)`` (host-orthonormalised basis rows), and a
    running tracker ``Y`` (r rows beside the centroids) follows that subspace (subspace iteration:
    ``Y_k -> E[v v^T] p_k``, re-orthonormalised by the host at each basis refresh)::

        b_k      = saturate(round_shift(sum_j p_kj v_j, dot_shift), coeff)          # k < r
        Y_kj    += round_shift(saturate(round_shift(b_k v_j, tracker_shift), vector) - Y_kj,
                               centroid_shift)
        w_j      = saturate(-round_shift(sum_k -b_k p_kj, expand_shift), vector)
        # then a_k, u_j as above with w in place of v (the update lies in P_others span(P))

    With ``antithetic`` (the default) the first pass of a training sample is not clean but
    perturbed by ``-xi`` (the second by ``+xi``), so ``dL`` is a central difference: twice the
    signal, no second-order bias; ``y`` above is then the ``-xi`` pass (its argmax is the TRAIN
    reply's prediction; inference stays clean).

    ``dL`` saturates *symmetrically* (``delta.min_raw`` is excluded) so that ``-dL`` always fits
    the error word. ``shift`` is ``update_shift`` in hidden layers and ``readout_update_shift``
    in the last one (the official code scales the readout's step 25x up: 1/10 vs 1/256), plus
    the TRAIN command's ``step_shift`` (``0 .. 2**step_shift_bits - 1``: the host's step-size
    schedule). In real units ``dW = -eta * (K dL) * sign(xi) * rate`` with rate = count / T
    and ``eta = T * 2**(delta.frac + vector.frac - master.frac - shift)`` (defaults: 2**-7
    hidden, 2**-4 readout, on the antithetic dL, which is twice a forward difference;
    docs/design.md has the sweeps that chose them).

    The forward weight of a master word ``W`` is ``W >> (master.frac - weight.frac)`` (floor).

    Raises
    ------
    TypeError
        If a field has the wrong type or an integer field is out of range.
    ValueError
        If the formats are inconsistent (see the messages).
    """

    master: QFormat = QFormat(4, 20)
    output: QFormat = QFormat(6, 10)
    delta: QFormat = QFormat(4, 12)
    vector: QFormat = QFormat(10, 6)
    coeff: QFormat = QFormat(10, 6)
    basis: QFormat = QFormat(1, 15)
    update_shift: int = 9
    readout_update_shift: int = 6
    centroid_shift: int = 4
    rank: int = 0
    tracker_shift: int = 3
    antithetic: bool = True
    step_shift_bits: int = 2

    def __post_init__(self):
        for field in ("master", "output", "delta", "vector", "coeff", "basis"):
            if not isinstance(getattr(self, field), QFormat):
                raise TypeError(f"{field.capitalize()} format must be a QFormat, "
                                f"not {getattr(self, field)!r}")
            if getattr(self, field).width > MAX_FORMAT_WIDTH:
                raise ValueError(f"{field.capitalize()} format {getattr(self, field)} is wider "
                                 f"than {MAX_FORMAT_WIDTH} bits (the golden model's int64 "
                                 f"products would wrap)")
        _check_int("Update shift", self.update_shift, 0, 48)
        _check_int("Readout update shift", self.readout_update_shift, 0, 48)
        _check_int("Centroid shift", self.centroid_shift, 0, 16)
        _check_int("Rank", self.rank, 0, 64)
        _check_int("Tracker shift", self.tracker_shift, 0, 32)
        _check_int("Step shift bits", self.step_shift_bits, 0, 3)
        if not isinstance(self.antithetic, bool):
            raise TypeError(f"Antithetic must be a bool, not {self.antithetic!r}")
        if self.basis.int_bits != 1:
            raise ValueError(f"Basis format must be Q1.n (entries of unit vectors), "
                             f"not {self.basis}")
        if 2 * self.output.frac_bits < self.delta.frac_bits:
            raise ValueError(f"Delta format {self.delta} has more fraction bits than the "
                             f"product of two {self.output} numbers")
        if self.basis.frac_bits + self.vector.frac_bits < self.coeff.frac_bits or \
                self.basis.frac_bits + self.coeff.frac_bits < self.vector.frac_bits:
            raise ValueError(f"Coefficient format {self.coeff} and vector format {self.vector} "
                             f"are not reachable by right shifts from {self.basis} products")

    def weight_shift_for(self, layer: int, layers: int) -> int:
        """Update shift of ``layer`` (0-based) in a network of ``layers`` layers."""
        return self.readout_update_shift if layer == layers - 1 else self.update_shift

    @property
    def delta_shift(self) -> int:
        return 2 * self.output.frac_bits - self.delta.frac_bits

    @property
    def dot_shift(self) -> int:
        return self.basis.frac_bits + self.vector.frac_bits - self.coeff.frac_bits

    @property
    def expand_shift(self) -> int:
        return self.basis.frac_bits + self.coeff.frac_bits - self.vector.frac_bits

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, fields: dict) -> "LearningConfig":
        fields = dict(fields)
        formats = {k: QFormat(**fields.pop(k))
                   for k in ("master", "output", "delta", "vector", "coeff", "basis")}
        return cls(**formats, **fields)


@dataclass(frozen=True)
class NetworkConfig:
    """A whole fixed-point LOCO network: sizes, time steps, neurons, noise and learning.

    Parameters
    ----------
    sizes : tuple of int
        Layer widths, input first, classes last (e.g. ``(64, 32, 10)``).
    timesteps : int
        Time steps T per pass; a power of two so that rate readout is a shift.
    hidden, readout : LIFConfig
        Neuron of the hidden layers (spiking) and of the last layer (integrator).
    learning : LearningConfig
    noise_amplitude : float
        Perturbation current sigma added every step in the noisy pass, in weight units.
    clusters : int
        Protected clusters C per layer (the projector holds C - 1 "other" basis vectors).
    """

    sizes: tuple = (64, 32, 10)
    timesteps: int = 16
    hidden: LIFConfig = LIFConfig()
    readout: LIFConfig = LIFConfig(membrane=QFormat(12, 10), threshold=None, leak_shift=0)
    learning: LearningConfig = LearningConfig()
    noise_amplitude: float = 0.0625
    clusters: int = 10

    def __post_init__(self):
        if not isinstance(self.sizes, tuple) or len(self.sizes) < 2:
            raise TypeError(f"Sizes must be a tuple of at least two layer widths, "
                            f"not {self.sizes!r}")
        for size in self.sizes:
            _check_int("Layer width", size, 1, 4096)
        _check_int("Time steps", self.timesteps, 1, 1024)
        if self.timesteps & (self.timesteps - 1):
            raise ValueError(f"Time steps must be a power of two, not {self.timesteps!r}")
        if not isinstance(self.hidden, LIFConfig) or not self.hidden.spiking:
            raise ValueError(f"Hidden neuron must be a spiking LIFConfig, not {self.hidden!r}")
        if not isinstance(self.readout, LIFConfig) or self.readout.spiking:
            raise ValueError(f"Readout neuron must be an integrator LIFConfig (threshold None), "
                             f"not {self.readout!r}")
        if self.readout.weight.frac_bits != self.learning.output.frac_bits:
            raise ValueError(f"Readout weight format {self.readout.weight} and output format "
                             f"{self.learning.output} must share the binary point")
        if self.hidden.weight != self.readout.weight:
            raise ValueError("Hidden and readout layers must share one forward weight format")
        if self.learning.master.frac_bits < self.hidden.weight.frac_bits or \
                self.learning.master.int_bits != self.hidden.weight.int_bits:
            raise ValueError(f"Master format {self.learning.master} must extend forward "
                             f"weight format {self.hidden.weight} with fraction bits")
        weight = self.hidden.weight
        if not isinstance(self.noise_amplitude, (int, float)) or \
                isinstance(self.noise_amplitude, bool) or \
                not 0 < self.noise_amplitude <= weight.max_raw / weight.one or \
                self.noise_amplitude_raw == 0:
            raise ValueError(f"Noise amplitude must be a positive {self.hidden.weight} number, "
                             f"not {self.noise_amplitude!r}")
        _check_int("Clusters", self.clusters, 1, 64)
        if self.clusters < self.sizes[-1]:
            raise ValueError(f"Clusters ({self.clusters}) must be at least the classes "
                             f"({self.sizes[-1]}): each label is its own cluster")
        # The host protocol (hw.protocol): the address field reaches MAX_LAYER_WORDS words per
        # layer memory; the PING reply (13 + 2 * layers bytes) is sent by an 8-bit counter.
        if self.layers > MAX_LAYERS:
            raise ValueError(f"A network of {self.layers} layers cannot identify itself over the "
                             f"protocol (at most {MAX_LAYERS} layers)")
        for layer, (n_in, n_out) in enumerate(zip(self.sizes[:-1], self.sizes[1:],
                                                  strict=True)):
            words = max(memory_words(self, memory, layer) for memory in MEMORIES)
            if words > MAX_LAYER_WORDS:
                raise ValueError(f"Layer {layer} ({n_in} -> {n_out}) holds {words} words, more "
                                 f"than the protocol's {8 * ADDRESS_BYTES}-bit address reaches "
                                 f"({MAX_LAYER_WORDS})")
        if (self.timesteps << self.learning.vector.frac_bits) > self.learning.vector.max_raw:
            raise ValueError(f"Vector format {self.learning.vector} cannot hold a spike count "
                             f"of {self.timesteps}")
        learn = self.learning
        fewest = min(self.sizes[:-1]) + 1
        if learn.rank > min(self.clusters + 1, fewest):
            raise ValueError(f"Rank {learn.rank} exceeds the clusters + 1 = {self.clusters + 1} "
                             f"coefficient registers or a layer's {fewest} inputs")
        # Projection quantities never saturate: the coefficients, the projected vectors and
        # (scaled) the tracker products are checked against projection_bound.
        bound = self.projection_bound
        for name, fmt in (("Coefficient", learn.coeff), ("Vector", learn.vector)):
            if bound >= fmt.max_raw / fmt.one:
                raise ValueError(f"{name} format {fmt} cannot hold a projection quantity of up "
                                 f"to {bound:.1f} (T = {self.timesteps}, "
                                 f"{max(self.sizes[:-1])} inputs): widen it")
        if learn.rank and learn.tracker_shift < self.min_tracker_shift:
            raise ValueError(f"Tracker shift {learn.tracker_shift} lets the tracker products "
                             f"saturate {learn.vector} (T = {self.timesteps}, "
                             f"{max(self.sizes[:-1])} inputs): use >= {self.min_tracker_shift}")

    @property
    def layers(self) -> int:
        return len(self.sizes) - 1

    @property
    def log2_timesteps(self) -> int:
        return self.timesteps.bit_length() - 1

    @property
    def noise_amplitude_raw(self) -> int:
        return self.hidden.weight.from_float(self.noise_amplitude)

    @property
    def projection_bound(self) -> float:
        """Largest projection coefficient or projected-vector entry: ``|q . v| <= |v| <=
        T sqrt(n + 1)`` for a unit ``q`` and counts up to ``T`` (x 1.01 for the rounding of the
        Q1.15 basis entries), ``n`` the widest layer input."""
        return 1.01 * self.timesteps * (max(self.sizes[:-1]) + 1) ** 0.5

    @property
    def min_tracker_shift(self) -> int:
        """Smallest ``tracker_shift`` whose products ``|b_k v_j| <= projection_bound * T`` fit
        the vector format."""
        vector = self.learning.vector
        bound = self.projection_bound * self.timesteps
        shift = 0
        while bound / 2 ** shift >= vector.max_raw / vector.one:
            shift += 1
        return shift

    def with_lowrank(self, rank: int) -> "NetworkConfig":
        """This network with the low-rank part at ``rank``, its tracker shift raised to
        ``min_tracker_shift`` where the default would saturate."""
        return dataclasses.replace(self, learning=dataclasses.replace(
            self.learning, rank=rank,
            tracker_shift=max(self.learning.tracker_shift, self.min_tracker_shift)))

    @property
    def basis_rows(self) -> int:
        """Vectors of one layer's basis memory: 2C cluster slots, then the r low-rank rows."""
        return 2 * self.clusters + self.learning.rank

    @property
    def centroid_rows(self) -> int:
        """Vectors of one layer's centroid memory: C centroids, then the r tracker rows."""
        return self.clusters + self.learning.rank

    @property
    def weight_shift(self) -> int:
        """Right shift from a master word to its forward weight."""
        return self.learning.master.frac_bits - self.hidden.weight.frac_bits

    def lif(self, layer: int) -> LIFConfig:
        """Neuron of ``layer`` (0-based): hidden, or readout for the last one."""
        return self.readout if layer == self.layers - 1 else self.hidden

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "NetworkConfig":
        fields = json.loads(text)
        return cls(sizes=tuple(fields.pop("sizes")),
                   hidden=LIFConfig.from_dict(fields.pop("hidden")),
                   readout=LIFConfig.from_dict(fields.pop("readout")),
                   learning=LearningConfig.from_dict(fields.pop("learning")), **fields)


# --- Noise: xorshift32 (Marsaglia 2003), period 2**32 - 1 --------------------------------------
# state ^= state << 13; state ^= state >> 17; state ^= state << 5  (all mod 2**32).
# One word per draw. 32 bits, not 16: one digits sample needs ~1.1k encoder draws per pass and a
# 16-bit LFSR would repeat every 60 samples (loco-algorithm.md section 5.4).
XORSHIFT_WIDTH  = 32
XORSHIFT_SHIFTS = (13, 17, 5)
# Two streams that must never share bits: input spike encoding (replayed identically in the clean
# and the noisy pass: common random numbers) and the node perturbation signs.


def xorshift32(state):
    """One xorshift32 draw; works on ``int`` and on ``int64`` tensors alike (operators only)."""
    a, b, c = XORSHIFT_SHIFTS
    mask = (1 << XORSHIFT_WIDTH) - 1
    state = state ^ ((state << a) & mask)
    state = state ^ (state >> b)
    return state ^ ((state << c) & mask)


ENCODER_SEED = 0x2545F491
PERTURB_SEED = 0x9E3779B9
# The host derives sample k's lane seed from a base seed with MurmurHash3's 32-bit finaliser of
# ``base + k * step`` (forced nonzero): shifts and multipliers in the order applied.
SEED_HASH = {"step": 0x9E3779B9, "shifts": (16, 13, 16), "multipliers": (0x85EBCA6B, 0xC2B2AE35)}
# The low-rank basis starts from (and is topped up from) rows of a Gaussian matrix of this seed;
# its tracker rows are dropped only when numerically dependent (a minor principal direction is
# far below the mean direction's leakage into it, so the 0.1 rule would drop it).
LOWRANK_START_SEED = 0x5EED
LOWRANK_GRAM_SCHMIDT_TOL = 1e-6
# Host choices for the fixed-point learner (docs/design.md has the sweeps): hidden biases start at
# +INIT_HIDDEN_BIAS (more neurons fire at the start, where the modulator's mask is not 0), and
# the TRAIN step shift rises by one at each epoch (0-based) listed in STEP_SHIFT_EPOCHS.
INIT_HIDDEN_BIAS = 0.2
# The readout's initial weights are PyTorch's uniform bound times this (the official code's
# choice; also the float trainer's readout scale).
READOUT_INIT_SCALE = 0.1
STEP_SHIFT_EPOCHS = (6,)
# Sample numbers (the index that picks a sample's seeds) of test samples start here, far from any
# training step, so evaluation never replays a training sample's encoder stream.
TEST_INDEX_BASE = 10 ** 6
# An input spikes in a step when the low ENCODER_BITS of the encoder word are below its intensity
# (an unsigned ENCODER_BITS probability), so intensities are 0 .. 2**ENCODER_BITS - 1.
ENCODER_BITS = 8
# Host re-orthonormalisation of the centroid bases: a Gram-Schmidt column is dropped when its
# residual is below this fraction of its norm (the official code's rule, loco-algorithm.md 1.4).
GRAM_SCHMIDT_TOL = 0.1
# The learner's sample and cycle counters (READ_COUNTERS, the TRAIN/INFER replies) wrap at
# 2**COUNTER_BITS.
COUNTER_BITS = 32

DEFAULT_HIDDEN   = LIFConfig()
DEFAULT_READOUT  = NetworkConfig.readout
DEFAULT_LEARNING = LearningConfig()
DEFAULT_NETWORK  = NetworkConfig()
