"""One epoch of ResNet-18 on Fashion-MNIST through three pipelines, side by side.

What is measured: the wall-clock of ``train_ch6(..., num_epochs)`` (training plus the evaluation
after each epoch) for the SAME network (``d2lnotes.models.resnet18()``, same initial weights,
same seed), the SAME data (the first ``--train-size``/``--test-size`` images of each split),
batch size, resize and device, through

* ``fast``:   ``d2lnotes.data.load_data_fashion_mnist(..., device=...)`` (the data lives on the
  device as uint8, batches are shuffled and resized there) + ``d2lnotes.train.train_ch6``;
* ``loader``: the same loader without ``device=`` (torch DataLoaders resizing whole batches in
  ``collate_fn``) + the same ``train_ch6``;
* ``d2l``:    the d2l package's own ``load_data_fashion_mnist`` (PIL resize per image in
  ``d2l.get_dataloader_workers()`` worker processes) and ``d2l.train_ch6``, unchanged except
  that its datasets are cut to the same first n images (``Subset``, d2l's DataLoader settings).

Why: the course claims its helper package trains the seed's model faster than d2l's loop with
the same accuracy; this script is the evidence, run on whatever machine you have. Every trained
net is scored by ``d2lnotes.train.evaluate_loss_accuracy`` on one common test loader, so the
accuracies are comparable. For the fast path it also reports the training step's achieved
TFLOP/s: FLOPs of one forward+backward per image (``FlopCounterMode``: convolutions and matmuls,
a multiply-add counts as 2) times the images/s of ``d2lnotes.train.measure_throughput``.
Building the loaders (reading the files, copying the data to the device) is not timed; starting
d2l's worker processes is, because d2l does that every epoch.

The results go to one folder (``--out``, default ``benchmarks/results/<date>-train_speed_<device>
_<resize>px``): ``result.json`` (every run, settings, provenance) and ``stdout.txt``; the
README's tables are built from those folders by ``benchmarks/report.py``.

Run (d2l must be installed, see benchmarks/README.md; ``--paths fast,loader`` works without it):

    python benchmarks/train_speed.py --resize 64 --train-size 2048 --test-size 1024   # CPU
    python benchmarks/train_speed.py --resize 224 --train-size 60000 --test-size 10000  # GPU
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import io
import os
import re
import shlex
import sys
import tempfile
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before d2l is imported: its Animator must not open windows
import torch  # noqa: E402
from torch.utils import data  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from d2lnotes import data as ddata  # noqa: E402
from d2lnotes import device as ddevice  # noqa: E402
from d2lnotes import train as dtrain  # noqa: E402
from d2lnotes.models import resnet18  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results_io import Result  # noqa: E402

PATHS = ("fast", "loader", "d2l")


def import_d2l():
    try:
        from d2l import torch as d2l
    except ImportError as exc:  # d2l itself, or one of its imports (scipy, IPython, ...)
        sys.exit(f"error: the d2l path needs the d2l package, which cannot be imported ({exc}).\n"
                 "d2l 1.0.3 pins old numpy/pandas, so install it without its dependencies:\n"
                 "    pip install --no-deps d2l==1.0.3\n"
                 "    pip install -r benchmarks/requirements.txt\n"
                 "or run the other two paths only: --paths fast,loader")
    return d2l


def d2l_loaders(d2l, args):
    """d2l's own loaders, reading our copy of the data (no download), cut to the first n images.

    d2l hard-codes ``root="../data"``, so it is called from ``<tmp>/work`` with ``<tmp>/data``
    a link to our data root; the datasets load their tensors right away, so the folder can go.
    """
    with tempfile.TemporaryDirectory() as tmp:
        os.symlink(ddata.data_root().resolve(), Path(tmp, "data"))
        Path(tmp, "work").mkdir()
        cwd = os.getcwd()
        os.chdir(Path(tmp, "work"))
        try:
            train_iter, test_iter = d2l.load_data_fashion_mnist(args.batch_size, resize=args.resize)
        finally:
            os.chdir(cwd)

    def first(loader, n):  # d2l's DataLoader settings over the first n images; shuffled by a
        subset = data.Subset(loader.dataset, range(n))  # RandomSampler as shuffle=True does,
        sampler = (data.RandomSampler(subset, generator=torch.Generator().manual_seed(args.seed))
                   if isinstance(loader.sampler, data.RandomSampler) else None)  # seeded like ours
        return data.DataLoader(subset, loader.batch_size, sampler=sampler,
                               num_workers=loader.num_workers)
    return first(train_iter, args.train_size), first(test_iter, args.test_size)


def our_loaders(args, device=None):
    return ddata.load_data_fashion_mnist(args.batch_size, resize=args.resize,
                                         train_size=args.train_size, test_size=args.test_size,
                                         seed=args.seed, device=device)


def run_path(path, net0, args, device, d2l=None):
    """Train a copy of ``net0`` through ``path``; returns (net, seconds per epoch, own test acc)."""
    net = copy.deepcopy(net0)
    torch.manual_seed(args.seed)
    if path == "d2l":
        train_iter, test_iter = d2l_loaders(d2l, args)
    else:
        train_iter, test_iter = our_loaders(args, device if path == "fast" else None)
    torch.manual_seed(args.seed)  # both train_ch6 re-initialise the weights (Xavier) from here
    ddevice.synchronize(device)
    start = time.perf_counter()
    if path == "d2l":  # its Animator "displays" a figure per update: keep that off the terminal
        out = io.StringIO()
        with contextlib.redirect_stdout(out), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            d2l.train_ch6(net, train_iter, test_iter, args.epochs, args.lr, device)
        ddevice.synchronize(device)
        seconds = time.perf_counter() - start
        d2l.plt.close("all")
        own = float(re.findall(r"test acc ([0-9.]+)", out.getvalue())[-1])
    else:
        history = dtrain.train_ch6(net, train_iter, test_iter, args.epochs, args.lr, device,
                                   verbose=False, amp=args.amp, channels_last=args.channels_last)
        ddevice.synchronize(device)
        seconds = time.perf_counter() - start
        own = float(history["val_acc_all"].iloc[-1])
    return net, seconds / args.epochs, own


def warm_up(net0, args, device):
    """A few untimed steps at this size, in each precision/layout the paths use."""
    X = torch.rand(args.batch_size, 1, args.resize, args.resize)
    y = torch.randint(10, (args.batch_size,))
    for amp, cl in {(args.amp, args.channels_last), (False, False)}:
        net = copy.deepcopy(net0)
        dtrain.measure_throughput(net, [(X, y)], device, steps=1, warmup=1, amp=amp,
                                  channels_last=cl)
        dtrain.evaluate_loss_accuracy(net, [(X, y)], device=device,
                                      dtype=ddevice.amp_dtype(device, amp),
                                      channels_last=device.type == "cuda" if cl is None else cl)


def train_flops_per_image(net0, args, device, n=2):
    """FLOPs of one training forward+backward, per image (n > 1: BN needs a batch)."""
    net = copy.deepcopy(net0).to(device).train()
    X = torch.rand(n, 1, args.resize, args.resize, device=device)
    with FlopCounterMode(display=False) as counter:
        torch.nn.functional.cross_entropy(net(X), torch.zeros(n, dtype=torch.long,
                                                              device=device)).backward()
    return counter.get_total_flops() / n


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--resize", type=int, default=64)
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--train-size", type=int, default=4096)
    p.add_argument("--test-size", type=int, default=1024)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--device", default=None, help="default: the first GPU, else the CPU")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--paths", default=",".join(PATHS),
                   help="comma-separated, of " + ",".join(PATHS))
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="mixed precision for fast/loader (default: the package's choice)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="NHWC layout for fast/loader (default: the package's choice)")
    p.add_argument("--repeat", type=int, default=1, help="runs per path, interleaved; best kept")
    p.add_argument("--steps", type=int, default=10, help="timed steps for the fast path's TFLOP/s")
    p.add_argument("--peak-tflops", type=float, default=None,
                   help="the device's peak, to print the fast step's share of it")
    p.add_argument("--out", default=None, help="result folder (default: benchmarks/results/"
                   "<date>-train_speed_<device>_<resize>px)")
    args = p.parse_args(argv)
    args.paths = [s.strip() for s in args.paths.split(",") if s.strip()]
    if not args.paths or set(args.paths) - set(PATHS):
        p.error(f"--paths must be a comma-separated subset of {','.join(PATHS)}")
    if "d2l" in args.paths and args.train_size < 5 * args.batch_size:
        p.error("d2l.train_ch6 divides by (number of batches // 5): the d2l path needs "
                f"--train-size >= 5 * --batch-size = {5 * args.batch_size}")
    return args


def measure(args, device, d2l):
    """Every path ``args.repeat`` times, interleaved; then the fast path's training-step TFLOP/s."""
    torch.manual_seed(args.seed)
    net0 = resnet18()
    eval_iter = our_loaders(args)[1]  # every trained net is scored on this one
    warm_up(net0, args, device)
    runs = {p: [] for p in args.paths}
    for _ in range(args.repeat):
        for path in args.paths:
            net, seconds, own = run_path(path, net0, args, device, d2l)
            acc = dtrain.evaluate_loss_accuracy(net, eval_iter, device=device)[1]
            runs[path].append({"seconds": seconds, "test_acc": acc, "own_test_acc": own})
    fast = None
    if "fast" in args.paths:
        flops = train_flops_per_image(net0, args, device)
        torch.manual_seed(args.seed)
        ips = dtrain.measure_throughput(copy.deepcopy(net0), our_loaders(args, device)[0], device,
                                        steps=args.steps, amp=args.amp,
                                        channels_last=args.channels_last)
        fast = {"flops_per_image": flops, "train_step_images_per_s": ips,
                "tflops": flops * ips / 1e12}
    return runs, fast


