"""Run records, checkpoints and provenance: what a run leaves on disk, and where it came from.

Every file here is written by one function, :func:`atomic_write` (a temporary file, fsynced,
renamed over the final name, the folder fsynced), so a crash at any moment leaves the old file
or the new one, never half of one. Every record carries its provenance (:func:`provenance`):
the git commit and whether the tree was dirty, the exact command, the versions and the device.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import os
import platform
import random
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .device import amp_dtype, default_channels_last, device_name, resolve_device
from .dist import barrier, gather, world
from .recipe import get_recipe
from .settings import get_profile

REPO = Path(__file__).resolve().parent.parent


def atomic_write(path: str | os.PathLike, write, mode: str = "wb") -> Path:
    """Call ``write(file)`` on a temporary file next to ``path``, then rename it to ``path``.

    The rename is atomic on POSIX, and the data is fsynced before it and the folder after it,
    so the file is either the old one or the complete new one, even after a power cut. The
    temporary file is removed if ``write`` fails.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    try:  # make the rename itself durable (POSIX); not possible on every platform
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def now() -> str:
    """The time in UTC, to the second, as ISO 8601 (what records use)."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def versions() -> dict[str, str | None]:
    """Python, torch, torchvision, CUDA and cuDNN versions."""
    import torchvision

    return {"python": platform.python_version(), "torch": torch.__version__,
            "torchvision": torchvision.__version__, "cuda": torch.version.cuda,
            "cudnn": str(torch.backends.cudnn.version()) if torch.cuda.is_available() else None}


def git_state(folder: str | os.PathLike = REPO) -> dict[str, str | bool | None]:
    """The commit checked out in ``folder`` and whether tracked files differ from it.

    Outside a git checkout (an installed package, or a copy of the tree sent to a GPU
    machine) the environment variables ``D2LNOTES_GIT_COMMIT`` and ``D2LNOTES_GIT_DIRTY``
    (``0``/``1``) are used if set, and the record says they were given, not read; otherwise
    both are None: the record then says plainly that its code version is unknown.
    """
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", "-C", str(folder), *args], capture_output=True,
                                 text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        given = os.environ.get("D2LNOTES_GIT_COMMIT")
        if not given:
            return {"git_commit": None, "git_dirty": None}
        dirty = os.environ.get("D2LNOTES_GIT_DIRTY")
        return {"git_commit": given, "git_dirty": None if dirty is None else dirty == "1",
                "git_source": "given by D2LNOTES_GIT_COMMIT (no git checkout here)"}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": bool(status) if status is not None else None}


def provenance(device: torch.device | str | None = None,
               argv: list[str] | None = None) -> dict:
    """Where a result came from: git commit and dirtiness, the exact command, versions, device.

    ``argv`` defaults to this process's own command line as it was typed (``sys.orig_argv``,
    with the interpreter named by its file name alone); ``device`` (when given) is named with
    :func:`d2lnotes.device.device_name`.
    """
    if argv is None:
        argv = [Path(sys.orig_argv[0]).name, *sys.orig_argv[1:]]
    record = {**git_state(), "command": shlex.join(argv), "versions": versions(),
              "recorded": now()}
    if device is not None:
        record["device_name"] = device_name(device)
    return record


def save_json(obj, path: str | os.PathLike) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    return atomic_write(path, lambda f: json.dump(obj, f, indent=2, default=float), mode="w")


# ---------------------------------------------------------------------------------------------
# Run records: settings, provenance and the per-epoch history, as one JSON file.

HISTORY_COLUMNS = ["epoch", "train_loss_all", "val_loss_all", "train_acc_all", "val_acc_all",
                   "seconds"]


def save_record(record: dict, path: str | os.PathLike) -> Path:
    """Write a run record (a dict of plain data) as JSON, atomically."""
    return save_json(record, path)


def load_record(path: str | os.PathLike) -> tuple[dict, pd.DataFrame]:
    """A run record and its history as a DataFrame (the shape ``train_ch6`` returns)."""
    with open(path) as f:
        record = json.load(f)
    return record, pd.DataFrame(record["history"], columns=HISTORY_COLUMNS)


# d2l-zh 2.0's published ResNet-18 run (section 7.6, one GPU): the notes follow it at 224 px.
D2L_ZH = {"run": "d2l-zh 2.0, published", "recipe": "seed", "px": 96, "epochs": 10,
          "train loss": 0.012, "train acc": 0.997, "test loss": math.nan, "test acc": 0.893}


def load_records(folder: str | os.PathLike) -> dict[str, tuple[dict, pd.DataFrame]]:
    """Every ``*.json`` run record in ``folder`` (name -> record, history), by name; a file
    that is not a record is an error naming it, not a silently shorter table."""
    records = {}
    for path in sorted(Path(folder).glob("*.json")):
        try:
            records[path.stem] = load_record(path)
        except (ValueError, KeyError, TypeError) as err:
            raise ValueError(f"{path} is not a readable run record ({err})") from None
    return records


def incomplete_reasons(record: dict, recipe: str | None = None,
                       resize: int | None = None) -> list[str]:
    """Why ``record`` is not :func:`is_complete`, in words (empty if it is): a chapter judges
    only complete runs, and names these reasons for the others."""
    s, done = record["settings"], len(record["history"])
    reasons = []
    if done != s["epochs"]:
        reasons.append(f"it has {done} of {s['epochs']} epochs")
    if record.get("status") != "completed":
        reasons.append(f"its status is {record.get('status')!r}")
    if (s["train_size"], s["test_size"]) != (60_000, 10_000):
        reasons.append(f"it used {s['train_size']:,} training and {s['test_size']:,} test "
                       f"images, not all 60,000 and 10,000")
    if recipe not in (None, s["recipe"]):
        reasons.append(f"its recipe is {s['recipe']!r}, not {recipe!r}")
    if resize not in (None, s["resize"]):
        reasons.append(f"it ran at {s['resize']} px, not {resize}")
    return reasons


def is_complete(record: dict, recipe: str | None = None, resize: int | None = None) -> bool:
    """A finished run on all of Fashion-MNIST (60,000/10,000) with every planned epoch,
    optionally of one ``recipe`` at one ``resize``: the only kind a chapter may judge."""
    return not incomplete_reasons(record, recipe, resize)


def records_table(records: dict[str, tuple[dict, pd.DataFrame]]) -> pd.DataFrame:
    """One row per record (its last epoch), then d2l-zh's published run, for side-by-side
    reading; ``device`` names every machine the run was resumed on."""
    rows = []
    for name, (record, history) in records.items():
        s, last = record["settings"], history.iloc[-1] if len(history) else None
        values = ([last.train_loss_all, last.train_acc_all, last.val_loss_all, last.val_acc_all]
                  if last is not None else [math.nan] * 4)
        machines = [record.get("device_name")] + [r.get("device_name")
                                                  for r in record.get("resumed", [])]
        rows.append({"run": name, "recipe": s["recipe"], "px": s["resize"],
                     "epochs": f"{len(history)} of {s['epochs']}",
                     **dict(zip(["train loss", "train acc", "test loss", "test acc"], values)),
                     "status": record.get("status"),
                     "device": ", ".join(dict.fromkeys(m for m in machines if m))})
    rows.append({**D2L_ZH, "epochs": f"{D2L_ZH['epochs']} of {D2L_ZH['epochs']}",
                 "status": "published", "device": "one GPU"})
    return pd.DataFrame(rows).set_index("run")


def epochs_to_reach(history: pd.DataFrame, target: float, column: str = "val_acc_all") -> float:
    """The first epoch (counting from 1) at which ``column`` reaches ``target``; NaN if never."""
    hits = np.flatnonzero(history[column].to_numpy() >= target)
    return float(hits[0] + 1) if len(hits) else math.nan


def run_settings(profile: str | None = None, recipe=None, *,
                 device: str | None = None, amp: bool | None = None, compile: bool = False,
                 seed: int | None = None, channels_last: bool | None = None, **sizes) -> dict:
    """Every setting of a run: the profile's sizes and the recipe's learning rate, overridden by
    whatever is given (``recipe``: a Recipe or its name; ``epochs``, ``lr``, ``batch_size``,
    ``resize``, ``train_size``,
    ``test_size``; None means "not given").

    The one place where a profile becomes a run: the command line and the benchmarks use it.
    """
    prof, rec = get_profile(profile), get_recipe(recipe)
    settings = {"profile": prof.name, "epochs": prof.epochs, "lr": rec.lr,
                "batch_size": prof.batch_size, "resize": prof.resize,
                "train_size": prof.train_size, "test_size": prof.test_size}
    unknown = set(sizes) - set(settings)
    if unknown:
        raise TypeError(f"run_settings() got unknown settings {sorted(unknown)}")
    settings.update({k: v for k, v in sizes.items() if v is not None})
    if settings["train_size"] > 60_000 or settings["test_size"] > 10_000:
        raise ValueError("the train size is at most 60000 and the test size at most 10000")
    dev = resolve_device(device)
    dtype = amp_dtype(dev, amp)
    settings.update(recipe=rec.name, recipe_settings=dataclasses.asdict(rec),
                    seed=0 if seed is None else seed, device=str(dev), compile=compile,
                    amp=str(dtype).removeprefix("torch.") if dtype else "off",
                    channels_last=default_channels_last(dev) if channels_last is None
                    else channels_last)
    return settings


# ---------------------------------------------------------------------------------------------
# Checkpoints: everything needed to continue a run exactly, after every epoch.

CHECKPOINT_FORMAT = 3  # 3: the data order is a function of (seed, epoch); no data-RNG state


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read back (truncated, corrupted, or not ours)."""


