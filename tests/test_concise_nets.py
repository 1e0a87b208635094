"""The concise BN-LeNet written out in "Batch normalization from scratch" is the package's.

The chapter shows d2l's concise implementation as an explicit ``nn.Sequential`` of PyTorch's
layers; the book's other chapters build it with ``d2lnotes.models.lenet(batch_norm=True)``.
These tests take the chapter's cell (found by its marker comment), run it, and check that the
two are the same network: the same layers (repr), the same state (keys and shapes), and the
same function (outputs for the same seed and input, in both modes). Nets that differ on
purpose show that the comparison catches a difference.
"""
import json
from pathlib import Path

import pytest
import torch
from torch import nn

from d2lnotes import bn, models

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "bn" / "bn_scratch.ipynb"
MARKER = "# The concise BN-LeNet"


def concise_cell() -> str:
    """The source of the one code cell that carries the marker."""
    found = []
    for cell in json.loads(NOTEBOOK.read_text())["cells"]:
        source = cell["source"]
        source = "".join(source) if isinstance(source, list) else source
        if cell["cell_type"] == "code" and MARKER in source:
            found.append(source)
    assert len(found) == 1, f"expected one code cell marked {MARKER!r}, found {len(found)}"
    return found[0]


def run_cell(source: str):
    """Run the cell as the chapter does (with torch and nn imported); its ``bn_lenet``."""
    namespace = {"torch": torch, "nn": nn}
    exec(compile(source, f"{NOTEBOOK.name}[concise BN-LeNet]", "exec"), namespace)
    return namespace["bn_lenet"]


def build(make, seed=0) -> nn.Module:
    torch.manual_seed(seed)
    return make()


def shapes(net) -> dict:
    return {k: tuple(v.shape) for k, v in net.state_dict().items()}


def outputs(net, X) -> dict:
    """Outputs in training mode (one step, which moves the running statistics), then in
    prediction mode."""
    with torch.no_grad():
        net.train()
        train_out = net(X)
        net.eval()
        return {"train": train_out, "eval": net(X)}


def differences(make, make_ref, seed=0) -> list[str]:
    """How the nets that ``make()`` and ``make_ref()`` build after the same seed differ: []
    when they are the same network."""
    net, ref = build(make, seed), build(make_ref, seed)
    found = []
    if repr(net) != repr(ref):
        found.append("layers (repr)")
    if shapes(net) != shapes(ref):
        found.append("state_dict keys or shapes")
    elif not all(torch.equal(a, b) for a, b in
                 zip(net.state_dict().values(), ref.state_dict().values())):
        found.append("initial state")
    X = torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    try:
        ours, theirs = outputs(net, X), outputs(ref, X)
    except RuntimeError:
        return found + ["outputs (one of them fails)"]
    for mode in ("train", "eval"):
        if ours[mode].shape != theirs[mode].shape or not torch.equal(ours[mode], theirs[mode]):
            found.append(f"outputs ({mode})")
    return found


def reference():
    return models.lenet(batch_norm=True)


def test_the_cell_is_an_explicit_sequential_of_pytorch_layers():
    source = concise_cell()
    assert "nn.Sequential(" in source
    assert source.count("nn.BatchNorm2d(") == 2 and source.count("nn.BatchNorm1d(") == 2
    net = run_cell(source)()
    assert isinstance(net, nn.Sequential)


def test_same_layers():
    assert repr(build(run_cell(concise_cell()))) == repr(build(reference))


def test_same_state_dict_keys_and_shapes():
    net, ref = build(run_cell(concise_cell())), build(reference)
    assert list(net.state_dict()) == list(ref.state_dict())
    assert shapes(net) == shapes(ref)


def test_same_outputs_for_the_same_seed_and_input():
    net, ref = build(run_cell(concise_cell())), build(reference)
    X = torch.randn(8, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    ours, theirs = outputs(net, X), outputs(ref, X)
    assert ours["train"].shape == (8, 10)
    for mode in ("train", "eval"):
        assert torch.equal(ours[mode], theirs[mode]), mode


def test_no_differences_at_all():
    assert differences(run_cell(concise_cell()), reference) == []


def _bn_after_sigmoid():
    layers = list(models.lenet(batch_norm=True))
    for i in (1, 5, 10, 13):  # each BN swaps places with the sigmoid after it
        layers[i], layers[i + 1] = layers[i + 1], layers[i]
    return nn.Sequential(*layers)


def _edited_cell(old, new):
    source = concise_cell()
    assert old in source
    return run_cell(source.replace(old, new))


@pytest.mark.parametrize("make, expected", [
    (lambda: models.lenet(batch_norm=False), "layers (repr)"),
    (_bn_after_sigmoid, "layers (repr)"),
    (lambda: models.lenet(bn_layer=bn.BatchNorm), "layers (repr)"),
    (lambda: _edited_cell("nn.BatchNorm1d(84)", "nn.Identity()")(), "state_dict keys or shapes"),
    (lambda: _edited_cell("nn.BatchNorm2d(16)", "nn.BatchNorm2d(16, eps=1e-3)")(),
     "outputs (train)"),
], ids=["BN removed", "BN after the sigmoid", "from-scratch BN", "one BN dropped from the cell",
        "another eps"])
def test_a_different_net_is_caught(make, expected):
    assert expected in differences(make, reference)


def test_different_weights_are_caught():
    """Same layers, another seed: the state and the outputs differ, the repr does not."""
    found = differences(reference, lambda: build(reference, seed=1))
    assert "layers (repr)" not in found and "initial state" in found
    assert "outputs (train)" in found