def _auto(flag, value) -> str:
    return f"{value}" + (" (auto)" if flag is None else "")


def report(args, device, env, runs, fast) -> tuple[str, dict]:
    """The markdown report (printed) and the script's data for ``result.json``."""
    best = {p: min(r, key=lambda x: x["seconds"]) for p, r in runs.items()}
    dtype = ddevice.amp_dtype(device, args.amp)
    cl = device.type == "cuda" if args.channels_last is None else args.channels_last
    settings = {k: getattr(args, k) for k in ("resize", "batch_size", "train_size", "test_size",
                                              "epochs", "lr", "seed", "repeat", "steps",
                                              "peak_tflops")}
    settings |= {"device": str(device), "paths": ",".join(args.paths),
                 "amp (fast, loader)": _auto(args.amp, str(dtype or torch.float32)[6:]),
                 "channels_last (fast, loader)": _auto(args.channels_last, cl)}
    lines = [f"# ResNet-18 on Fashion-MNIST: {args.epochs} epoch(s) of train_ch6, "
             f"{len(args.paths)} paths", "",
             f"command: `{shlex.join(sys.orig_argv)}`", "",
             f"- device name: {ddevice.device_name(device)}",
             *[f"- {k}: {v}" for k, v in env.items()],
             *[f"- {k}: {v}" for k, v in settings.items()], "",
             f"| path | s/epoch (best of {args.repeat}) | all runs (s) | train img/s "
             "| test acc (common eval) | own test acc | speed-up vs d2l |",
             "|---|---|---|---|---|---|---|"]
    for p, b in best.items():
        ratio = f"{best['d2l']['seconds'] / b['seconds']:.2f}x" if "d2l" in best else "n/a"
        all_s = ", ".join(f"{r['seconds']:.1f}" for r in runs[p])
        lines.append(f"| {p} | {b['seconds']:.2f} | {all_s} | "
                     f"{args.train_size / b['seconds']:.0f} | {b['test_acc']:.4f} | "
                     f"{b['own_test_acc']:.4f} | {ratio} |")
    if "d2l" not in args.paths:
        lines += ["", "d2l was not measured (--paths without d2l)."]
    if fast:
        peak = (f", {100 * fast['tflops'] / args.peak_tflops:.1f}% of {args.peak_tflops} peak"
                if args.peak_tflops else "")
        lines += ["", f"fast path training step: {fast['flops_per_image'] / 1e9:.3f} GFLOP per "
                  f"image (forward+backward), {fast['train_step_images_per_s']:.0f} img/s over "
                  f"{args.steps} steps -> {fast['tflops']:.3f} TFLOP/s{peak}"]
    data = {"env": env, "settings": settings, "d2l_measured": "d2l" in args.paths,
            "runs": runs, "best": best, "fast_step": fast}
    return "\n".join(lines), data


def main(argv=None):
    args = parse_args(argv)
    d2l = import_d2l() if "d2l" in args.paths else None
    device = torch.device(args.device) if args.device else ddevice.try_gpu()
    name = f"train_speed_{device.type}_{args.resize}px"
    with Result("train_speed", name, out=args.out) as result:
        load_before = os.getloadavg()  # other processes on a shared machine show up here
        runs, fast = measure(args, device, d2l)
        env = {"d2l": getattr(sys.modules.get("d2l"), "__version__", None),
               "cpu_count": os.cpu_count(), "torch threads": torch.get_num_threads(),
               "load average (1/5/15 min) before, after": f"{load_before}, {os.getloadavg()}"}
        text, data = report(args, device, env, runs, fast)
        print(text)
        result.save(data, device=device)


if __name__ == "__main__":
    main()
