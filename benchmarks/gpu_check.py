"""make gpu-check: everything that needs a GPU, in one command, into one folder.

On a CUDA machine, within a hard time budget (default 9 minutes), in this order:

1. ``gpu_tests``: ``pytest -m gpu tests/test_gpu.py`` (bf16 autocast, float16 with a gradient
   scaler as on a T4, channels_last, torch.compile, the on-device loader, exact resume with the
   CUDA random state, single-process NCCL DDP);
2. ``train_speed_96``, ``train_speed_224``: ``benchmarks/train_speed.py`` on all the data at 96
   and 224 px, our two paths against d2l's (``--paths fast,loader`` when d2l cannot be
   imported: the summary then says that d2l was not measured);
3. ``full_seed``, ``full_improved``: ``python -m d2lnotes train --profile full`` with the notes'
   recipe and with the improved one; then ``full_seed_96``, the notes' recipe at d2l-zh's
   96 px; their ``record.json`` are kept (checkpoints are not);
4. ``time_to_accuracy``: ``benchmarks/time_to_accuracy.py --records`` on those two records.

Each step runs in its own process with a timeout (the smaller of its own cap and the time left
in the budget less the minimum of every later step; a step that would get less than its own
minimum is skipped; a training run stopped by its timeout keeps its record of the epochs it
finished, which time_to_accuracy then uses), its output goes to the
terminal and to ``logs/<step>.txt``, and its wall time and status (passed, failed, timeout,
skipped) go to the summary; a step that fails does not stop the others. Everything lands in
one folder that can be committed, ``benchmarks/results/<date>-gpu-check/`` (``result.json``:
the summary with provenance; ``stdout.txt``; one folder per step), and, when ``$OUT`` is set
(the device tool's output folder), is also packed into ``$OUT/<folder>.tar.gz`` with the summary
beside it. Exit status: 0 if every step passed, else 1.

No virtual environment is needed: ``PYTHONPATH=. python3 benchmarks/gpu_check.py`` with a
python that has torch. d2l (and the IPython modules it imports) is installed from ``.whl/``
into a temporary folder when it is not importable; Fashion-MNIST is read from
``$D2LNOTES_DATA``, else from ``.data/FashionMNIST/raw`` (plain or ``.gz`` files, unpacked to
a temporary folder). ``--prepare`` (run once on a machine with network access, in the
repository root) fills ``.whl/`` and ``.data/`` for a machine without it.

``--rehearsal`` runs the same sequence on the CPU at smoke sizes (tiny subsets, 1 epoch,
28 px; the GPU tests with ``D2LNOTES_GPU_REHEARSAL=1``), into ``runs/gpu-check-rehearsal``,
so that a typo fails here and not on the one real GPU run.

    make gpu-check                      # on the GPU machine (PYTHON=python3 if no .venv)
    make gpu-check REHEARSAL=1          # here, on the CPU, in about a minute
    python benchmarks/gpu_check.py --prepare
"""
from __future__ import annotations

import argparse
import dataclasses
import gzip
import importlib.util
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path[:0] = [str(HERE), str(REPO)]  # results_io, and d2lnotes without an install
RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")
# Dense bf16 peak (TFLOP/s) by a piece of the device's name, for train_speed's share of peak.
PEAK_TFLOPS = (("H200", 989), ("H100 PCIe", 756), ("H100 NVL", 835), ("H100", 989),
               ("A100", 312), ("L40S", 362), ("L4", 121), ("A10G", 125), ("T4", 65))
# What carries d2l to a machine without network: d2l itself and what d2l/torch.py imports
# that a torch image may lack (IPython, matplotlib_inline and their pure-Python dependencies).
WHEELS = ("d2l==1.0.3", "ipython==9.18.1", "ipython-pygments-lexers==1.1.1",
          "matplotlib-inline==0.2.2", "traitlets==5.16.1", "jedi==0.20.1", "parso==0.8.7",
          "pexpect==4.9.0", "ptyprocess==0.7.0", "prompt-toolkit==3.0.53", "wcwidth==0.9.4",
          "stack-data==0.6.3", "executing==2.3.0", "asttokens==3.0.2", "pure-eval==0.2.4")


