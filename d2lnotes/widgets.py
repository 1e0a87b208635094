"""An interactive batch-norm explorer: move a slider, watch one channel being normalized.

The formula for batch normalization is short, but its behavior has knobs that are hard to feel
from the text alone. The explorer lets a learner see:

* how the **batch size** sets the noise in the batch statistics: with 4 values the batch mean and
  variance wander far from the population's, with 512 they barely move;
* how **gamma** and **beta** undo the normalization: the output has mean beta and std |gamma|,
  whatever the input's mean and std were;
* how **eps** matters only when the batch variance is tiny: shrink the input std towards
  ``sqrt(eps)`` and the output std falls below |gamma|;
* how the **running estimates** used at prediction time approach the population statistics at a
  rate set by **momentum**, and how noisy they stay once there.

``bn_explorer_figure`` draws one state and is what the static book shows (its default state);
``bn_explorer`` wraps it in sliders for Jupyter and Colab. Both use the from-scratch
``BatchNorm`` of ``d2lnotes.bn``, not ``torch.nn.BatchNorm1d``.
"""
from __future__ import annotations

import inspect
import io
from typing import NamedTuple

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from .bn import BatchNorm


class BNExplorerData(NamedTuple):
    """The numbers ``bn_explorer_figure`` plots, so tests can check them without a figure."""

    before: torch.Tensor  # (batch_size,) the first minibatch, as drawn
    after: torch.Tensor  # (batch_size,) the same minibatch after training-mode BN
    running_mean: torch.Tensor  # (steps + 1,) entry k: after k steps; entry 0 is the init, 0
    running_var: torch.Tensor  # (steps + 1,) entry k: after k steps; entry 0 is the init, 1


def _check_args(batch_size: int, eps: float, scale: float, steps: int, momentum: float) -> None:
    """Fail with a message a learner can act on, not deep inside torch or matplotlib."""
    if batch_size < 2:
        raise ValueError(f"batch_size must be at least 2: training-mode batch norm needs more "
                         f"than one value per channel to estimate a variance, got {batch_size}")
    if not eps > 0:
        raise ValueError(f"eps must be > 0 (it keeps the division finite), got {eps}")
    if not scale > 0:
        raise ValueError(f"scale (the input's standard deviation) must be > 0, got {scale}")
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    if not 0 < momentum <= 1:
        raise ValueError(f"momentum must be in (0, 1], got {momentum}")


def bn_explorer_data(batch_size: int = 32, gamma: float = 1.0, beta: float = 0.0,
                     eps: float = 1e-5, shift: float = 3.0, scale: float = 2.0, steps: int = 100,
                     momentum: float = 0.1, seed: int = 0) -> BNExplorerData:
    """Run ``steps`` training-mode minibatches of one channel, values ~ N(shift, scale**2).

    The minibatch shown before/after BN is the first of the run, so the two panels of the figure
    tell one story. Float64 throughout, so tiny input stds show eps's effect, not rounding.
    """
    _check_args(batch_size, eps, scale, steps, momentum)
    gen = torch.Generator().manual_seed(seed)
    bn = BatchNorm(1, 2, eps=eps, momentum=momentum).double().train()
    means, variances = [bn.running_mean.item()], [bn.running_var.item()]
    with torch.no_grad():
        bn.weight.fill_(gamma)
        bn.bias.fill_(beta)
        for step in range(steps):
            X = shift + scale * torch.randn(batch_size, 1, generator=gen, dtype=torch.float64)
            Y = bn(X)
            if step == 0:
                before, after = X[:, 0].clone(), Y[:, 0].clone()
            means.append(bn.running_mean.item())
            variances.append(bn.running_var.item())
    return BNExplorerData(before, after, torch.tensor(means, dtype=torch.float64),
                          torch.tensor(variances, dtype=torch.float64))


