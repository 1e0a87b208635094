"""Wall-clock to reach a test accuracy: the seed's recipe against the improved one.

Both recipes train the same ResNet-18 (``d2lnotes.models.resnet18()``, same seed, same initial
weights), on the same data (the first ``--train-size``/``--test-size`` images of each split, the
same resize and batch size), on the same device, through ``d2lnotes.train.train_ch6``; only
the ``recipe`` differs (``d2lnotes.recipe.RECIPES``: the seed's plain SGD at a constant
learning rate against momentum, one-cycle schedule, weight decay without BN, label smoothing,
crop/flip/erasing and flip test-time augmentation). The settings of each run are filled by
``d2lnotes.runs.run_settings`` from ``--profile`` and the flags, exactly as the command line
``python -m d2lnotes train`` fills them. Test accuracy is measured after every epoch, so a time
to a target is the cumulative wall-clock (training plus evaluation) of the first epoch that
reaches it: a resolution of one epoch.

``--records SEED.json IMPROVED.json`` trains nothing: it reads the per-epoch histories of two
runs of the command line (``DIR/record.json``), which is how ``make gpu-check`` gets the times
from its two full-profile runs.

Why: the chapter "Fixing the overfitting" claims the improved recipe gets further, sooner; this
script is the evidence on whatever machine you have. Its result folder (``--out``, default
``benchmarks/results/<date>-time_to_accuracy_<device>_<profile>``) holds ``result.json`` and
``stdout.txt``; ``benchmarks/report.py`` puts the tables into the README.

    python benchmarks/time_to_accuracy.py --profile quick          # a CPU, minutes
    python benchmarks/time_to_accuracy.py --profile full           # a GPU: the seed's settings
    python benchmarks/time_to_accuracy.py --records runs/seed/record.json runs/improved/record.json
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import torch

from d2lnotes import data, models, runs, train
from d2lnotes.device import device_name
from d2lnotes.recipe import get_recipe
from d2lnotes.settings import VALID_NAMES

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import time_to_accuracy_tables  # noqa: E402
from results_io import Result  # noqa: E402

RECIPES = ("seed", "improved")
SIZES = ("epochs", "train_size", "test_size", "resize", "batch_size")


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
    p.add_argument("--records", nargs=2, metavar=("SEED_RECORD", "IMPROVED_RECORD"),
                   help="read the two runs' record.json instead of training")
    p.add_argument("--out", default=None, help="result folder (default: benchmarks/results/"
                   "<date>-time_to_accuracy_<device>_<profile>)")
    args = p.parse_args(argv)
    for key in SIZES:
        value = getattr(args, key)
        if value is not None and value < 1:
            p.error(f"--{key.replace('_', '-')} must be a positive integer")
    args.targets = [float(t) for t in args.targets.split(",")]
    return args


def settings_for(recipe: str, args) -> dict:
    """The run's settings, filled as the command line fills them."""
    return runs.run_settings(args.profile, recipe, device=args.device, amp=args.amp,
                             seed=args.seed, **{k: getattr(args, k) for k in SIZES})


def train_one(recipe_name: str, s: dict):
    """Train ResNet-18 with ``recipe_name`` under settings ``s``; the per-epoch history."""
    device = torch.device(s["device"])
    train_iter, test_iter = data.load_data_fashion_mnist(
        s["batch_size"], resize=s["resize"], train_size=s["train_size"],
        test_size=s["test_size"], device=device, seed=s["seed"])
    torch.manual_seed(s["seed"])
    net = models.resnet18()

    def show(h):
        r = h.iloc[-1]
        print(f"  {recipe_name:8s} epoch {int(r.epoch) + 1:2d}: train acc {r.train_acc_all:.4f}"
              f"  test acc {r.val_acc_all:.4f}  ({h.seconds.sum():.0f} s)", flush=True)

    return train.train_ch6(net, train_iter, test_iter, s["epochs"], s["lr"], device,
                           verbose=False, amp=s["amp"] != "off",  # as run_settings resolved it
                           recipe=get_recipe(recipe_name), on_epoch_end=show)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.records:
        loaded = {r: runs.load_record(path) for r, path in zip(RECIPES, args.records)}
        for r, (record, _) in loaded.items():
            if record.get("settings", {}).get("recipe", r).split("+")[0] != r:
                sys.exit(f"error: {args.records[RECIPES.index(r)]} is a run of recipe "
                         f"{record['settings']['recipe']!r}, expected {r!r}")
        settings = {r: rec["settings"] for r, (rec, _) in loaded.items()}
        histories = {r: h for r, (_, h) in loaded.items()}
        device = settings["seed"].get("device", "cpu")
        dev_name = loaded["seed"][0].get("device_name")
    else:
        settings = {r: settings_for(r, args) for r in RECIPES}
        device = settings["seed"]["device"]
        dev_name = device_name(device)
    first = settings["seed"]
    name = f"time_to_accuracy_{torch.device(device).type}_{first.get('profile', 'records')}"
    with Result("time_to_accuracy", name, out=args.out) as result:
        print("# Time to accuracy: seed recipe vs improved recipe (ResNet-18, Fashion-MNIST)\n")
        print(f"- device: {device} ({dev_name}), precision {first.get('amp')}")
        print(f"- profile {first.get('profile')}: resize {first['resize']}, "
              f"{first['train_size']:,}/{first['test_size']:,} images, {first['epochs']} "
              f"epochs, batch {first['batch_size']}, seed {first.get('seed')}")
        for r in RECIPES:
            print(f"- {get_recipe(r).describe()}, lr {settings[r]['lr']}")
        if args.records:
            print(f"- from the records {args.records[0]} and {args.records[1]} (not trained "
                  "here)")
        print(f"- load average before: {os.getloadavg()}\n", flush=True)
        if not args.records:
            histories = {r: train_one(r, settings[r]) for r in RECIPES}
        data_ = {"settings": {**{k: first.get(k) for k in ("profile", *SIZES, "seed", "device",
                                                           "amp")},
                              "targets": args.targets, "recipes": list(RECIPES)},
                 "run_settings": settings, "device": str(device), "device_name": dev_name,
                 "from_records": ({r: str(p) for r, p in zip(RECIPES, args.records)}
                                  if args.records else None),
                 "histories": {r: h.to_dict("records") for r, h in histories.items()}}
        print("\n" + time_to_accuracy_tables(data_))
        print(f"\nload average after: {os.getloadavg()}")
        result.save(data_, device=None if args.records else device)
    return 0


if __name__ == "__main__":
    sys.exit(main())