@dataclasses.dataclass
class Step:
    name: str
    argv: list[str]  # run with this interpreter, from the repository root
    cap_s: float  # the longest this step may take
    min_s: float = 20  # skipped if less than this is left; kept free for it by earlier steps
    env: dict = dataclasses.field(default_factory=dict)
    note: str = ""
    after: object = None  # called with (step, status) after the run: keep files, add notes


def plan(args, folder: Path, scratch: Path, d2l_ok: bool, peak: float | None) -> list[Step]:
    """The steps, sized for a GPU or (rehearsal) for a CPU."""
    from results_io import git_fallback
    py = [sys.executable]
    paths = [] if d2l_ok else ["--paths", "fast,loader"]
    d2l_note = "" if d2l_ok else "d2l not measured (not importable)"
    if args.rehearsal:
        speed = ["--train-size", "80", "--test-size", "32", "--batch-size", "16", "--steps", "1",
                 "--device", "cpu"]
        sizes = {96: 28, 224: 28}
        full = ["--epochs", "1", "--resize", "28", "--train-size", "256", "--test-size", "64",
                "--batch-size", "32", "--device", "cpu"]  # 8 steps: OneCycleLR needs 5 or more
        caps = dict(tests=240, speed=120, full=90, tta=60)
    else:
        speed = ["--train-size", "60000", "--test-size", "10000", "--repeat", "1"]
        speed += ["--peak-tflops", str(peak)] if peak else []
        sizes = {96: 96, 224: 224}
        full = ["--device", "cuda"]
        caps = dict(tests=180, speed=150, full=200, tta=60)

    def keep_record(name):
        def after(step, status):
            src = scratch / name / "record.json"
            if src.exists():
                (folder / name).mkdir(exist_ok=True)
                record = json.loads(src.read_text())
                record.update(git_fallback() if record.get("git_commit") is None else {})
                (folder / name / "record.json").write_text(json.dumps(record, indent=2) + "\n")
                step.note = (f"{record.get('status')}, {len(record.get('history', []))} epochs"
                             + (f", final test acc {record['history'][-1]['val_acc_all']:.4f}"
                                if record.get("history") else ""))
            else:
                step.note = "no record.json"
        return after

    tests_env = {"CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
    if args.rehearsal:
        tests_env["D2LNOTES_GPU_REHEARSAL"] = "1"
    steps = [Step("gpu_tests", py + ["-m", "pytest", "-m", "gpu", "tests/test_gpu.py", "-v",
                                     "-p", "no:cacheprovider", "-o", "addopts=-ra",
                                     f"--junitxml={folder / 'logs' / 'gpu_tests.xml'}"],
                  caps["tests"], env=tests_env)]
    for label, px in sizes.items():
        steps.append(Step(f"train_speed_{label}",
                          py + ["benchmarks/train_speed.py", "--resize", str(px), *speed, *paths,
                                "--out", str(folder / f"train_speed_{label}")],
                          caps["speed"], note=d2l_note))
    # The full runs: both recipes at the notes' 224 px, then the notes' recipe at d2l-zh's own
    # 96 px, the reference the training chapters compare with d2l-zh's published run (about 7
    # hours on 2 CPU cores, minutes on a GPU).
    at_96 = [] if args.rehearsal else ["--resize", "96"]
    for name, recipe, extra in [("full_seed", "seed", []), ("full_improved", "improved", []),
                                ("full_seed_96", "seed", at_96)]:
        steps.append(Step(name, py + ["-m", "d2lnotes", "train", "--profile", "full",
                                      "--recipe", recipe, *full, *extra, "--no-progress",
                                      "--out", str(scratch / name)],
                          caps["full"], min_s=20 if args.rehearsal else 60,
                          after=keep_record(name)))
    targets = "0.90,0.92,0.93,0.94,0.945"
    steps.append(Step("time_to_accuracy",
                      py + ["benchmarks/time_to_accuracy.py", "--targets", targets, "--records",
                            str(folder / "full_seed" / "record.json"),
                            str(folder / "full_improved" / "record.json"),
                            "--out", str(folder / "time_to_accuracy")],
                      caps["tta"], min_s=5))
    return steps


def run_step(step: Step, timeout: float, env: dict, log: Path) -> tuple[str, int | None]:
    """Run one step in its own process group, output to the terminal and ``log``."""
    print(f"\n=== {step.name} (timeout {timeout:.0f} s): {shlex.join(step.argv)}", flush=True)
    proc = subprocess.Popen(step.argv, cwd=REPO, env={**env, **step.env}, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, bufsize=1,
                            start_new_session=True, errors="replace")
    timed_out = threading.Event()

    def stop():  # SIGTERM first (training keeps its last checkpoint and record), then SIGKILL
        timed_out.set()
        for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                pass

    timer = threading.Timer(timeout, stop)
    timer.start()
    with open(log, "w") as f:
        for line in proc.stdout:
            sys.stdout.write(line)
            f.write(line)
    rc = proc.wait()
    timer.cancel()
    if timed_out.is_set():
        return "timeout", rc
    return ("passed" if rc == 0 else "failed"), rc


def find_data(scratch: Path) -> tuple[Path | None, str]:
    """A folder holding FashionMNIST/raw: $D2LNOTES_DATA, or .data (unpacked if gzipped)."""
    if os.environ.get("D2LNOTES_DATA"):
        root = Path(os.environ["D2LNOTES_DATA"]).expanduser().resolve()
        return root, f"$D2LNOTES_DATA ({root})"
    raw = REPO / ".data" / "FashionMNIST" / "raw"
    if all((raw / n).is_file() for n in RAW_FILES):
        return REPO / ".data", ".data (carried)"
    if all((raw / f"{n}.gz").is_file() for n in RAW_FILES):
        out = scratch / "data" / "FashionMNIST" / "raw"
        out.mkdir(parents=True, exist_ok=True)
        for n in RAW_FILES:
            with gzip.open(raw / f"{n}.gz", "rb") as src, open(out / n, "wb") as dst:
                shutil.copyfileobj(src, dst)
        return scratch / "data", ".data/*.gz (carried, unpacked)"
    return None, ("not found: set D2LNOTES_DATA or carry .data (python benchmarks/gpu_check.py "
                  "--prepare)")


def d2l_importable(env: dict) -> tuple[bool, str]:
    code = ("import importlib.util, sys\n"
            "if importlib.util.find_spec('d2l') is None: sys.exit(\"No module named 'd2l'\")\n"
            "from d2l import torch as d2l; import d2l as m; print(m.__version__)")
    probe = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=120)
    if probe.returncode == 0:
        return True, probe.stdout.strip()
    return False, (probe.stderr.strip().splitlines() or ["?"])[-1]


