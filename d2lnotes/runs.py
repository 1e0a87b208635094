"""Run records, checkpoints and provenance: what a run leaves on disk, and where it came from.

Every file here is written by one function, :func:`atomic_write` (a temporary file, fsynced,
renamed over the final name, the folder fsynced), so a crash at any moment leaves the old file
or the new one, never half of one. Every record carries its provenance (:func:`provenance`):
the git commit and whether the tree was dirty, the exact command, the versions and the device.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path

import torch

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

    ``None`` for both when ``folder`` is not a git checkout (an installed package) or git is
    missing: a record then says plainly that its code version is unknown.
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
        return {"git_commit": None, "git_dirty": None}
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": bool(status) if status is not None else None}


def provenance(device: torch.device | str | None = None,
               argv: list[str] | None = None) -> dict:
    """Where a result came from: git commit and dirtiness, the exact command, versions, device.

    ``argv`` defaults to this process's own command line as it was typed (``sys.orig_argv``,
    with the interpreter named by its file name alone); ``device`` (when given) is named with
    :func:`d2lnotes.device.device_name`.
    """
    from .device import device_name

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
