"""A crawl of the built book's HTML, without a browser: links, anchors, local resources, alt text.

Runs with the browser tests (after the build; see conftest.py for D2LNOTES_SITE).
"""
import posixpath
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from builtsite import html_pages

# Attributes that make the browser fetch something when the page loads.
RESOURCE_ATTRS = {("script", "src"), ("img", "src"), ("iframe", "src"), ("source", "src"),
                  ("video", "src"), ("audio", "src"), ("embed", "src"), ("object", "data")}
LOADED_LINK_RELS = {"stylesheet", "icon", "shortcut", "preload", "modulepreload", "manifest",
                    "apple-touch-icon", "prefetch"}
IMAGE_FILE = re.compile(r"\.(png|jpe?g|gif|svg|webp)$", re.I)


class _Page(HTMLParser):
    """Ids, links, loaded resources and images of one HTML page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[tuple[str, str]] = []      # (tag, url) for every href/src
        self.resources: list[tuple[str, str]] = []  # (tag, url) fetched on load
        self.images: list[dict] = []                # src, alt, figure caption
        self._figures: list[dict] = []              # open <figure>s
        self._in_caption = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for key in ("id", "name") if tag == "a" else ("id",):
            if a.get(key):
                self.ids.add(a[key])
        for attr in ("href", "src"):
            if a.get(attr):
                self.links.append((tag, a[attr]))
        if (tag, "src") in RESOURCE_ATTRS and a.get("src"):
            self.resources.append((tag, a["src"]))
        if tag == "object" and a.get("data"):
            self.resources.append((tag, a["data"]))
        if tag == "link" and a.get("href") and LOADED_LINK_RELS & set((a.get("rel") or "").split()):
            self.resources.append((tag, a["href"]))
        if tag == "figure":
            self._figures.append({"caption": "", "images": []})
        elif tag == "figcaption":
            self._in_caption += 1
        elif tag == "img":
            img = {"src": a.get("src") or "", "alt": (a.get("alt") or "").strip(), "caption": ""}
            self.images.append(img)
            if self._figures:
                self._figures[-1]["images"].append(img)

    def handle_endtag(self, tag):
        if tag == "figcaption" and self._in_caption:
            self._in_caption -= 1
        elif tag == "figure" and self._figures:
            fig = self._figures.pop()
            for img in fig["images"]:
                img["caption"] = fig["caption"].strip()

    def handle_data(self, data):
        if self._in_caption and self._figures:
            self._figures[-1]["caption"] += data


def _parse(path: Path) -> _Page:
    p = _Page()
    p.feed(path.read_text(errors="replace"))
    p.close()
    return p


@pytest.fixture(scope="module")
def parsed(site) -> dict[str, _Page]:
    pages = {rel: _parse(site / rel) for rel in html_pages(site)}
    assert pages, f"no HTML pages under {site}"
    return pages


def _internal(url: str) -> bool:
    parts = urlsplit(url)
    return not parts.scheme and not parts.netloc


def test_internal_links_and_anchors_resolve(site, parsed):
    broken = []
    ids_cache: dict[str, set[str]] = {rel: p.ids for rel, p in parsed.items()}
    for rel, page in parsed.items():
        for tag, url in page.links:
            if not _internal(url) or url == "#":
                continue
            parts = urlsplit(url)
            if parts.path:
                target = posixpath.normpath(posixpath.join(posixpath.dirname(rel),
                                                           unquote(parts.path)))
                if parts.path.endswith("/"):
                    target = posixpath.join(target, "index.html")
            else:
                target = rel
            if target.startswith("../") or not (site / target).is_file():
                broken.append(f"{rel}: <{tag}> {url} -> {target} does not exist")
                continue
            fragment = unquote(parts.fragment)
            if fragment and target.endswith(".html"):
                if target not in ids_cache:
                    ids_cache[target] = _parse(site / target).ids
                if fragment not in ids_cache[target]:
                    broken.append(f"{rel}: <{tag}> {url}: no id {fragment!r} in {target}")
    assert not broken, f"{len(broken)} broken internal link(s):\n" + "\n".join(broken)


def test_pages_load_resources_only_from_the_site(parsed):
    external = [f"{rel}: <{tag}> {url}" for rel, page in parsed.items()
                for tag, url in page.resources if not _internal(url)
                and not url.startswith("data:")]
    assert not external, "resources loaded from outside the site:\n" + "\n".join(external)


def _real_alt(img: dict) -> bool:
    """Alt text a reader can use: not empty, and not the file name Sphinx puts there by default."""
    alt = img["alt"]
    return bool(alt) and alt != img["src"] and not IMAGE_FILE.search(alt) \
        and posixpath.basename(alt) != posixpath.basename(img["src"])


def test_every_image_has_alt_text_or_a_caption(parsed):
    bare = [f"{rel}: {img['src']} (alt={img['alt']!r})" for rel, page in parsed.items()
            for img in page.images if not (_real_alt(img) or img["caption"])]
    assert not bare, ("images with neither alt text nor a figure caption (give the notebook "
                      "cell mystnb.image.alt / mystnb.figure.caption metadata):\n" + "\n".join(bare))


def test_references_page_lists_the_cited_works(site, parsed):
    if "book/references.html" not in parsed:
        pytest.fail("no references page (book/references.html) in the built book", pytrace=False)
    text = (site / "book/references.html").read_text()
    for author in ("Ioffe", "Santurkar", "Xiao", "Zhong", "Szegedy", "Lipton"):
        assert author in text, f"{author} missing from the references page"
    cites = [url for rel, page in parsed.items() if rel != "book/references.html"
             for _, url in page.links if "references.html#" in url]
    assert cites, "no page links a citation to the references page"
