"""Write the result tables of benchmarks/README.md from the result folders; no table by hand.

Each table sits between two markers in the README:

    <!-- results:KIND PATTERN ... -->
    (generated: do not edit)
    <!-- /results -->

``KIND`` says how to draw it; each ``PATTERN`` is a result folder under ``benchmarks/results``
or a glob (``*-gpu-check/train_speed_*``), so results that do not exist yet (a GPU run) appear
as soon as their folder does. Kinds: ``index`` (every result folder with its provenance),
``train_speed``, ``train_speed_step``, ``targets``, ``cpu_bf16_accuracy``, ``d2l_breakdown``,
``time_to_accuracy``, ``gpu_check``.

    python benchmarks/report.py           # rewrite the tables in benchmarks/README.md
    python benchmarks/report.py --check   # exit 1 (and show the difference) if out of date

Plain Python and JSON only (no torch), so it runs anywhere in a second.
"""
from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE / "README.md"
MARKER = re.compile(r"(<!-- results:(\w+)([^>]*?)-->\n)(.*?)(<!-- /results -->)", re.S)
# The project's targets (benchmarks/README.md, "Targets"): speed-up over d2l per setting, and
# the fast training step's share of the GPU's dense bf16 peak.
CPU_SPEEDUP, GPU_SPEEDUP, GPU_PEAK_SHARE = 2.0, 5.0, 0.35


# --------------------------------------------------------------------------------------------
# Reading result folders

def load(folder: Path) -> dict:
    return json.loads((folder / "result.json").read_text())


def find(patterns: list[str], results: Path = RESULTS) -> list[Path]:
    """The result folders named by ``patterns`` (folders or globs), in the order given."""
    found = []
    for pattern in patterns:
        matches = sorted(p.parent for p in results.glob(f"{pattern}/result.json"))
        found += [m for m in matches if m not in found]
    return found


def all_folders(results: Path = RESULTS) -> list[Path]:
    return sorted(p.parent for p in results.rglob("result.json"))


def rel(folder: Path, results: Path = RESULTS) -> str:
    return folder.relative_to(results).as_posix()


# --------------------------------------------------------------------------------------------
# Tables

def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def commit_cell(r: dict) -> str:
    if r.get("git_commit"):
        return f"`{r['git_commit'][:7]}`" + (" (dirty)" if r.get("git_dirty") else "")
    if r.get("recorded_in_commit"):
        return f"unknown (added in `{r['recorded_in_commit'][:7]}`)"
    return "unknown"


def index(folders: list[Path], results: Path) -> str:
    rows = [[f"`{rel(f, results)}`", r["benchmark"], r.get("device_name") or "",
             (r.get("recorded") or "")[:16].replace("T", " "), commit_cell(r)]
            for f in folders for r in [load(f)]]
    return table(["result folder", "benchmark", "device", "recorded (UTC)", "code"], rows)


def _precision(settings: dict) -> str:
    amp = settings.get("amp (fast, loader)", "")
    cl = settings.get("channels_last (fast, loader)", "")
    text = amp.replace(" (auto)", "") + (" (default)" if "auto" in amp else "")
    return text + (", channels_last" if cl.startswith("True") else "")


def _run_label(folder: Path, r: dict, results: Path) -> str:
    s = r["settings"]
    epochs = f"{s['epochs']} epoch" + ("s" if s["epochs"] > 1 else "")
    device = "GPU" if s["device"].startswith("cuda") else "CPU"
    return (f"{device}, {s['resize']} px, {s['train_size']:,}/{s['test_size']:,} images, "
            f"{epochs}, best of {s['repeat']}, {_precision(s)} (`{rel(folder, results)}`)")


def train_speed(folders: list[Path], results: Path) -> str:
    rows = []
    for f in folders:
        r = load(f)
        best, n = r["best"], r["settings"]["train_size"]
        label = _run_label(f, r, results)
        for path, b in best.items():
            speedup = (f"{best['d2l']['seconds'] / b['seconds']:.2f}x" if "d2l" in best
                       else "d2l not measured")
            rows.append([label, path if path != "d2l" else "d2l (float32)",
                         f"{b['seconds']:.2f}", f"{n / b['seconds']:.0f}",
                         f"{b['test_acc']:.4f}", speedup])
            label = ""
    return table(["run (batch 256, lr 0.05, seed 0 unless named)", "path", "s/epoch",
                  "train img/s", "test acc", "speed-up vs d2l"], rows)


