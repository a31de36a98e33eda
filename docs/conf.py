"""Sphinx configuration of the course's book: ``python -m course_utils book`` (machinery/book.py).

The book is built from a staging folder that ``book.py`` writes (a front page, the executed
notebooks, docs/derivations.md); this file is its configuration (``sphinx-build -c docs``).
Everything it loads is local: the theme's assets, Sphinx's search and a MathJax 3 copied from the
``sphinx-mathjax-offline`` wheel. Notebooks are never executed here (``nb_execution_mode = "off"``).
"""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

project = "Attention, Measured"
author = "the Attention, Measured authors"
copyright = "the Attention, Measured authors, MIT License"

extensions = ["myst_nb", "sphinx.ext.mathjax"]
source_suffix = {".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
suppress_warnings = ["myst.header", "misc.highlighting_failure"]

# MyST: $…$ and $$…$$ math, and amsmath environments (docs/derivations.md, the notebooks' markdown)
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# myst-nb: render the runner's outputs as they are; never execute, never load widget JS from a CDN
nb_execution_mode = "off"
nb_ipywidgets_js = {}
nb_merge_streams = True
nb_output_stderr = "remove"
# a widget view cannot render without its JavaScript: show the widget's text fallback instead
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None),
                              ("html", "application/vnd.jupyter.widget-state+json", None)]

# Theme: sphinx-book-theme ships its fonts, icons and scripts; no analytics, no repository buttons
html_theme = "sphinx_book_theme"
html_title = "Attention, Measured"
html_theme_options = {
    "show_toc_level": 2,
    "home_page_in_toc": True,
    "use_download_button": False,
    "use_fullscreen_button": False,
    "use_repository_button": False,
    "navigation_with_keys": False,
}
# an explicit mode: without one, pydata-sphinx-theme logs a console error on a first visit
html_context = {"default_mode": "light"}
html_last_updated_fmt = None
html_copy_source = False
html_show_sourcelink = False

# MathJax 3.2.2 from the sphinx-mathjax-offline wheel, copied into _static/mathjax (see setup)
mathjax_path = "mathjax/tex-chtml-full.js"
_MATHJAX_PARTS = ["tex-chtml-full.js", "output/chtml", "input", "ui", "a11y", "sre", "adaptors"]


def _mathjax_source() -> Path:
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the book needs MathJax from the package sphinx-mathjax-offline: "
                           "pip install -r requirements-book.txt")
    return Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax"


def _copy_mathjax(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    source, target = _mathjax_source(), Path(app.outdir) / "_static" / "mathjax"
    for part in _MATHJAX_PARTS:
        src, dst = source / part, target / part
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)


def setup(app):
    _mathjax_source()  # fail at the start, not after the build, if MathJax is missing
    app.connect("build-finished", _copy_mathjax)
