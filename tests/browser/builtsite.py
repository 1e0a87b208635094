"""Where the built book is, and its pages (shared by conftest.py and the tests)."""
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SITE_ENV = "D2LNOTES_SITE"


def site_setting() -> Path | None:
    """The site folder named by D2LNOTES_SITE (relative to the repository root), or None."""
    value = os.environ.get(SITE_ENV, "").strip()
    if not value:
        return None
    path = Path(value).expanduser()
    return (path if path.is_absolute() else ROOT / path).resolve()


def html_pages(site: Path) -> list[str]:
    """Every page of the site, as paths relative to it: all .html files outside _static."""
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                  if "_static" not in p.relative_to(site).parts)