def train_speed_step(folders: list[Path], results: Path) -> str:
    rows = []
    for f in folders:
        r = load(f)
        fs, s = r.get("fast_step"), r["settings"]
        if not fs:
            continue
        peak = s.get("peak_tflops")
        rows.append([f"{s['resize']} px, {_precision(s)} (`{rel(f, results)}`)",
                     f"{fs['flops_per_image'] / 1e9:.3f}",
                     f"{fs['train_step_images_per_s']:.0f}", f"{fs['tflops']:.2f}",
                     f"{fs['tflops'] / peak:.1%} of {peak:g}" if peak else "-"])
    return table(["fast path training step", "GFLOP/image (fwd+bwd)", "img/s",
                  "TFLOP/s", "share of peak"], rows)


def targets(folders: list[Path], results: Path) -> str:
    """Each run against the target for its device: speed-up over d2l, share of the peak."""
    rows = []
    for f in folders:
        r = load(f)
        s, best = r["settings"], r["best"]
        gpu = s["device"].startswith("cuda")
        want = GPU_SPEEDUP if gpu else CPU_SPEEDUP
        if "d2l" in best:
            got = best["d2l"]["seconds"] / best["fast"]["seconds"]
            rows.append([f"`{rel(f, results)}`", f"fast path >= {want:g}x d2l",
                         f"{got:.2f}x", "met" if got >= want else "not met"])
        else:
            rows.append([f"`{rel(f, results)}`", f"fast path >= {want:g}x d2l",
                         "d2l not measured", "unknown"])
        if gpu and r.get("fast_step") and s.get("peak_tflops"):
            share = r["fast_step"]["tflops"] / s["peak_tflops"]
            rows.append(["", f"training step >= {GPU_PEAK_SHARE:.0%} of bf16 peak",
                         f"{share:.1%}", "met" if share >= GPU_PEAK_SHARE else "not met"])
    return table(["run", "target", "measured", "verdict"], rows)


def cpu_bf16_accuracy(folders: list[Path], results: Path) -> str:
    out = []
    for f in folders:
        r = load(f)
        by = {(x["seed"], x["amp"]): x for x in r["resnet18"]}
        seeds = sorted({x["seed"] for x in r["resnet18"]})
        rows = [[s, f"{by[s, False]['test_acc']:.4f}", f"{by[s, True]['test_acc']:.4f}",
                 f"{by[s, True]['test_acc'] - by[s, False]['test_acc']:+.4f}",
                 f"{by[s, False]['seconds']:.1f}", f"{by[s, True]['seconds']:.1f}"]
                for s in seeds]
        mean = {amp: {k: sum(by[s, amp][k] for s in seeds) / len(seeds)
                      for k in ("test_acc", "seconds")} for amp in (False, True)}
        rows.append(["mean", f"{mean[False]['test_acc']:.4f}", f"{mean[True]['test_acc']:.4f}",
                     f"{mean[True]['test_acc'] - mean[False]['test_acc']:+.4f}",
                     f"{mean[False]['seconds']:.1f}",
                     f"{mean[True]['seconds']:.1f} "
                     f"({mean[False]['seconds'] / mean[True]['seconds']:.2f}x faster)"])
        out.append(table(["ResNet-18, seed", "float32 test acc", "bf16 test acc", "bf16 - float32",
                          "float32 s", "bf16 s"], rows))
        lenet = r["lenet"]
        rows = [[("bf16" if amp else "float32"),
                 ", ".join(f"{x['seconds']:.2f}" for x in lenet if x["amp"] == amp),
                 ", ".join(sorted({f"{x['test_acc']:.4f}" for x in lenet if x["amp"] == amp}))]
                for amp in (False, True)]
        out.append(table(["LeNet with BN, 1 epoch", "s per run", "test acc"], rows)
                   + f"\n\n(`{rel(f, results)}`)")
    return "\n\n".join(out)


def d2l_breakdown(folders: list[Path], results: Path) -> str:
    loaded = [load(f) for f in folders]
    cases = [c["case"] for c in loaded[0]["cases"]] if loaded else []
    header = ["best of 2, seconds per epoch"] + [
        f"{r['settings']['resize']} px, {r['settings']['train_size']:,} images "
        f"(`{rel(f, results)}`)" for f, r in zip(folders, loaded)]
    rows = [[case] + [f"{next(c['best_seconds'] for c in r['cases'] if c['case'] == case):.2f}"
                      for r in loaded] for case in cases]
    return table(header, rows)


def _time_to(history: list[dict], target: float) -> tuple[float, int] | None:
    """(seconds, epochs) until the test accuracy first reaches ``target``; None if never."""
    total = 0.0
    for i, row in enumerate(history):
        total += row["seconds"]
        if row["val_acc_all"] >= target:
            return total, i + 1
    return None


