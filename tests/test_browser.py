"""The course in a real browser (issue 22, sections 2 and 3): headless Chromium, driven by
Playwright's Python package through the system's ``chromium`` (no browser download).

- ``test_site_*``: the static site of ``python -m course_utils book`` (build/book/), served on
  127.0.0.1: math typeset by the bundled MathJax, every image loaded, no request leaving 127.0.0.1,
  no console error, search answers. Screenshots in build/screenshots/.
- ``test_jupyterlab_viewer``: JupyterLab on a copy of notebook 07, Run All Cells from the menu,
  the attention viewer's head changed, its figure redrawn; no error output, no widget error after
  a reload. Slow (a minute or two): ``COURSE_SKIP_SLOW_BROWSER=1`` skips it.

Each test skips, saying why, where Playwright or Chromium is missing, or the site is not built.
"""
from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
import re
import time
from pathlib import Path

import nbformat
import pytest

from browser_util import ROOT, PageLog, chromium, jupyterlab, require_browser, serve, shot

BOOK = ROOT / os.environ.get("COURSE_BOOK_DIR", "build/book")   # relative to the repository

# --------------------------------------------------------------------------------------------
# Section 2: the static site
# --------------------------------------------------------------------------------------------

# The visible text outside code: any raw TeX delimiter or command left there is math MathJax
# did not typeset (or that MyST did not recognise as math).
_VISIBLE_PROSE = """() => {
  const body = document.body.cloneNode(true);
  body.querySelectorAll('pre, code, script, style, .highlight, mjx-container, .MathJax, '
                        + 'mjx-assistive-mml, noscript, textarea').forEach(e => e.remove());
  return body.innerText;
}"""
_RAW_MATH = [
    ("$$", re.compile(r"\$\$")),
    ("\\( or \\[", re.compile(r"\\[(\[]")),
    ("$ ... \\command ... $", re.compile(r"\$[^$\n]{0,200}?\\[A-Za-z]+[^$\n]{0,200}?\$")),
    ("\\begin{...}", re.compile(r"\\begin\{")),
]

_MATHJAX_DONE = """async () => {
  if (!window.MathJax) return -1;
  if (MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
  if (MathJax.typesetPromise) await MathJax.typesetPromise();
  return document.querySelectorAll('mjx-container').length;
}"""

_IMAGES = """async () => {
  const imgs = [...document.images];
  imgs.forEach(i => { i.loading = 'eager'; });
  await Promise.all(imgs.map(i => i.complete ? null : new Promise(r => {
    i.addEventListener('load', r); i.addEventListener('error', r);
    setTimeout(r, 15000); })));
  return imgs.map(i => ({src: i.currentSrc || i.src, width: i.naturalWidth}));
}"""


def _hint(console_errors: list[str]) -> str:
    """The fix of a console error seen before, if it is one."""
    if any("invalid theme mode" in e for e in console_errors):
        return (" (pydata-sphinx-theme logs this on a first visit when the theme has no default "
                "mode: html_context = {'default_mode': 'light'} in docs/conf.py fixes it)")
    return ""


def _site_pages() -> dict[str, Path]:
    """The front page, chapter 02 and the derivations page of the built site."""
    if not (BOOK / "index.html").is_file():
        pytest.skip(f"no built site at {BOOK} (run `python -m course_utils book` first)")
    html = sorted(p for p in BOOK.rglob("*.html") if "_static" not in p.parts)
    chapter = [p for p in html if p.name.startswith("02")]
    derivations = [p for p in html if p.stem == "derivations"]
    assert chapter, f"no page of chapter 02 in {BOOK}: {[p.name for p in html][:20]}"
    assert derivations, f"no derivations page in {BOOK}"
    return {"front": BOOK / "index.html", "chapter02": chapter[0], "derivations": derivations[0]}


