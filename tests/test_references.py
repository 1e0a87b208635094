"""The book's sources cite their works, define their figures and terms (no build needed).

Citations are MyST roles, {cite:p}`key` or {cite:t}`key`, in book pages and notebook Markdown;
the entries live in book/references.bib and are listed by book/references.md.
"""
import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIB = ROOT / "book" / "references.bib"
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
NOTEBOOKS = sorted((ROOT / "notebooks").rglob("*.ipynb"))
PAGES = sorted((ROOT / "book").glob("*.md"))

# Works the book must cite, with a word of the venue and the year each entry must name.
REQUIRED = {
    "ioffe2015batch": ("ICML", "2015"),
    "he2016deep": ("CVPR", "2016"),
    "he2016identity": ("ECCV", "2016"),
    "santurkar2018how": ("NeurIPS", "2018"),
    "xiao2017fashion": ("1708.07747", "2017"),
    "zhang2023dive": ("Cambridge University Press", "2023"),
    "zhong2020random": ("AAAI", "2020"),
    "szegedy2016rethinking": ("CVPR", "2016"),
}
CITE = re.compile(r"\{cite(?::\w+)?\}`([^`]+)`")


def _source(cell) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def bib_entries() -> dict[str, str]:
    text = BIB.read_text()
    starts = [(m.start(), m.group(1)) for m in re.finditer(r"^@\w+\{([^,\s]+),", text, re.M)]
    return {key: text[pos:(starts[i + 1][0] if i + 1 < len(starts) else len(text))]
            for i, (pos, key) in enumerate(starts)}


def citations() -> dict[str, set[str]]:
    """Cited key -> the files citing it (pages and notebook Markdown cells)."""
    # (``{cite:p}`key` `` in double backticks is an example in code, not a citation)
    texts = {p.relative_to(ROOT).as_posix(): re.sub(r"``.+?``", "", p.read_text())
             for p in PAGES}
    for nb in NOTEBOOKS:
        cells = json.loads(nb.read_text())["cells"]
        texts[nb.relative_to(ROOT).as_posix()] = "\n".join(
            _source(c) for c in cells if c["cell_type"] == "markdown")
    cited: dict[str, set[str]] = {}
    for name, text in texts.items():
        for m in CITE.finditer(text):
            for key in m.group(1).split(","):
                key = re.sub(r"\{[^}]*\}", "", key).strip()  # drop {pre}/{post} text
                cited.setdefault(key, set()).add(name)
    return cited


def test_bibliography_is_configured():
    assert [ROOT / f for f in CONFIG["bibtex_bibfiles"]] == [BIB]
    assert "```{bibliography}" in (ROOT / "book" / "references.md").read_text()
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    reference = next(p for p in toc["parts"] if p["caption"] == "Reference")
    assert {"file": "book/references"} in reference["chapters"]


def test_bib_keys_are_unique():
    keys = re.findall(r"^@\w+\{([^,\s]+),", BIB.read_text(), re.M)
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("key", sorted(REQUIRED))
def test_required_work_is_in_the_bibliography_and_cited(key):
    entry = bib_entries().get(key)
    assert entry, f"{key} missing from {BIB.name}"
    venue, year = REQUIRED[key]
    assert venue in entry and re.search(rf"year\s*=\s*\{{{year}\}}", entry), entry
    assert key in citations(), f"{key} is in the bibliography but cited nowhere"


def test_every_citation_has_an_entry_and_every_entry_is_cited():
    cited, entries = citations(), bib_entries()
    assert not set(cited) - set(entries), {k: cited[k] for k in set(cited) - set(entries)}
    assert not set(entries) - set(cited), f"never cited: {sorted(set(entries) - set(cited))}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_figure_cells_have_caption_name_and_alt_text(path):
    for cell in json.loads(path.read_text())["cells"]:
        meta = cell.get("metadata", {}).get("mystnb", {})
        if cell["cell_type"] == "code" and meta:
            figure, image = meta.get("figure", {}), meta.get("image", {})
            assert figure.get("caption", "").strip() and figure.get("name", "").strip(), cell["id"]
            assert image.get("alt", "").strip(), f"{path.name} cell {cell['id']}: no alt text"


@pytest.mark.parametrize("chinese, english", [
    ("批量归一化", "batch normalization"),
    ("残差网络", "residual network"),
    ("过拟合", "overfitting"),
    ("收敛", "convergence"),
    ("批量规范化", "batch normalization, d2l-zh's name"),
    ("内部协变量偏移", "internal covariate shift"),
    ("恒等映射", "identity mapping"),
    ("嵌套函数类", "nested function classes"),
    ("全局平均汇聚层", "global average pooling layer"),
    ("学习率调度器", "learning-rate schedule"),
    ("暂退法", "dropout"),
])
def test_glossary_pairs_the_terms(chinese, english):
    glossary = (ROOT / "book" / "glossary.md").read_text()
    assert re.search(rf"^{re.escape(english)}[^\n]*\({re.escape(chinese)}\)", glossary, re.M), \
        f"glossary: no entry '{english} ({chinese})'"
