"""The verdict convention: every conclusion a chapter draws from its run is computed.

Each chapter's verdict cells (tag ``verdicts``) hold only imports and functions, are hidden
from readers (``remove-cell``), and every function they define is called by the chapter's own
test file, ``tests/test_verdicts_<chapter>.py``, on made-up numbers for each branch.
"""
import ast
import json
import re
from pathlib import Path

import pytest

from helpers.verdicts import NOTEBOOKS, verdict_cells

TESTS = Path(__file__).parent
WITH_VERDICTS = [p for p in NOTEBOOKS if verdict_cells(p)]


def test_chapters_draw_their_conclusions_through_verdict_cells():
    assert len(WITH_VERDICTS) >= 6, [p.stem for p in WITH_VERDICTS]


@pytest.mark.parametrize("path", WITH_VERDICTS, ids=lambda p: p.stem)
def test_verdict_cells_hold_only_imports_and_functions(path):
    for source in verdict_cells(path):
        for node in ast.parse(source).body:
            docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            assert docstring or isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef)), (
                f"{path.stem}: a verdict cell may hold only imports and defs, found "
                f"{ast.dump(node)[:80]}")


@pytest.mark.parametrize("path", WITH_VERDICTS, ids=lambda p: p.stem)
def test_verdict_cells_are_hidden(path):
    for cell in json.loads(path.read_text())["cells"]:
        tags = cell.get("metadata", {}).get("tags", [])
        if "verdicts" in tags:
            assert "remove-cell" in tags, f"{path.stem}: tag the verdict cell remove-cell"


@pytest.mark.parametrize("path", WITH_VERDICTS, ids=lambda p: p.stem)
def test_every_verdict_function_is_tested(path):
    test_file = TESTS / f"test_verdicts_{path.stem}.py"
    assert test_file.is_file(), f"{path.stem} has verdict functions but no {test_file.name}"
    text = test_file.read_text()
    for source in verdict_cells(path):
        for node in ast.parse(source).body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                assert re.search(rf"\b{node.name}\(", text), (
                    f"{test_file.name} never calls {node.name}()")


@pytest.mark.parametrize("path", WITH_VERDICTS, ids=lambda p: p.stem)
def test_the_chapter_uses_its_verdicts(path):
    """A verdict function that no cell calls is a conclusion the page forgot to draw."""
    cells = json.loads(path.read_text())["cells"]
    body = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code"
                     and "verdicts" not in c.get("metadata", {}).get("tags", []))
    for source in verdict_cells(path):
        for node in ast.parse(source).body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                assert re.search(rf"\b{node.name}\(", body), (
                    f"{path.stem}: no cell calls the verdict {node.name}()")