def time_to_accuracy_tables(r: dict) -> str:
    """The two tables of one time-to-accuracy result (also printed by time_to_accuracy.py)."""
    hs = {name: h for name, h in r["histories"].items() if h}  # a run stopped before epoch 1
    if set(hs) != {"seed", "improved"}:
        return f"(no epochs recorded for: {', '.join(sorted(set(r['histories']) - set(hs)))})"

    def cell(hit):
        return "not reached" if hit is None else f"{hit[0]:.1f} s (epoch {hit[1]})"

    rows = []
    for t in r["settings"]["targets"]:
        a, b = _time_to(hs["seed"], t), _time_to(hs["improved"], t)
        ratio = (f"{a[0] / b[0]:.2f}x" if a and b else "only improved" if b
                 else "only seed" if a else "-")
        rows.append([f"{t * 100:g}%", cell(a), cell(b), ratio])
    first = table(["test accuracy", "seed recipe", "improved recipe", "speed-up"], rows)
    rows = [[name, f"{h[-1]['val_acc_all']:.4f}", f"{max(x['val_acc_all'] for x in h):.4f}",
             f"{h[-1]['train_acc_all']:.4f}",
             f"{sum(x['seconds'] for x in h) / len(h):.1f}"]
            for name, h in hs.items()]
    second = table(["recipe", "final test acc", "best test acc",
                    "final train acc (augmented, during training)", "s/epoch"], rows)
    return first + "\n\n" + second


def time_to_accuracy(folders: list[Path], results: Path) -> str:
    out = []
    for f in folders:
        r = load(f)
        s = r["settings"]
        out.append(f"`{rel(f, results)}`: {r.get('device_name')}, {s.get('profile')} profile, "
                   f"{s['resize']} px, {s['train_size']:,}/{s['test_size']:,} images, "
                   f"batch {s['batch_size']}, {s['epochs']} epochs"
                   + (f", precision {s['amp']}" if s.get("amp") else "")
                   + "\n\n" + time_to_accuracy_tables(r))
    return "\n\n".join(out)


def gpu_check(folders: list[Path], results: Path) -> str:
    out = []
    for f in folders:
        r = load(f)
        rows = [[s["name"], s["status"], f"{s['seconds']:.0f}", s.get("note", "")]
                for s in r["steps"]]
        out.append(f"`{rel(f, results)}`: {r.get('device_name')}, "
                   f"{'rehearsal on the CPU, ' if r.get('rehearsal') else ''}"
                   f"{r['seconds']:.0f} s in all, budget {r['budget_s']:.0f} s\n\n"
                   + table(["step", "status", "wall s", "note"], rows))
    return "\n\n".join(out)


KINDS = {"index": index, "train_speed": train_speed, "train_speed_step": train_speed_step,
         "targets": targets, "cpu_bf16_accuracy": cpu_bf16_accuracy,
         "d2l_breakdown": d2l_breakdown, "time_to_accuracy": time_to_accuracy,
         "gpu_check": gpu_check}
DEFAULT_PATTERNS = {"gpu_check": ["*-gpu-check*"]}


def render(kind: str, patterns: list[str], results: Path = RESULTS) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown table kind {kind!r}; known: {', '.join(KINDS)}")
    patterns = patterns or DEFAULT_PATTERNS.get(kind, [])
    folders = all_folders(results) if kind == "index" else find(patterns, results)
    if kind == "gpu_check":
        folders = [f for f in folders if load(f)["benchmark"] == "gpu_check"]
    if not folders:
        return f"No result yet (`{' '.join(patterns)}` matches no folder in benchmarks/results)."
    return KINDS[kind](folders, results)


def build(text: str, results: Path = RESULTS) -> str:
    """``text`` with every marked table regenerated."""
    def replace(m):
        body = render(m.group(2), m.group(3).split(), results)
        return f"{m.group(1)}{body}\n{m.group(5)}"
    return MARKER.sub(replace, text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--check", action="store_true",
                   help="change nothing; exit 1 if the README's tables are out of date")
    p.add_argument("--readme", type=Path, default=README)
    p.add_argument("--results", type=Path, default=RESULTS)
    args = p.parse_args(argv)
    old = args.readme.read_text()
    if not MARKER.search(old):
        print(f"error: {args.readme} has no <!-- results:KIND --> markers", file=sys.stderr)
        return 2
    new = build(old, args.results)
    if new == old:
        print(f"{args.readme}: tables up to date")
        return 0
    if args.check:
        sys.stdout.writelines(difflib.unified_diff(
            old.splitlines(True), new.splitlines(True), str(args.readme), "generated"))
        print(f"\n{args.readme} is out of date: run python benchmarks/report.py",
              file=sys.stderr)
        return 1
    args.readme.write_text(new)
    print(f"{args.readme}: tables rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
