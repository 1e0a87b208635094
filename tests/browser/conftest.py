"""Tests of the BUILT book, as a reader's browser sees it.

They read the HTML that `jupyter-book build` wrote, so they run after the build:

    D2LNOTES_SITE=_build/html python -m pytest tests/browser

* ``D2LNOTES_SITE``: the built site. Unset (or empty), every test here is skipped: `make test`'s
  first pytest run happens before the book exists. Set, a missing site is a failure.
* ``D2LNOTES_CHROMIUM``: the Chromium binary Playwright drives (default ``/usr/bin/chromium``,
  Debian's ``apt-get install chromium``); Playwright's own browser download is never used.
* ``D2LNOTES_SCREENSHOTS``: where full-page screenshots go (default: ``screenshots`` next to the
  site, i.e. ``_build/screenshots``).

The site is served over HTTP on 127.0.0.1 from a thread; the browser may load nothing else.
"""
import functools
import os
import sys
import threading
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from builtsite import SITE_ENV, html_pages, site_setting

CHROMIUM_ENV = "D2LNOTES_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS_ENV = "D2LNOTES_SCREENSHOTS"


def pytest_generate_tests(metafunc):
    """Parametrize `page` over the site's pages (one placeholder when there is no site)."""
    if "page" not in metafunc.fixturenames:
        return
    site = site_setting()
    if site is None:
        metafunc.parametrize("page", [None], ids=["no-site"])
    elif not (site / "index.html").is_file():
        metafunc.parametrize("page", [None], ids=["site-missing"])
    else:
        metafunc.parametrize("page", html_pages(site))


@pytest.fixture(scope="session")
def site() -> Path:
    path = site_setting()
    if path is None:
        pytest.skip(f"{SITE_ENV} not set (tests of the built book: make site-test)")
    if not (path / "index.html").is_file():
        pytest.fail(f"{SITE_ENV}={os.environ[SITE_ENV]!r}: no built book at {path} "
                    "(no index.html); build it first with `jupyter-book build .`", pytrace=False)
    return path


@pytest.fixture(scope="session")
def screenshots(site) -> Path:
    value = os.environ.get(SCREENSHOTS_ENV, "").strip()
    out = Path(value).expanduser().resolve() if value else site.parent / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.png"):  # no stale pictures from an earlier build
        old.unlink()
    return out


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A page closed while a file was still being sent: the browser's business, not ours.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


@pytest.fixture(scope="session")
def server(site) -> str:
    """The site over HTTP on 127.0.0.1 (a free port); yields the base URL, ending in '/'."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    httpd = _Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="session")
def browser(site):
    executable = Path(os.environ.get(CHROMIUM_ENV, "").strip() or DEFAULT_CHROMIUM)
    if not (executable.is_file() and os.access(executable, os.X_OK)):
        pytest.fail(f"Chromium not found at {executable}. Install it (Debian: "
                    f"`apt-get install -y chromium`) or set {CHROMIUM_ENV} to its path.",
                    pytrace=False)
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.fail("The Python package `playwright` is missing: "
                    "pip install -r requirements.txt", pytrace=False)
    with sync_playwright() as p:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start;
        # --disable-dev-shm-usage: containers often have a tiny /dev/shm.
        b = p.chromium.launch(executable_path=str(executable),
                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            yield b
        finally:
            b.close()


@dataclass
class Visit:
    """What one page did in the browser, besides what it shows."""
    page: object                                        # the Playwright page
    external: list[str] = field(default_factory=list)   # requests that would leave the site
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    bad_responses: list[str] = field(default_factory=list)  # HTTP status >= 400
    failed: list[str] = field(default_factory=list)     # requests that never got an answer

    def problems(self) -> list[str]:
        found = ([f"request leaving 127.0.0.1 (blocked): {u}" for u in self.external]
                 + [f"console error: {m}" for m in self.console_errors]
                 + [f"JavaScript error: {m}" for m in self.page_errors]
                 + [f"HTTP error: {m}" for m in self.bad_responses]
                 + [f"request failed: {m}" for m in self.failed])
        return list(dict.fromkeys(found))  # each once, in order


@pytest.fixture
def open_page(browser, server):
    """open_page() -> Visit: a fresh page whose every request outside the site is recorded and
    aborted, and whose console errors, script errors and failed loads are recorded."""
    base = urlsplit(server)
    contexts = []

    def local(url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about"):
            return True
        return parts.scheme == "http" and parts.netloc == base.netloc

    def make() -> Visit:
        context = browser.new_context(viewport={"width": 1280, "height": 900},
                                      service_workers="block")
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        visit = Visit(page)

        def route(r):
            if local(r.request.url):
                r.continue_()
            else:
                visit.external.append(r.request.url)
                r.abort("blockedbyclient")

        context.route("**/*", route)
        page.on("request", lambda req: None if local(req.url) or req.url in visit.external
                else visit.external.append(req.url))
        page.on("websocket", lambda ws: visit.external.append(ws.url))
        page.on("console", lambda m: m.type == "error" and visit.console_errors.append(
            f"{m.text} ({m.location.get('url', '')}:{m.location.get('lineNumber', '')})"))
        page.on("pageerror", lambda e: visit.page_errors.append(str(e)))
        page.on("response", lambda r: r.status >= 400 and visit.bad_responses.append(
            f"{r.status} {r.url}"))
        page.on("requestfailed", lambda req: None if req.url in visit.external
                else visit.failed.append(f"{req.url} ({req.failure})"))
        return visit

    yield make
    for context in contexts:
        context.close()
