"""The batch-norm explorer: the numbers it plots, its figure, and its sliders."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from d2lnotes import widgets  # noqa: E402
from d2lnotes.widgets import bn_explorer, bn_explorer_data, bn_explorer_figure  # noqa: E402


def test_figure_has_two_panels():
    fig = bn_explorer_figure()
    try:
        assert len(fig.axes) == 2
        hist_ax, run_ax = fig.axes
        assert len(hist_ax.patches) > 0  # the histogram bars
        assert "momentum=0.1" in run_ax.get_title()
        assert len(run_ax.lines[0].get_xdata()) == 101  # the initial state plus 100 steps
    finally:
        plt.close(fig)


@pytest.mark.parametrize("gamma, beta", [(1.0, 0.0), (2.5, -1.0), (0.5, 4.0)])
def test_after_bn_has_mean_beta_and_std_gamma(gamma, beta):
    d = bn_explorer_data(batch_size=64, gamma=gamma, beta=beta, shift=-7.0, scale=5.0)
    assert d.before.shape == d.after.shape == (64,)
    assert abs(d.before.mean().item() - beta) > 1  # the input really was elsewhere
    assert d.after.mean().item() == pytest.approx(beta, abs=1e-6)
    assert d.after.std(unbiased=False).item() == pytest.approx(gamma, rel=1e-5)


def test_eps_matters_only_for_tiny_batch_variance():
    wide = bn_explorer_data(eps=1e-2, scale=2.0)
    tiny = bn_explorer_data(eps=1e-2, scale=1e-2)
    assert wide.after.std(unbiased=False).item() == pytest.approx(1.0, rel=1e-2)
    assert tiny.after.std(unbiased=False).item() < 0.3  # var ~1e-4 << eps: output shrinks


def test_first_step_follows_the_momentum_update():
    d = bn_explorer_data(batch_size=8, momentum=0.25)
    assert d.running_mean[0].item() == 0.0 and d.running_var[0].item() == 1.0
    assert d.running_mean[1].item() == pytest.approx(0.25 * d.before.mean().item())
    assert d.running_var[1].item() == pytest.approx(0.75 + 0.25 * d.before.var().item())


def test_running_estimates_approach_the_population():
    d = bn_explorer_data(batch_size=128, shift=3.0, scale=2.0, steps=200, momentum=0.1)
    assert d.running_mean.shape == d.running_var.shape == (201,)
    # Starting from 0 and 1, a module that never updated would be off by 3.
    assert d.running_mean[-1].item() == pytest.approx(3.0, abs=0.3)
    assert d.running_var[-1].item() == pytest.approx(4.0, abs=0.6)


def test_smaller_momentum_converges_more_slowly():
    fast = bn_explorer_data(steps=20, momentum=0.5)
    slow = bn_explorer_data(steps=20, momentum=0.05)
    assert abs(fast.running_mean[-1].item() - 3.0) < 0.5
    assert abs(slow.running_mean[-1].item() - 3.0) > 1.0  # 0.95**20 of the gap is left


def test_deterministic_per_seed():
    a, b, c = bn_explorer_data(seed=1), bn_explorer_data(seed=1), bn_explorer_data(seed=2)
    for x, y in zip(a, b):
        assert torch.equal(x, y)
    assert not torch.equal(a.before, c.before)
    assert not torch.equal(a.running_mean, c.running_mean)


@pytest.mark.parametrize("kwargs, match", [
    (dict(batch_size=1), "batch_size"), (dict(batch_size=0), "batch_size"),
    (dict(eps=0.0), "eps"), (dict(eps=-1e-5), "eps"),
    (dict(scale=0.0), "scale"), (dict(scale=-2.0), "scale"),
    (dict(steps=0), "steps"),
    (dict(momentum=0.0), "momentum"), (dict(momentum=1.5), "momentum"),
])
def test_invalid_arguments_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        bn_explorer_figure(**kwargs)


def _value_widgets(widget):
    """Every widget under ``widget`` that has a description, by description."""
    found = {}
    for child in getattr(widget, "children", ()):
        found.update(_value_widgets(child))
    if getattr(widget, "description", ""):
        found[widget.description] = widget
    return found


def test_explorer_sliders_start_at_the_defaults():
    pytest.importorskip("ipywidgets")
    import ipywidgets

    box = bn_explorer()
    assert isinstance(box, ipywidgets.Widget)
    sliders = _value_widgets(box)
    assert len(sliders) == 8
    assert sliders["batch size"].value == 32
    assert sliders["gamma (γ)"].value == 1.0
    assert sliders["beta (β)"].value == 0.0
    assert sliders["eps (ε)"].value == pytest.approx(1e-5)
    assert sliders["input mean"].value == 3.0
    assert sliders["input std"].value == 2.0
    assert sliders["steps"].value == 100
    assert sliders["momentum"].value == pytest.approx(0.1)


def test_explorer_redraws_on_change_without_leaking_figures(monkeypatch):
    pytest.importorskip("ipywidgets")
    import ipywidgets

    calls = []
    real = widgets.bn_explorer_figure
    monkeypatch.setattr(widgets, "bn_explorer_figure",
                        lambda **kw: calls.append(kw) or real(**kw))
    open_before = set(plt.get_fignums())
    box = bn_explorer()
    image = next(w for w in box.children if isinstance(w, ipywidgets.Image))
    first = bytes(image.value)  # ipywidgets may hand back a memoryview
    assert first.startswith(b"\x89PNG") and len(calls) == 1

    sliders = _value_widgets(box)
    sliders["batch size"].value = 4
    sliders["gamma (γ)"].value = 2.0
    assert len(calls) == 3
    assert calls[-1]["batch_size"] == 4 and calls[-1]["gamma"] == 2.0
    assert bytes(image.value).startswith(b"\x89PNG") and bytes(image.value) != first
    assert set(plt.get_fignums()) == open_before  # each redraw closed its figure


def test_import_does_not_need_ipywidgets(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_ipywidgets(name, *args, **kwargs):
        if name.startswith("ipywidgets"):
            raise ImportError("No module named 'ipywidgets'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_ipywidgets)
    with pytest.raises(ImportError, match="pip install ipywidgets"):
        bn_explorer()