def checkpoint_name(epoch: int) -> str:
    return f"checkpoint-epoch{epoch:04d}.pt"


def list_checkpoints(folder: str | os.PathLike) -> list[Path]:
    """The checkpoints in ``folder``, oldest first."""
    folder = Path(folder)
    return sorted(folder.glob("checkpoint-epoch[0-9][0-9][0-9][0-9].pt")) if folder.is_dir() else []


def save_checkpoint(state: dict, folder: str | os.PathLike, epoch: int, keep: int = 2) -> Path:
    """Write ``state`` atomically to ``folder/checkpoint-epochNNNN.pt``; keep the ``keep`` newest.

    Older checkpoints are removed only after the new one is safely on disk.
    """
    path = atomic_write(Path(folder) / checkpoint_name(epoch), lambda f: torch.save(state, f))
    for old in list_checkpoints(folder)[:-keep]:
        old.unlink()
    return path


def load_checkpoint(path: str | os.PathLike, device: torch.device | str = "cpu") -> dict:
    """Read a checkpoint with ``torch.load(weights_only=True)``: tensors and plain data only,
    so a file from elsewhere cannot run code. Any damage raises :class:`CheckpointError`
    naming the file and the previous checkpoint, which is left in place."""
    path = Path(path)
    try:
        state = torch.load(path, map_location=device, weights_only=True)
        if not (isinstance(state, dict) and state.get("format") == CHECKPOINT_FORMAT):
            raise ValueError(f"not a d2lnotes checkpoint of format {CHECKPOINT_FORMAT}")
        return state
    except Exception as err:  # truncated zip, bad pickle, wrong file: all the same to a user
        others = [p for p in list_checkpoints(path.parent) if p != path]
        hint = (f"; the previous checkpoint {others[-1]} is untouched: move the damaged file "
                f"away to resume from it" if others else "")
        first = str(err).splitlines()[0] if str(err) else ""
        raise CheckpointError(f"cannot read checkpoint {path}: {type(err).__name__}: "
                              f"{first}{hint}") from None


