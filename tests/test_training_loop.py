"""The training loop written out in "Training ResNet-18 on Fashion-MNIST" is the package's.

The chapter writes the notes' epoch loop out (forward, loss, backward, step, metrics) and an
evaluation loop, and claims that they compute what ``train_ch6`` computes. Here the cell is
taken from the notebook by its marker, executed, and compared with ``train.train_epoch`` and
``train.evaluate_loss_accuracy`` on real Fashion-MNIST (a small subset, CPU, float32, fixed
seed): the same losses, accuracies and weights over two epochs, with and without momentum.
Broken copies of the loop (no ``zero_grad``, training in evaluation mode, a wrong metric, ...)
must fail the same comparison, so that it is known to be able to fail.
"""
import json

import pytest
import torch
from torch import nn

from d2lnotes import data, models, train
from d2lnotes.recipe import init_weights
from helpers.verdicts import notebook

MARKER = "# The training loop, written out"
CPU = torch.device("cpu")


def loop_source() -> str:
    cells = json.loads(notebook("train_resnet18").read_text())["cells"]
    found = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"
             and "".join(c["source"]).startswith(MARKER)]
    assert len(found) == 1, f"expected one code cell starting with {MARKER!r}, found {len(found)}"
    return found[0]


def load_loop(source: str):
    namespace = {"torch": torch}
    exec(compile(source, "train_resnet18.ipynb[loop]", "exec"), namespace)
    return namespace["train_epoch_by_hand"], namespace["evaluate_by_hand"]


def package_loop():
    return ((lambda net, it, loss_fn, opt, device:
             train.train_epoch(net, it, loss_fn, opt, device)),
            (lambda net, it, loss_fn, device:
             train.evaluate_loss_accuracy(net, it, loss_fn, device)))


@pytest.fixture(scope="module")
def loaders(fmnist_root):
    return data.load_data_fashion_mnist(32, train_size=160, test_size=96, device="cpu",
                                        seed=0)


def run(loop, loaders, make_net, momentum, epochs=2):
    """Per-epoch (train loss, train acc, test loss, test acc) and the final weights."""
    train_epoch, evaluate = loop
    train_iter, test_iter = loaders
    torch.manual_seed(0)
    net = make_net()
    net.apply(init_weights)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.05, momentum=momentum)
    loss_fn = nn.CrossEntropyLoss()
    history = []
    for epoch in range(epochs):
        train_iter.set_epoch(epoch)
        history.append((*train_epoch(net, train_iter, loss_fn, optimizer, CPU),
                        *evaluate(net, test_iter, loss_fn, CPU)))
    return history, {k: v.clone() for k, v in net.state_dict().items()}


def same(a, b) -> bool:
    (hist_a, weights_a), (hist_b, weights_b) = a, b
    return hist_a == hist_b and all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)


def lenet():
    return models.lenet(batch_norm=True)  # BN: training and evaluation mode differ


@pytest.fixture(scope="module")
def package_lenet(loaders):
    return {m: run(package_loop(), loaders, lenet, m) for m in (0.0, 0.9)}


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_the_chapters_loop_is_the_packages(loaders, package_lenet, momentum):
    mine = run(load_loop(loop_source()), loaders, lenet, momentum)
    assert mine[0] == package_lenet[momentum][0]  # losses and accuracies, exactly
    assert same(mine, package_lenet[momentum])  # and every weight and BN statistic


def test_the_chapters_loop_is_the_packages_on_resnet18(fmnist_root):
    tiny = data.load_data_fashion_mnist(16, train_size=32, test_size=32, device="cpu",
                                        seed=0)
    mine = run(load_loop(loop_source()), tiny, models.resnet18, 0.0)
    assert same(mine, run(package_loop(), tiny, models.resnet18, 0.0))


def _swap(a: str, b: str):
    """Exchange the lines holding ``a`` and ``b`` (each exactly once in the loop)."""
    def edit(source: str) -> str:
        lines = source.splitlines()
        i, j = ([k for k, line in enumerate(lines) if needle in line] for needle in (a, b))
        assert len(i) == len(j) == 1, f"the loop changed: {a!r}, {b!r} not there once each"
        lines[i[0]], lines[j[0]] = lines[j[0]], lines[i[0]]
        return "\n".join(lines)
    return edit


def _replace(old: str, new: str):
    def edit(source: str) -> str:
        assert source.count(old) == 1, f"the loop changed: {old!r} is not in it once"
        return source.replace(old, new)
    return edit


BROKEN = {
    "no zero_grad": _replace("optimizer.zero_grad(set_to_none=True)", "pass"),
    "trains in evaluation mode": _replace("    net.train()", "    net.eval()"),
    "evaluates in training mode": _replace("    net.eval()", "    net.train()"),
    "loss summed without the batch size": _replace("loss_sum += loss.detach() * len(y)",
                                                   "loss_sum += loss.detach()"),
    "averages over batches, not images": _replace("  # right answers\n        n += len(y)",
                                                  "  # right answers\n        n += 1"),
    "step before backward": _swap("loss.backward()", "optimizer.step()"),
}


@pytest.mark.parametrize("name", BROKEN)
def test_the_comparison_catches_a_broken_loop(loaders, package_lenet, name):
    broken = run(load_loop(BROKEN[name](loop_source())), loaders, lenet, 0.9)
    assert not same(broken, package_lenet[0.9]), f"a loop that {name} passed the comparison"
