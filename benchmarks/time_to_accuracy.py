"""Wall-clock to reach 90/92/93/94% test accuracy: the seed's recipe against the improved one.

Both recipes train the same ResNet-18 (``d2lnotes.models.resnet18()``, same seed, same initial
weights), on the same data (the first ``--train-size``/``--test-size`` images of each split, the
same resize and batch size), on the same device, through ``d2lnotes.train.train_ch6``; only
the ``recipe`` differs (``d2lnotes.train.RECIPES``: the seed's plain SGD at a constant 0.05
against momentum, one-cycle schedule, weight decay without BN, label smoothing, crop/flip/
erasing and flip test-time augmentation). Test accuracy is measured after every epoch, so a
time to a target is the cumulative wall-clock (training plus evaluation) of the first epoch
that reaches it: a resolution of one epoch.

Why: the chapter "Fixing the overfitting" claims the improved recipe gets further, sooner; this
script is the evidence on whatever machine you have. It prints both and the ratio.

    python benchmarks/time_to_accuracy.py --profile quick          # a CPU, minutes
    python benchmarks/time_to_accuracy.py --profile full           # a GPU: the seed's settings
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import sys
from pathlib import Path

import torch

from d2lnotes import data, models, train
from d2lnotes.settings import VALID_NAMES, get_profile

RECIPES = ("seed", "improved")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--profile", choices=VALID_NAMES, default="auto")
    p.add_argument("--epochs", type=int, help="default: the profile's")
    p.add_argument("--train-size", type=int)
    p.add_argument("--test-size", type=int)
    p.add_argument("--resize", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--device", default=None, help="default: the first GPU, else the CPU")
    p.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--targets", default="0.90,0.92,0.93,0.94")
    p.add_argument("--out", default=None, help="folder for result.json and result.md")
    args = p.parse_args(argv)
    prof = get_profile(args.profile)
    for key in ("epochs", "train_size", "test_size", "resize", "batch_size"):
        if getattr(args, key) is None:
            setattr(args, key, getattr(prof, key))
        if getattr(args, key) < 1:
            p.error(f"--{key.replace('_', '-')} must be a positive integer")
    args.profile = prof.name
    args.targets = [float(t) for t in args.targets.split(",")]
    return args


def run(recipe_name: str, args, device) -> "train.pd.DataFrame":
    recipe = train.get_recipe(recipe_name)
    train_iter, test_iter = data.load_data_fashion_mnist(
        args.batch_size, resize=args.resize, train_size=args.train_size,
        test_size=args.test_size, device=device, seed=args.seed)
    torch.manual_seed(args.seed)
    net = models.resnet18()

    def show(h):
        r = h.iloc[-1]
        print(f"  {recipe_name:8s} epoch {int(r.epoch) + 1:2d}: train acc {r.train_acc_all:.4f}"
              f"  test acc {r.val_acc_all:.4f}  ({h.seconds.sum():.0f} s)", flush=True)

    return train.train_ch6(net, train_iter, test_iter, args.epochs, recipe.lr, device,
                           verbose=False, amp=args.amp, recipe=recipe, on_epoch_end=show)


def time_to(history, target: float) -> tuple[float, float]:
    """(seconds, epochs) until the test accuracy first reaches ``target``; NaN if never."""
    epochs = train.epochs_to_reach(history, target)
    if math.isnan(epochs):
        return math.nan, math.nan
    return float(history["seconds"].iloc[:int(epochs)].sum()), epochs


def report(args, device, histories) -> str:
    def cell(seconds, epochs):
        return "not reached" if math.isnan(seconds) else f"{seconds:.1f} s (epoch {epochs:.0f})"

    lines = ["| test accuracy | seed recipe | improved recipe | speed-up |", "|---|---|---|---|"]
    for t in args.targets:
        (s0, e0), (s1, e1) = (time_to(histories[r], t) for r in RECIPES)
        ratio = f"{s0 / s1:.2f}x" if not (math.isnan(s0) or math.isnan(s1)) else (
            "only improved" if not math.isnan(s1) else ("only seed" if not math.isnan(s0) else "-"))
        lines.append(f"| {t:.0%} | {cell(s0, e0)} | {cell(s1, e1)} | {ratio} |")
    lines += ["", "| recipe | final test acc | best test acc | final train acc | s/epoch |",
              "|---|---|---|---|---|"]
    for r in RECIPES:
        h = histories[r]
        lines.append(f"| {r} | {h.val_acc_all.iloc[-1]:.4f} | {h.val_acc_all.max():.4f} | "
                     f"{h.train_acc_all.iloc[-1]:.4f} | {h.seconds.mean():.1f} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device) if args.device else train.try_gpu()
    precision = train.amp_dtype(device, args.amp)
    header = [
        "# Time to accuracy: seed recipe vs improved recipe (ResNet-18, Fashion-MNIST)", "",
        "command: `python " + " ".join([Path(sys.argv[0]).as_posix()] + sys.argv[1:]) + "`", "",
        f"- device: {device} ({train.device_name(device)})",
        f"- precision: {str(precision).removeprefix('torch.') if precision else 'float32'}",
        *[f"- {k}: {v}" for k, v in train.versions().items()],
        f"- profile {args.profile}: resize {args.resize}, {args.train_size:,}/{args.test_size:,} "
        f"images, {args.epochs} epochs, batch {args.batch_size}, seed {args.seed}",
        *[f"- {train.get_recipe(r).describe()}" for r in RECIPES],
        f"- load average before: {os.getloadavg()}",
        f"- date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}",
        ""]
    print("\n".join(header), flush=True)
    histories = {r: run(r, args, device) for r in RECIPES}
    table = report(args, device, histories)
    print("\n" + table + f"\n\nload average after: {os.getloadavg()}")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "result.md").write_text("\n".join(header) + "\n" + table + "\n")
        (out / "result.json").write_text(json.dumps(
            {"settings": {k: v for k, v in vars(args).items()}, "device": str(device),
             "device_name": train.device_name(device), "versions": train.versions(),
             "histories": {r: h.to_dict("records") for r, h in histories.items()}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
