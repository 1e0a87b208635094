"""Figures: sample images, the residual block diagrams, learning curves, nested function classes
and the ResNet-18 architecture.

Every function returns its matplotlib ``Figure`` rather than calling ``plt.show()``: a notebook
displays the returned figure, a script can save it, and nothing blocks.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

if TYPE_CHECKING:
    import pandas as pd


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


# Colors follow d2l's figures loosely: convolutions blue, BN green, activations orange.
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

    Left: a (batch, features) output; one column, one feature over the batch, is normalized
    together. Right: a (batch, channels, height, width) output drawn as a grid of small HxW
    maps; one channel over the whole batch and every position, N*H*W values, is normalized
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


def draw_norm_axes(batch: int = 4, channels: int = 6, positions: int = 4,
                   groups: int = 3) -> Figure:
    """Which values share one mean and variance in batch, layer, instance and group norm,
    drawn as Wu & He (2018, Figure 2) do: a (N, C, H*W) block with the shared values shaded.

    The four differ only in this choice, so one picture per method says more than formulas.
    """
    if groups < 1 or channels % groups:
        raise ValueError(f"channels ({channels}) must be a multiple of groups ({groups})")
    shape = (batch, channels, positions)
    n, c, _ = np.indices(shape)
    picks = {"Batch norm": c == 1, "Layer norm": n == 1,
             "Instance norm": (n == 1) & (c == 1),
             f"Group norm ({groups} groups)": (n == 1) & (c // (channels // groups) == 0)}
    fig = plt.figure(figsize=(12, 3.6))
    for i, (title, mask) in enumerate(picks.items()):
        ax = fig.add_subplot(1, 4, i + 1, projection="3d")
        colors = np.where(mask, "#f6b26b", "#e8e8e8")
        ax.voxels(np.ones(shape, bool), facecolors=colors, edgecolor="grey", linewidth=0.3)
        ax.set_title(f"{title}\n{int(mask.sum())} values share a mean", fontsize=10)
        ax.set(xlabel="N", ylabel="C", zlabel="H, W", xticks=[], yticks=[], zticks=[])
        ax.view_init(elev=22, azim=-58)
    return fig


# ---------------------------------------------------------------------------------------------
# Why residual: nested function classes, and the ResNet-18 architecture


def _function_classes(n: int, nested: bool) -> tuple[list[tuple[float, float, float]],
                                                        tuple[float, float]]:
    """Circles ``(x, y, r)`` for the classes F1..Fn and the point f*, before x is stretched.

    Nested: each center moves towards f* by 0.6 of what the radius grows, so every circle
    contains the one before (``|c_i - c_(i-1)| + r_(i-1) <= r_i``) and the gap to f* shrinks
    with every class. Non-nested: the radii grow the same way, but the centers swing around f*
    and the gap is smallest for a middle class, so the largest class ends farther from f*.
    """
    radii = [0.4 + 1.6 * i / (n - 1) for i in range(n)]
    if nested:
        ux, uy = 2 / 5 ** 0.5, 1 / 5 ** 0.5  # the direction from F1 towards f*
        step = 0.6 * (radii[1] - radii[0])
        centers = [(i * step * ux, i * step * uy) for i in range(n)]
        reach = (n - 1) * step + radii[-1] + 0.25  # f* sits just outside the largest class
        return [(x, y, r) for (x, y), r in zip(centers, radii)], (reach * ux, reach * uy)
    circles = []
    for i, r in enumerate(radii):
        t = i / (n - 1)
        gap = 0.1 + 3.5 * (t - 0.4) ** 2
        angle = math.radians(80 + 190 * t)  # swing from above f*, round its left, to below
        circles.append(((r + gap) * math.cos(angle), (r + gap) * math.sin(angle), r))
    return circles, (0.0, 0.0)


def draw_nested_function_classes(n: int = 6) -> Figure:
    """Function classes F1..Fn, non-nested and nested, and the truth f* (d2l's Fig. 7.6.1).

    The argument for residual blocks in one picture: a bigger network is a bigger class of
    functions, but unless it contains the smaller one (nested classes) "bigger" can mean
    *farther* from f*. Left, each class is larger than the last yet Fn ends farther from f*
    than a middle class; right, each class contains the last, so the distance to f* (dashed)
    can only shrink. Classes are ellipses (circles stretched in x); the panels share the radii.
    """
    if isinstance(n, bool) or not isinstance(n, int) or not 2 <= n <= 12:
        raise ValueError(f"n is the number of function classes to draw, an int from 2 to 12 "
                         f"(a picture with more is unreadable), got {n!r}")
    from matplotlib.patches import Ellipse

    stretch = 1.4
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    colors = plt.get_cmap("viridis")([0.15 + 0.7 * i / (n - 1) for i in range(n)])
    titles = ("Non-nested function classes:\na larger class can be farther from $f^*$",
              "Nested function classes:\neach contains the last, so it is never farther")
    for ax, nested, title in zip(axes, (False, True), titles):
        circles, (fx, fy) = _function_classes(n, nested)
        for i, ((x, y, r), color) in enumerate(zip(circles, colors), start=1):
            ax.add_patch(Ellipse((x * stretch, y), 2 * r * stretch, 2 * r, facecolor=color,
                                 alpha=0.1, edgecolor=color, linewidth=1.8))
            # Nested classes share their middle, so their labels go under the top edge.
            ax.text(x * stretch, y + r - 0.17 if nested else y, rf"$\mathcal{{F}}_{{{i}}}$",
                    ha="center", va="center", fontsize=11, color=color)
        # Dashed: from f* to the nearest point of the largest class and, where another class
        # comes nearer, of that one too. In the circle frame the nearest point of a class lies
        # on the line from f* to its center.
        gaps = [math.hypot(fx - x, fy - y) - r for x, y, r in circles]
        for k in {n - 1, gaps.index(min(gaps))}:
            x, y, r = circles[k]
            d = math.hypot(fx - x, fy - y)
            near = (x + r * (fx - x) / d, y + r * (fy - y) / d)
            ax.plot([fx * stretch, near[0] * stretch], [fy, near[1]], "--", color="black",
                    lw=1)
        ax.plot([fx * stretch], [fy], marker="*", markersize=16, color="#cc0000")
        ax.text(fx * stretch + 0.15, fy + 0.15, "$f^*$", fontsize=13, color="#cc0000")
        xs = [c[0] * stretch + s * c[2] * stretch for c in circles for s in (-1, 1)]
        ys = [c[1] + s * c[2] for c in circles for s in (-1, 1)]
        ax.set_xlim(min(xs + [fx * stretch]) - 0.3, max(xs + [fx * stretch]) + 0.6)
        ax.set_ylim(min(ys + [fy]) - 0.3, max(ys + [fy]) + 0.3)
        ax.set_aspect("equal")
        ax.set_title(title, fontsize=11)
        ax.axis("off")
    fig.tight_layout()
    return fig


_ARCH_COLORS = {"stem": "#cfe2f3", "block": "#d9ead3", "head": "#fce5cd"}


def _arch_box(ax, y: float, text: str, kind: str, width: float = 4.6) -> None:
    ax.add_patch(FancyBboxPatch((-width / 2, y - 0.27), width, 0.54,
                                boxstyle="round,pad=0.02,rounding_size=0.1",
                                facecolor=_ARCH_COLORS[kind], edgecolor="black", linewidth=1))
    ax.text(0, y, text, ha="center", va="center", fontsize=9)


def _shape_text(shape: Sequence[int]) -> str:
    return " × ".join(str(int(s)) for s in shape[1:])  # without the batch dimension


def draw_resnet18(shapes: pd.DataFrame, input_shape: Sequence[int] | None = None,
                  blocks_per_stage: Sequence[int] = (2, 2, 2, 2)) -> Figure:
    """ResNet-18 top to bottom, every output shape read from ``shapes``, none typed in.

    ``shapes`` is the table ``models.layer_shapes(net, X)`` returns for the notes' ResNet-18:
    rows stem, b2..b5, global average pool, flatten, linear. The figure draws one box for the
    stem, one per residual block (``blocks_per_stage``: the table has one row per stage, so the
    number of blocks inside cannot be read from it), one for the pool and one for the dense
    layer, 3 + sum(blocks_per_stage) boxes, and writes each stage's output shape (channels ×
    height × width) beside it. Whether a stage's first block needs the 1x1 shortcut, and its
    stride, also come from the shapes: the shortcut is needed exactly when the shape changes.
    ``input_shape`` (the shape of ``X``) labels the input; the table does not hold it.
    """
    missing = {"stage", "output shape"} - set(getattr(shapes, "columns", ()))
    if missing:
        raise ValueError(f"draw_resnet18 needs the table models.layer_shapes(net, X) returns; "
                         f"got {type(shapes).__name__} without the column(s) {sorted(missing)}")
    rows = list(zip(shapes["stage"], shapes["output shape"]))
    if len(rows) != 8:
        raise ValueError(f"expected the 8 rows of the notes' ResNet-18 (stem, b2..b5, pool, "
                         f"flatten, linear), got {len(rows)}: is net built by models.resnet18?")
    for name, shape in rows[:6]:
        if len(shape) != 4:
            raise ValueError(f"stage {name!r}: expected a 4-d output shape (batch, channels, "
                             f"height, width), got {tuple(shape)}")
    for name, shape in rows[6:]:
        if len(shape) != 2:
            raise ValueError(f"stage {name!r}: expected a 2-d output shape (batch, features) "
                             f"after flatten and the linear layer, got {tuple(shape)}")
    blocks = tuple(blocks_per_stage)
    if len(blocks) != 4 or any(isinstance(b, bool) or not isinstance(b, int) or b < 1
                               for b in blocks):
        raise ValueError(f"blocks_per_stage: 4 positive ints, one per stage b2..b5, got {blocks}")
    if input_shape is not None and len(input_shape) != 4:
        raise ValueError(f"input_shape: the (batch, channels, height, width) of X, got "
                         f"{tuple(input_shape)}")

    # Each drawn item: (y, half height) for the arrows between consecutive items.
    items: list[tuple[float, float]] = []
    fig, ax = plt.subplots(figsize=(7.6, 0.5 * (5 + sum(blocks)) + 0.4))

    def add(text: str, kind: str | None = None) -> float:
        y = -0.8 * len(items)
        if kind is None:
            ax.text(0, y, text, ha="center", va="center", fontsize=10)
        else:
            _arch_box(ax, y, text, kind)
        items.append((y, 0.15 if kind is None else 0.27))
        return y

    def shape_label(y: float, shape: Sequence[int]) -> None:
        ax.text(2.55, y, _shape_text(shape), ha="left", va="center", fontsize=10, gid="shape")

    add("input image" + (f"  {_shape_text(input_shape)}" if input_shape is not None else ""))
    y = add("stem: 7×7 conv, BN, ReLU, 3×3 max-pool", "stem")
    ax.text(-2.6, y, str(rows[0][0]), ha="right", va="center", fontsize=10)
    shape_label(y, rows[0][1])
    previous = rows[0][1]
    for (name, shape), count in zip(rows[1:5], blocks):
        ys = []
        for i in range(count):
            if i == 0 and tuple(shape[1:]) != tuple(previous[1:]):
                stride = -(-int(previous[2]) // int(shape[2]))  # ceil: 7x7 -> 4x4 is stride 2
                text = f"residual block, {shape[1]} ch, 1×1 shortcut, stride {stride}"
            else:
                text = f"residual block, {shape[1]} ch, identity shortcut"
            ys.append(add(text, "block"))
        top, bottom = ys[0] + 0.27, ys[-1] - 0.27
        ax.plot([-2.4, -2.47, -2.47, -2.4], [top, top, bottom, bottom], color="gray", lw=1)
        ax.text(-2.6, (ys[0] + ys[-1]) / 2, str(name), ha="right", va="center", fontsize=10)
        shape_label((ys[0] + ys[-1]) / 2, shape)
        previous = shape
    shape_label(add("global average pool", "head"), rows[5][1])
    shape_label(add(f"dense: {rows[6][1][1]} → {rows[7][1][1]}", "head"), rows[7][1])
    add(f"{rows[7][1][1]} class scores")
    for (y0, h0), (y1, h1) in zip(items, items[1:]):
        _arrow(ax, (0, y0 - h0), (0, y1 + h1))
    ax.set_xlim(-3.6, 4.6)
    ax.set_ylim(items[-1][0] - 0.4, 0.4)
    ax.axis("off")
    fig.tight_layout()
    return fig
