"""Bit-exact model of :class:`hw.neuron.LIFCore`: one layer of LIF (or integrator) neurons.

Raw words are ``int64`` tensors; the semantics are those of :class:`hw.formats.LIFConfig`.
"""

import torch

from hw.formats import LIFConfig, round_shift


__all__ = ["round_shift", "saturate", "lif_step", "layer_currents", "layer_run"]


def saturate(value: torch.Tensor, fmt) -> torch.Tensor:
    return torch.clamp(value, fmt.min_raw, fmt.max_raw)


def lif_step(v: torch.Tensor, current: torch.Tensor, config: LIFConfig,
             probe: dict | None = None):
    """Advance membranes ``v`` by one step with (wide, exact) input ``current``.

    Returns ``(v_next, spike)``; ``spike`` is a bool tensor (all ``False`` for an integrator).
    ``probe`` (a dict) collects the membrane sum before saturation under ``membrane``.
    """
    if v.dtype != torch.int64 or current.dtype != torch.int64:
        raise TypeError(f"Raw words must be int64 tensors, not {v.dtype} and {current.dtype}")
    v_leak = v - (v >> config.leak_shift) if config.leak_shift else v
    if probe is not None:
        probe.setdefault("membrane", []).append((v_leak + current).flatten())
    v_sum = saturate(v_leak + current, config.membrane)
    if not config.spiking:
        return v_sum, torch.zeros_like(v_sum, dtype=torch.bool)
    spike = v_sum > config.threshold_raw
    return torch.where(spike, v_sum - config.threshold_raw, v_sum), spike


def layer_currents(spikes_in: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Synaptic currents ``(..., n_out)``: weights of the inputs that spiked, plus the bias.

    ``weights`` is ``(n_out, n_in + 1)`` forward words, bias in the last column.
    """
    return spikes_in.to(torch.int64) @ weights[:, :-1].T + weights[:, -1]


def layer_run(spikes_in: torch.Tensor, weights: torch.Tensor, config: LIFConfig,
              perturbation: torch.Tensor | None = None, probe: dict | None = None):
    """Run one layer over ``T`` steps from zero membranes.

    Parameters
    ----------
    spikes_in : bool tensor ``(B, T, n_in)``
    weights : int64 tensor ``(n_out, n_in + 1)``
    perturbation : int64 tensor ``(B, n_out)`` or None
        Current added in every step (``+-sigma`` in the noisy pass).

    Returns ``(spikes, v)``: bool ``(B, T, n_out)`` and the final membranes ``(B, n_out)``.
    ``probe`` (a dict) collects every step's membrane sum before saturation under ``membrane``.
    """
    currents = layer_currents(spikes_in, weights)
    if perturbation is not None:
        currents = currents + perturbation[:, None, :]
    v = torch.zeros_like(currents[:, 0])
    spikes = torch.empty(currents.shape, dtype=torch.bool)
    for step in range(currents.shape[1]):
        v, spikes[:, step] = lif_step(v, currents[:, step], config, probe)
    return spikes, v
