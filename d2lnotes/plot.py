"""Figures: sample images, the residual block diagrams and learning curves.

Every function returns its matplotlib ``Figure`` rather than calling ``plt.show()``: a notebook
displays the returned figure, a script can save it, and nothing blocks.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch


def show_images(imgs, num_rows: int, num_cols: int, titles: Sequence[str] | None = None,
                scale: float = 1.5) -> Figure:
    """A grid of images, as d2l's ``show_images``; accepts ``(n, 1, h, w)`` or ``(n, h, w)``."""
    fig, axes = plt.subplots(num_rows, num_cols, figsize=(num_cols * scale, num_rows * scale),
                             squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= len(imgs):
            continue
        img = imgs[i]
        if torch.is_tensor(img):
            img = img.detach().cpu().float().squeeze().numpy()
        ax.imshow(img, cmap="gray_r")
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    fig.tight_layout()
    return fig


# Colours follow d2l's figures loosely: convolutions blue, BN green, activations orange.
_COLOURS = {"conv": "#cfe2f3", "bn": "#d9ead3", "relu": "#fce5cd", "add": "#ffffff"}


def _box(ax, x: float, y: float, text: str, kind: str, width: float = 2.4) -> None:
    ax.add_patch(FancyBboxPatch((x - width / 2, y - 0.3), width, 0.6,
                                boxstyle="round,pad=0.02,rounding_size=0.12",
                                facecolor=_COLOURS[kind], edgecolor="black", linewidth=1))
    ax.text(x, y, text, ha="center", va="center", fontsize=10)


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], **kw) -> None:
    ax.annotate("", xy=end, xytext=start,
                arrowprops=dict(arrowstyle="-|>", color="black", lw=1.2, shrinkA=0, shrinkB=0, **kw))


def _draw_block(ax, use_1x1conv: bool) -> None:
    main = [("3x3 conv, stride s" if use_1x1conv else "3x3 conv", "conv"), ("batch norm", "bn"),
            ("ReLU", "relu"), ("3x3 conv", "conv"), ("batch norm", "bn")]
    x0, gap = 0.0, 1.0
    ys = [1.0 + i * gap for i in range(len(main))]
    ax.text(x0, 0.0, "input x", ha="center", va="center", fontsize=11)
    _arrow(ax, (x0, 0.25), (x0, ys[0] - 0.3))
    for (text, kind), y in zip(main, ys):
        _box(ax, x0, y, text, kind)
    for y0, y1 in zip(ys, ys[1:]):
        _arrow(ax, (x0, y0 + 0.3), (x0, y1 - 0.3))
    y_add = ys[-1] + gap
    ax.add_patch(plt.Circle((x0, y_add), 0.25, facecolor="white", edgecolor="black"))
    ax.text(x0, y_add, "+", ha="center", va="center", fontsize=14)
    _arrow(ax, (x0, ys[-1] + 0.3), (x0, y_add - 0.25))
    y_relu = y_add + gap
    _box(ax, x0, y_relu, "ReLU", "relu")
    _arrow(ax, (x0, y_add + 0.25), (x0, y_relu - 0.3))
    ax.text(x0, y_relu + 0.85, "output f(x) = ReLU(x' + g(x))" if use_1x1conv
            else "output f(x) = ReLU(x + g(x))", ha="center", va="center", fontsize=10)
    _arrow(ax, (x0, y_relu + 0.3), (x0, y_relu + 0.6))
    # The shortcut: up the right-hand side, into the adder.
    xs = 2.6
    ax.plot([x0, xs], [0.55, 0.55], color="black", lw=1.2)
    if use_1x1conv:
        y_mid = (ys[0] + ys[-1]) / 2
        _arrow(ax, (xs, 0.55), (xs, y_mid - 0.3))
        _box(ax, xs, y_mid, "1x1 conv,\nstride s", "conv", width=1.7)
        ax.plot([xs, xs], [y_mid + 0.3, y_add], color="black", lw=1.2)
        label = "shortcut x' = conv1x1(x):\nmatches channels and size"
    else:
        ax.plot([xs, xs], [0.55, y_add], color="black", lw=1.2)
        label = "shortcut:\nidentity"
    _arrow(ax, (xs, y_add), (x0 + 0.25, y_add))
    ax.text(xs + 0.2, ys[1], label, ha="left", va="center", fontsize=9, style="italic")
    ax.text(-1.6, (ys[0] + ys[-1]) / 2, "g(x)", ha="center", va="center", fontsize=12,
            rotation=90)
    ax.set_xlim(-2.0, 5.2)
    ax.set_ylim(-0.5, y_relu + 1.2)
    ax.set_aspect("equal")
    ax.axis("off")


