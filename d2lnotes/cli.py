"""Command line: ``python -m d2lnotes train`` runs the seed's experiment outside notebooks.

The profile gives every setting; flags override single values. The run writes
``OUT/record.json`` and a checkpoint after every epoch (so an interrupted run keeps its history
and can continue with ``--resume``) and ends with one summary line.

Exit codes: 0 completed; 1 a clear error before or during the run (bad settings, missing or
damaged data, an unwritable folder, an unreadable checkpoint); 2 bad command-line arguments;
3 the loss diverged (NaN or infinite); 130 interrupted by Ctrl-C or SIGTERM (resumable).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import math
import os
import signal
import sys
import time
from pathlib import Path

import torch

from . import data, dist, models, runs
from .device import resolve_device
from .recipe import RECIPES, SCHEDULES, Recipe, get_recipe, recipe_from_dict
from .settings import VALID_NAMES
from .train import TrainingInterrupted, train_ch6

EXIT_OK, EXIT_ERROR, EXIT_DIVERGED, EXIT_INTERRUPTED = 0, 1, 3, 130


def _number(cast, what: str, ok):
    """An argparse type: ``cast(text)``, finite, and ``ok(value)``; else a one-line error."""
    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not (math.isfinite(value) and ok(value)):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text}")
        return value
    return parse


_positive_int = _number(int, "a positive integer", lambda v: v >= 1)
_positive_float = _number(float, "a positive number", lambda v: v > 0)
_non_negative_int = _number(int, "an integer >= 0", lambda v: v >= 0)
_non_negative_float = _number(float, "a number >= 0", lambda v: v >= 0)
_fraction = _number(float, "a number in [0, 1)", lambda v: 0 <= v < 1)


RECIPE_FLAGS = ("momentum", "nesterov", "weight_decay", "label_smoothing", "schedule", "warmup",
                "ema", "tta")
AUGMENT_FLAGS = ("crop", "flip", "erase")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m d2lnotes",
                                     description="d2lnotes: the course's experiments")
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train the seed's ResNet-18 on Fashion-MNIST",
                       description="Train the seed's ResNet-18 on Fashion-MNIST. The profile "
                       "sets every value; flags override them.")
    t.add_argument("--profile", choices=VALID_NAMES, default=None,
                   help="smoke, quick, full or auto (default: $D2LNOTES_PROFILE, else auto)")
    t.add_argument("--recipe", choices=tuple(RECIPES), default=None,
                   help="seed: the notes' plain SGD; improved: momentum, one-cycle, weight "
                   "decay, label smoothing, crop/flip/erasing, flip TTA (default: seed)")
    r = t.add_argument_group("recipe overrides", "change single parts of the --recipe")
    r.add_argument("--momentum", type=_fraction)
    r.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=None)
    r.add_argument("--weight-decay", type=_non_negative_float,
                   help="L2 decay of conv/linear weights (never BN or biases)")
    r.add_argument("--label-smoothing", type=_fraction)
    r.add_argument("--schedule", choices=SCHEDULES)
    r.add_argument("--warmup", type=_fraction, help="fraction of the steps spent warming up")
    r.add_argument("--crop", type=_non_negative_int, help="random-crop padding, px at 28x28")
    r.add_argument("--flip", action=argparse.BooleanOptionalAction, default=None)
    r.add_argument("--erase", type=_fraction, help="random-erasing probability")
    r.add_argument("--ema", type=_non_negative_float, help="EMA time constant in epochs (0: off)")
    r.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                   help="flip test-time augmentation")
    t.add_argument("--epochs", type=_positive_int)
    t.add_argument("--lr", type=_positive_float)
    t.add_argument("--batch-size", type=_positive_int)
    t.add_argument("--resize", type=_positive_int, help="image side in pixels")
    t.add_argument("--train-size", type=_positive_int, help="first N of 60,000 training images")
    t.add_argument("--test-size", type=_positive_int, help="first N of 10,000 test images")
    t.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: try_gpu())")
    t.add_argument("--seed", type=int, default=None, help="default: 0")
    t.add_argument("--amp", action=argparse.BooleanOptionalAction, default=None,
                   help="mixed precision (default: on for CUDA, and on CPUs with native bf16)")
    t.add_argument("--compile", action="store_true", help="use torch.compile")
    t.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="NHWC memory layout (default: on for CUDA only)")
    t.add_argument("--sync-bn", action="store_true",
                   help="under torchrun on GPUs: synchronize BN statistics across processes")
    t.add_argument("--data", default=None, help="data root (default: $D2LNOTES_DATA or cache)")
    t.add_argument("--out", default=None, help="folder for record.json and the checkpoints "
                   "(default: runs/RECIPE-PROFILE-DATE-TIME)")
    t.add_argument("--resume", action="store_true",
                   help="continue the run in --out after its last complete epoch")
    t.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def resolve_settings(args: argparse.Namespace) -> dict:
    """Every setting of the run: the profile's values, overridden by the flags given."""
    return runs.run_settings(
        args.profile, _override(get_recipe(args.recipe), args), device=args.device,
        amp=args.amp, compile=args.compile, seed=args.seed, channels_last=args.channels_last,
        epochs=args.epochs, lr=args.lr,
        batch_size=args.batch_size, resize=args.resize, train_size=args.train_size,
        test_size=args.test_size)


