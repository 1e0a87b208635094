"""Every page of the built book in a real browser (Chromium through Playwright).

Each page must: answer HTTP 200; log no console or script errors; load nothing from outside
127.0.0.1; show every image (naturalWidth > 0); have its math typeset by MathJax (no error
nodes, no raw TeX left in the text); show no traceback, error or warning in its outputs; draw its
widgets (as their static figure); offer the Colab launch button if it is a notebook. A full-page
screenshot of each is saved (see conftest.py). All problems of a page are reported together.
"""
import re
from pathlib import Path
from urllib.parse import urljoin

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())

# Pages whose notebooks use ipywidgets. The static site has no widget manager
# (nb_ipywidgets_js: {}), so each shows its widget's default state as a figure instead.
WIDGET_FIGURES = {"notebooks/bn/why_bn.html": "fig-bn-explorer"}

MATH_JS = """async () => {
  const maths = Array.from(document.querySelectorAll('.math.notranslate'));
  if (!maths.length) return {count: 0};
  const t0 = Date.now();
  while (!(window.MathJax && window.MathJax.startup && window.MathJax.startup.promise)) {
    if (Date.now() - t0 > 15000) return {count: maths.length, error: 'MathJax never started'};
    await new Promise(r => setTimeout(r, 50));
  }
  await window.MathJax.startup.promise;
  return {
    count: maths.length,
    untypeset: maths.filter(m => !m.querySelector('mjx-container'))
                    .map(m => m.textContent.trim().slice(0, 80)),
    merrors: Array.from(document.querySelectorAll('mjx-merror'))
                  .map(m => m.getAttribute('data-mjx-error') || m.textContent.slice(0, 80)),
  };
}"""

# The page's prose: everything but code, scripts and typeset math, where raw TeX may not show.
PROSE_JS = """() => {
  const body = document.body.cloneNode(true);
  body.querySelectorAll('pre, code, kbd, script, style, noscript, template, textarea, '
                        + 'mjx-container, mjx-assistive-mml').forEach(e => e.remove());
  return body.textContent;
}"""

IMAGES_JS = """async () => {
  const imgs = Array.from(document.images);
  imgs.forEach(i => { if (i.loading === 'lazy') i.loading = 'eager'; });
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => {
    i.addEventListener('load', r); i.addEventListener('error', r); setTimeout(r, 10000);
  })));
  return imgs.map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0}));
}"""

OUTPUTS_JS = """() => {
  const outputs = Array.from(document.querySelectorAll('.cell_output'));
  return {
    text: outputs.map(o => o.textContent).join('\\n'),
    error_nodes: document.querySelectorAll(
      '.output.traceback, .output.error, .output.stderr, .cell_output .ansi-red-fg, '
      + '.cell_output .ansi-red-intense-fg, .cell_output [class*="Color-Red"]').length,
  };
}"""

WIDGETS_JS = """() => ({
  views: document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length,
  state: document.querySelectorAll('script[type="application/vnd.jupyter.widget-state+json"]').length,
})"""

FIGURE_JS = """(id) => {
  const fig = document.getElementById(id);
  if (!fig) return 'no element with this id';
  const img = fig.querySelector('img');
  if (!img) return 'no image in the figure';
  const box = img.getBoundingClientRect();
  if (!(img.complete && img.naturalWidth > 0)) return 'its image did not load';
  if (box.width < 50 || box.height < 50) return `its image is drawn at ${box.width}x${box.height}`;
  return '';
}"""

RAW_TEX = re.compile(r"\$\$|\\\(|\\\)|\\\[|\\\]|\\[A-Za-z]{2,}|(?<![\w$])\$[^\s$][^$\n]{0,80}\$")
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\S+:\d+: \w*Warning: ", re.M)


def meta_refresh_target(path: Path) -> str | None:
    m = re.search(r'<meta\s+http-equiv="refresh"\s+content="\d+;\s*url=([^"]+)"',
                  path.read_text(errors="replace"), re.I)
    return m.group(1) if m else None


def colab_prefix() -> str:
    repo = CONFIG["repository"]
    slug = repo["url"].rstrip("/").removeprefix("https://github.com/")
    return f"{CONFIG['launch_buttons']['colab_url']}/github/{slug}/blob/{repo['branch']}/"


