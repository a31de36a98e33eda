"""The committed notebooks follow the template, and their badges and install cells agree with the
one canonical URL in course_utils.links."""
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from course_utils.machinery import links
from course_utils.machinery.notebooks import CATALOG, find_notebooks, notebook_problems, sync_notebook

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = find_notebooks(ROOT / "notebooks")


def test_there_are_notebooks_and_they_are_in_the_catalog():
    assert len(NOTEBOOKS) >= 3
    files = {info.file for info in CATALOG}
    assert {p.name for p in NOTEBOOKS} <= files


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_follows_the_template(path):
    assert notebook_problems(path) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_install_cell_never_installs_torch_and_does_nothing_outside_colab(path, monkeypatch):
    nb = nbformat.read(path, as_version=4)
    cell = next(c for c in nb.cells if "colab-install" in c.metadata.get("tags", []))
    assert "torch" not in re.sub(r"#.*", "", cell.source)       # comments may mention it
    calls = []
    monkeypatch.setattr(subprocess, "check_call", lambda *a, **k: calls.append(a))
    assert "google.colab" not in sys.modules
    exec(cell.source, {})
    assert calls == []


def test_install_cell_installs_from_the_canonical_repository(monkeypatch):
    calls = []
    monkeypatch.setattr(subprocess, "check_call", lambda args, **k: calls.append(args))
    monkeypatch.setitem(sys.modules, "google.colab", object())
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    exec(links.install_cell_source(), {})
    assert calls and calls[0][-1] == f"attention-measured @ git+{links.REPOSITORY}@{links.BRANCH}"


def test_readme_badges_agree_with_links():
    readme = (ROOT / "README.md").read_text()
    urls = set(re.findall(r"https://colab\.research\.google\.com/github/[^)\s]+", readme))
    expected = {links.colab_url(p.name) for p in NOTEBOOKS}
    assert expected <= urls
    assert all(u in {links.colab_url(i.file) for i in CATALOG} for u in urls)


def test_pyproject_requires_torch_with_a_lower_bound_only():
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'"torch>=[\d.]+"', text) and "torch==" not in text
    reqs = (ROOT / "requirements.txt").read_text().splitlines()
    pins = [r for r in reqs if r and not r.startswith(("#", "-"))]
    assert pins[0] == "torch==2.13.0"
    assert all("==" in r for r in pins)


def test_sync_repairs_a_stale_badge_and_install_cell(tmp_path):
    src = NOTEBOOKS[0]
    copy = tmp_path / src.name
    shutil.copy(src, copy)
    nb = nbformat.read(copy, as_version=4)
    for c in nb.cells:
        tags = c.metadata.get("tags", [])
        if "header" in tags:
            c.source = c.source.replace(links.REPOSITORY.split("github.com/")[1], "someone/old-fork")
        if "colab-install" in tags:
            c.source = "!pip install torch course_utils"
    nbformat.write(nb, copy)
    assert notebook_problems(copy)
    assert sync_notebook(copy) is True
    assert notebook_problems(copy) == []
    assert sync_notebook(copy) is False


def test_notebook_problems_catches_outputs(tmp_path):
    copy = tmp_path / NOTEBOOKS[0].name
    data = json.loads(NOTEBOOKS[0].read_text())
    code = next(c for c in data["cells"] if c["cell_type"] == "code")
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "hi"}]
    copy.write_text(json.dumps(data))
    assert any("outputs" in p for p in notebook_problems(copy))


@pytest.mark.filterwarnings("ignore::nbformat.warnings.MissingIDFieldWarning")
def test_notebook_problems_catches_a_cell_without_id(tmp_path):
    copy = tmp_path / NOTEBOOKS[0].name
    data = json.loads(NOTEBOOKS[0].read_text())
    del data["cells"][3]["id"]
    copy.write_text(json.dumps(data))
    assert any("cells [3] have no id" in p for p in notebook_problems(copy))


