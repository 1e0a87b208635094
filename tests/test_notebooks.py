"""The book's conventions: clean notebooks, code that matches the package, one repository URL."""
import ast
import inspect
import json
import re
from pathlib import Path

import pytest
import yaml

from d2lnotes import bn, models, norm
from d2lnotes.settings import PROFILES

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").rglob("*.ipynb"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())


def cells(path, kind="code"):
    nb = json.loads(path.read_text())
    return [c for c in nb["cells"] if c["cell_type"] == kind]


def source(cell):
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    for cell in cells(path):
        assert cell.get("outputs") == [] and cell.get("execution_count") is None, (
            f"{path.name}: strip outputs before committing")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_cell_installs_d2lnotes_from_the_configured_repository(path):
    first = source(cells(path)[0])
    assert 'find_spec("d2lnotes") is None' in first
    assert f"git+{CONFIG['repository']['url']}" in first


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_install_cell_runs_but_is_not_shown(path):
    """Colab and CI execute the install cell; the rendered book leaves it out (QuantEcon)."""
    tags = cells(path)[0].get("metadata", {}).get("tags", [])
    assert "remove-cell" in tags, f"{path.name}: tag the install cell remove-cell"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_absolute_paths(path):
    text = "\n".join(source(c) for c in cells(path))
    assert not re.search(r"""["'](/home|/work|/root|/tmp|/Users|[A-Z]:\\)""", text)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_prints_its_profile(path):
    assert any("profile.describe()" in source(c) for c in cells(path))


def test_every_notebook_is_in_the_toc():
    toc = (ROOT / "_toc.yml").read_text()
    for path in NOTEBOOKS:
        assert str(path.relative_to(ROOT).with_suffix("")) in toc


def _definitions(code: str) -> dict[str, str]:
    """Top-level functions and classes, as AST dumps without docstrings."""
    out = {}
    for node in ast.parse(code).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            for n in ast.walk(node):
                body = getattr(n, "body", None)
                if (isinstance(n, (ast.FunctionDef, ast.ClassDef)) and body
                        and isinstance(body[0], ast.Expr)
                        and isinstance(body[0].value, ast.Constant)
                        and isinstance(body[0].value.value, str)):
                    n.body = body[1:]
            out[node.name] = ast.dump(node)
    return out


@pytest.mark.parametrize("notebook, module, name", [
    ("resnet/resnet18.ipynb", models, "Residual"),
    ("resnet/resnet18.ipynb", models, "resnet_block"),
    ("bn/bn_scratch.ipynb", bn, "batch_norm"),
    ("bn/bn_scratch.ipynb", bn, "BatchNorm"),
    ("bn/small_batches.ipynb", norm, "_standardize"),
    ("bn/small_batches.ipynb", norm, "layer_norm"),
    ("bn/small_batches.ipynb", norm, "group_norm"),
    ("bn/small_batches.ipynb", norm, "ghost_batch_norm"),
    ("resnet/deeper.ipynb", models, "Plain"),
    ("resnet/deeper.ipynb", models, "cifar_net"),
    ("resnet/deeper.ipynb", models, "PreActResidual"),
    ("resnet/deeper.ipynb", models, "Bottleneck"),
])
def test_notebook_code_is_the_package_code(notebook, module, name):
    nb = ROOT / "notebooks" / notebook
    written = {}
    for cell in cells(nb):
        try:
            written.update(_definitions(source(cell)))
        except SyntaxError:  # cells with IPython magics are not plain Python
            continue
    package = _definitions(inspect.getsource(getattr(module, name)))
    assert name in written, f"{name} is not written out in {nb.name}"
    assert written[name] == package[name], f"{name}: {nb.name} and {module.__name__} differ"


def test_intro_profile_table_matches_the_settings():
    intro = (ROOT / "book" / "intro.md").read_text()
    for p in PROFILES.values():
        row = next(line for line in intro.splitlines() if line.startswith(f"| `{p.name}`"))
        assert f"{p.resize} px" in row and f"{p.train_size:,}" in row and f"{p.test_size:,}" in row
        assert f"{p.epochs} epoch" in row
