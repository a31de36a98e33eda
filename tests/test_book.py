"""The book (``python -m course_utils book``): staging, an offline build, and the built site.

- Staging and the front page: always (no Sphinx needed).
- ``test_build_is_offline``: builds a site and the PDF from one small executed notebook in a
  subprocess whose every Internet connection fails and is recorded; needs requirements-book.txt.
- ``test_site_*``: the site that ``python -m course_utils book`` built (``COURSE_BOOK_DIR``, default
  build/book/; CI builds it from its smoke run): pages, figures, math, search, the PDF, and no page
  loading anything from another site. Skipped where no site was built.
"""
from __future__ import annotations

import html as htmllib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import nbformat
import pytest

from course_utils.machinery import book
from course_utils.machinery.notebooks import CATALOG

ROOT = Path(__file__).resolve().parents[1]
BOOK = Path(os.environ.get("COURSE_BOOK_DIR", ROOT / "build" / "book"))
BOOK_PACKAGES = ["sphinx", "myst_nb", "pydata_sphinx_theme", "sphinx_book_theme",
                 "sphinx-mathjax-offline", "pypandoc", "typst"]
# A 2x2 PNG, so the small notebook has a figure without matplotlib
PNG = ("iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEElEQVR4nGP4z8AARAwQCgAf7gP9i18U1AAA"
       "AABJRU5ErkJggg==")


def _missing_book_packages() -> list[str]:
    return [name for name in BOOK_PACKAGES if importlib.util.find_spec(name) is None]


# ------------------------------------------------------------------ staging (no Sphinx needed)

def test_offline_markdown_turns_the_colab_badge_into_a_link():
    badge = ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
             "(https://colab.research.google.com/github/x/y/blob/main/notebooks/02_a.ipynb)")
    text = book.offline_markdown(f"{badge}\n# Title\n![plot](https://example.org/a.png) and $x$")
    assert "colab-badge.svg" not in text and "![" not in text
    assert "[Open In Colab](https://colab.research.google.com/github/x/y/blob/main/notebooks/" \
           "02_a.ipynb)" in text
    assert "[image: plot](https://example.org/a.png)" in text and "$x$" in text


def test_front_page_links_every_chapter_and_the_derivations():
    stems = [info.file.removesuffix(".ipynb") for info in CATALOG]
    page = book.front_page(stems, {stems[1]: "13 held · 2 unjudged"})
    for info in CATALOG:
        assert f"[{info.title}](notebooks/{info.file})" in page
    assert "| 13 held · 2 unjudged |" in page
    assert "(docs/derivations.md)" in page and 'href="derivations.pdf"' in page
    assert page.count("{toctree}") == 2 and "docs/derivations" in page
    assert "http" not in page.split("| # |")[0]   # nothing remote above the table
    only = book.front_page(stems[:2])
    assert f"notebooks/{CATALOG[2].file}" not in only


def _small_executed(folder: Path) -> Path:
    """An executed chapter 02 in ``folder/executed``: a Colab badge, math, a claim, a figure."""
    executed = folder / "executed"
    executed.mkdir(parents=True)
    badge = ("[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
             "(https://colab.research.google.com/github/x/y/blob/main/notebooks/"
             "02_self_attention.ipynb)")
    code = nbformat.v4.new_code_cell("print('claim')", id="c1", execution_count=1)
    code.outputs = [
        nbformat.v4.new_output("stream", name="stdout", text="✔ weights sum to 1: 1.000\n"),
        nbformat.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"}),
    ]
    colab = nbformat.v4.new_code_cell("# On Colab: install course_utils", id="ci",
                                      metadata={"tags": ["colab-install"]})
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(f"{badge}\n\n# Self-attention", id="h"), colab,
        nbformat.v4.new_markdown_cell(
            "Inline $q \\cdot k / \\sqrt{d_k}$ and\n\n"
            "$$\\frac{\\partial p_i}{\\partial s_j} = p_i(\\delta_{ij} - p_j)$$", id="m"),
        code,
    ])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nbformat.write(nb, executed / "02_self_attention.ipynb")
    claims = [{"name": "a", "holds": True}, {"name": "b", "holds": None, "unjudged": "busy"},
              {"name": "c", "holds": None, "expected": "(reported)"}]
    (folder / "claims.json").write_text(json.dumps({
        "meta": {"date": "2026-12-06 16:00", "profile": "quick", "seed": "3", "cpus": 2},
        "notebooks": [{"notebook": "02_self_attention", "claims": claims}]}))
    return executed


