"""The course as a book: a static site of the executed chapters and a PDF of the derivations.

``python -m course_utils book [--executed build/executed] [--out build/book]``

Nothing is executed here: the site is built from the notebooks that ``python -m course_utils run``
already executed (``build/executed/*.ipynb``), with Sphinx and myst-nb (``nb_execution_mode =
"off"``; configuration in ``docs/conf.py``). Everything the pages load lies in ``OUT``: the theme's
assets, Sphinx's search and MathJax 3 (from the ``sphinx-mathjax-offline`` wheel). The PDF of
``docs/derivations.md`` is made by pandoc (``pypandoc-binary``) → Typst → PDF (``typst``), both
from PyPI. Dependencies: ``pip install -r requirements-book.txt``.

Output (``OUT`` = ``build/book`` by default):

- ``OUT/index.html``: front page, the table of notebooks, links to the derivations and the PDF;
- ``OUT/notebooks/NN_name.html``: each executed chapter with its figures and claims;
- ``OUT/docs/derivations.html`` and ``OUT/derivations.pdf``;
- ``OUT/search.html``: Sphinx's search (``OUT/searchindex.js``).

The sources Sphinx reads are staged in ``OUT-src/`` (``build/book-src``), rebuilt every time.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from .notebooks import CATALOG

__all__ = ["REPO", "stage_book", "front_page", "offline_markdown", "build_site", "build_pdf",
           "build_book"]

REPO = Path(__file__).resolve().parents[2]   # the checkout: docs/, notebooks/, tests/
CONF_DIR = REPO / "docs"
DERIVATIONS = REPO / "docs" / "derivations.md"

_BADGE = re.compile(r"\[!\[([^\]]*)\]\((https?://[^)\s]+)\)\]\((https?://[^)\s]+)\)")
_REMOTE_IMAGE = re.compile(r"!\[([^\]]*)\]\((https?://[^)\s]+)\)")


def offline_markdown(text: str) -> str:
    """``text`` with every image that would load from another site turned into a plain link.

    The Colab badge ``[![Open In Colab](…badge.svg)](…colab…)`` becomes ``[Open in Colab](…)``:
    a link the reader may follow, not a request the page makes."""
    text = _BADGE.sub(lambda m: f"[{m.group(1) or 'link'}]({m.group(3)})", text)
    return _REMOTE_IMAGE.sub(lambda m: f"[image: {m.group(1) or m.group(2)}]({m.group(2)})", text)


def _claims_summary(executed: Path) -> dict[str, str]:
    """``{"01_introduction": "17 held · 2 unjudged", …}`` from ``executed/../claims.json``, if any
    (observations, ``(reported)``, are not counted)."""
    path = executed.parent / "claims.json"
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    out = {}
    for nb in data.get("notebooks", []):
        claims = nb.get("claims", [])
        counts = {"held": sum(c.get("holds") is True for c in claims),
                  "failed": sum(c.get("holds") is False for c in claims),
                  "unjudged": sum(bool(c.get("unjudged")) for c in claims)}
        out[str(nb.get("notebook", ""))] = " · ".join(
            f"{n} {word}" for word, n in counts.items() if n or word == "held")
    return out


def front_page(chapters: list[str], claims: dict[str, str] | None = None,
               meta: dict | None = None) -> str:
    """The front page (MyST markdown): the table of notebooks from :data:`CATALOG`, a link to
    each executed chapter (``chapters``: the stems present, e.g. ``"01_introduction"``), the
    derivations and their PDF, and a hidden table of contents."""
    claims = claims or {}
    rows = ["| # | chapter | what it shows | quick (CPU) | claims in this run |",
            "|---|---|---|---|---|"]
    for info in CATALOG:
        stem = info.file.removesuffix(".ipynb")
        if stem not in chapters:
            continue
        rows.append(f"| {info.number} | [{info.title}](notebooks/{info.file}) | {info.shows} | "
                    f"{info.quick} | {claims.get(stem, '')} |")
    when = ""
    if meta:
        when = (f" This build shows the run of {meta.get('date', '?')} (profile "
                f"{meta.get('profile', '?')}{', smoke' if meta.get('smoke') else ''}, seed "
                f"{meta.get('seed', '?')}, {meta.get('cpus', '?')} CPUs).")
    toc = "\n".join(f"notebooks/{stem}" for stem in chapters)
    return f"""# Attention, Measured