def _check_page(browser, base: str, name: str, path: Path, *, math_expected: bool):
    """Open one page of the site; return what it found (asserts inside)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    log = PageLog(page)
    url = base + path.relative_to(BOOK).as_posix()
    page.goto(url, wait_until="load", timeout=60_000)
    page.wait_for_load_state("networkidle", timeout=60_000)
    typeset = page.evaluate(_MATHJAX_DONE)
    images = page.evaluate(_IMAGES)
    prose = page.evaluate(_VISIBLE_PROSE)
    shot(page, f"site_{name}")
    for kind, selector in (("figure", "article img:visible, main img:visible"),
                           ("math", "article mjx-container[display='true']:visible")):
        target = page.locator(selector).first
        if target.count():
            target.scroll_into_view_if_needed(timeout=10_000)
            shot(page, f"site_{name}_{kind}")
    page.close()

    raw = [f"{label}: ...{prose[max(0, m.start() - 60):m.end() + 60]!r}..."
           for label, rx in _RAW_MATH for m in list(rx.finditer(prose))[:3]]
    assert not raw, f"{name}: TeX left untypeset in the visible text: {raw}"
    if math_expected:
        assert typeset > 0, f"{name}: no MathJax output (mjx-container) on {url} " \
                            f"(MathJax {'absent' if typeset < 0 else 'typeset nothing'})"
    broken = [i["src"][:120] for i in images if i["width"] == 0]
    assert not broken, f"{name}: images that did not load: {broken}"
    assert not log.external, f"{name}: requests outside 127.0.0.1: {log.external[:10]}"
    assert not log.failed, f"{name}: local requests that failed: {log.failed[:10]}"
    assert not log.console_errors, \
        f"{name}: console errors: {log.console_errors[:10]}{_hint(log.console_errors)}"
    return {"typeset": typeset, "images": len(images), "requests": len(log.requests)}


def test_site_pages_render_offline():
    """Front page, chapter 02 and the derivations: math typeset, images loaded, nothing fetched
    from outside 127.0.0.1, no console error; chapter 02 shows figures and claim lines (○ in a smoke run)."""
    require_browser()
    pages = _site_pages()
    found = {}
    with serve(BOOK) as base, chromium() as browser:
        for name, path in pages.items():
            found[name] = _check_page(browser, base, name, path,
                                      math_expected=name != "front")
    print(found)
    assert found["chapter02"]["images"] >= 1, "chapter 02 shows no figure"
    assert found["derivations"]["typeset"] >= 20, \
        f"derivations page: only {found['derivations']['typeset']} formulas typeset"
    chapter = pages["chapter02"].read_text(encoding="utf-8")
    assert any(mark in chapter for mark in "✔✘○"), \
        "chapter 02 shows no claim line (✔, ✘ or ○): not built from executed notebooks?"
    front = pages["front"].read_text(encoding="utf-8")
    links = re.findall(r'href="([^"#]+\.html)', front)
    assert sum(bool(re.search(r"(^|/)\d\d_", h)) for h in set(links)) >= 11, \
        f"the front page links fewer than eleven chapters: {sorted(set(links))[:30]}"


def test_site_search():
    """The site's own search (Sphinx's searchindex.js), offline: a query finds chapter pages."""
    require_browser()
    _site_pages()
    if not (BOOK / "search.html").is_file():
        pytest.fail(f"no search page in {BOOK} (issue 22 asks for search)")
    with serve(BOOK) as base, chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        log = PageLog(page)
        page.goto(base + "search.html?q=softmax", wait_until="load", timeout=60_000)
        results = page.locator("#search-results li, ul.search li")
        results.first.wait_for(timeout=60_000)
        count = results.count()
        shot(page, "site_search")
        page.close()
    assert count >= 2, f"search for 'softmax' found {count} pages"
    assert not log.external, f"search: requests outside 127.0.0.1: {log.external[:10]}"
    assert not log.console_errors, \
        f"search: console errors: {log.console_errors[:10]}{_hint(log.console_errors)}"


# --------------------------------------------------------------------------------------------
# Section 3: notebook 07 in JupyterLab
# --------------------------------------------------------------------------------------------

NOTEBOOK = ROOT / "notebooks" / "07_attention_visualization.ipynb"
RUN_ALL_TIMEOUT_S = float(os.environ.get("COURSE_BROWSER_RUN_TIMEOUT", 900))
_ERROR_OUTPUT = ('.jp-RenderedText[data-mime-type="application/vnd.jupyter.error"], '
                 '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]')
_STDERR = '.jp-RenderedText[data-mime-type="application/vnd.jupyter.stderr"]'
_NOTEBOOK_LINKS = ("https://colab.research.google.com/assets/colab-badge.svg",)
_WIDGET_ERRORS = ("Error displaying widget", "Model not found", "Failed to load model class")


def _kernel_settled(page) -> bool:
    """No cell waiting or running ([*]) and the kernel idle."""
    return page.evaluate("""() => {
      const busy = [...document.querySelectorAll('.jp-InputPrompt')]
        .some(p => p.textContent.includes('*'));
      const status = document.querySelector('.jp-Notebook-ExecutionIndicator');
      const idle = !status || status.getAttribute('data-status') === 'idle';
      return !busy && idle;
    }""")


def _run_all_from_menu(page, tries: int = 3) -> None:
    """Run → Run All Cells, in the menu bar, until a cell shows [*] or a count."""
    started = """() => [...document.querySelectorAll('.jp-InputPrompt')]
        .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))"""
    for attempt in range(tries):
        page.locator(".jp-Notebook .jp-Cell").first.click()    # the notebook is the current widget
        page.locator(".lm-MenuBar-item", has_text=re.compile(r"^Run$")).click()
        item = page.locator('.lm-Menu-item[data-command="runmenu:run-all"]')
        item.wait_for(timeout=30_000)
        page.wait_for_function("""() => { const i = document.querySelector(
            '.lm-Menu-item[data-command="runmenu:run-all"]');
            return i && !i.classList.contains('lm-mod-disabled'); }""", timeout=30_000)
        item.click()
        try:
            page.wait_for_function(started, timeout=30_000)
            return
        except Exception:
            page.keyboard.press("Escape")
    raise AssertionError(f"Run All Cells did not start any cell in {tries} tries")


def _scroll_to(page, locator, tries: int = 10) -> None:
    """Scroll a cell to the top of the notebook; again while the cells above it, sized lazily
    by JupyterLab (content-visibility), grow and push it away."""
    for _ in range(tries):
        locator.evaluate("e => e.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(700)
        box = locator.bounding_box()
        if box and 0 <= box["y"] < 300:
            return


def _figure_digest(cell) -> str:
    """A hash of the PNG the viewer's cell shows (data: URL or blob fetched in the page)."""
    img = cell.locator(".jp-RenderedImage img").last
    src = img.get_attribute("src") or ""
    if src.startswith("data:"):
        data = base64.b64decode(src.split(",", 1)[1])
    else:
        data = src.encode()
    return hashlib.sha256(data).hexdigest()