def install_wheels(scratch: Path, env: dict) -> str:
    """Install .whl/*.whl (no index, no dependencies) into scratch/site, put it on the path."""
    wheels = sorted((REPO / ".whl").glob("*.whl"))
    if not wheels:
        return "no .whl/ folder"
    site = scratch / "site"
    done = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps",
                           "--no-compile", "--no-cache-dir", "--target", str(site),
                           *map(str, wheels)], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        return f"pip install from .whl failed: {done.stderr.strip()[-500:]}"
    env["PYTHONPATH"] = os.pathsep.join([str(site), env["PYTHONPATH"]])
    return f"installed {len(wheels)} wheels from .whl into {site}"


def gpu_name() -> tuple[str, float | None, str]:
    """The GPU's name, its dense bf16 peak if known, and nvidia-smi's report."""
    import torch
    if not torch.cuda.is_available():
        return "no CUDA device", None, ""
    name = torch.cuda.get_device_name(0)
    peak = next((p for key, p in PEAK_TFLOPS if key in name), None)
    try:
        smi = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        smi = ""
    return name, peak, smi


def pack(folder: Path, out: Path, summary: str) -> list[str]:
    """``out/<folder>.tar.gz`` and the summary beside it (the device tool brings back 8 files)."""
    out.mkdir(parents=True, exist_ok=True)
    tar = out / f"{folder.name}.tar.gz"
    with tarfile.open(tar, "w:gz") as t:
        t.add(folder, arcname=folder.name)
    (out / f"{folder.name}-summary.md").write_text(summary)
    return [str(tar), str(out / f"{folder.name}-summary.md")]