An open course on Transformers and self-attention in eleven Jupyter notebooks that **measure every
claim they make** and check it: each claim is computed, compared with a threshold and printed as a
✔ line under the code that measured it. These pages are the notebooks as executed by
`python -m course_utils run`, outputs and figures included.{when} Run them yourself to measure
on your own machine.

Every derivation the chapters use is written out, step by step, in
[Derivations, each one checked](docs/derivations.md), each one checked numerically by a test;
they are also <a href="derivations.pdf">a PDF</a>.

{chr(10).join(rows)}

```{{toctree}}
:hidden:
:caption: Chapters

{toc}
```

```{{toctree}}
:hidden:
:caption: Mathematics

docs/derivations
```
"""


def stage_book(executed: str | Path, staging: str | Path) -> list[str]:
    """Write the sources Sphinx reads into ``staging`` (emptied first); return the chapters' stems.

    ``executed``: folder of executed notebooks (``NN_name.ipynb``, as ``python -m course_utils
    run`` writes them). Each is copied with its outputs, remote images turned into links
    (:func:`offline_markdown`) and widget state dropped (its views cannot render offline)."""
    executed, staging = Path(executed), Path(staging)
    names = {info.file for info in CATALOG}
    found = sorted(p for p in executed.glob("[0-9][0-9]_*.ipynb") if p.name in names) \
        if executed.is_dir() else []
    if not found:
        raise FileNotFoundError(
            f"no executed notebooks in executed={str(executed)!r}: run `python -m course_utils "
            f"run` first (it writes build/executed/), or pass --executed DIR")
    if staging.exists():
        shutil.rmtree(staging)
    (staging / "notebooks").mkdir(parents=True)
    (staging / "docs").mkdir()
    (staging / "tests").mkdir()
    for path in found:
        nb = nbformat.read(path, as_version=4)
        nb.metadata.pop("widgets", None)
        # the Colab set-up cell does nothing outside Colab: not a page of the book
        nb.cells = [c for c in nb.cells
                    if "colab-install" not in c.get("metadata", {}).get("tags", [])]
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = offline_markdown(cell.source)
        nbformat.write(nb, staging / "notebooks" / path.name)
    shutil.copy2(DERIVATIONS, staging / "docs" / "derivations.md")
    tests = REPO / "tests" / "test_derivations.py"
    if tests.exists():   # the derivations link to their tests: a download in the site
        shutil.copy2(tests, staging / "tests" / tests.name)
    chapters = [p.stem for p in found]
    meta = None
    claims_path = executed.parent / "claims.json"
    if claims_path.exists():
        try:
            meta = json.loads(claims_path.read_text(encoding="utf-8")).get("meta")
        except (OSError, ValueError):
            meta = None
    (staging / "index.md").write_text(front_page(chapters, _claims_summary(executed), meta),
                                      encoding="utf-8")
    return chapters


def build_site(staging: str | Path, out: str | Path, *, jobs: str = "1",
               quiet: bool = True) -> None:
    """Run Sphinx's HTML builder on ``staging`` into ``out`` (configuration: ``docs/conf.py``).

    Raises ``RuntimeError`` with Sphinx's output if the build fails."""
    staging, out = Path(staging), Path(out)
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-E", "-c", str(CONF_DIR),
           "-d", str(staging / ".doctrees"), "-j", str(jobs), str(staging), str(out)]
    if quiet:
        cmd.insert(3, "-q")
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.stderr.strip():
        print(done.stderr.strip(), file=sys.stderr)
    if done.returncode != 0:
        raise RuntimeError(f"sphinx-build failed (exit {done.returncode}): {' '.join(cmd)}\n"
                           f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def _typst_source(markdown: Path, workdir: Path) -> str:
    """``markdown`` (MyST with $…$ math) as Typst source, through pandoc (scratch in ``workdir``)."""
    import pypandoc

    pandoc = pypandoc.get_pandoc_path()
    header = "#set par(justify: false)\n#set text(hyphenate: true)\n"
    markdown = Path(markdown).resolve()        # pandoc runs in the document's folder: absolute paths
    with_header = (Path(workdir) / ".pdf-before-body.typ").resolve()
    cmd = [pandoc, str(markdown), "--from", "markdown+tex_math_dollars", "--to", "typst",
           "--standalone", "-V", "papersize=a4", "-V", "fontsize=10.5pt",
           "--include-before-body", str(with_header)]
    try:
        with_header.write_text(header, encoding="utf-8")
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=markdown.parent,
                              check=False)
    finally:
        with_header.unlink(missing_ok=True)
    if done.returncode != 0:
        raise RuntimeError(f"pandoc failed (exit {done.returncode}): {done.stderr[-2000:]}")
    if "Could not convert TeX math" in done.stderr:   # pandoc would print the TeX as text
        raise RuntimeError(f"pandoc could not translate some math of {markdown} to Typst:\n"
                           f"{done.stderr[-3000:]}")
    source = done.stdout
    # pandoc writes symbol names of older Typst releases; Typst 0.14 renamed ⊙
    source = source.replace("dot.circle", "dot.o")
    # a column of cases(…) gets no gap in Typst: "γ^(t-s) & s ≤ t" would read γ^(t-s)·s ≤ t
    return re.sub(r"cases\((.*?)\)\s*[.,]?\s*\$",
                  lambda m: m.group(0).replace(" & ", " & quad "), source)


