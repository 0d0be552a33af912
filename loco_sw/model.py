"""Float spiking/rate networks: the models the learning rules in :mod:`loco_sw.rules` train.

Two neuron models share one weight layout (``(n_out, n_in + 1)`` per layer, bias last):

* ``rate``: ``clip(a, 0, 1)``, the firing-rate model of a soft-reset IF neuron, as the official
  code trains (``loco-algorithm.md`` section 1.2). Node noise is added to the rates.
* ``lif``: the hardware's semantics in float (``hw.formats.LIFConfig``): Bernoulli input spikes,
  ``T`` steps, leak ``v - v * 2**-leak_shift``, strict threshold, soft reset, spikes passed to the
  next layer, a non-spiking integrator readout whose output is the mean current over ``T``.
  Node noise is a constant current ``xi`` per neuron added every step; the clean and the noisy
  pass see the same input spikes (common random numbers).

Both return, per layer, the presynaptic vector the update uses (rates, or spike counts / T, with
the bias input 1 appended) and the post-synaptic derivative mask.
"""

import math
from dataclasses import dataclass

import torch

from hw.formats import READOUT_INIT_SCALE

__all__ = ["NeuronConfig", "Network", "Pass", "INITS", "CALIBRATION_MEAN", "CALIBRATION_STD"]

INITS = ("calibrated", "uniform")
# Calibrated init: every hidden neuron's mean input current over the calibration inputs, and its
# spread across them (docs/design.md, "Depth"). 0.3 +- 0.3 puts a neuron's operating point inside
# the clipped-ReLU's linear range (0, 1): active on most inputs, saturated on few.
CALIBRATION_MEAN = 0.3
CALIBRATION_STD = 0.3


@dataclass(frozen=True)
class NeuronConfig:
    """``kind`` is ``rate`` or ``lif``; the rest applies to ``lif`` (defaults: hw.formats)."""

    kind: str = "rate"
    timesteps: int = 16
    threshold: float = 1.0
    leak_shift: int = 4

    def __post_init__(self):
        if self.kind not in ("rate", "lif"):
            raise ValueError(f"Neuron must be 'rate' or 'lif', not {self.kind!r}")
        if not isinstance(self.timesteps, int) or self.timesteps < 1:
            raise ValueError(f"Time steps must be a positive integer, not {self.timesteps!r}")
        if not self.threshold > 0:
            raise ValueError(f"Threshold must be positive, not {self.threshold!r}")
        if not isinstance(self.leak_shift, int) or self.leak_shift < 0:
            raise ValueError(f"Leak shift must be a non-negative integer, "
                             f"not {self.leak_shift!r}")

    @classmethod
    def from_hardware(cls, kind="lif"):
        from hw.formats import DEFAULT_NETWORK as net
        return cls(kind=kind, timesteps=net.timesteps, threshold=net.hidden.threshold,
                   leak_shift=net.hidden.leak_shift)


@dataclass
class Pass:
    """One forward pass: per layer the augmented presynaptic vectors ``(B, n + 1)``, the
    derivative masks ``(B, m)`` and the network output ``(B, K)``."""

    inputs: list
    masks: list
    output: torch.Tensor


def _augment(h):
    return torch.cat([h, torch.ones(len(h), 1, dtype=h.dtype)], dim=1)