def _errors_on_page(page) -> list[str]:
    found = [t[:500] for t in page.locator(_ERROR_OUTPUT).all_inner_texts()]
    found += [t[:500] for t in page.locator(_STDERR).all_inner_texts() if "Traceback" in t]
    return found


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("COURSE_SKIP_SLOW_BROWSER") == "1",
                    reason="COURSE_SKIP_SLOW_BROWSER=1 (slow: runs notebook 07 in JupyterLab)")
def test_jupyterlab_viewer(tmp_path):
    """Slow. JupyterLab on 127.0.0.1 (token) on a copy of 07: Run → Run All Cells, the kernel
    idles with every code cell run, no error output; choosing another head in the viewer redraws
    its figure (the PNG changes); after saving and reloading the page the widgets come back
    without "Error displaying widget" / "Model not found"; no request leaves 127.0.0.1."""
    require_browser()
    if importlib.util.find_spec("jupyterlab") is None:
        pytest.skip("JupyterLab is not installed (pip install jupyterlab); no notebook test")
    copy = tmp_path / NOTEBOOK.name
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.write(nb, copy)
    n_code = sum(c.cell_type == "code" for c in nb.cells)
    timings = {}

    with jupyterlab(tmp_path) as (base, token), chromium() as browser:
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("dialog", lambda d: d.accept())
        log = PageLog(page)
        t0 = time.monotonic()
        page.goto(f"{base}lab/tree/{copy.name}?token={token}", timeout=120_000)
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=120_000)
        page.wait_for_function("""() => { const s = document.querySelector(
            '.jp-Notebook-ExecutionIndicator'); return s && s.getAttribute('data-status')
            === 'idle'; }""", timeout=180_000)
        timings["open"] = time.monotonic() - t0

        t0 = time.monotonic()
        _run_all_from_menu(page)
        deadline = time.monotonic() + RUN_ALL_TIMEOUT_S
        settled_since = None
        while True:   # settled for 3 s in a row: the queue is empty, not between two cells
            if _kernel_settled(page):
                settled_since = settled_since or time.monotonic()
                if time.monotonic() - settled_since > 3:
                    break
            else:
                settled_since = None
            assert time.monotonic() < deadline, \
                f"Run All Cells not done in {RUN_ALL_TIMEOUT_S:.0f} s"
            page.wait_for_timeout(500)
        timings["run_all"] = time.monotonic() - t0
        errors = _errors_on_page(page)
        assert not errors, f"error output in JupyterLab: {errors[:3]}"
        text = page.locator(".jp-Notebook").inner_text().lower()
        assert not [w for w in _WIDGET_ERRORS if w.lower() in text], "widget error after Run All"

        cell = page.locator(".jp-CodeCell", has=page.locator(".widget-dropdown")).first
        _scroll_to(page, cell)
        head = cell.locator(".widget-dropdown", has_text="head").locator("select")
        layer = cell.locator(".widget-dropdown", has_text="layer").locator("select")
        cell.locator(".jp-RenderedImage img").last.wait_for(timeout=60_000)
        before, old_head = _figure_digest(cell), head.input_value()
        shot(page, "jupyterlab_07_viewer_before", locator=cell)
        options = [o for o in head.locator("option").all_inner_texts() if o.strip() != old_head]
        new_head = options[-1].strip()
        t0 = time.monotonic()
        head.select_option(label=new_head)
        img = cell.locator(".jp-RenderedImage img").last
        while _figure_digest(cell) == before or not img.evaluate("i => i.naturalWidth > 0"):
            assert time.monotonic() - t0 < 120, \
                f"the figure did not change in 120 s after head {old_head} → {new_head}"
            page.wait_for_timeout(250)
        timings["redraw"] = time.monotonic() - t0
        after = _figure_digest(cell)
        shot(page, "jupyterlab_07_viewer_after", locator=cell)
        assert after != before, f"the figure did not change when head {old_head} → {new_head}"
        assert head.input_value() != old_head and layer.count() == 1

        page.keyboard.press("Control+s")
        page.wait_for_timeout(3000)
        t0 = time.monotonic()
        page.reload(timeout=120_000)
        page.locator(".jp-Notebook .jp-Cell").first.wait_for(timeout=120_000)
        page.locator(".jp-CodeCell .widget-dropdown").first.wait_for(timeout=120_000)
        page.wait_for_timeout(3000)
        timings["reload"] = time.monotonic() - t0
        widget_cell = page.locator(".jp-CodeCell", has=page.locator(".widget-dropdown")).first
        _scroll_to(page, widget_cell)
        shot(page, "jupyterlab_07_after_reload")
        restored_head = widget_cell.locator(".widget-dropdown", has_text="head") \
            .locator("select").input_value()
        text = page.locator(".jp-Notebook").inner_text()
        widget_errors = [w for w in _WIDGET_ERRORS if w.lower() in text.lower()]
        errors = _errors_on_page(page)
        page.close()

    print({k: round(v, 1) for k, v in timings.items()})
    assert not widget_errors, f"widget errors after a reload: {widget_errors}"
    assert not errors, f"error output after a reload: {errors[:3]}"
    assert restored_head == new_head, \
        f"after a reload the head selector reads {restored_head!r}, not {new_head!r}"
    # The notebook's own Colab badge (markdown image for readers on GitHub) is the one address
    # allowed: JupyterLab itself, the widgets and the kernel's outputs fetch nothing else.
    external = [u for u in log.external if u not in _NOTEBOOK_LINKS]
    assert not external, f"JupyterLab: requests outside 127.0.0.1: {external[:10]}"
    saved = nbformat.read(copy, as_version=4)
    code = [c for c in saved.cells if c.cell_type == "code"]
    assert len(code) == n_code
    unrun = [c.get("id") for c in code if c.execution_count is None]
    assert not unrun, f"cells not run by Run All Cells: {unrun}"
    tracebacks = [(c.get("id"), o.get("ename") or o.get("text", "")[:300]) for c in code
                  for o in c.outputs if o.output_type == "error"
                  or (o.get("name") == "stderr" and "Traceback" in o.get("text", ""))]
    assert not tracebacks, f"error outputs in the saved notebook: {tracebacks[:3]}"