def test_readme_table_is_the_generated_one(monkeypatch):
    from course_utils.machinery.notebooks import README_END, README_START, readme_table

    monkeypatch.chdir(ROOT)
    text = (ROOT / "README.md").read_text()
    assert f"{README_START}\n{readme_table()}\n{README_END}" in text, \
        "README table is stale: run python -m course_utils sync"


def test_reading_problems_finds_wrapped_lines_and_evidence_that_crowds_teaching():
    from course_utils.machinery.notebooks import printed_lines, reading_problems

    def executed(*texts):
        nb = nbformat.v4.new_notebook()
        cell = nbformat.v4.new_code_cell("print()")
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=t) for t in texts]
        nb.cells = [cell]
        return nb

    fine = executed("loss 0.31 after 200 steps\n", "accuracy 0.97\n✔ accuracy: 0.97 (expected >= 0.9)\n")
    assert printed_lines(fine) == (["✔ accuracy: 0.97 (expected >= 0.9)"],
                                   ["loss 0.31 after 200 steps", "accuracy 0.97"])
    assert reading_problems(fine) == []
    crowded = executed("accuracy 0.97\n✔ accuracy: 0.97 (expected >= 0.9)\n· loss: 0.31\n")
    assert reading_problems(crowded) == ["2 claim and observe lines against 1 other printed lines "
                                         "(at most 50% of them: make sanity checks quiet, and print "
                                         "no number twice)"]
    unjudged = executed("○ speed-up: 3.0 (expected >= 2, verified on cpu)\n"
                        "  not judged here: the machine was busy; it would have held\n", "a\nb\n")
    assert printed_lines(unjudged) == (["○ speed-up: 3.0 (expected >= 2, verified on cpu)"],
                                       ["a", "b"])
    wrapped = executed("x" * 101 + "\n", "a\rb\n", "c\n")    # \r: only the redrawn line counts
    problems = reading_problems(wrapped)
    assert len(problems) == 1 and "101 characters" in problems[0]
    assert printed_lines(wrapped)[1][1:] == ["b", "c"]


def test_a_chapter_over_its_budget_is_reported():
    from course_utils.machinery.notebooks import chapter_problems

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("## What to remember\n- a"),
                nbformat.v4.new_markdown_cell("## Exercises"),
                nbformat.v4.new_markdown_cell("**Experiment (open-ended).** try")]
    assert chapter_problems(nb) == []
    nb.cells[0].source += "\n" + "word " * 3000
    nb.cells += [nbformat.v4.new_code_cell("x = 1") for _ in range(48)]
    assert chapter_problems(nb) == ["51 cells (at most 50: one section's story)",
                                    "3009 markdown words (at most 3000, exercises included)"]


def test_every_notebook_links_to_its_section_of_the_derivations():
    """Each header ends with the link to docs/derivations.md (kept by `python -m course_utils sync`),
    and that document has a section for every notebook, under the number the link names."""
    from course_utils.machinery.notebooks import DERIVATIONS, derivations_line

    doc = (NOTEBOOKS[0].parent / DERIVATIONS).resolve()
    text = doc.read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        header = next(c for c in nbformat.read(path, as_version=4).cells if "header" in c.metadata.get("tags", []))
        assert header.source.rstrip().endswith(derivations_line(path.name)), path.name
        assert f"\n## {path.name[:2]} · " in text, f"docs/derivations.md has no section for {path.name[:2]}"


def test_derivations_cite_cells_that_exist():
    """docs/derivations.md names the cell that measures each derivation (cell `id`): every id it
    cites is a cell of a notebook, so a moved or renamed cell breaks this test, not the link."""
    import re

    from course_utils.machinery.notebooks import DERIVATIONS

    text = (NOTEBOOKS[0].parent / DERIVATIONS).resolve().read_text(encoding="utf-8")
    ids = {c.get("id") for path in NOTEBOOKS for c in nbformat.read(path, as_version=4).cells}
    cited = set(re.findall(r"cells? `([^`]+)`", text))
    assert len(cited) >= 20
    assert not cited - ids, f"docs/derivations.md cites cells no notebook has: {sorted(cited - ids)}"