def test_page(site, server, open_page, screenshots, page):
    url = urljoin(server, page)
    visit = open_page()
    tab = visit.page
    problems = []

    response = tab.goto(url, wait_until="load")
    if response is None or response.status != 200:
        problems.append(f"HTTP status {response and response.status} for {url}")
    target = meta_refresh_target(site / page)
    if target:  # a redirect page (index.html): the reader lands on the target
        tab.wait_for_url(urljoin(url, target))
        tab.wait_for_load_state("load")

    math = tab.evaluate(MATH_JS)
    if math.get("error"):
        problems.append(f"math: {math['error']} ({math['count']} formulas on the page)")
    for tex in math.get("untypeset", []):
        problems.append(f"math not typeset by MathJax: {tex!r}")
    for err in math.get("merrors", []):
        problems.append(f"MathJax error: {err!r}")
    prose = re.sub(r"\s+", " ", tab.evaluate(PROSE_JS))
    raw = list(RAW_TEX.finditer(prose))
    for m in raw[:3]:
        problems.append(f"raw TeX in the text: {m.group(0)!r} in "
                        f"...{prose[max(0, m.start() - 40):m.end() + 40]}...")
    if len(raw) > 3:
        problems.append(f"... and {len(raw) - 3} more pieces of raw TeX")

    for img in tab.evaluate(IMAGES_JS):
        if not img["ok"]:
            problems.append(f"image not loaded: {img['src']}")

    outputs = tab.evaluate(OUTPUTS_JS)
    if outputs["error_nodes"]:
        problems.append(f"{outputs['error_nodes']} error/traceback output(s)")
    for m in TRACEBACK.finditer(outputs["text"]):
        problems.append(f"traceback or warning in the outputs: {m.group(0)!r}")

    widgets = tab.evaluate(WIDGETS_JS)
    if widgets["views"]:
        problems.append(f"{widgets['views']} widget view(s) with no widget manager: they show "
                        "nothing; show a static figure instead")
    if widgets["state"] and page not in WIDGET_FIGURES:
        problems.append("the page uses widgets but has no static figure registered in "
                        "WIDGET_FIGURES")
    if page in WIDGET_FIGURES:
        why = tab.evaluate(FIGURE_JS, WIDGET_FIGURES[page])
        if why:
            problems.append(f"widget figure #{WIDGET_FIGURES[page]}: {why}")

    source = site / "_sources" / Path(page).with_suffix(".ipynb")
    if source.is_file():  # a notebook page: it opens in Colab
        rel = Path(page).with_suffix(".ipynb").as_posix()
        href = colab_prefix() + rel
        if not tab.locator(f'a[href="{href}"]').count():
            problems.append(f"no Colab launch button to {href}")
        if not (ROOT / rel).is_file():
            problems.append(f"the Colab button opens {rel}, which is not in the repository")

    tab.screenshot(path=screenshots / (page.removesuffix(".html").replace("/", "__") + ".png"),
                   full_page=True)
    problems += visit.problems()
    if problems:
        pytest.fail(f"{page}: {len(problems)} problem(s)\n  " + "\n  ".join(problems),
                    pytrace=False)


SEARCH_DONE_JS = """() => {
  const summary = document.querySelector('#search-results .search-summary');
  return summary && summary.textContent.trim();
}"""


def search(open_page, server, query):
    """The search page for `query`, once Sphinx's search has finished."""
    visit = open_page()
    tab = visit.page
    response = tab.goto(urljoin(server, f"search.html?q={query}"), wait_until="load")
    assert response and response.status == 200, f"search.html: HTTP {response and response.status}"
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    try:
        tab.wait_for_function(SEARCH_DONE_JS, timeout=15_000)
    except PlaywrightTimeout:
        pytest.fail(f"the search for {query!r} never finished; {visit.problems()}",
                    pytrace=False)
    return visit, tab


def test_search_finds_batch(site, server, open_page, screenshots):
    visit, tab = search(open_page, server, "batch")
    results = tab.locator("#search-results ul.search li a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))")
    tab.screenshot(path=screenshots / "search-batch.png", full_page=True)
    problems = visit.problems()
    if not results:
        problems.append("the search page found nothing for 'batch'")
    elif not any("notebooks/bn/" in href for href in results):
        problems.append(f"no batch-normalization chapter among the results: {results}")
    if problems:
        pytest.fail("search.html?q=batch:\n  " + "\n  ".join(problems), pytrace=False)


def test_search_finds_nothing_for_nonsense(site, server, open_page):
    """The control: the search really searches (a word in no page gives no results)."""
    visit, tab = search(open_page, server, "qxzvwjk")
    problems = visit.problems()
    found = tab.locator("#search-results ul.search li").count()
    if found:
        problems.append(f"{found} results for a word that is in no page")
    if problems:
        pytest.fail("search.html?q=qxzvwjk:\n  " + "\n  ".join(problems), pytrace=False)
