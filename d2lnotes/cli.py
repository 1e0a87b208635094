"""Command line: ``python -m d2lnotes train`` runs the seed's experiment outside notebooks.

The profile gives every setting; flags override single values. The run writes
``OUT/record.json`` after every epoch (so an interrupted run keeps its history) and ends with one
summary line.
"""
from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import time
from pathlib import Path

import torch

from . import data, models, train
from .settings import VALID_NAMES, get_profile

EXIT_OK, EXIT_ERROR, EXIT_DIVERGED, EXIT_INTERRUPTED = 0, 1, 3, 130


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m d2lnotes",
                                     description="d2lnotes: the course's experiments")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train the seed's ResNet-18 on Fashion-MNIST",
                       description="Train the seed's ResNet-18 on Fashion-MNIST. The profile "
                       "sets every value; flags override them.")
    t.add_argument("--profile", choices=VALID_NAMES, default=None,
                   help="smoke, quick, full or auto (default: $D2LNOTES_PROFILE, else auto)")
    t.add_argument("--epochs", type=_positive_int)
    t.add_argument("--lr", type=_positive_float)
    t.add_argument("--batch-size", type=_positive_int)
    t.add_argument("--resize", type=_positive_int, help="image side in pixels")
    t.add_argument("--train-size", type=_positive_int, help="first N of 60,000 training images")
    t.add_argument("--test-size", type=_positive_int, help="first N of 10,000 test images")
    t.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: try_gpu())")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="mixed precision (default: on for CUDA, off on CPU)")
    t.add_argument("--compile", action="store_true", help="use torch.compile")
    t.add_argument("--data", default=None, help="data root (default: $D2LNOTES_DATA or cache)")
    t.add_argument("--out", default="runs/latest", help="folder for record.json")
    t.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def resolve_settings(args: argparse.Namespace) -> dict:
    """Every setting of the run: the profile's values, overridden by the flags given."""
    profile = get_profile(args.profile)
    settings = {"profile": profile.name, "epochs": profile.epochs, "lr": profile.lr,
                "batch_size": profile.batch_size, "resize": profile.resize,
                "train_size": profile.train_size, "test_size": profile.test_size}
    for key in list(settings)[1:]:
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    if settings["train_size"] > 60_000 or settings["test_size"] > 10_000:
        raise ValueError("--train-size is at most 60000 and --test-size at most 10000")
    device = torch.device(args.device) if args.device else train.try_gpu()
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {args.device}: CUDA is not available on this machine")
    settings.update(seed=args.seed, device=str(device), compile=args.compile,
                    amp=str(train.amp_dtype(device, args.amp)).removeprefix("torch.")
                    if train.amp_dtype(device, args.amp) else "off")
    return settings


def run_train(args: argparse.Namespace) -> int:
    settings = resolve_settings(args)
    device = torch.device(settings["device"])
    out = Path(args.out)
    record = {"settings": settings, "history": [], "device_name": train.device_name(device),
              "versions": train.versions(), "started": _now(), "finished": None,
              "status": "running"}
    train.save_record(record, out / "record.json")  # fails early if OUT is not writable
    print(f"profile {settings['profile']} on {device} ({record['device_name']}): "
          + ", ".join(f"{k} {v}" for k, v in settings.items() if k not in ("profile", "device")))
    torch.manual_seed(settings["seed"])
    train_iter, test_iter = data.load_data_fashion_mnist(
        settings["batch_size"], resize=settings["resize"], root=args.data,
        train_size=settings["train_size"], test_size=settings["test_size"], device=device,
        seed=settings["seed"])
    net = models.resnet18()

    def checkpoint(history):
        record["history"] = history.to_dict("records")
        train.save_record(record, out / "record.json")

    start = time.perf_counter()
    status, code = "completed", EXIT_OK
    try:
        train.train_ch6(net, train_iter, test_iter, settings["epochs"],
                        settings["lr"], device, verbose=False,
                        amp={"off": False}.get(settings["amp"], True),
                        compile=settings["compile"], progress=not args.no_progress,
                        on_epoch_end=_both(checkpoint, _print_epoch))
    except FloatingPointError as err:
        status, code = "diverged", EXIT_DIVERGED
        print(f"error: {err}", file=sys.stderr)
    except KeyboardInterrupt:
        status, code = "interrupted", EXIT_INTERRUPTED
        print("\ninterrupted: the record keeps every completed epoch", file=sys.stderr)
    seconds = time.perf_counter() - start
    record.update(status=status, finished=_now(), seconds=seconds)
    train.save_record(record, out / "record.json")
    if record["history"]:
        last = record["history"][-1]
        images = settings["train_size"] * len(record["history"])
        print(f"{status}: train loss {last['train_loss_all']:.4f} acc {last['train_acc_all']:.4f}"
              f" | val loss {last['val_loss_all']:.4f} acc {last['val_acc_all']:.4f}"
              f" | {seconds:.1f} s, {images / seconds:,.0f} images/s"
              f" | record: {out / 'record.json'}")
    return code


def _both(*fns):
    def call(history):
        for fn in fns:
            fn(history)
    return call


def _print_epoch(history) -> None:
    row = history.iloc[-1]
    print(f"epoch {int(row.epoch) + 1}: train loss {row.train_loss_all:.4f} acc "
          f"{row.train_acc_all:.4f} | val loss {row.val_loss_all:.4f} acc {row.val_acc_all:.4f}"
          f" | {row.seconds:.1f} s", flush=True)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run_train(args)
    except (ValueError, FileNotFoundError, PermissionError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_ERROR

