"""The book's drawn figures: the right number of boxes and labels, and every number drawn comes
from the argument (change the input, and the labels change), not from the drawing code."""
import math
import re

import matplotlib.pyplot as plt
import pandas as pd
import pytest
import torch
from matplotlib.patches import Ellipse, FancyBboxPatch

from d2lnotes import models, plot

CLASS_LABEL = re.compile(r"mathcal\{F\}_\{(\d+)\}")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def net():
    return models.resnet18()


def _shapes(net, size):
    return models.layer_shapes(net, torch.rand(1, 1, size, size))


def _shape_labels(fig):
    return [t.get_text() for t in fig.axes[0].texts if t.get_gid() == "shape"]


def _boxes(fig):
    return [p for p in fig.axes[0].patches if isinstance(p, FancyBboxPatch)]


# --- nested function classes ---------------------------------------------------------------

def _classes(ax):
    """(x, y, r) of each class in the frame where the ellipses are circles, and f*."""
    ellipses = [p for p in ax.patches if isinstance(p, Ellipse)]
    stretch = ellipses[0].width / ellipses[0].height
    circles = [(e.center[0] / stretch, e.center[1], e.height / 2) for e in ellipses]
    star = next(line for line in ax.lines if line.get_marker() == "*")
    fx, fy = star.get_xdata()[0] / stretch, star.get_ydata()[0]
    return circles, (fx, fy)


def _gap(circle, point):
    x, y, r = circle
    return math.hypot(point[0] - x, point[1] - y) - r


@pytest.mark.parametrize("n", [2, 6, 9])
def test_function_classes_draw_n_labeled_classes_per_panel(n):
    fig = plot.draw_nested_function_classes(n)
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert len([p for p in ax.patches if isinstance(p, Ellipse)]) == n
        labels = [int(m.group(1)) for t in ax.texts if (m := CLASS_LABEL.search(t.get_text()))]
        assert labels == list(range(1, n + 1))
        assert sum("f^*" in t.get_text() for t in ax.texts) == 1


@pytest.mark.parametrize("n", [2, 6, 9])
def test_nested_classes_contain_each_other_and_approach_f_star(n):
    circles, star = _classes(plot.draw_nested_function_classes(n).axes[1])
    for (x0, y0, r0), (x1, y1, r1) in zip(circles, circles[1:]):
        assert math.hypot(x1 - x0, y1 - y0) + r0 <= r1 + 1e-9  # F_i inside F_(i+1)
    gaps = [_gap(c, star) for c in circles]
    assert all(a > b for a, b in zip(gaps, gaps[1:]))


@pytest.mark.parametrize("n", [3, 6, 9])
def test_non_nested_largest_class_is_farther_than_a_smaller_one(n):
    circles, star = _classes(plot.draw_nested_function_classes(n).axes[0])
    assert [c[2] for c in circles] == sorted(c[2] for c in circles)  # each class is larger
    gaps = [_gap(c, star) for c in circles]
    assert gaps[-1] > min(gaps[:-1])
    contained = [math.hypot(x1 - x0, y1 - y0) + r0 <= r1
                 for (x0, y0, r0), (x1, y1, r1) in zip(circles, circles[1:])]
    assert not any(contained)


@pytest.mark.parametrize("bad", [1, 0, 13, 2.5, "6", True])
def test_function_classes_reject_a_bad_count(bad):
    with pytest.raises(ValueError, match="number of function classes"):
        plot.draw_nested_function_classes(bad)


# --- ResNet-18 architecture ------------------------------------------------------------------

def test_resnet18_has_a_box_per_layer_and_a_shape_per_stage(net):
    fig = plot.draw_resnet18(_shapes(net, 224), input_shape=(1, 1, 224, 224))
    assert len(_boxes(fig)) == 1 + 8 + 2  # stem, 4 stages x 2 blocks, pool, dense
    assert _shape_labels(fig) == ["64 × 56 × 56", "64 × 56 × 56", "128 × 28 × 28",
                                  "256 × 14 × 14", "512 × 7 × 7", "512 × 1 × 1", "10"]
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert "input image  1 × 224 × 224" in texts
    assert sum("1×1 shortcut, stride 2" in t for t in texts) == 3  # b3, b4, b5 downsample
    assert "dense: 512 → 10" in texts


def test_resnet18_labels_follow_the_input(net):
    at_224 = _shape_labels(plot.draw_resnet18(_shapes(net, 224)))
    at_96 = _shape_labels(plot.draw_resnet18(_shapes(net, 96)))
    assert at_96 == ["64 × 24 × 24", "64 × 24 × 24", "128 × 12 × 12", "256 × 6 × 6",
                     "512 × 3 × 3", "512 × 1 × 1", "10"]
    assert at_96 != at_224
    other = models.resnet18(num_classes=7)
    texts = [t.get_text() for t in plot.draw_resnet18(_shapes(other, 64)).axes[0].texts]
    assert "dense: 512 → 7" in texts and "7 class scores" in texts


def test_resnet18_draws_exactly_the_table_it_is_given():
    """A made-up table: every label is the table's, so nothing is typed into the drawing."""
    shapes = pd.DataFrame({
        "stage": ["s1", "s2", "s3", "s4", "s5", "pool", "flat", "fc"],
        "output shape": [(1, 3, 40, 40), (1, 5, 40, 40), (1, 6, 13, 13), (1, 6, 13, 13),
                         (1, 9, 5, 5), (1, 9, 1, 1), (1, 9), (1, 4)]})
    fig = plot.draw_resnet18(shapes, blocks_per_stage=(1, 3, 2, 1))
    assert len(_boxes(fig)) == 3 + 7
    assert _shape_labels(fig) == ["3 × 40 × 40", "5 × 40 × 40", "6 × 13 × 13", "6 × 13 × 13",
                                  "9 × 5 × 5", "9 × 1 × 1", "4"]
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert {"s1", "s2", "s3", "s4", "s5"} <= set(texts)
    assert "residual block, 5 ch, 1×1 shortcut, stride 1" in texts  # channels change only
    assert "residual block, 6 ch, 1×1 shortcut, stride 4" in texts  # ceil(40 / 13)
    assert "residual block, 6 ch, identity shortcut" in texts  # s4 keeps s3's shape
    assert "dense: 9 → 4" in texts


def test_resnet18_rejects_bad_input(net):
    table = _shapes(net, 64)
    with pytest.raises(ValueError, match=r"models.layer_shapes.*'output shape'"):
        plot.draw_resnet18(table.drop(columns="output shape"))
    with pytest.raises(ValueError, match="models.layer_shapes"):
        plot.draw_resnet18([(1, 64, 16, 16)])
    with pytest.raises(ValueError, match="8 rows"):
        plot.draw_resnet18(table.iloc[:5])
    bad = table.copy()
    bad.at[2, "output shape"] = (1, 128, 8)
    with pytest.raises(ValueError, match="stage 'b3': expected a 4-d output shape"):
        plot.draw_resnet18(bad)
    with pytest.raises(ValueError, match="blocks_per_stage"):
        plot.draw_resnet18(table, blocks_per_stage=(2, 2, 2))
    with pytest.raises(ValueError, match="blocks_per_stage"):
        plot.draw_resnet18(table, blocks_per_stage=(2, 0, 2, 2))
    with pytest.raises(ValueError, match="input_shape"):
        plot.draw_resnet18(table, input_shape=(64, 64))
