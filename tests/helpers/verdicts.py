"""Load a chapter's verdict functions without running the chapter.

A chapter keeps every sentence that draws a conclusion from its own run in a hidden code cell
tagged ``verdicts``: imports and ``def``s only, each function turning measured numbers into
the words the page glues in. The tests call them on made-up numbers (better, worse, within
noise), so a wrong branch fails here instead of reaching a reader.
"""
import json
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").rglob("*.ipynb"))


def verdict_cells(path: Path) -> list[str]:
    """The sources of the cells tagged ``verdicts`` in the notebook at ``path``."""
    cells = json.loads(path.read_text())["cells"]
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in cells
            if c["cell_type"] == "code" and "verdicts" in c.get("metadata", {}).get("tags", [])]


def notebook(stem: str) -> Path:
    found = [p for p in NOTEBOOKS if p.stem == stem]
    assert len(found) == 1, f"no single notebook named {stem}: {found}"
    return found[0]


def load(stem: str) -> SimpleNamespace:
    """The functions defined by the verdict cells of notebook ``stem``."""
    namespace: dict = {}
    for source in verdict_cells(notebook(stem)):
        exec(compile(source, f"{stem}.ipynb[verdicts]", "exec"), namespace)
    return SimpleNamespace(**{k: v for k, v in namespace.items() if not k.startswith("__")})