class Network:
    """A feed-forward network with ``sizes = (n_0, ..., K)`` and PyTorch ``nn.Linear`` init
    (``U(+-init_gain/sqrt(fan_in))``), the readout scaled by ``READOUT_INIT_SCALE`` (0.1, as
    in the official code);
    :meth:`calibrate` then rescales the hidden layers (the trainer's default init)."""

    def __init__(self, sizes, neuron: NeuronConfig, generator: torch.Generator,
                 init_gain: float = 1.0):
        if len(sizes) < 2:
            raise ValueError(f"Sizes must name at least an input and an output, not {sizes!r}")
        self.sizes = tuple(sizes)
        self.neuron = neuron
        self.weights = []
        for layer, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
            gain = READOUT_INIT_SCALE if layer == len(sizes) - 2 else init_gain
            bound = gain * n_in ** -0.5
            self.weights.append((torch.rand(n_out, n_in + 1, generator=generator,
                                            dtype=torch.float64) * 2 - 1) * bound)

    def calibrate(self, x, generator, mean=CALIBRATION_MEAN, std=CALIBRATION_STD):
        """Data-dependent init of the hidden layers, first to last (no normalisation at run
        time, so the hardware needs nothing new): each neuron's weights are scaled so that its
        mean input current over the inputs ``x`` (the rate model's pre-activation) has standard
        deviation ``std`` across ``x``, then its bias is set so that the current's mean is
        ``mean``. Each layer is calibrated on the previous, already calibrated, layers' output
        (rates, or spike counts / T). The readout keeps its init."""
        if not (math.isfinite(mean) and math.isfinite(std) and std > 0):
            raise ValueError(f"Calibration needs a finite mean and a positive std, "
                             f"not {mean!r}, {std!r}")
        if len(x) < 2:
            raise ValueError(f"Calibration needs at least 2 inputs, not {len(x)}")
        spikes = self.encode(x, generator)
        for layer, w in enumerate(self.weights[:-1]):
            h = self.forward(x, spikes).inputs[layer][:, :-1]
            spread = (h @ w[:, :-1].T).std(dim=0)
            w[:, :-1] *= (std / spread.clamp(min=1e-12))[:, None]
            w[:, -1] = mean - (h @ w[:, :-1].T).mean(dim=0)

    @property
    def layers(self):
        return len(self.weights)

    def encode(self, x: torch.Tensor, generator: torch.Generator):
        """Input spikes ``(B, T, n)`` for the LIF model (None for the rate model)."""
        if self.neuron.kind == "rate":
            return None
        shape = (len(x), self.neuron.timesteps, x.shape[1])
        return torch.rand(shape, generator=generator, dtype=x.dtype) < x[:, None, :]

    def forward(self, x, spikes=None, noise=None) -> Pass:
        """One pass; ``noise`` is a list of ``(B, m)`` per layer or None (clean)."""
        if self.neuron.kind == "rate":
            return self._forward_rate(x, noise)
        return self._forward_lif(spikes, noise)

    def _forward_rate(self, x, noise):
        inputs, masks, h = [], [], x
        for layer, w in enumerate(self.weights):
            inputs.append(_augment(h))
            a = inputs[-1] @ w.T
            if layer == self.layers - 1:
                mu, mask = a, torch.ones_like(a)
            else:
                mu, mask = a.clamp(0, 1), ((a > 0) & (a < 1)).to(a.dtype)
            masks.append(mask)
            h = mu if noise is None else mu + noise[layer]
        return Pass(inputs, masks, h)

    def _forward_lif(self, spikes, noise):
        cfg, steps = self.neuron, self.neuron.timesteps
        beta = 1.0 - (2.0 ** -cfg.leak_shift if cfg.leak_shift else 0.0)
        inputs, masks, s = [], [], spikes.to(torch.float64)
        for layer, w in enumerate(self.weights):
            inputs.append(_augment(s.sum(dim=1) / steps))
            current = s @ w[:, :-1].T + w[:, -1]
            if noise is not None:
                current = current + noise[layer][:, None, :]
            if layer == self.layers - 1:        # integrator readout: mean current
                masks.append(torch.ones_like(current[:, 0]))
                output = current.mean(dim=1)
                break
            v = torch.zeros_like(current[:, 0])
            s = torch.empty_like(current)
            for t in range(steps):
                v = beta * v + current[:, t]
                fired = (v > cfg.threshold).to(v.dtype)
                v = v - cfg.threshold * fired
                s[:, t] = fired
            count = s.sum(dim=1)
            masks.append(((count > 0) & (count < steps)).to(s.dtype))
        return Pass(inputs, masks, output)

    def predict(self, x, generator=None) -> torch.Tensor:
        """Clean-pass outputs; the LIF model encodes with ``generator`` (default: seed 0)."""
        if self.neuron.kind == "lif" and generator is None:
            generator = torch.Generator().manual_seed(0)
        return self.forward(x, self.encode(x, generator)).output