def build_pdf(markdown: str | Path, pdf: str | Path) -> Path:
    """``markdown`` (``docs/derivations.md``) to ``pdf``: pandoc → Typst → PDF, offline.

    Typst's own fonts (Libertinus Serif, New Computer Modern Math) are embedded in its wheel."""
    import typst

    markdown, pdf = Path(markdown), Path(pdf)
    pdf.parent.mkdir(parents=True, exist_ok=True)
    source = pdf.with_suffix(".typ")
    source.write_text(_typst_source(markdown, pdf.parent), encoding="utf-8")
    try:
        typst.compile(str(source), output=str(pdf), root=str(source.parent))
    except typst.TypstError as err:   # name the construct that failed
        raise RuntimeError(f"typst could not compile {source}: {err.message} "
                           f"{getattr(err, 'hints', '')}") from err
    source.unlink()
    return pdf


def build_book(executed: str | Path = "build/executed", out: str | Path = "build/book", *,
               pdf: bool = True, jobs: str = "1") -> int:
    """Stage, build the site into ``out`` and the derivations' PDF into ``out/derivations.pdf``;
    print the times and return 0 (raises on failure)."""
    out = Path(out)
    staging = out.with_name(out.name + "-src")
    t0 = time.perf_counter()
    chapters = stage_book(executed, staging)
    if out.exists():
        shutil.rmtree(out)
    build_site(staging, out, jobs=jobs)
    t1 = time.perf_counter()
    print(f"site: {out / 'index.html'} ({len(chapters)} chapters, the derivations, search) "
          f"in {t1 - t0:.1f} s")
    if pdf:
        path = build_pdf(DERIVATIONS, out / "derivations.pdf")
        print(f"pdf: {path} in {time.perf_counter() - t1:.1f} s")
    print(f"serve it: python -m http.server --directory {out} 8000, "
          "then open http://localhost:8000/")
    return 0
