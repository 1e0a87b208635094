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

from . import data, models, train
from .settings import VALID_NAMES, get_profile

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
    t.add_argument("--recipe", choices=tuple(train.RECIPES), default=None,
                   help="seed: the notes' plain SGD; improved: momentum, one-cycle, weight "
                   "decay, label smoothing, crop/flip/erasing, flip TTA (default: seed)")
    r = t.add_argument_group("recipe overrides", "change single parts of the --recipe")
    r.add_argument("--momentum", type=_fraction)
    r.add_argument("--nesterov", action=argparse.BooleanOptionalAction, default=None)
    r.add_argument("--weight-decay", type=_non_negative_float,
                   help="L2 decay of conv/linear weights (never BN or biases)")
    r.add_argument("--label-smoothing", type=_fraction)
    r.add_argument("--schedule", choices=train.SCHEDULES)
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
    t.add_argument("--sync-bn", action="store_true",
                   help="under torchrun on GPUs: synchronise BN statistics across processes")
    t.add_argument("--data", default=None, help="data root (default: $D2LNOTES_DATA or cache)")
    t.add_argument("--out", default=None, help="folder for record.json and the checkpoints "
                   "(default: runs/RECIPE-PROFILE-DATE-TIME)")
    t.add_argument("--resume", action="store_true",
                   help="continue the run in --out after its last complete epoch")
    t.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def resolve_settings(args: argparse.Namespace) -> dict:
    """Every setting of the run: the profile's values, overridden by the flags given."""
    profile = get_profile(args.profile)
    recipe = train.get_recipe(args.recipe or "seed")
    settings = {"profile": profile.name, "epochs": profile.epochs,
                "lr": recipe.lr,  # the recipe's peak rate (the seed's is the profile's 0.05)
                "batch_size": profile.batch_size, "resize": profile.resize,
                "train_size": profile.train_size, "test_size": profile.test_size}
    for key in list(settings)[1:]:
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    recipe = _override(recipe, args)
    settings["recipe"] = recipe.name
    settings["recipe_settings"] = dataclasses.asdict(recipe)
    if settings["train_size"] > 60_000 or settings["test_size"] > 10_000:
        raise ValueError("--train-size is at most 60000 and --test-size at most 10000")
    device = _device(args.device)
    dtype = train.amp_dtype(device, args.amp)
    settings.update(seed=0 if args.seed is None else args.seed, device=str(device),
                    compile=args.compile,
                    amp=str(dtype).removeprefix("torch.") if dtype else "off")
    return settings


def _override(recipe: train.Recipe, args: argparse.Namespace) -> train.Recipe:
    """The recipe with the fields given as flags replaced; named ``NAME+custom`` if any was."""
    fields = {k: getattr(args, k) for k in RECIPE_FLAGS if getattr(args, k, None) is not None}
    augment = {k: getattr(args, k) for k in AUGMENT_FLAGS if getattr(args, k, None) is not None}
    if augment:
        fields["augment"] = dataclasses.replace(recipe.augment, **augment)
    if not fields:
        return recipe
    return dataclasses.replace(recipe, name=f"{recipe.name}+custom", **fields)


def recipe_from_settings(settings: dict) -> train.Recipe:
    """The :class:`~d2lnotes.train.Recipe` a record's settings describe."""
    fields = dict(settings["recipe_settings"])
    fields["augment"] = data.Augment(**fields["augment"])
    return train.Recipe(**fields)


def _device(name: str | None) -> torch.device:
    if not name:
        return train.try_gpu()
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"--device {name!r} is not a device: use cpu, cuda or cuda:N") from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {name!r}: this course trains on cpu or cuda")
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"--device {name}: CUDA is not available on this machine")
        if (device.index or 0) >= torch.cuda.device_count():
            raise ValueError(f"--device {name}: this machine has {torch.cuda.device_count()} "
                             f"GPU(s), numbered from 0")
    return device


