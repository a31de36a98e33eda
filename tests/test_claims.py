import json
import math

import pytest

from course_utils import claims
from course_utils.claims import ClaimFailed, claim, claims_table, observe


def test_claim_holds_and_records():
    c = claim("accuracy", 0.93, at_least=0.9)
    assert c.holds and c.expected == ">= 0.9"
    assert claims.claims()[-1].name == "accuracy"
    assert "✔ accuracy" in repr(c)


def test_claim_fails_loudly_with_value_and_threshold():
    with pytest.raises(ClaimFailed, match=r"'slope'.*measured 1\.2.*>= 1\.6"):
        claim("slope", 1.2, at_least=1.6)


def test_nan_never_holds_and_between_bounds():
    with pytest.raises(ClaimFailed):
        claim("nan", math.nan, at_most=1.0)
    assert claim("in range", 1.0, at_least=0.9, at_most=1.1).holds
    with pytest.raises(ClaimFailed):
        claim("out of range", 1.2, at_least=0.9, at_most=1.1)


def test_holds_form_and_argument_errors():
    assert claim("equal", "same", holds=True, expected="identical").holds
    with pytest.raises(ValueError, match="not both"):
        claim("x", 1.0, at_least=0.0, holds=True)
    with pytest.raises(ValueError, match="observe"):
        claim("x", 1.0)
    with pytest.raises(TypeError, match="number"):
        claim("x", "text", at_least=1)


def test_tensor_values_become_numbers():
    import torch

    assert claim("t", torch.tensor(0.5), at_least=0.1).value == 0.5


def test_deferred_mode_and_table(monkeypatch, tmp_path):
    path = tmp_path / "claims.jsonl"
    monkeypatch.setenv("COURSE_CLAIMS_FILE", str(path))
    monkeypatch.setenv("COURSE_CLAIMS_DEFER", "1")
    claim("good", 1.0, at_least=0.5)
    bad = claim("bad", 0.1, at_least=0.5)          # does not raise yet
    observe("seconds", 3.2)
    assert bad.holds is False
    with pytest.raises(ClaimFailed, match="1 claim"):
        claims_table()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["name"] for r in records] == ["good", "bad", "seconds"]
    assert [r["holds"] for r in records] == [True, False, None]


def test_table_renders_and_requires_claims():
    with pytest.raises(ClaimFailed, match="no claims"):
        claims_table()
    claim("a", 2.0, at_most=3.0)
    observe("b", 1)
    table = claims_table()
    assert "holds" in table._repr_html_() and "observed" in repr(table)


def test_rerun_replaces_a_claim():
    claim("same", 1.0, at_least=0)
    claim("same", 2.0, at_least=0)
    assert [c.value for c in claims.claims()] == [2.0]
