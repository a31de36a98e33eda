"""`python -m course_utils sweep`: claims over seeds, their spread and worst margins."""
import json
import math

import pytest

from course_utils.machinery.cli import main
from course_utils.machinery.sweep import margin, summarise, thinnest, varies

from conftest import SETUP


def test_margin_in_the_claims_units():
    assert margin(0.35, 0.3, None) == pytest.approx(0.05)
    assert margin(0.2, None, 0.25) == pytest.approx(0.05)
    assert margin(3.2, 2.5, 3.5) == pytest.approx(0.3)          # the nearer side counts
    assert margin(0.1, 0.3, None) == pytest.approx(-0.2)        # failed: negative
    assert margin(float("nan"), 0.0, None) == -math.inf
    assert margin("occlusion", 0.0, None) is None and margin(1.0, None, None) is None
    assert margin(True, 0.0, None) is None


def _claim(name, value, holds, at_least=None, at_most=None, unjudged="", would_hold=None):
    expected = f">= {at_least}" if at_least is not None else (f"<= {at_most}" if at_most is not None
                                                              else "(reported)")
    return {"name": name, "value": value, "expected": expected, "holds": holds,
            "at_least": at_least, "at_most": at_most, "unjudged": unjudged,
            "would_hold": would_hold, "timing": bool(unjudged)}


def test_summarise_finds_the_worst_seed_and_unjudged_failures():
    runs = {("07", 1): {"status": "ok", "seconds": 20.0, "claims": [
                _claim("lime beats random", 0.40, True, at_least=0.3),
                _claim("speed-up", 2.5, None, at_least=2.0, unjudged="busy", would_hold=True),
                _claim("order", "LIME", None)]},
            ("07", 2): {"status": "claims failed", "seconds": 21.0, "claims": [
                _claim("lime beats random", 0.28, False, at_least=0.3),
                _claim("speed-up", 1.5, None, at_least=2.0, unjudged="busy", would_hold=False),
                _claim("order", "SHAP", None)]},
            ("07", 3): {"status": "ok", "seconds": 19.0, "claims": [
                _claim("lime beats random", 0.50, True, at_least=0.3),
                _claim("speed-up", 3.0, True, at_least=2.0),
                _claim("order", "LIME", None)]}}
    s = summarise(runs)
    assert s["seeds"] == [1, 2, 3]
    by = {c["name"]: c for c in s["notebooks"]["07"]["claims"]}
    lime = by["lime beats random"]
    assert lime["values"] == {"1": 0.40, "2": 0.28, "3": 0.50}
    assert lime["min"] == 0.28 and lime["median"] == 0.40 and lime["max"] == 0.50
    assert lime["worst_seed"] == 2 and lime["worst_margin"] == pytest.approx(-0.02)
    assert lime["failed_at"] == [2]
    assert lime["relative_margin"] == pytest.approx(-0.02 / 0.3)    # scale: max(threshold, worst value)
    assert lime["z"] == pytest.approx((0.39333 - 0.3) / 0.1106, rel=1e-2)
    assert by["speed-up"]["failed_at"] == [2] and by["speed-up"]["timing"]
    assert by["order"]["observed"] and by["order"]["worst_margin"] is None
    assert [c["name"] for c in thinnest(s, 2)] == ["speed-up", "lime beats random"]   # -0.5/2, -0.02/0.3


def test_claims_that_never_vary_are_ranked_apart():
    runs = {("04", seed): {"status": "ok", "seconds": 10.0, "claims": [
                _claim("layers to connect", 1, True, at_most=1),          # a count: at its bound every time
                _claim("speed-up", 2.0 + seed, True, at_least=2.0)]} for seed in (1, 2)}
    s = summarise(runs)
    by = {c["name"]: c for c in s["notebooks"]["04"]["claims"]}
    assert not varies(by["layers to connect"]) and varies(by["speed-up"])
    assert [c["name"] for c in thinnest(s, 5)] == ["layers to connect", "speed-up"]
    assert [c["name"] for c in thinnest(s, 5, varying=True)] == ["speed-up"]
    assert [c["name"] for c in thinnest(s, 5, varying=False)] == ["layers to connect"]


def test_sweep_runs_notebooks_at_every_seed(tmp_path, write_notebook):
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    # the value is the seed itself: it fails at seed 3 only
    write_notebook(nbs / "01_seeded.ipynb", SETUP,
           "course_utils.claim('seed below three', P.seed, at_most=2)\n"
           "course_utils.observe('the seed', P.seed)\ncourse_utils.claims_table()")
    out = tmp_path / "sweep"
    status = main(["sweep", "--seeds", "3", "--start", "1", "--notebooks", str(nbs),
                   "--out", str(out), "--jobs", "2"])
    assert status == 1                                   # seed 3 failed the claim
    record = json.loads((out / "sweep.json").read_text())
    assert record["seeds"] == [1, 2, 3] and record["meta"]["seeds"] == "1–3"
    claim = next(c for c in record["notebooks"]["01"]["claims"] if c["name"] == "seed below three")
    assert claim["values"] == {"1": 1, "2": 2, "3": 3} and claim["failed_at"] == [3]
    assert claim["worst_margin"] == -1 and claim["worst_seed"] == 3
    assert {r["status"] for r in record["notebooks"]["01"]["runs"].values()} == {"ok", "claims failed"}
    page = (out / "sweep.html").read_text()
    assert "seed below three" in page and "thinnest" in page
    assert main(["sweep", "--seeds", "2", "--start", "0", "--notebooks", str(nbs),
                 "--out", str(tmp_path / "ok")]) == 0


def test_sweep_refuses_nonsense():
    with pytest.raises(ValueError, match="--seeds"):
        main(["sweep", "--seeds", "0"])
    with pytest.raises(ValueError, match="--jobs"):
        main(["sweep", "--seeds", "1", "--jobs", "0"])
