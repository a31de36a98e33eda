"""The main job on two tiny notebooks: one whose claims hold and one whose claim fails."""
import json

import nbformat

from course_utils.machinery.cli import main
from course_utils.machinery.runner import run_course

from conftest import SETUP


def test_run_course_reports_claims_figures_and_failures(tmp_path, write_notebook):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    write_notebook(nbs / "01_ok.ipynb", SETUP,
           "import matplotlib.pyplot as plt\nplt.plot([1, 2]); plt.show()",
           "course_utils.claim('two is more than one', 2, at_least=1)\ncourse_utils.claims_table()")
    write_notebook(nbs / "02_bad.ipynb", SETUP,
           "course_utils.claim('wrong on purpose', 0.1, at_least=0.5)",
           "course_utils.claim('still recorded after a failure', 1, at_least=1)",
           "course_utils.claims_table()")
    out = tmp_path / "build"
    status = run_course(notebooks=nbs, out=out, seed=5)
    assert status == 1
    summary = json.loads((out / "claims.json").read_text())
    by_name = {n["notebook"]: n for n in summary["notebooks"]}
    assert by_name["01_ok"]["status"] == "ok" and by_name["01_ok"]["figures"] == 1
    assert by_name["01_ok"]["run_info"]["seed"] == 5
    assert by_name["01_ok"]["run_info"]["profile"] in ("quick", "full")
    assert by_name["01_ok"]["peak_memory_bytes"] > 50 * 2**20    # a kernel with torch loaded
    bad = by_name["02_bad"]
    assert bad["status"] == "claims failed"
    assert [c["holds"] for c in bad["claims"]] == [False, True]   # the failure did not halt it
    html = (out / "report.html").read_text()
    assert "wrong on purpose" in html and "FAILED" in html and "data:image/png;base64," in html
    assert (out / "executed" / "01_ok.ipynb").exists()

    assert run_course(notebooks=nbs, out=out, only=["1"]) == 0
    assert main(["run", "--notebooks", str(nbs), "--out", str(out), "--only", "01"]) == 0


def test_a_notebook_that_raises_is_an_error(tmp_path, write_notebook):
    nbs = tmp_path / "nb"
    nbs.mkdir()
    write_notebook(nbs / "03_crash.ipynb", "raise RuntimeError('boom')")
    assert run_course(notebooks=nbs, out=tmp_path / "b") == 1
    summary = json.loads((tmp_path / "b" / "claims.json").read_text())
    assert summary["notebooks"][0]["status"] == "error" and "boom" in summary["notebooks"][0]["error"]


def test_smoke_run_of_a_real_notebook(tmp_path):
    """`run --smoke --edition student` on notebook 01: the student edition (no reference cells)
    runs top to bottom with its exercises unanswered; the full profile's shapes, loops cut,
    nothing judged, the kernel's peak memory recorded (and far below Colab's 12.7 GB)."""
    out = tmp_path / "smoke"
    assert main(["run", "--smoke", "--edition", "student", "--only", "01", "--out", str(out)]) == 0
    executed = nbformat.read(out / "executed" / "01_introduction.ipynb", as_version=4)
    stubs = [c for c in executed.cells if "exercise" in c.metadata.get("tags", [])
             and c.cell_type == "code"]
    assert len(stubs) >= 2 and not [c for c in executed.cells if "solution" in c.metadata.get("tags", [])]
    for cell in stubs:
        text = "".join(o.get("text", "") for o in cell.outputs)
        assert "not attempted" in text and "✘" not in text, text
    nb = json.loads((out / "claims.json").read_text())["notebooks"][0]
    assert nb["status"] == "ok" and nb["run_info"]["profile"] == "full"
    judged = [c for c in nb["claims"] if c["expected"] != "(reported)"]   # not observations
    assert judged and all(c["holds"] is None and "smoke" in c["unjudged"] for c in judged)
    assert 50 * 2**20 < nb["peak_memory_bytes"] < 12 * 10**9
    assert "peak memory" in (out / "report.html").read_text()
