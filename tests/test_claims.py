import json
import math
import subprocess
import sys

import pytest

from course_utils.machinery import claims, machine
from course_utils.machinery.claims import ClaimFailed, claim, claims_table, observe


def test_claim_holds_records_and_prints(capsys):
    c = claim("accuracy", 0.93, at_least=0.9)
    assert c.holds and c.expected == ">= 0.9"
    assert claims.claims()[-1].name == "accuracy"
    assert capsys.readouterr().out.strip() == "✔ accuracy: 0.93 (expected >= 0.9)"


def test_a_failed_claim_never_halts_and_the_table_raises(capsys):
    bad = claim("slope", 1.2, at_least=1.6)          # returns: the notebook goes on
    assert bad.holds is False
    assert "✘ slope: 1.2 (expected >= 1.6) FAILED" in capsys.readouterr().out
    claim("later", 1.0, at_least=0.5)
    with pytest.raises(ClaimFailed, match=r"1 claim.*slope \(measured 1\.2, expected >= 1\.6\)"):
        claims_table()


def test_contract_without_runner_variables():
    """The contract checks outside the project rely on: no COURSE_CLAIMS_* set, a failing claim
    does not raise, and the claims table that follows raises ClaimFailed."""
    code = ("from course_utils import claim, claims_table\n"
            "from course_utils.machinery.claims import ClaimFailed\n"
            "claim('x', 0.0, at_least=1.0)\n"
            "try:\n    claims_table()\nexcept ClaimFailed:\n    print('raised')\n")
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("COURSE_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         check=True).stdout
    assert out.splitlines()[-1] == "raised"


def test_nan_never_holds_and_between_bounds():
    assert claim("nan", math.nan, at_most=1.0).holds is False
    assert claim("in range", 1.0, at_least=0.9, at_most=1.1).holds
    assert claim("out of range", 1.2, at_least=0.9, at_most=1.1).holds is False


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


def test_claims_file_records_every_claim(monkeypatch, tmp_path):
    path = tmp_path / "claims.jsonl"
    monkeypatch.setenv("COURSE_CLAIMS_FILE", str(path))
    claim("good", 1.0, at_least=0.5)
    bad = claim("bad", 0.1, at_least=0.5)
    observe("seconds", 3.2)
    assert bad.holds is False
    with pytest.raises(ClaimFailed, match="1 claim"):
        claims_table()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r.get("name") for r in records if r["kind"] == "claim"] == ["good", "bad", "seconds"]
    assert [r["holds"] for r in records if r["kind"] == "claim"] == [True, False, None]
    memory = [r for r in records if r["kind"] == "memory"]
    assert memory and memory[0]["peak_memory_bytes"] > 10 * 2**20


def test_table_renders_and_requires_claims():
    with pytest.raises(ClaimFailed, match="no claims"):
        claims_table()
    claim("a", 2.0, at_most=3.0)
    observe("b", 1)
    table = claims_table()
    assert "holds" in table._repr_html_() and "observed" in table.text()
    assert repr(table) == "1 claims: 1 held; 1 numbers reported without a threshold"
    assert "<details>" in table._repr_html_()   # folded under its summary line


def test_quiet_claims_print_nothing_unless_they_fail(capsys):
    claim("sanity: a count", 3, at_least=3, quiet=True)
    observe("shown in the table above", 0.5, quiet=True)
    assert capsys.readouterr().out == ""
    claim("sanity: broken", 2, at_least=3, quiet=True)
    assert "✘ sanity: broken: 2 (expected >= 3) FAILED" in capsys.readouterr().out
    assert [c.name for c in claims.claims()] == ["sanity: a count", "shown in the table above",
                                                 "sanity: broken"]


def test_printed_lines_stay_short_when_a_timing_is_not_judged(monkeypatch, capsys):
    monkeypatch.setattr(claims, "_RUN_DEVICE", "cuda:0")
    claim("KV cache speed-up at the longest prompt, n = 256 tokens", 3.043, at_least=2,
          timing=True)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("○ KV cache speed-up") and len(lines) == 2
    assert all(len(line) <= claims.LINE_WIDTH for line in lines)
    assert "not yet verified on cuda; it would have held" in lines[1]


def test_rerun_replaces_a_claim():
    claim("same", 1.0, at_least=0)
    claim("same", 2.0, at_least=0)
    assert [c.value for c in claims.claims()] == [2.0]