def _override(recipe: Recipe, args: argparse.Namespace) -> Recipe:
    """The recipe with the fields given as flags replaced; named ``NAME+custom`` if any was."""
    fields = {k: getattr(args, k) for k in RECIPE_FLAGS if getattr(args, k, None) is not None}
    augment = {k: getattr(args, k) for k in AUGMENT_FLAGS if getattr(args, k, None) is not None}
    if augment:
        fields["augment"] = dataclasses.replace(recipe.augment, **augment)
    if not fields:
        return recipe
    return dataclasses.replace(recipe, name=f"{recipe.name}+custom", **fields)


def _resumed_record(args: argparse.Namespace, out: Path) -> dict:
    """The record of the run in ``out``; flags that contradict its settings are errors."""
    path = out / "record.json"
    if not path.is_file() or not runs.list_checkpoints(out):
        raise ValueError(f"--resume: {out} holds no run to resume (it needs record.json and "
                         f"checkpoint-epoch*.pt); start a new run without --resume")
    try:
        record, _ = runs.load_record(path)
        settings = record["settings"]
    except (ValueError, KeyError) as err:
        raise ValueError(f"--resume: cannot read {path} ({err})") from None
    given = {"profile": args.profile, "epochs": args.epochs, "lr": args.lr,
             "batch_size": args.batch_size, "resize": args.resize,
             "train_size": args.train_size, "test_size": args.test_size, "seed": args.seed,
             "recipe": args.recipe, "channels_last": args.channels_last,
             "device": str(resolve_device(args.device)) if args.device else None}
    clash = [f"--{k.replace('_', '-')} {v} (the run has {settings.get(k)})"
             for k, v in given.items() if v is not None and v != settings.get(k)]
    clash += [f"--{k.replace('_', '-')}" for k in RECIPE_FLAGS + AUGMENT_FLAGS
              if getattr(args, k, None) is not None]
    if clash:
        raise ValueError("--resume continues a run with its own settings; these flags differ: "
                         + ", ".join(clash))
    return record


def _new_record(args: argparse.Namespace, world: dist.World) -> tuple[dict, Path]:
    """A new run's record (its settings) and its folder, which must hold no run."""
    settings = resolve_settings(args)
    settings.update(world_size=world.size, global_batch_size=settings["batch_size"],
                    sync_bn=bool(args.sync_bn))
    out = Path(args.out) if args.out else Path("runs") / (
        f"{settings['recipe']}-{settings['profile']}-"
        + dt.datetime.now().strftime("%Y%m%d-%H%M%S"))
    out = dist.from_rank0(out)  # one folder for all processes
    if (out / "record.json").exists() or runs.list_checkpoints(out):
        raise ValueError(f"{out} already holds a run: continue it with --out {out} "
                         f"--resume, or choose another --out")
    return {"settings": settings, "history": [], "started": runs.now()}, out


class _StopFlag:
    """SIGINT (Ctrl-C) and SIGTERM ask training to stop after the current step; a second
    Ctrl-C stops at once."""

    def __init__(self):
        self.signal = None

    def __call__(self) -> bool:
        return self.signal is not None

    def handle(self, signum, frame):
        if self.signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = signal.Signals(signum).name
        print(f"\n{self.signal}: stopping after the current step (Ctrl-C again to stop now)",
              file=sys.stderr, flush=True)

    def __enter__(self):
        self.old = {s: signal.signal(s, self.handle) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc):
        for s, handler in self.old.items():
            signal.signal(s, handler)


def _check_world(settings: dict, out: Path, world: dist.World, device: torch.device) -> None:
    if settings.get("world_size", 1) != world.size:
        raise ValueError(f"the run in {out} used {settings.get('world_size', 1)} process(es); "
                         f"resume it with the same number (now {world.size})")
    if world.size > 1 and settings["batch_size"] % world.size:
        raise ValueError(f"--batch-size {settings['batch_size']} is the global batch: it "
                         f"must split evenly among the {world.size} processes")
    if settings.get("sync_bn") and (world.size == 1 or device.type != "cuda"):
        raise ValueError("--sync-bn synchronizes BN statistics across GPUs under torchrun; "
                         f"here there {'is one process' if world.size == 1 else 'are no GPUs'}")