def test_stage_book_copies_the_executed_notebooks_without_remote_images(tmp_path):
    executed = _small_executed(tmp_path)
    chapters = book.stage_book(executed, tmp_path / "src")
    assert chapters == ["02_self_attention"]
    staged = nbformat.read(tmp_path / "src" / "notebooks" / "02_self_attention.ipynb", as_version=4)
    assert "colab-badge.svg" not in staged.cells[0].source
    assert "widgets" not in staged.metadata
    assert [c.id for c in staged.cells] == ["h", "m", "c1"]   # the Colab install cell left out
    assert staged.cells[2].outputs[1]["data"]["image/png"] == PNG   # outputs kept as executed
    assert (tmp_path / "src" / "docs" / "derivations.md").read_text() == \
        book.DERIVATIONS.read_text()
    front = (tmp_path / "src" / "index.md").read_text()
    assert "notebooks/02_self_attention" in front
    assert "| 1 held · 1 unjudged |" in front and "seed 3" in front   # from claims.json


def test_stage_book_names_the_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="executed='.*nowhere'"):
        book.stage_book(tmp_path / "nowhere", tmp_path / "src")


# ------------------------------------------------------------------ an offline build

_NO_NETWORK = textwrap.dedent("""
    # Loaded by every Python process of the book's build (PYTHONPATH): an Internet connection
    # fails and is written to COURSE_NET_LOG, so a build that quietly tried one is caught.
    import os, socket
    _log = os.environ["COURSE_NET_LOG"]
    _connect = socket.socket.connect
    def _refuse(self, address, *args):
        if self.family in (socket.AF_INET, socket.AF_INET6):
            with open(_log, "a") as fh:
                fh.write(f"{os.getpid()} {address!r}\\n")
            raise OSError(f"network disabled in the book's build test: {address!r}")
        return _connect(self, address, *args)
    socket.socket.connect = _refuse
    socket.socket.connect_ex = _refuse
""")


def test_pdf_builds_from_paths_relative_to_the_working_folder(tmp_path, monkeypatch):
    """CI builds with ``--out build/book``: a relative output folder, while pandoc runs in the
    document's folder (a relative scratch path once sent it looking in the wrong place)."""
    missing = _missing_book_packages()
    if missing:
        pytest.skip(f"book packages missing ({missing}): pip install -r requirements-book.txt")
    shutil.copy(ROOT / "docs" / "derivations.md", tmp_path / "derivations.md")
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    pdf = book.build_pdf(Path("..") / "derivations.md", Path("out") / "derivations.pdf")
    assert (tmp_path / "work" / "out" / "derivations.pdf").read_bytes()[:4] == b"%PDF"
    assert not list((tmp_path / "work" / "out").glob(".pdf-*")), "scratch file left behind"
    assert pdf == Path("out") / "derivations.pdf"


