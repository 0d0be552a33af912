"""Bit-exact model of :class:`hw.noise.NoiseGenerator`: xorshift32 lanes and what they feed.

Words are ``int64`` tensors holding unsigned 32-bit values. A lane seeded with ``s`` emits
``next(s), next(next(s)), ...``: the seed itself is never emitted.
"""

import torch

from hw.formats import ENCODER_BITS, SEED_HASH, XORSHIFT_WIDTH, xorshift32


__all__ = ["xorshift_next", "xorshift_words", "sample_seed", "rademacher_negative",
           "encode_spikes"]

_MASK = (1 << XORSHIFT_WIDTH) - 1


xorshift_next = xorshift32  # operators only: advances an int64 tensor of lanes element-wise


_unit_words = torch.empty(0, XORSHIFT_WIDTH, dtype=torch.int64)


def _words_of_unit_seeds(count: int) -> torch.Tensor:
    """``(count, 32)``: column ``j`` holds the first ``count`` words of a lane seeded with
    ``1 << j`` (computed once, grown on demand)."""
    global _unit_words
    have = len(_unit_words)
    if have < count:
        state = _unit_words[-1] if have else \
            torch.tensor([1 << j for j in range(XORSHIFT_WIDTH)], dtype=torch.int64)
        rows = []
        for _ in range(max(count, 2 * have) - have):
            state = xorshift_next(state)
            rows.append(state)
        _unit_words = torch.cat([_unit_words, torch.stack(rows)])
    return _unit_words[:count]


def xorshift_words(seeds, count: int) -> torch.Tensor:
    """The first ``count`` words of a lane per seed; shape ``seeds.shape + (count,)``.

    xorshift32 is linear over GF(2) (shifts and XORs), so a lane's words are the XOR of the
    words of the unit seeds ``1 << j`` for the bits ``j`` set in its seed: 32 vector XORs instead
    of ``count`` sequential steps, the same bits as :func:`hw.formats.xorshift32` iterated.
    """
    state = torch.as_tensor(seeds, dtype=torch.int64)
    if bool((state <= 0).any()) or bool((state > _MASK).any()):
        raise ValueError(f"Seeds must be nonzero unsigned {XORSHIFT_WIDTH}-bit words")
    unit = _words_of_unit_seeds(count)
    words = torch.zeros(state.shape + (count,), dtype=torch.int64)
    for j in range(XORSHIFT_WIDTH):
        words ^= unit[:, j] * ((state[..., None] >> j) & 1)
    return words


def sample_seed(base: int, index: int) -> int:
    """Seed of sample number ``index`` for a lane whose base seed is ``base`` (host side).

    MurmurHash3's 32-bit finaliser of ``base + index * step`` (:data:`hw.formats.SEED_HASH`),
    forced nonzero.
    """
    first, second, third = SEED_HASH["shifts"]
    multiply_1, multiply_2 = SEED_HASH["multipliers"]
    h = (base + index * SEED_HASH["step"]) & _MASK
    h ^= h >> first
    h = (h * multiply_1) & _MASK
    h ^= h >> second
    h = (h * multiply_2) & _MASK
    h ^= h >> third
    return h or 1


def rademacher_negative(words: torch.Tensor) -> torch.Tensor:
    """Sign of a Rademacher draw: ``True`` where the perturbation is ``-sigma`` (top bit set)."""
    return (words >> (XORSHIFT_WIDTH - 1)).bool()


def encode_spikes(intensity: torch.Tensor, seeds, timesteps: int) -> torch.Tensor:
    """Bernoulli input spikes: ``(B, n)`` intensities in ``[0, 2**ENCODER_BITS)`` -> ``(B, T, n)``.

    Input ``j`` spikes in step ``t`` when the low ``ENCODER_BITS`` of encoder word ``t * n + j``
    are below its intensity. The same seed gives the same spikes in the clean and noisy pass.
    """
    if intensity.dtype != torch.int64:
        raise TypeError(f"Intensities must be an int64 tensor, not {intensity.dtype}")
    if bool((intensity < 0).any()) or bool((intensity >= 1 << ENCODER_BITS).any()):
        raise ValueError(f"Intensities must lie in [0, {1 << ENCODER_BITS})")
    batch, n = intensity.shape
    words = xorshift_words(seeds, timesteps * n).view(batch, timesteps, n)
    return (words & ((1 << ENCODER_BITS) - 1)) < intensity[:, None, :]