# ---- claims that depend on the device and the machine's load ----------------------------------
def test_timing_claim_on_an_unverified_device_is_reported(monkeypatch):
    monkeypatch.setattr(claims, "_RUN_DEVICE", "cuda:0")
    c = claim("speed-up", 0.5, at_least=2, timing=True)
    assert c.holds is None and c.status() == "unjudged"
    assert "verified on cpu" in c.unjudged and "would have failed" in c.unjudged
    h = claim("accuracy in a budget", 0.5, at_least=0.9, hardware=True)
    assert h.holds is None
    assert claim("count", 3, at_most=3).holds is True      # counts stay asserted everywhere
    quiet = machine.Load(seconds=2.0, other_cores=0.0, cores=2)
    monkeypatch.setattr(machine, "load_since", lambda start: quiet)
    assert claim("speed-up on cuda", 3.0, at_least=2, timing=True,
                 verified_on=("cpu", "cuda")).holds is True  # verified there, and quiet: judged
    claims_table()                                          # nothing failed


def test_timing_claim_on_a_busy_machine_is_reported(monkeypatch):
    monkeypatch.setattr(claims, "_RUN_DEVICE", "cpu")      # the device its thresholds were set on
    busy = machine.Load(seconds=2.0, other_cores=1.0, cores=2)
    monkeypatch.setattr(machine, "load_since", lambda start: busy)
    c = claim("time slope", 1.2, at_least=1.6, timing=True, threads=1)
    assert c.holds is None and "busy" in c.unjudged and "1.00 of 2 cores" in c.unjudged
    quiet = machine.Load(seconds=2.0, other_cores=0.05, cores=2)
    monkeypatch.setattr(machine, "load_since", lambda start: quiet)
    assert claim("time slope", 1.2, at_least=1.6, timing=True, threads=1).holds is False
    # on a 16-core machine one busy core leaves the cores our thread uses alone
    monkeypatch.setattr(machine, "load_since",
                        lambda start: machine.Load(seconds=2.0, other_cores=1.0, cores=16))
    assert claim("time slope", 1.8, at_least=1.6, timing=True, threads=1).holds is True


def _spin_load(waited: bool, tmp_path) -> float:
    """Other programs' CPU *seconds* over a window in which another process burns 0.6 s of its
    own CPU: either our child, waited for inside the window, or an unrelated grandchild, read
    after it finished but before anything of ours waited for it."""
    import time

    done = tmp_path / f"done-{waited}"
    spin = ("import time, pathlib\nt = time.process_time()\n"
            "while time.process_time() - t < 0.6: pass\n"
            f"pathlib.Path({str(done)!r}).write_text('x')")
    start = machine.snapshot()
    if waited:
        subprocess.run([sys.executable, "-c", spin], check=True)
        load = machine.load_since(start)
    else:
        proc = subprocess.Popen(["/bin/sh", "-c", f'{sys.executable} -c "$0" & wait', spin])
        deadline = time.monotonic() + 60
        while not done.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.05)
        load = machine.load_since(start)
        proc.wait()
    if load.other_cores is None:
        pytest.skip("no /proc/stat on this system")
    return load.other_cores * load.seconds


def test_machine_load_sees_another_program(tmp_path):
    """0.6 s of CPU burnt by an unrelated process counts as other programs' CPU; the same burnt
    by a child we wait for counts as ours. Compared in CPU seconds, so that whatever else the
    machine does meanwhile (it can only add to both) mostly cancels out."""
    assert _spin_load(False, tmp_path) - _spin_load(True, tmp_path) > 0.4


def test_a_timing_claim_with_no_timing_behind_it_is_not_judged(monkeypatch):
    monkeypatch.setattr(claims, "_RUN_DEVICE", "cpu")
    machine._mark_cell_start()                             # a cell that just began, nothing timed
    c = claim("speed-up", 3.0, at_least=2, timing=True)
    assert c.holds is None and "too short" in c.unjudged


def test_smoke_run_judges_nothing(monkeypatch):
    monkeypatch.setenv("COURSE_SMOKE", "1")
    c = claim("accuracy", 0.1, at_least=0.9)
    assert c.holds is None and "smoke" in c.unjudged
    claims_table()