def bn_explorer_figure(batch_size: int = 32, gamma: float = 1.0, beta: float = 0.0,
                       eps: float = 1e-5, shift: float = 3.0, scale: float = 2.0,
                       steps: int = 100, momentum: float = 0.1, seed: int = 0) -> Figure:
    """Left: one minibatch before and after BN. Right: the running estimates, step by step.

    Arguments as ``bn_explorer_data``. The stds in the legend are the biased (1/n) ones, which
    is what batch norm normalizes with, so "after" reads |gamma| exactly when eps is negligible.
    """
    d = bn_explorer_data(batch_size, gamma, beta, eps, shift, scale, steps, momentum, seed)
    fig, (ax_h, ax_r) = plt.subplots(1, 2, figsize=(11, 4))
    # Shared bins over both batches, so the two histograms are directly comparable.
    both = torch.cat([d.before, d.after]).numpy()
    lo, hi = both.min(), both.max()
    pad = 0.05 * (hi - lo) if hi > lo else 0.5
    n_bins = int(np.clip(2 * np.sqrt(batch_size), 10, 60))
    bins = np.linspace(lo - pad, hi + pad, n_bins + 1)
    for values, name, colour in [(d.before, "before BN", "C0"), (d.after, "after BN", "C1")]:
        mean, std = values.mean().item(), values.std(unbiased=False).item()
        # Rounding hides float noise: a mean of 3e-17 after BN is 0, as the text says.
        ax_h.hist(values.numpy(), bins=bins, alpha=0.6, color=colour,
                  label=f"{name}: mean {round(mean, 10) + 0:.3g}, std {round(std, 10):.3g}")
        ax_h.axvline(mean, color=colour, linestyle="--", linewidth=1.2)
    ax_h.set(xlabel="value", ylabel="count",
             title=f"One minibatch of {batch_size}: γ={gamma:g}, β={beta:g}, ε={eps:.0e}")
    ax_h.legend(fontsize=9)
    x = np.arange(steps + 1)
    ax_r.plot(x, d.running_mean.numpy(), color="C0", label="running_mean")
    ax_r.axhline(shift, color="C0", linestyle="--", linewidth=1,
                 label=f"population mean {shift:g}")
    ax_r.plot(x, d.running_var.numpy(), color="C2", label="running_var")
    ax_r.axhline(scale ** 2, color="C2", linestyle="--", linewidth=1,
                 label=f"population var {scale ** 2:.3g}")
    ax_r.set(xlabel="training step", ylabel="estimate",
             title=f"Running estimates, momentum={momentum:g}")
    ax_r.legend(fontsize=9)
    fig.tight_layout()
    return fig


def _sliders(defaults: dict):
    """One slider per argument of ``bn_explorer_data`` (and the figure), at its default."""
    import ipywidgets as w

    common = dict(continuous_update=False, style={"description_width": "90px"})
    return {
        "batch_size": w.SelectionSlider(options=[2, 4, 8, 16, 32, 64, 128, 256, 512],
                                        value=defaults["batch_size"], description="batch size",
                                        **common),
        "gamma": w.FloatSlider(value=defaults["gamma"], min=-3, max=3, step=0.1,
                               description="gamma (γ)", **common),
        "beta": w.FloatSlider(value=defaults["beta"], min=-5, max=5, step=0.1,
                              description="beta (β)", **common),
        "eps": w.FloatLogSlider(value=defaults["eps"], base=10, min=-8, max=0, step=0.5,
                                description="eps (ε)", readout_format=".0e", **common),
        "shift": w.FloatSlider(value=defaults["shift"], min=-10, max=10, step=0.5,
                               description="input mean", **common),
        "scale": w.FloatLogSlider(value=defaults["scale"], base=10, min=-4, max=1, step=0.1,
                                  description="input std", readout_format=".2g", **common),
        "steps": w.IntSlider(value=defaults["steps"], min=1, max=500, description="steps",
                             **common),
        "momentum": w.FloatSlider(value=defaults["momentum"], min=0.01, max=1, step=0.01,
                                  description="momentum", **common),
    }


def bn_explorer():
    """Sliders over ``bn_explorer_figure``'s arguments, redrawing it on every change.

    The figure is rendered to PNG and shown in an ``ipywidgets.Image``, then closed: figures do
    not pile up, and it works the same whatever the matplotlib backend. Needs ipywidgets.
    """
    try:
        import ipywidgets as w
    except ImportError as err:
        raise ImportError("bn_explorer needs ipywidgets: pip install ipywidgets "
                          "(or pip install 'd2lnotes[widgets]')") from err
    defaults = {name: p.default
                for name, p in inspect.signature(bn_explorer_data).parameters.items()}
    sliders = _sliders(defaults)
    image = w.Image(format="png")

    def redraw(_change=None) -> None:
        fig = bn_explorer_figure(**{name: s.value for name, s in sliders.items()})
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100)
        plt.close(fig)
        image.value = buf.getvalue()

    for s in sliders.values():
        s.observe(redraw, names="value")
    redraw()
    names = list(sliders)
    columns = [w.VBox([sliders[n] for n in names[:4]]), w.VBox([sliders[n] for n in names[4:]])]
    return w.VBox([w.HBox(columns), image])
