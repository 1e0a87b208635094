"""Benchmark results: one folder per run, each carrying its provenance, and a README whose
tables are generated from them (``benchmarks/report.py --check``)."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
RESULTS = BENCH / "results"
sys.path.insert(0, str(BENCH))

import report  # noqa: E402
from results_io import Result, default_folder  # noqa: E402

FOLDERS = sorted(p.parent for p in RESULTS.rglob("result.json"))
PROVENANCE = ("git_commit", "git_dirty", "command", "versions", "recorded", "device_name")


def test_the_readme_tables_are_up_to_date():
    done = subprocess.run([sys.executable, str(BENCH / "report.py"), "--check"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr


def test_results_are_one_folder_per_run_and_nothing_else():
    assert FOLDERS
    for entry in RESULTS.iterdir():
        assert entry.is_dir() and re.fullmatch(r"\d{4}-\d{2}-\d{2}-[\w.-]+", entry.name), entry
        assert (entry / "result.json").is_file() and (entry / "stdout.txt").is_file(), entry


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda f: f.relative_to(RESULTS).as_posix())
def test_every_result_carries_its_provenance(folder):
    r = json.loads((folder / "result.json").read_text())
    assert r["benchmark"] in report.KINDS or r["benchmark"] in ("gpu_check",)
    for key in PROVENANCE:
        assert key in r, f"{folder}: no {key}"
    assert r["command"] and r["recorded"]
    if r["git_commit"] is None:  # recorded before provenance existed: it must say so
        assert r["provenance"] == "reconstructed from git history"
        assert re.fullmatch(r"[0-9a-f]{40}", r["recorded_in_commit"])
        assert r["recorded_in_commit_date"][:10] == folder.name[:10]
    else:
        assert re.fullmatch(r"[0-9a-f]{40}", r["git_commit"]) and r["git_dirty"] in (True, False)


def test_report_fills_markers_from_folders_and_globs(tmp_path):
    results = tmp_path / "results"
    for name, seconds in (("2030-01-01-a", 2.0), ("2030-01-02-gpu-check/train_speed_224", 1.0)):
        (results / name).mkdir(parents=True)
        (results / name / "result.json").write_text(json.dumps({
            "benchmark": "train_speed", "git_commit": None, "recorded_in_commit": "0" * 40,
            "recorded": "2030-01-01T00:00:00+00:00", "device_name": "X",
            "settings": {"device": "cuda" if "gpu" in name else "cpu", "resize": 224,
                         "train_size": 1000, "test_size": 100, "epochs": 1, "repeat": 1,
                         "peak_tflops": 100, "amp (fast, loader)": "bfloat16 (auto)",
                         "channels_last (fast, loader)": "True (auto)"},
            "best": {"fast": {"seconds": seconds, "test_acc": 0.5},
                     "d2l": {"seconds": 10.0, "test_acc": 0.5}},
            "fast_step": {"flops_per_image": 1e9, "train_step_images_per_s": 40000,
                          "tflops": 40.0}}))
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- results:train_speed 2030-01-01-a *-gpu-check/train_speed_* -->\n"
                      "stale\n<!-- /results -->\n<!-- results:targets *-gpu-check/train_speed_* -->"
                      "\n<!-- /results -->\n<!-- results:time_to_accuracy *-gpu-check/tta -->\n"
                      "<!-- /results -->\nend\n")
    args = ["--readme", str(readme), "--results", str(results)]
    assert report.main(args + ["--check"]) == 1
    assert report.main(args) == 0 and report.main(args + ["--check"]) == 0
    text = readme.read_text()
    assert "stale" not in text and text.startswith("intro\n") and text.endswith("end\n")
    assert "| 5.00x |" in text and "| 10.00x |" in text  # d2l 10 s against 2 s and 1 s
    assert "| 40.0% | met |" in text and "| 10.00x | met |" in text
    assert "No result yet (`*-gpu-check/tta`" in text


def test_result_folder_tees_output_and_records_provenance(tmp_path, capsys):
    out = tmp_path / "2030-01-01-x"
    with Result("train_speed", "x", out=out, argv=["python", "bench.py", "--flag"]) as result:
        print("hello")
        result.save({"answer": 42})
    r = json.loads((out / "result.json").read_text())
    assert r["answer"] == 42 and r["command"] == "python bench.py --flag"
    assert all(key in r for key in PROVENANCE[:5])
    assert "hello" in (out / "stdout.txt").read_text() and "hello" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="already holds a result"):
        Result("train_speed", "x", out=out)
    assert default_folder("x", tmp_path).name.endswith("-x")
