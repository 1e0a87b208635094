"""The package's shape: one concern per module, imports flowing one way, the notes' names.

These guard the promises of ``d2lnotes/__init__.py``: every module short enough to read in one
sitting, each importing only modules before it in the documented order (no back-and-forth),
and the notes' own training script running unchanged with ``d2lnotes.tools`` as its ``tools``.
"""
import ast
import runpy
import sys
import types
from pathlib import Path

import pandas as pd
import pytest

import d2lnotes

PACKAGE = Path(d2lnotes.__file__).parent
ORDER = ["device", "dist", "settings", "stats", "data", "bn", "norm", "plot", "models", "recipe", "runs",
         "train", "widgets", "cli", "tools"]
SEED_SCRIPT = Path(__file__).parent / "seed_script"


def _internal_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return found


def test_every_module_is_in_the_documented_order():
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    assert modules == set(ORDER)
    for name in ORDER:
        assert f"``{name}``" in d2lnotes.__doc__, name


@pytest.mark.parametrize("name", ORDER)
def test_imports_flow_one_way(name):
    earlier = set(ORDER[:ORDER.index(name)])
    later = _internal_imports(PACKAGE / f"{name}.py") - earlier
    assert not later, f"{name} imports {sorted(later)}, which come after it"


@pytest.mark.parametrize("name", ORDER)
def test_modules_are_readable_in_one_sitting(name):
    lines = len((PACKAGE / f"{name}.py").read_text().splitlines())
    assert lines <= 400, f"{name}.py has {lines} lines"


def test_tools_has_every_name_of_the_notes_tools_module():
    from d2lnotes import tools

    seed_names = {"Timer", "Accumulator", "accuracy", "argmax", "astype", "reduce_sum",
                  "train_epoch", "train_epoch_gpu", "evalution_loss_accuracy",
                  "evalution_loss_accuracy_gpu", "matplot_acc_loss", "gpu", "cpu", "num_gpus",
                  "try_gpu", "train_ch6"}
    assert seed_names <= set(tools.__all__)
    timer = tools.Timer()
    timer.stop()
    timer.stop()
    assert len(timer.cumsum()) == 2 and timer.sum() >= timer.avg() >= 0


def test_the_notes_script_runs_unchanged_with_our_tools(fmnist_root, monkeypatch, capsys):
    """tests/seed_script/train.py is the notes' script as published. ``tools`` is
    d2lnotes.tools; ``d2l.load_data_fashion_mnist`` is ours on 512/256 images at 28 px (the
    script asks for all the data at 224 px, hours on a CPU); everything else is the script's."""
    from d2lnotes import data, tools

    def load(batch_size, resize=None):
        return data.load_data_fashion_mnist(batch_size, train_size=512, test_size=256, seed=0)

    d2l = types.ModuleType("d2l")
    d2l.torch = types.SimpleNamespace(load_data_fashion_mnist=load)
    monkeypatch.setitem(sys.modules, "d2l", d2l)
    monkeypatch.setitem(sys.modules, "d2l.torch", d2l.torch)
    monkeypatch.setitem(sys.modules, "tools", tools)
    monkeypatch.delitem(sys.modules, "model", raising=False)
    monkeypatch.syspath_prepend(str(SEED_SCRIPT))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    result = runpy.run_path(str(SEED_SCRIPT / "train.py"), run_name="__main__")
    history = result["train_process"]
    assert isinstance(history, pd.DataFrame) and len(history) == 10
    assert {"epoch", "train_loss_all", "val_loss_all", "train_acc_all",
            "val_acc_all"} <= set(history.columns)
    assert history["train_loss_all"].iloc[-1] < history["train_loss_all"].iloc[0]
    out = capsys.readouterr().out
    assert "Linear output shape:\t torch.Size([1, 10])" in out
    assert "training on cpu" in out and "9 val loss:" in out


def test_tools_epoch_functions_keep_the_notes_signatures(fmnist_root):
    import torch

    from d2lnotes import data, models, tools

    train_iter, test_iter = data.load_data_fashion_mnist(64, train_size=128, test_size=64,
                                                         seed=0)
    torch.manual_seed(0)
    net = models.lenet()
    loss = torch.nn.CrossEntropyLoss()
    trainer = torch.optim.SGD(net.parameters(), lr=0.5)
    for fn, args in ((tools.train_epoch, ()), (tools.train_epoch_gpu, ("cpu",))):
        train_loss, train_acc = fn(net, train_iter, loss, trainer, *args)
        assert train_loss > 0 and 0 <= train_acc <= 1
    l1, a1 = tools.evalution_loss_accuracy(net, test_iter, loss)
    l2, a2 = tools.evalution_loss_accuracy_gpu(net, test_iter, loss)
    assert (l1, a1) == pytest.approx((l2, a2))

    # d2l's from-scratch updater: a function of the batch size, after l.sum().backward()
    params = list(net.parameters())

    def sgd(batch_size):
        with torch.no_grad():
            for p in params:
                p -= 0.1 * p.grad / batch_size
                p.grad.zero_()

    per_example = torch.nn.CrossEntropyLoss(reduction="none")
    train_loss, train_acc = tools.train_epoch(net, train_iter, per_example, sgd)
    assert train_loss > 0 and 0 <= train_acc <= 1