def summary_table(steps: list[dict]) -> str:
    lines = ["| step | status | wall s | timeout s | note |", "|---|---|---|---|---|"]
    lines += [f"| {s['name']} | {s['status']} | {s['seconds']:.0f} | {s['timeout_s']:.0f} | "
              f"{s['note']} |" for s in steps]
    return "\n".join(lines)


def check(args) -> int:
    from results_io import Result, default_folder

    start = time.monotonic()
    deadline = start + args.budget
    if args.out:
        folder = Path(args.out)
    elif args.rehearsal:
        folder = REPO / "runs" / "gpu-check-rehearsal"
        shutil.rmtree(folder, ignore_errors=True)
    else:
        folder = default_folder("gpu-check")
    scratch = Path(tempfile.mkdtemp(prefix="gpu-check-"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    if args.rehearsal:
        env["CUDA_VISIBLE_DEVICES"] = ""  # a CPU run even on a machine with a GPU
        # one thread: on a shared CPU, two threads that wait for each other are many times
        # slower than one, and the rehearsal measures nothing
        env["OMP_NUM_THREADS"] = "1"
    with Result("gpu_check", "gpu-check", out=folder) as result:
        (folder / "logs").mkdir(exist_ok=True)
        print(f"gpu-check{' (rehearsal on the CPU)' if args.rehearsal else ''}: budget "
              f"{args.budget:.0f} s, results in {folder}", flush=True)
        data_root, data_note = find_data(scratch)
        if data_root is not None:
            env["D2LNOTES_DATA"] = str(data_root)
        print(f"data: {data_note}")
        from d2lnotes import runs
        if runs.git_state()["git_commit"] is None and not os.environ.get("D2LNOTES_GIT_COMMIT"):
            print("warning: no git history here, so the results cannot name their commit; set "
                  "D2LNOTES_GIT_COMMIT (and D2LNOTES_GIT_DIRTY=0/1) to the commit copied")
        d2l_ok, d2l_info = d2l_importable(env)
        wheel_note = ""
        if not d2l_ok:
            wheel_note = install_wheels(scratch, env)
            d2l_ok, d2l_info = d2l_importable(env)
        print(f"d2l: {d2l_info if d2l_ok else 'not importable: ' + d2l_info}"
              + (f" ({wheel_note})" if wheel_note else ""))
        name, peak, smi = ("CPU (rehearsal)", None, "") if args.rehearsal else gpu_name()
        print(f"device: {name}; dense bf16 peak {peak or 'unknown'} TFLOP/s\n{smi}", flush=True)
        if not args.rehearsal and name == "no CUDA device":
            print("warning: no CUDA device; the GPU tests will be skipped (use --rehearsal for "
                  "a CPU run)", flush=True)
        steps = plan(args, folder, scratch, d2l_ok, peak)
        if args.only:
            steps = [s for s in steps if s.name in args.only.split(",")]
        done = []
        for i, step in enumerate(steps):
            # what is left, less the minimum of every later step, so none starves the rest
            left = deadline - time.monotonic()
            timeout = min(step.cap_s, left - sum(s.min_s for s in steps[i + 1:]))
            t0 = time.monotonic()
            if timeout < step.min_s:
                status, rc = "skipped", None
                step.note = f"no time left in the {args.budget:.0f} s budget"
                print(f"\n=== {step.name}: skipped ({step.note})", flush=True)
            else:
                status, rc = run_step(step, timeout, env, folder / "logs" / f"{step.name}.txt")
            if step.after is not None:
                step.after(step, status)
            seconds = time.monotonic() - t0
            done.append({"name": step.name, "status": status, "returncode": rc,
                         "seconds": round(seconds, 1), "timeout_s": round(max(timeout, 0), 1),
                         "command": shlex.join(step.argv), "note": step.note})
            print(f"=== {step.name}: {status} in {seconds:.0f} s", flush=True)
        total = time.monotonic() - start
        table = summary_table(done)
        ok = all(s["status"] == "passed" for s in done)
        print(f"\n{table}\n\n{'all steps passed' if ok else 'NOT all steps passed'} in "
              f"{total:.0f} s (budget {args.budget:.0f} s)"
              + ("" if d2l_ok else "; d2l was not measured (not importable)"), flush=True)
        result.save({"rehearsal": args.rehearsal, "budget_s": args.budget,
                     "seconds": round(total, 1), "passed": ok, "steps": done,
                     "d2l": d2l_info if d2l_ok else None, "d2l_measured": d2l_ok,
                     "d2l_note": wheel_note, "data": data_note, "peak_tflops": peak,
                     "nvidia_smi": smi},
                    device="cpu" if args.rehearsal or name == "no CUDA device" else "cuda")
    if os.environ.get("OUT") and not args.rehearsal or args.pack:
        target = Path(args.pack or os.environ["OUT"])
        print("packed:", *pack(folder, target, f"# {folder.name}\n\n{table}\n"))
    shutil.rmtree(scratch, ignore_errors=True)
    return 0 if ok else 1


def prepare() -> int:
    """Fill .whl/ (d2l and what it imports, for Python 3.12 on x86-64) and .data/ (gzipped)."""
    whl = REPO / ".whl"
    plat = [a for p in ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64")
            for a in ("--platform", p)]
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                    "--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
                    *plat, "-d", str(whl), *WHEELS], check=True)
    from d2lnotes import data
    raw = data.data_root() / "FashionMNIST" / "raw"
    if data._missing_files(data.data_root()):
        sys.exit(f"error: Fashion-MNIST is not under {raw}; set D2LNOTES_DATA to the folder "
                 "that holds FashionMNIST/raw")
    out = REPO / ".data" / "FashionMNIST" / "raw"
    out.mkdir(parents=True, exist_ok=True)
    for n in RAW_FILES:
        if not (out / f"{n}.gz").exists():
            with open(raw / n, "rb") as src, gzip.open(out / f"{n}.gz", "wb", 6) as dst:
                shutil.copyfileobj(src, dst)
    for path in (".whl", ".data"):
        ignored = subprocess.run(["git", "-C", str(REPO), "check-ignore", "-q", path]).returncode
        if ignored != 0:
            with open(REPO / ".git" / "info" / "exclude", "a") as f:
                f.write(f"/{path}/\n")
    size = sum(p.stat().st_size for d in (whl, out) for p in d.rglob("*") if p.is_file())
    print(f"prepared .whl ({len(list(whl.glob('*.whl')))} wheels) and .data: "
          f"{size / 2**20:.1f} MiB to carry; on the device run\n"
          "  make gpu-check PYTHON=python3    with carry [\".whl\", \".data\"]")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rehearsal", action="store_true",
                   help="the same sequence on the CPU at smoke sizes")
    p.add_argument("--budget", type=float, default=None,
                   help="hard limit in seconds for all steps (default 540; rehearsal 600)")
    p.add_argument("--out", default=None, help="result folder (default: benchmarks/results/"
                   "<date>-gpu-check; rehearsal: runs/gpu-check-rehearsal)")
    p.add_argument("--only", default=None, help="comma-separated step names to run")
    p.add_argument("--pack", default=None, help="also pack the folder into this folder "
                   "(default: $OUT when set, except in a rehearsal)")
    p.add_argument("--prepare", action="store_true",
                   help="fill .whl/ and .data/ for a machine without network, then stop")
    args = p.parse_args(argv)
    if args.prepare:
        return prepare()
    if args.budget is None:
        args.budget = 600.0 if args.rehearsal else 540.0
    if importlib.util.find_spec("torch") is None:
        sys.exit(f"error: {sys.executable} has no torch; run with a python that has it "
                 "(make gpu-check PYTHON=python3)")
    return check(args)


if __name__ == "__main__":
    sys.exit(main())