def rng_states() -> dict:
    """Python's, NumPy's, torch's CPU and every GPU's random state, as plain data."""
    np_state = np.random.get_state()
    return {"python": random.getstate(),
            "numpy": [np_state[0], np_state[1].tolist(), *np_state[2:]],
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def set_rng_states(states: dict) -> None:
    """Undo the passage of time: restore what :func:`rng_states` returned."""
    python = states["python"]
    random.setstate((python[0], tuple(python[1]), python[2]))
    kind, key, *rest = states["numpy"]
    np.random.set_state((kind, np.array(key, dtype=np.uint32), *rest))
    torch.set_rng_state(states["torch"].cpu())
    if states["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in states["cuda"]])


def _plain_state(part) -> dict | None:
    """``part.state_dict()`` without functions: torch 2.1's OneCycleLR keeps its annealing
    method there, which ``torch.load(weights_only=True)`` refuses; the constructor sets it
    again when the run resumes."""
    if part is None:
        return None
    return {k: v for k, v in part.state_dict().items() if not callable(v)}


class Checkpoints:
    """The checkpoints (and, if given, the run record) of one training run in ``folder``.

    ``parts`` are the objects with a ``state_dict`` (model, optimizer, schedule, scaler, EMA;
    None where unused), ``generators`` the torch generators the run draws from besides the
    global ones (the augmentation's), ``meta`` the settings a resumed run must share. With
    several processes every one calls :meth:`save`; process 0 writes, with every process's
    random states in the file.
    """

    def __init__(self, folder: str | os.PathLike, parts: dict, generators: dict, meta: dict,
                 record: dict | None = None):
        self.folder, self.parts, self.generators = Path(folder), parts, generators
        self.meta, self.record, self.last = meta, record, None

    def start(self, resume: bool, device: torch.device, say=print) -> tuple[list, int]:
        """The history so far and the first epoch to run: after the newest checkpoint if
        ``resume``, else from scratch (refusing a folder that holds another run's files)."""
        existing = list_checkpoints(self.folder)
        if resume and existing:
            self.last = existing[-1]
            state = load_checkpoint(self.last, device)
            self._check_same_run(state["meta"])
            self._restore(state)
            say(f"resuming from {self.last}: {state['epoch']} of "
                f"{self.meta['num_epochs']} epochs done")
            return [list(r) for r in state["history"]], state["epoch"]
        if existing:
            raise FileExistsError(
                f"{self.folder} already holds checkpoints of another run ({existing[-1].name}); "
                f"resume it (resume=True, or --resume), or choose another folder")
        barrier()  # every process has looked before the first one writes
        self.save(0, [])
        return [], 0

    def save(self, epoch: int, rows: list) -> Path:
        """Checkpoint the state after ``epoch`` complete epochs (and the record, if any)."""
        mine = {"rng": rng_states(),
                "generators": {k: g.get_state() if g is not None else None
                               for k, g in self.generators.items()}}
        ranks = gather(mine)
        path = self.folder / checkpoint_name(epoch)
        if world().rank == 0:
            state = {"format": CHECKPOINT_FORMAT, "epoch": epoch, "meta": self.meta,
                     "history": [list(r) for r in rows], "ranks": ranks,
                     **{k: _plain_state(p) for k, p in self.parts.items()}}
            path = save_checkpoint(state, self.folder, epoch)
            if self.record is not None:
                self.record["history"] = [dict(zip(HISTORY_COLUMNS, r)) for r in rows]
                save_record(self.record, self.folder / "record.json")
        barrier()  # nobody moves on (or resumes) before the file is complete
        self.last = path
        return path

    def _restore(self, state: dict) -> None:
        for key, part in self.parts.items():
            if part is not None:
                part.load_state_dict(state[key])
        mine = state["ranks"][world().rank]
        for key, g in self.generators.items():
            if g is not None and mine["generators"].get(key) is not None:
                g.set_state(mine["generators"][key].cpu())
        set_rng_states(mine["rng"])

    def _check_same_run(self, saved: dict) -> None:
        """Refuse to continue with other settings: the result would be neither run."""
        diff = [f"{k}: checkpoint {saved.get(k)!r}, now {v!r}" for k, v in self.meta.items()
                if saved.get(k) != v]
        if diff:
            raise ValueError(f"cannot resume from {self.last} with different settings ("
                             + "; ".join(diff) + "); resume with the run's own settings")
