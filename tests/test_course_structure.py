"""Every chapter teaches like a course: learning goals and prerequisites at the top, a summary,
and at least four exercises; every exercise either has a worked solution that runs in CI (a
collapsed code cell tagged ``solution`` that checks its answer) or says what a good answer to
an open question looks like."""
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "notebooks").rglob("*.ipynb"))
EXERCISE = re.compile(r"^\*\*Exercise (\d+)\.\*\*")
OPEN_ANSWER = "What a good answer looks like"


def _cells(path):
    cells = json.loads(path.read_text())["cells"]
    for c in cells:
        c["text"] = "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        c["tags"] = c.get("metadata", {}).get("tags", [])
    return cells


def _heading(cells, title):
    found = [i for i, c in enumerate(cells)
             if c["cell_type"] == "markdown" and re.search(rf"^## {title}\s*$", c["text"], re.M)]
    assert len(found) == 1, f"expected one '## {title}' heading, found {len(found)}"
    return found[0]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_learning_goals_open_the_chapter(path):
    cells = _cells(path)
    i = _heading(cells, "Learning goals")
    assert i <= 2, f"{path.stem}: the learning goals come right after the title (cell {i})"
    goals = re.findall(r"^[*-] ", cells[i]["text"], re.M)
    assert 3 <= len(goals) <= 5, f"{path.stem}: {len(goals)} learning goals, want 3 to 5"
    assert "**Prerequisites:**" in cells[i]["text"], f"{path.stem}: name the prerequisites"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_summary_then_exercises_close_the_chapter(path):
    cells = _cells(path)
    summary, exercises = _heading(cells, "Summary"), _heading(cells, "Exercises")
    assert summary < exercises, f"{path.stem}: the summary comes before the exercises"
    assert re.search(r"^[*-] ", cells[summary]["text"], re.M), f"{path.stem}: summary bullets"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_exercises_are_numbered_and_answered(path):
    cells = _cells(path)
    start = _heading(cells, "Exercises")
    numbers, solved = [], 0
    for i, c in enumerate(cells[start + 1:], start + 1):
        m = EXERCISE.match(c["text"]) if c["cell_type"] == "markdown" else None
        if not m:
            continue
        numbers.append(int(m.group(1)))
        nxt = cells[i + 1] if i + 1 < len(cells) else None
        has_solution = nxt is not None and "solution" in nxt["tags"]
        solved += has_solution
        assert has_solution or OPEN_ANSWER in c["text"], (
            f"{path.stem} exercise {m.group(1)}: add a solution cell or '{OPEN_ANSWER}'")
    assert len(numbers) >= 4, f"{path.stem}: {len(numbers)} exercises, want at least 4"
    assert numbers == list(range(1, len(numbers) + 1)), f"{path.stem}: numbered {numbers}"
    assert solved >= len(numbers) // 2, f"{path.stem}: only {solved} exercises have solutions"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_solutions_are_collapsed_and_check_their_answer(path):
    for c in _cells(path):
        if "solution" in c["tags"]:
            assert c["cell_type"] == "code", f"{path.stem}: a solution is a code cell"
            assert "hide-cell" in c["tags"], f"{path.stem}: collapse the solution (hide-cell)"
            assert re.search(r"^\s*assert\b", c["text"], re.M), (
                f"{path.stem}: a solution checks its answer with assert:\n{c['text'][:200]}")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_prose_says_the_notes(path):
    prose = "\n".join(c["text"] for c in _cells(path) if c["cell_type"] == "markdown")
    prose = re.sub(r"`[^`]*`", "", prose)
    assert not re.search(r"\bthe seed's\b|\bthe seed (?:notes|trains|resizes|then)\b",
                         prose, re.I), f"{path.stem}: say 'the notes', not 'the seed'"
    british = re.findall(r"\b\w+(?:isation|ise[sd]?|ising|our)\b", prose)
    allowed = {"our", "four", "hour", "hours", "your", "pour", "otherwise", "precise", "noise",
               "exercise", "exercises", "raise", "raised", "raises", "rise", "arise",
               "promise", "concise", "wise", "premise", "paradise", "expertise", "advise",
               "devise", "revise", "surprise", "surprised", "surprising", "comprise",
               "comprises", "enterprise", "praise", "franchise", "denoise", "ours", "tour",
               "contour", "flour", "sour", "yours", "noised", "noises", "raising", "rising",
               "arises", "rises", "promised", "otherwise", "concisely", "precisely", "Noise",
               "Exercise", "Exercises", "Our", "Your", "Four"}
    british = sorted(set(british) - allowed)
    assert not british, f"{path.stem}: US spelling, please: {british}"
