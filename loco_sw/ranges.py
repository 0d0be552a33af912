"""Numerical ranges of the fixed-point datapath on real data, against each word's Q-format.

:func:`collect` trains the bit-exact golden model (:func:`loco_sw.golden.train_step`) with its
probe on, which records every quantity *before* its saturation; :func:`summarise` puts each
quantity of each layer beside the format it is stored in (the fraction of values the hardware
saturates, the largest magnitude as a fraction of the range, the headroom in bits);
:func:`plot` draws histograms of ``log2 |value|`` with the format's limits (in the spirit of
hls4ml's profiling).
"""

import math

import torch

__all__ = ["QUANTITIES", "collect", "summarise", "plot"]

# Quantity -> (description, format of the word it is stored in).
QUANTITIES = {
    "membrane":  ("membrane sums, every step of both passes", None),  # hidden / readout format
    "delta":     ("loss difference dL (last layer)", "delta"),
    "coeff":     ("projection coefficients q.v (and low-rank p.v)", "coeff"),
    "projected": ("projected presynaptic vectors u (and low-rank parts w)", "vector"),
    "tracker":   ("low-rank tracker products b_k v_j", "vector"),
    "update":    ("weight steps round_shift(e u)", "master"),
    "master":    ("master weights after the step", "master"),
}


def _format(config, layer, quantity):
    if quantity == "membrane":
        return config.lif(layer).membrane
    return getattr(config.learning, QUANTITIES[quantity][1])


def collect(config, intensities, labels, *, samples: int, seed: int = 0,
            refresh: int = 64, progress=None) -> tuple:
    """Train ``samples`` online LOCO steps from a fresh state (seeded order); returns
    ``(probe, state)``, ``probe`` as documented in :func:`loco_sw.golden.train_step`."""
    from .golden import init_state, refresh_bases, train_step

    state, probe = init_state(config, seed=seed), {}
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    for step in range(samples):
        if step % refresh == 0:
            refresh_bases(config, state)
        i = int(order[step % len(order)])
        train_step(config, state, intensities[i], int(labels[i]), step, probe=probe)
        if progress is not None:
            progress(step + 1)
    return probe, state


def summarise(probe: dict, config) -> list:
    """One row per (layer, quantity): format, min/max raw, saturated fraction, peak use of the
    range, headroom bits, fraction of exact zeros, number of values."""
    rows = []
    for layer in sorted(probe):
        for quantity, chunks in probe[layer].items():
            values = torch.cat(chunks)
            fmt = _format(config, layer, quantity)
            low = -fmt.max_raw if quantity == "delta" else fmt.min_raw   # dL is symmetric
            saturated = ((values < low) | (values > fmt.max_raw)).double().mean().item()
            peak = values.abs().max().item()
            rows.append({
                "layer": layer, "quantity": quantity, "format": str(fmt),
                "min_raw": int(values.min()), "max_raw": int(values.max()),
                "range_raw": [low, fmt.max_raw],
                "saturated_fraction": saturated,
                "peak_fraction_of_range": peak / fmt.max_raw,
                "headroom_bits": math.log2(fmt.max_raw / peak) if peak else float(fmt.width),
                "zero_fraction": (values == 0).double().mean().item(),
                "values": len(values),
            })
    return rows


def plot(probe: dict, config, path, *, title: str = "") -> None:
    """A grid of histograms (rows: layers, columns: quantities) of ``log2 |value|`` (non-zero
    values, real units), with the format's resolution (LSB) and largest magnitude as red lines:
    what lies right of the right line saturates, what lies left of the left one rounds away."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = sorted(probe)
    names = [q for q in QUANTITIES if any(q in probe[layer] for layer in layers)]
    fig, axes = plt.subplots(len(layers), len(names), squeeze=False,
                             figsize=(2.4 * len(names), 2.1 * len(layers)))
    for r, layer in enumerate(layers):
        for c, quantity in enumerate(names):
            ax = axes[r][c]
            if quantity not in probe[layer]:
                ax.axis("off")
                continue
            fmt = _format(config, layer, quantity)
            values = torch.cat(probe[layer][quantity])
            values = values[values != 0].abs().double() / fmt.one
            if len(values):
                ax.hist(torch.log2(values).numpy(), bins=50, log=True, color="tab:blue")
            for limit in (-fmt.frac_bits, math.log2(fmt.max_raw / fmt.one)):
                ax.axvline(limit, color="red", linewidth=1)
            ax.set_title(f"L{layer} {quantity} ({fmt})", fontsize=8)
            ax.set_xlabel("log2 |value|", fontsize=7)
            ax.tick_params(labelsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
