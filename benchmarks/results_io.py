"""Where a benchmark's result goes and what it carries: one folder per run.

    benchmarks/results/<YYYY-MM-DD>-<name>/
        result.json   the script's own data plus where it came from: the git commit and whether
                      the tree was dirty, the exact command, versions, device
                      (:func:`d2lnotes.runs.provenance`), the D2LNOTES_* settings in force
        stdout.txt    what the script printed (stdout and stderr), as the terminal showed it

Every script in this folder uses it the same way::

    with Result("train_speed", name, out=args.out) as result:
        print(...)                                   # also lands in stdout.txt
        result.save({"settings": ..., "runs": ...}, device=device)

``benchmarks/report.py`` builds the README's tables from these folders, so a number in the
README is always one that a result folder holds.
"""
from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

from d2lnotes import runs

RESULTS = Path(__file__).resolve().parent / "results"
ENV_KEYS = ("D2LNOTES_DATA", "D2LNOTES_PROFILE", "CUDA_VISIBLE_DEVICES", "OMP_NUM_THREADS")


def default_folder(name: str, results: Path = RESULTS) -> Path:
    """``results/<today, UTC>-<name>``, with ``-2``, ``-3``... if that run folder is taken."""
    base = results / f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d}-{name}"
    folder, n = base, 1
    while (folder / "result.json").exists():
        n += 1
        folder = base.with_name(f"{base.name}-{n}")
    return folder


def git_fallback() -> dict:
    """The commit from ``D2LNOTES_GIT_COMMIT`` (and ``D2LNOTES_GIT_DIRTY``, 0 or 1) when this
    tree has no git history, as on a machine that received a copy of the working tree only."""
    if runs.git_state()["git_commit"] is not None or not os.environ.get("D2LNOTES_GIT_COMMIT"):
        return {}
    dirty = os.environ.get("D2LNOTES_GIT_DIRTY")
    return {"git_commit": os.environ["D2LNOTES_GIT_COMMIT"],
            "git_dirty": None if dirty is None else dirty == "1",
            "git_commit_source": "D2LNOTES_GIT_COMMIT: the tree was a copy without .git"}


class _Tee:
    """A text stream that writes to the terminal and to a file."""

    def __init__(self, stream, file):
        self.stream, self.file = stream, file

    def write(self, text: str) -> int:
        self.file.write(text)
        return self.stream.write(text)

    def flush(self) -> None:
        self.file.flush()
        self.stream.flush()

    def isatty(self) -> bool:  # progress bars and colours would clutter stdout.txt
        return False

    def __getattr__(self, name):
        return getattr(self.stream, name)


class Result:
    """A result folder: refuses one that already holds a result, tees the output into it.

    ``out`` (a folder) defaults to :func:`default_folder` of ``name``; ``argv`` is the
    command to record (default: this process's, as typed).
    """

    def __init__(self, benchmark: str, name: str | None = None, out=None,
                 argv: list[str] | None = None):
        self.benchmark, self.name = benchmark, name or benchmark
        self.folder = Path(out) if out else default_folder(self.name)
        self.argv = argv
        if (self.folder / "result.json").exists():
            raise SystemExit(f"error: {self.folder} already holds a result; give another --out")

    def __enter__(self) -> "Result":
        self.folder.mkdir(parents=True, exist_ok=True)
        self._file = open(self.folder / "stdout.txt", "w", buffering=1)
        self._saved = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = _Tee(sys.stdout, self._file), _Tee(sys.stderr, self._file)
        return self

    def __exit__(self, *exc) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = self._saved
        self._file.close()

    def save(self, data: dict, device=None) -> Path:
        """Write ``result.json``: provenance first, then ``data`` (the script's own)."""
        record = {"benchmark": self.benchmark, "name": self.name,
                  "provenance": f"recorded by benchmarks/{self.benchmark}.py",
                  **runs.provenance(device, self.argv),
                  **git_fallback(),
                  "environment": {k: os.environ[k] for k in ENV_KEYS if k in os.environ},
                  **data}
        path = runs.save_json(record, self.folder / "result.json")
        print(f"result written to {self.folder}", file=sys.stderr)
        return path