def _make_folder(out: Path) -> None:
    problem = None
    if dist.world().rank == 0:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            problem = f"cannot write the run's folder {out}: {err.strerror or err}"
    problem = dist.from_rank0(problem)
    if problem:
        raise OSError(problem)


def run_train(args: argparse.Namespace) -> int:
    world = dist.world()
    if args.resume:
        if args.out is None:
            raise ValueError("--resume needs --out DIR, the folder of the run to continue")
        out = Path(args.out)
        record = _resumed_record(args, out)
    else:
        record, out = _new_record(args, world)
    settings = record["settings"]
    device = dist.rank_device(torch.device(settings["device"]))
    _check_world(settings, out, world, device)
    if args.resume:  # the run keeps its first provenance; each resumption adds its own
        record.setdefault("resumed", []).append(runs.provenance(device))
    else:
        record.update(runs.provenance(device))
    record.update(finished=None, status="running")
    say = print if world.rank == 0 else (lambda *a, **k: None)
    say(f"profile {settings['profile']} on {device} ({record['device_name']}"
        + (f", {world.size} processes" if world.size > 1 else "") + "): "
        + ", ".join(f"{k} {v}" for k, v in settings.items()
                    if k not in ("profile", "device", "recipe_settings")))
    train_iter, test_iter = data.load_data_fashion_mnist(
        settings["batch_size"], resize=settings["resize"], root=args.data,
        train_size=settings["train_size"], test_size=settings["test_size"], device=device,
        seed=settings["seed"], rank=world.rank, world_size=world.size)
    torch.manual_seed(settings["seed"])
    net = models.resnet18()
    if settings.get("sync_bn"):
        net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
    _make_folder(out)
    start = time.perf_counter()
    status, code = "completed", EXIT_OK
    with _StopFlag() as stop:
        try:
            train_ch6(
                net, train_iter, test_iter, settings["epochs"], settings["lr"], device,
                verbose=False, amp={"off": False}.get(settings["amp"], True),
                compile=settings["compile"], progress=not args.no_progress,
                channels_last=settings.get("channels_last"),  # older records: the default
                recipe=recipe_from_dict(settings["recipe_settings"]), checkpoint_dir=out,
                resume=args.resume, record=record, should_stop=stop,
                on_epoch_end=_print_epoch)  # the record's history is kept by train_ch6
        except RuntimeError as err:
            if world.size == 1 or isinstance(err, runs.CheckpointError):
                raise
            print(f"error: process {world.rank} lost contact with the other processes of this "
                  f"torchrun job (did one of them die? torchrun reports which): "
                  f"{str(err).splitlines()[0] if str(err) else type(err).__name__}",
                  file=sys.stderr)
            return EXIT_ERROR
        except FloatingPointError as err:
            status, code = "diverged", EXIT_DIVERGED
            last = runs.list_checkpoints(out)
            say(f"error: {err}\nthe last good state is {last[-1] if last else 'lost'}",
                file=sys.stderr)
        except KeyboardInterrupt as err:  # TrainingInterrupted, or a second Ctrl-C mid-step
            status, code = "interrupted", EXIT_INTERRUPTED
            last = runs.list_checkpoints(out)
            where = str(err) if isinstance(err, TrainingInterrupted) else "interrupted"
            say(f"\n{where}; the checkpoint {last[-1] if last else '(none)'} holds "
                f"{len(record['history'])} complete epoch(s).\n"
                f"resume with: python -m d2lnotes train --out {out} --resume", file=sys.stderr)
    if world.rank != 0:  # process 0 keeps the record and speaks for all
        return code
    record.update(status=status, finished=runs.now(),
                  seconds=record.get("seconds", 0.0) + time.perf_counter() - start)
    runs.save_record(record, out / "record.json")
    if record["history"]:
        last = record["history"][-1]
        images = settings["train_size"] * len(record["history"])
        print(f"{status}: train loss {last['train_loss_all']:.4f} acc {last['train_acc_all']:.4f}"
              f" | val loss {last['val_loss_all']:.4f} acc {last['val_acc_all']:.4f}"
              f" | {record['seconds']:.1f} s, {images / record['seconds']:,.0f} images/s"
              f" | record: {out / 'record.json'}")
    return code


def _print_epoch(history) -> None:
    row = history.iloc[-1]
    print(f"epoch {int(row.epoch) + 1}: train loss {row.train_loss_all:.4f} acc "
          f"{row.train_acc_all:.4f} | val loss {row.val_loss_all:.4f} acc {row.val_acc_all:.4f}"
          f" | {row.seconds:.1f} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        dist.init_distributed(args.device)
        return run_train(args)
    except (ValueError, OSError, runs.CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        if "WORLD_SIZE" in os.environ:  # joined a torchrun job in init_distributed
            dist.destroy()