def _resumed_settings(args: argparse.Namespace, out: Path) -> tuple[dict, dict]:
    """The record of the run in ``out`` and its settings; flags that contradict them are errors."""
    path = out / "record.json"
    if not path.is_file() or not train.list_checkpoints(out):
        raise ValueError(f"--resume: {out} holds no run to resume (it needs record.json and "
                         f"checkpoint-epoch*.pt); start a new run without --resume")
    try:
        record, _ = train.load_record(path)
        settings = record["settings"]
    except (ValueError, KeyError) as err:
        raise ValueError(f"--resume: cannot read {path} ({err})") from None
    given = {"profile": args.profile, "epochs": args.epochs, "lr": args.lr,
             "batch_size": args.batch_size, "resize": args.resize,
             "train_size": args.train_size, "test_size": args.test_size, "seed": args.seed,
             "recipe": args.recipe, "device": str(_device(args.device)) if args.device else None}
    clash = [f"--{k.replace('_', '-')} {v} (the run has {settings.get(k)})"
             for k, v in given.items() if v is not None and v != settings.get(k)]
    clash += [f"--{k.replace('_', '-')}" for k in RECIPE_FLAGS + AUGMENT_FLAGS
              if getattr(args, k, None) is not None]
    if clash:
        raise ValueError("--resume continues a run with its own settings; these flags differ: "
                         + ", ".join(clash))
    return record, settings


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


def run_train(args: argparse.Namespace) -> int:
    rank, world = train.distributed()
    if args.resume:
        if args.out is None:
            raise ValueError("--resume needs --out DIR, the folder of the run to continue")
        out = Path(args.out)
        record, settings = _resumed_settings(args, out)
        record.setdefault("resumed", []).append(_now())
    else:
        settings = resolve_settings(args)
        settings.update(world_size=world, global_batch_size=settings["batch_size"],
                        sync_bn=bool(args.sync_bn))
        out = Path(args.out) if args.out else Path("runs") / (
            f"{settings['recipe']}-{settings['profile']}-"
            + dt.datetime.now().strftime("%Y%m%d-%H%M%S"))
        out = _from_rank0(out)  # one folder for all processes
        if (out / "record.json").exists() or train.list_checkpoints(out):
            raise ValueError(f"{out} already holds a run: continue it with --out {out} "
                             f"--resume, or choose another --out")
        record = {"settings": settings, "history": [], "started": _now()}
    if settings.get("world_size", 1) != world:
        raise ValueError(f"the run in {out} used {settings.get('world_size', 1)} process(es); "
                         f"resume it with the same number (now {world})")
    device = torch.device(settings["device"])
    if world > 1:
        device = _rank_device(device)
        if settings["batch_size"] % world:
            raise ValueError(f"--batch-size {settings['batch_size']} is the global batch: it "
                             f"must split evenly among the {world} processes")
    if settings.get("sync_bn") and (world == 1 or device.type != "cuda"):
        raise ValueError("--sync-bn synchronises BN statistics across GPUs under torchrun; "
                         f"here there {'is one process' if world == 1 else 'are no GPUs'}")
    record.update(device_name=train.device_name(device), versions=train.versions(),
                  finished=None, status="running")
    say = print if rank == 0 else (lambda *a, **k: None)
    say(f"profile {settings['profile']} on {device} ({record['device_name']}"
        + (f", {world} processes" if world > 1 else "") + "): "
        + ", ".join(f"{k} {v}" for k, v in settings.items()
                     if k not in ("profile", "device", "recipe_settings")))
    train_iter, test_iter = data.load_data_fashion_mnist(
        settings["batch_size"], resize=settings["resize"], root=args.data,
        train_size=settings["train_size"], test_size=settings["test_size"], device=device,
        seed=settings["seed"], rank=rank, world_size=world)
    torch.manual_seed(settings["seed"])
    net = models.resnet18()
    for shape in data.loader_batch_shapes(train_iter):  # before anything is written
        models.check_input(net, shape)
    if settings.get("sync_bn"):
        net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
    _barrier()  # every process has checked the folder before process 0 writes to it
    problem = None
    if rank == 0:
        try:
            train.save_record(record, out / "record.json")
        except OSError as err:
            problem = f"cannot write the run's folder {out}: {err.strerror or err}"
    problem = _from_rank0(problem)
    if problem:
        raise OSError(problem)

    def checkpoint(history):  # called on process 0 only
        record["history"] = history.to_dict("records")
        train.save_record(record, out / "record.json")

    start = time.perf_counter()
    status, code = "completed", EXIT_OK
    resume_hint = f"resume with: python -m d2lnotes train --out {out} --resume"
    with _StopFlag() as stop:
        try:
            history = train.train_ch6(
                net, train_iter, test_iter, settings["epochs"], settings["lr"], device,
                verbose=False, amp={"off": False}.get(settings["amp"], True),
                compile=settings["compile"], progress=not args.no_progress,
                recipe=recipe_from_settings(settings), checkpoint_dir=out, resume=args.resume,
                should_stop=stop, on_epoch_end=_both(checkpoint, _print_epoch))
            record["history"] = history.to_dict("records")
        except RuntimeError as err:
            if world == 1 or isinstance(err, train.CheckpointError):
                raise
            print(f"error: process {rank} lost contact with the other processes of this "
                  f"torchrun job (did one of them die? torchrun reports which): "
                  f"{str(err).splitlines()[0] if str(err) else type(err).__name__}",
                  file=sys.stderr)
            return EXIT_ERROR
        except FloatingPointError as err:
            status, code = "diverged", EXIT_DIVERGED
            last = train.list_checkpoints(out)
            say(f"error: {err}\nthe last good state is {last[-1] if last else 'lost'}",
                  file=sys.stderr)
        except KeyboardInterrupt as err:  # TrainingInterrupted, or a second Ctrl-C mid-step
            status, code = "interrupted", EXIT_INTERRUPTED
            last = train.list_checkpoints(out)
            where = str(err) if isinstance(err, train.TrainingInterrupted) else "interrupted"
            done = len(record["history"])
            say(f"\n{where}; the checkpoint {last[-1] if last else '(none)'} holds "
                  f"{done} complete epoch(s).\n{resume_hint}", file=sys.stderr)
    seconds = time.perf_counter() - start
    if rank != 0:  # process 0 keeps the record and speaks for all
        return code
    record.update(status=status, finished=_now(),
                  seconds=record.get("seconds", 0.0) + seconds)
    train.save_record(record, out / "record.json")
    if record["history"]:
        last = record["history"][-1]
        images = settings["train_size"] * len(record["history"])
        print(f"{status}: train loss {last['train_loss_all']:.4f} acc {last['train_acc_all']:.4f}"
              f" | val loss {last['val_loss_all']:.4f} acc {last['val_acc_all']:.4f}"
              f" | {record['seconds']:.1f} s, {images / record['seconds']:,.0f} images/s"
              f" | record: {out / 'record.json'}")
    return code