def test_build_is_offline(tmp_path):
    """``python -m course_utils book`` on a small executed notebook, every Internet connection
    refused and logged: it exits 0, tries none, and writes the pages and the PDF."""
    missing = _missing_book_packages()
    if missing:
        pytest.skip(f"book packages missing ({missing}): pip install -r requirements-book.txt")
    executed = _small_executed(tmp_path)
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(_NO_NETWORK)
    log = tmp_path / "network.log"
    env = dict(os.environ, COURSE_NET_LOG=str(log),
               PYTHONPATH=os.pathsep.join([str(hooks), str(ROOT),
                                           os.environ.get("PYTHONPATH", "")]))
    out = tmp_path / "book"
    done = subprocess.run([sys.executable, "-m", "course_utils", "book", "--executed",
                           str(executed), "--out", str(out)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"book build failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert not log.exists(), f"the build tried the network: {log.read_text()[:2000]}"
    page = (out / "notebooks" / "02_self_attention.html").read_text(encoding="utf-8")
    assert "✔ weights sum to 1" in page
    images = re.findall(r'<img[^>]*src="([^"]+)"', page)
    assert images and all((out / "notebooks" / src).is_file() for src in images), images
    assert "colab-badge.svg" not in page and "Open In Colab" in page
    assert 'src="../_static/mathjax/tex-chtml-full.js"' in page
    assert (out / "_static" / "mathjax" / "tex-chtml-full.js").is_file()
    fonts = out / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2"
    assert list(fonts.glob("*.woff"))
    assert _text_outside_code(page).count("$") == 0
    assert (out / "derivations.pdf").read_bytes()[:5] == b"%PDF-"
    assert not (out / "derivations.typ").exists()
    _assert_nothing_loaded_from_outside(out)


# ------------------------------------------------------------------ the built site

def _site() -> Path:
    if not (BOOK / "index.html").is_file():
        pytest.skip(f"no built site at {BOOK}: run `python -m course_utils book` first")
    return BOOK


def _pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if not {"_static", "_sources"} & set(p.parts))


def _text_outside_code(page: str) -> str:
    """The page's visible text without code, outputs, scripts and styles."""
    body = page.split("<main", 1)[-1]
    body = re.sub(r"<(pre|code|script|style|textarea)\b[^>]*>.*?</\1>", " ", body, flags=re.DOTALL)
    return htmllib.unescape(re.sub(r"<[^>]+>", " ", body))


class _Loads(HTMLParser):
    """Every URL an HTML page makes the browser load (not links the reader may follow)."""

    LOADING_RELS = frozenset({"stylesheet", "icon", "shortcut", "preload", "modulepreload",
                              "prefetch", "preconnect", "dns-prefetch", "manifest",
                              "apple-touch-icon"})

    def __init__(self):
        super().__init__()
        self.urls: list[tuple[str, str]] = []   # (kind, url)
        self._style = False

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "link" and self.LOADING_RELS & set(a.get("rel", "").lower().split()):
            kind = "css" if "stylesheet" in a.get("rel", "") else "link"
            self.urls.append((kind, a.get("href", "")))
        for name in ("src", "data", "poster"):
            if name in a and tag in {"script", "img", "iframe", "source", "video", "audio",
                                     "embed", "object", "track", "input"}:
                self.urls.append(("js" if tag == "script" else tag, a[name]))
        for name in ("srcset", "imagesrcset"):
            for part in a.get(name, "").split(","):
                if part.strip():
                    self.urls.append((tag, part.split()[0]))
        if "style" in a:
            self.urls += [("style", u) for u in _css_urls(a["style"])]
        if tag == "meta" and a.get("http-equiv", "").lower() == "refresh":
            self.urls.append(("refresh", a.get("content", "").split("url=")[-1]))
        self._style = tag == "style"

    def handle_data(self, data):
        if self._style:
            self.urls += [("style", u) for u in _css_urls(data)]

    def handle_endtag(self, tag):
        self._style = False


def _css_urls(css: str) -> list[str]:
    urls = re.findall(r"url\(\s*['\"]?([^'\")]+)['\"]?\s*\)", css)
    urls += re.findall(r"@import\s+['\"]([^'\"]+)['\"]", css)
    return [u for u in urls if not u.startswith("data:")]


def _is_remote(url: str) -> bool:
    return url.startswith("//") or bool(urlsplit(url).scheme) and not url.startswith("data:")


# URLs inside the JavaScript the pages load that are never requested: XML namespaces, licence
# and documentation links in messages, and the speech rule engine's fallback addresses inside
# MathJax, used only when a reader turns on speech in MathJax's menu without a local copy
# (the site carries sre/ beside MathJax, the copy MathJax uses).
_JS_URLS_NEVER_LOADED = re.compile(
    r"https?://(www\.w3\.org/|www\.apache\.org/licenses/|www\.mathjax\.org|github\.com/mhchem/|"
    r"developer\.mozilla\.org/|pydata-sphinx-theme\.readthedocs\.io/|"
    r"cdn\.jsdelivr\.net/npm/(speech-rule-engine|sre-mathmaps-ie|wicked-good-xpath))")


def _assert_nothing_loaded_from_outside(site: Path) -> None:
    """No page, nor a CSS or JS file a page loads, asks for anything outside ``site``; every
    file a page loads exists."""
    remote, missing, scripts, sheets = [], [], set(), set()
    for page in _pages(site):
        parser = _Loads()
        parser.feed(page.read_text(encoding="utf-8"))
        for kind, url in parser.urls:
            if _is_remote(url):
                remote.append(f"{page.relative_to(site)}: {kind} {url}")
                continue
            target = (page.parent / urlsplit(url).path).resolve()
            if not target.is_file():
                missing.append(f"{page.relative_to(site)}: {kind} {url}")
            elif kind == "js":
                scripts.add(target)
            elif kind == "css":
                sheets.add(target)
    for sheet in sorted(sheets):
        for url in _css_urls(sheet.read_text(encoding="utf-8", errors="replace")):
            if _is_remote(url):
                remote.append(f"{sheet.relative_to(site)}: url {url}")
            elif not (sheet.parent / urlsplit(url).path).resolve().exists():
                missing.append(f"{sheet.relative_to(site)}: url {url}")
    for script in sorted(scripts):
        text = script.read_text(encoding="utf-8", errors="replace")
        for url in set(re.findall(r"https?://[^\s'\"`)<>\\]+", text)):
            if not _JS_URLS_NEVER_LOADED.match(url):
                remote.append(f"{script.relative_to(site)}: {url}")
    assert not remote, f"loaded from outside the site: {remote[:20]}"
    assert not missing, f"loaded but not in the site: {missing[:20]}"


def test_site_has_every_page():
    site = _site()
    for name in ["index.html", "search.html", "searchindex.js", "genindex.html",
                 "docs/derivations.html", "derivations.pdf"]:
        assert (site / name).is_file(), f"{site / name} missing"
    chapters = [info.file.removesuffix(".ipynb") for info in CATALOG]
    missing = [c for c in chapters if not (site / "notebooks" / f"{c}.html").is_file()]
    assert not missing, f"chapters missing from {site}/notebooks/: {missing}"
    front = (site / "index.html").read_text(encoding="utf-8")
    for info in CATALOG:
        assert f'href="notebooks/{info.file.removesuffix(".ipynb")}.html"' in front, info.file
        assert htmllib.escape(info.title, quote=False) in front
    assert 'href="docs/derivations.html"' in front and 'href="derivations.pdf"' in front
    assert 'data-default-mode="light"' in front   # else the theme logs a console error


def test_site_loads_nothing_from_outside():
    _assert_nothing_loaded_from_outside(_site())


def test_site_math_is_left_to_the_bundled_mathjax_and_no_raw_dollars():
    site = _site()
    derivations = (site / "docs" / "derivations.html").read_text(encoding="utf-8")
    assert derivations.count('class="math') >= 300, "the derivations' formulas are not math nodes"
    for page in [site / "docs" / "derivations.html"] + sorted((site / "notebooks").glob("*.html")):
        text = page.read_text(encoding="utf-8")
        visible = _text_outside_code(text)
        assert "$$" not in visible and not re.search(r"(?<!\\)\$[^$\s][^$]*\$", visible), \
            f"{page.name}: raw $…$ left: {re.findall(r'.{30}[$].{30}', visible)[:3]}"
        if 'class="math' in text:
            assert 'src="../_static/mathjax/tex-chtml-full.js"' in text, page.name
    assert derivations.count("\\begin{pmatrix}") >= 1   # amsmath environments reach MathJax intact


def test_site_chapters_show_their_outputs_and_figures():
    """Each chapter page shows the claim lines and at least as many figures as its executed
    notebook (staged beside the site in OUT-src/) has image outputs."""
    site = _site()
    staged = site.with_name(site.name + "-src") / "notebooks"
    for info in CATALOG:
        page = (site / "notebooks" / info.file.replace(".ipynb", ".html")).read_text("utf-8")
        assert re.search(r"[✔✘○] ", page), f"{info.file}: no claim line on its page"
        if not staged.is_dir():
            continue
        nb = nbformat.read(staged / info.file, as_version=4)
        figures = sum(any(k.startswith("image/") for k in out.get("data", {}))
                      for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs)
        images = len(re.findall(r'<img\b[^>]*src="\.\./_images/', page))
        assert images >= figures, f"{info.file}: {figures} figures executed, {images} on its page"


def test_site_search_index_knows_the_chapters_and_the_derivations():
    index = (_site() / "searchindex.js").read_text(encoding="utf-8")
    assert '"docs/derivations"' in index
    for info in CATALOG:
        assert f'"notebooks/{info.file.removesuffix(".ipynb")}"' in index, info.file
    assert "softmax" in index and "jacobian" in index.lower()


def test_derivations_pdf_is_typeset():
    pdf = _site() / "derivations.pdf"
    data = pdf.read_bytes()
    assert data[:5] == b"%PDF-" and len(data) > 50_000
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) not installed: the PDF's text is not checked")
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                          check=True).stdout
    assert "Derivations, each one checked" in text
    sections = set(re.findall(r"^(0[1-9]|1[01]) · [A-Z]", text, flags=re.MULTILINE))
    assert len(sections) >= 10, f"chapter sections found in the PDF: {sorted(sections)}"
    # TeX that was not typeset would show as its source
    assert not re.search(r"\\[A-Za-z]+", text), re.findall(r".{20}\\[A-Za-z]+.{20}", text)[:5]
    assert "$" not in text.replace("$…$ and $$…$$", ""), re.findall(r".{20}[$].{20}", text)[:5]
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=False).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1)) if "Pages" in info else 0
    assert pages >= 8, f"{pages} pages"