def draw_residual_blocks() -> Figure:
    """Both residual block variants side by side: identity shortcut, and 1x1-conv shortcut."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 6.5))
    _draw_block(axes[0], use_1x1conv=False)
    axes[0].set_title("Residual(c, c): same shape in and out", fontsize=11)
    _draw_block(axes[1], use_1x1conv=True)
    axes[1].set_title("Residual(c_in, c_out, use_1x1conv=True, strides=2)", fontsize=11)
    fig.tight_layout()
    return fig


def matplot_acc_loss(train_process) -> Figure:
    """The seed's two panels from a ``train_ch6`` DataFrame: loss and accuracy, train vs val."""
    df = train_process
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(12, 4))
    ax_loss.plot(df["epoch"], df["train_loss_all"], "ro-", label="Train loss")
    ax_loss.plot(df["epoch"], df["val_loss_all"], "bs-", label="Val loss")
    ax_loss.set(xlabel="epoch", ylabel="Loss")
    ax_loss.legend()
    ax_acc.plot(df["epoch"], df["train_acc_all"], "ro-", label="Train acc")
    ax_acc.plot(df["epoch"], df["val_acc_all"], "bs-", label="Val acc")
    ax_acc.set(xlabel="epoch", ylabel="acc")
    ax_acc.legend()
    fig.tight_layout()
    return fig


def glue(name: str, value, display: bool = False) -> None:
    """Hand a computed value to the book's text (``{glue:text}`name``` in a Markdown cell).

    Prose numbers must come from code that ran, so the book's text quotes values glued here.
    Outside a Jupyter Book build (Colab, plain Jupyter) myst-nb may be absent; then this does
    nothing and the text shows the role's name.
    """
    try:
        from myst_nb import glue as _glue
    except ImportError:
        return
    if hasattr(value, "item"):  # numpy/torch scalars: their repr would not format as a number
        value = value.item()
    _glue(name, value, display=display)


def draw_bn_axes(batch: int = 4, features: int = 6, channels: int = 4, side: int = 3) -> Figure:
    """Which values share one mean and variance: a feature (FC) or a channel (conv).

    Left: a (batch, features) output; one column, one feature over the batch, is normalised
    together. Right: a (batch, channels, height, width) output drawn as a grid of small HxW
    maps; one channel over the whole batch and every position, N*H*W values, is normalised
    together.
    """
    from matplotlib.patches import Rectangle

    fig, (ax_fc, ax_cv) = plt.subplots(1, 2, figsize=(11, 4.2),
                                       gridspec_kw={"width_ratios": [1, 1.9]})
    hi, lo = "#f6b26b", "#eeeeee"
    for n in range(batch):
        for d in range(features):
            ax_fc.add_patch(Rectangle((d, batch - 1 - n), 0.92, 0.92,
                                      facecolor=hi if d == 2 else lo, edgecolor="grey"))
    ax_fc.set_xlim(-0.6, features + 0.2)
    ax_fc.set_ylim(-1.2, batch + 0.6)
    ax_fc.text(features / 2, batch + 0.3, "features  ->", ha="center", fontsize=10)
    ax_fc.text(-0.3, batch / 2, "batch  ->", rotation=-90, va="center", ha="center",
               fontsize=10)
    ax_fc.set_title("Fully connected: (batch, features)\none mean and variance per feature",
                    fontsize=11)
    ax_fc.text(2.46, -0.7, f"{batch} values", ha="center", fontsize=9, color="#b45f06")
    cell = side + 1.2
    for n in range(batch):
        for c in range(channels):
            x0, y0 = c * cell, (batch - 1 - n) * cell
            for i in range(side):
                for j in range(side):
                    ax_cv.add_patch(Rectangle((x0 + j, y0 + i), 0.92, 0.92,
                                              facecolor=hi if c == 1 else lo, edgecolor="grey",
                                              linewidth=0.6))
    ax_cv.set_xlim(-1.5, channels * cell)
    ax_cv.set_ylim(-2.0, batch * cell + 1.2)
    ax_cv.text(channels * cell / 2, batch * cell + 0.3, "channels  ->", ha="center", fontsize=10)
    ax_cv.text(-0.9, batch * cell / 2, "batch  ->", rotation=-90, va="center", ha="center",
               fontsize=10)
    ax_cv.set_title("Convolutional: (batch, channels, height, width)\n"
                    "one mean and variance per channel, over batch, height and width",
                    fontsize=11)
    ax_cv.text(cell + side / 2, -1.2, f"{batch} x {side} x {side} = {batch * side * side} values",
               ha="center", fontsize=9, color="#b45f06")
    for ax in (ax_fc, ax_cv):
        ax.set_aspect("equal")
        ax.axis("off")
    fig.tight_layout()
    return fig