def _from_rank0(value):
    """``value`` as process 0 has it (all processes must agree on folders and outcomes)."""
    if train.distributed()[1] == 1:
        return value
    box = [value]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def _barrier() -> None:
    if train.distributed()[1] > 1:
        torch.distributed.barrier()


def _rank_device(device: torch.device) -> torch.device:
    """Under torchrun each process drives its own GPU (LOCAL_RANK), or shares the CPU."""
    if device.type == "cuda":
        return torch.device("cuda", torch.cuda.current_device())
    return device


def init_distributed(device_flag: str | None) -> tuple[int, int]:
    """Join the torchrun job this process belongs to, if any: NCCL on GPUs, gloo on CPUs.

    torchrun sets RANK, WORLD_SIZE and LOCAL_RANK. A timeout bounds every collective, so a
    job whose peer died ends with an error instead of hanging.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1 or torch.distributed.is_initialized():
        return train.distributed()
    local = int(os.environ.get("LOCAL_RANK", os.environ.get("RANK", "0")))
    cuda = torch.cuda.is_available() and not (device_flag or "").startswith("cpu")
    if cuda:
        torch.cuda.set_device(local)
    timeout = dt.timedelta(seconds=float(os.environ.get("D2LNOTES_DIST_TIMEOUT", "300")))
    torch.distributed.init_process_group("nccl" if cuda else "gloo", timeout=timeout)
    return train.distributed()


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
        init_distributed(args.device)
        return run_train(args)
    except (ValueError, OSError, train.CheckpointError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        if "WORLD_SIZE" in os.environ and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()

