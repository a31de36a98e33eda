"""Every notebook, executed top to bottom as a learner who answered every exercise would run it:
each exercise cell holds its reference code (the hidden reference cell removed), each check must
print a ✔, and every claim must hold (the claims table in the last cell raises otherwise). What
it prints reads well in JupyterLab: no line long enough to wrap, and claim and observe lines at
most half of the other printed lines."""
import json

import nbformat

import pytest

from course_utils.machinery.notebooks import find_notebooks, reading_problems
from course_utils.machinery.runner import run_course

NOTEBOOKS = find_notebooks()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_with_every_exercise_answered(path, tmp_path):
    out = tmp_path / "build"
    status = run_course(only=[path.name[:2]], out=out, edition="answered", timeout=600)
    summary = json.loads((out / "claims.json").read_text())["notebooks"][0]
    failed = [f"{c['name']}: {c['value']} (expected {c['expected']})" for c in summary["claims"]
              if c.get("holds") is False]
    assert status == 0, f"{summary['status']}: {summary.get('error') or failed}"
    executed = nbformat.read(out / "executed" / path.name, as_version=4)
    assert reading_problems(executed) == []
