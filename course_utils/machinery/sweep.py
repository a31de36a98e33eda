"""Claims over many seeds: ``python -m course_utils sweep --seeds N [--start S] [--only 01 07]``.

An instructor runs it before a term, and the course's authors use it to set thresholds: set them
on one set of seeds, then confirm on a second set never used. Every notebook runs once per seed
(each run a ``python -m course_utils run`` in its own process, ``--jobs`` of them at a time), and
for every claim the sweep records its value at every seed, min / median / max, its threshold and
its **worst margin**: how far the least favourable seed stayed from the threshold (negative: it
failed there). ``build/sweep/sweep.json`` holds all of it and ``build/sweep/sweep.html`` shows it
in the report's style, thinnest margins first.

A margin is measured in the claim's own units (``value − at_least``, ``at_most − value``) and also
relative to the claim's scale, ``max(|threshold|, |value at the worst seed|)``, so margins of
claims in different units can be ranked (the worst seed's value, not the median: a claim whose
values spread over orders of magnitude far above its threshold is not thin); ``z`` is the distance from the mean to the threshold in standard deviations
across seeds (how many seed-to-seed spreads separate the claim from failing). Timing claims count
with the value their threshold saw even where the run left them unjudged (a busy machine); they are
marked, since their thresholds hold only on the devices they were verified on.
"""
from __future__ import annotations

import html
import json
import math
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .claims import format_value
from .notebooks import find_notebooks

__all__ = ["ClaimSweep", "sweep_course", "summarise", "margin", "render_sweep"]


def margin(value: Any, at_least: float | None, at_most: float | None) -> float | None:
    """How far ``value`` lies inside its thresholds, in its own units (negative: outside); None
    for a claim without numeric thresholds or a non-numeric value. A NaN value is ``-inf``."""
    if (at_least is None and at_most is None) or isinstance(value, bool) \
            or not isinstance(value, (int, float)):
        return None
    if math.isnan(value):
        return -math.inf
    sides = []
    if at_least is not None:
        sides.append(value - at_least)
    if at_most is not None:
        sides.append(at_most - value)
    return min(sides)


@dataclass
class ClaimSweep:
    """One claim of one notebook across the seeds of a sweep."""

    notebook: str
    name: str
    expected: str
    at_least: float | None = None
    at_most: float | None = None
    timing: bool = False
    observed: bool = False  # reported without a threshold
    values: dict[int, Any] = field(default_factory=dict)     # seed -> value
    outcome: dict[int, str] = field(default_factory=dict)    # seed -> holds | FAILED | unjudged-held …

    def numbers(self) -> list[float]:
        return [float(v) for v in self.values.values()
                if isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)]

    def stats(self) -> dict[str, Any]:
        nums = self.numbers()
        out: dict[str, Any] = {"seeds": len(self.values), "min": None, "median": None, "max": None,
                               "worst_margin": None, "worst_seed": None, "relative_margin": None,
                               "z": None,
                               "failed_at": sorted(s for s, o in self.outcome.items()
                                                   if o in ("FAILED", "unjudged, would fail")),
                               "missing_at": []}
        if nums:
            out.update(min=min(nums), median=statistics.median(nums), max=max(nums))
        margins = {s: margin(v, self.at_least, self.at_most) for s, v in self.values.items()}
        margins = {s: m for s, m in margins.items() if m is not None}
        if margins:
            seed = min(margins, key=margins.get)
            worst = margins[seed]
            thresholds = [abs(t) for t in (self.at_least, self.at_most) if t is not None]
            worst_value = self.values[seed]
            scale = max(thresholds + [abs(float(worst_value)) if math.isfinite(float(worst_value)) else 0.0])
            out.update(worst_margin=worst, worst_seed=seed,
                       relative_margin=(worst / scale) if scale > 0 else None)
            if len(nums) >= 2:
                sd = statistics.stdev(nums)
                mean_margin = margin(statistics.fmean(nums), self.at_least, self.at_most)
                if sd > 0 and mean_margin is not None and math.isfinite(mean_margin):
                    out["z"] = mean_margin / sd
        return out


def _outcome(c: dict[str, Any]) -> str:
    if c.get("holds") is True:
        return "holds"
    if c.get("holds") is False:
        return "FAILED"
    if c.get("unjudged"):
        would = c.get("would_hold")
        if would is None:   # a record from before the field existed: read the sentence
            would = "would have held" in c["unjudged"]
        return "unjudged, would hold" if would else "unjudged, would fail"
    return "observed"


def summarise(runs: dict[tuple[str, int], dict[str, Any]]) -> dict[str, Any]:
    """Aggregate per-(notebook, seed) summaries (``claims.json``'s notebook entries) into the
    sweep's record: per notebook, its status and seconds at every seed and a :class:`ClaimSweep`
    per claim, with its statistics."""
    notebooks: dict[str, dict[str, Any]] = {}
    for (nb, seed), summary in sorted(runs.items()):
        entry = notebooks.setdefault(nb, {"runs": {}, "claims": {}})
        entry["runs"][seed] = {"status": summary.get("status", "missing"),
                               "seconds": summary.get("seconds"),
                               "error": (summary.get("error") or "")[:500]}
        for c in summary.get("claims", []):
            cs = entry["claims"].get(c["name"])
            if cs is None:
                cs = entry["claims"][c["name"]] = ClaimSweep(
                    notebook=nb, name=c["name"], expected=c.get("expected", ""),
                    at_least=c.get("at_least"), at_most=c.get("at_most"),
                    timing=bool(c.get("timing")), observed=c.get("expected") == "(reported)")
            cs.values[seed] = c.get("value")
            cs.outcome[seed] = _outcome(c)
    seeds = sorted({seed for _, seed in runs})
    out = {}
    for nb, entry in notebooks.items():
        claims = []
        for cs in entry["claims"].values():
            stats = cs.stats()
            stats["missing_at"] = [s for s in seeds if s not in cs.values
                                   and entry["runs"].get(s, {}).get("status") is not None]
            claims.append({**asdict(cs), "values": {str(k): v for k, v in cs.values.items()},
                           "outcome": {str(k): v for k, v in cs.outcome.items()}, **stats})
        out[nb] = {"runs": {str(k): v for k, v in entry["runs"].items()}, "claims": claims}
    return {"seeds": seeds, "notebooks": out}


def varies(c: dict[str, Any]) -> bool:
    """Whether a claim's value changed between the seeds of the sweep (a summarised claim: its
    ``min`` and ``max``). A claim that did not (a count, a fixed model on fixed inputs) has a
    margin that is a property of the code: the seeds are no evidence for it."""
    return c.get("min") is not None and c.get("max") is not None and c["min"] != c["max"]


def thinnest(summary: dict[str, Any], k: int = 20, varying: bool | None = None) -> list[dict[str, Any]]:
    """The ``k`` claims with the smallest relative margin (worst seed first); ``varying=True``:
    only claims whose value changed between seeds (:func:`varies`), ``False``: only the others."""
    rows = [c for nb in summary["notebooks"].values() for c in nb["claims"]
            if c.get("relative_margin") is not None and (varying is None or varies(c) == varying)]
    return sorted(rows, key=lambda c: c["relative_margin"])[:k]


def _fmt(v: Any) -> str:
    return "" if v is None else format_value(v)


def render_sweep(summary: dict[str, Any], meta: dict[str, Any]) -> str:
    """The sweep as an HTML page in the report's style: failures, the thinnest margins, then every
    claim of every notebook with its value at each seed."""
    from .report import _CSS

    e = html.escape
    seeds = summary["seeds"]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Attention, Measured: claims "
             f"over seeds</title><style>{_CSS}</style></head><body>",
             "<h1>Attention, Measured: claims over seeds</h1>",
             "<p>" + " · ".join(f"{e(k)}: {e(str(v))}" for k, v in meta.items()) + "</p>"]
    failed = [(nb, c) for nb, entry in summary["notebooks"].items() for c in entry["claims"]
              if c["failed_at"]]
    errors = [(nb, s, r) for nb, entry in summary["notebooks"].items()
              for s, r in entry["runs"].items() if r["status"] not in ("ok", "claims failed")]
    parts.append(f"<p class='{'bad' if failed or errors else 'ok'}'>{len(failed)} claim(s) failed at "
                 f"some seed; {len(errors)} run(s) ended in an error.</p>")
    for nb, s, r in errors:
        parts.append(f"<pre>{e(nb)} seed {e(s)}: {e(r['status'])}: {e(r['error'])}</pre>")

    def table(rows, with_nb):
        head = ("<tr>" + ("<th>notebook</th>" if with_nb else "") + "<th>claim</th><th>expected</th>"
                "<th>min</th><th>median</th><th>max</th><th>worst margin (seed)</th>"
                "<th>relative</th><th>z</th><th>failed at</th></tr>")
        body = []
        for nb, c in rows:
            cls = "bad" if c["failed_at"] else ("obs" if c["observed"] else "ok")
            tag = " (timing)" if c["timing"] else ""
            body.append(
                "<tr>" + (f"<td>{e(nb)}</td>" if with_nb else "")
                + f"<td>{e(c['name'])}{tag}</td><td>{e(c['expected'])}</td>"
                + "".join(f"<td style='text-align:right'>{e(_fmt(c[k]))}</td>"
                          for k in ("min", "median", "max"))
                + f"<td style='text-align:right'>{e(_fmt(c['worst_margin']))}"
                + (f" ({e(str(c['worst_seed']))})" if c["worst_seed"] is not None else "") + "</td>"
                + f"<td style='text-align:right'>{e(_fmt(c['relative_margin']))}</td>"
                + f"<td style='text-align:right'>{e(_fmt(c['z']))}</td>"
                + f"<td class='{cls}'>{e(', '.join(map(str, c['failed_at'])))}</td></tr>")
        return f"<table>{head}{''.join(body)}</table>"

    by_key = {(c["notebook"], c["name"]): c for entry in summary["notebooks"].values()
              for c in entry["claims"]}
    thin = [(c["notebook"], by_key[(c["notebook"], c["name"])]) for c in thinnest(summary, 20, varying=True)]
    parts.append("<h2>The thinnest 20 margins among claims that vary with the seed</h2>" + table(thin, True))
    fixed = [(c["notebook"], by_key[(c["notebook"], c["name"])]) for c in thinnest(summary, 10 ** 6, varying=False)]
    parts.append("<h2>Claims with the same value at every seed</h2><p>Counts and fixed models on fixed "
                 "inputs: their margin is a property of the code, and the seeds are no evidence for "
                 "them.</p>" + table(fixed, True))
    for nb, entry in summary["notebooks"].items():
        runs = entry["runs"]
        parts.append(f"<section id='nb-{e(nb)}'><h2>{e(nb)}</h2><p>"
                     + " · ".join(f"seed {e(s)}: {e(r['status'])} in {r['seconds'] or 0:.0f} s"
                                  for s, r in runs.items()) + "</p>")
        parts.append(table([(nb, c) for c in entry["claims"]], False))
        cols = "".join(f"<th>{s}</th>" for s in seeds)
        rows = "".join(f"<tr><td>{e(c['name'])}</td>" + "".join(
            f"<td style='text-align:right' class='{'bad' if c['outcome'].get(str(s), '').endswith(('FAILED', 'fail')) else ''}'>"
            f"{e(_fmt(c['values'].get(str(s))))}</td>" for s in seeds) + "</tr>"
            for c in entry["claims"])
        parts.append(f"<details><summary>every value at every seed</summary><table><tr><th>claim</th>"
                     f"{cols}</tr>{rows}</table></details></section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _run_one(nb: str, seed: int, out: Path, args: list[str]) -> tuple[str, int, dict[str, Any]]:
    """One notebook at one seed in its own ``python -m course_utils run`` process."""
    run_dir = out / "runs" / f"seed-{seed}" / nb
    cmd = [sys.executable, "-m", "course_utils", "run", "--only", nb, "--seed", str(seed),
           "--out", str(run_dir), *args]
    log = run_dir.parent / f"{nb}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TQDM_DISABLE": "1"}
    with open(log, "w", encoding="utf-8") as fh:
        subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, check=False)
    try:
        summary = json.loads((run_dir / "claims.json").read_text())["notebooks"][0]
    except (OSError, ValueError, IndexError, KeyError):
        summary = {"status": "error", "error": f"no claims.json; see {log}", "claims": []}
    return nb, seed, summary


def sweep_course(*, seeds: int, start: int = 0, only: list[str] | None = None,
                 out: str | Path = "build/sweep", jobs: int = 1, profile: str | None = None,
                 edition: str = "reference", notebooks: str | Path | None = None,
                 timeout: int = 900) -> int:
    """Run the notebooks at seeds ``start … start + seeds − 1`` and write ``out/sweep.json`` and
    ``out/sweep.html``. Returns 0 when every claim held (or would have, where unjudged) at every
    seed and every run ended without an error, 1 otherwise."""
    if seeds < 1:
        raise ValueError(f"--seeds must be at least 1, got {seeds}")
    if jobs < 1:
        raise ValueError(f"--jobs must be at least 1, got {jobs}")
    out = Path(out)
    paths = find_notebooks(Path(notebooks) if notebooks else None, only)
    if not paths:
        print("no notebooks found")
        return 1
    names = [p.name[:2] for p in paths]
    args = ["--timeout", str(timeout), "--edition", edition]
    if profile:
        args += ["--profile", profile]
    if notebooks:
        args += ["--notebooks", str(notebooks)]
    work = [(nb, s) for s in range(start, start + seeds) for nb in names]
    began = time.time()
    runs: dict[tuple[str, int], dict[str, Any]] = {}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for nb, seed, summary in pool.map(lambda w: _run_one(w[0], w[1], out, args), work):
            runs[(nb, seed)] = summary
            failed = [c["name"] for c in summary.get("claims", []) if _outcome(c).endswith(("FAILED", "fail"))]
            print(f"seed {seed} · {nb}: {summary.get('status')} in {summary.get('seconds') or 0:.0f} s"
                  + (f"; failed: {failed}" if failed else ""), flush=True)
    summary = summarise(runs)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            check=False).stdout.strip()
    meta = {"date": time.strftime("%Y-%m-%d %H:%M"), "commit": commit or "?",
            "seeds": f"{start}–{start + seeds - 1}", "notebooks": " ".join(names), "jobs": jobs,
            "edition": edition, "profile": profile or "default",
            "minutes": round((time.time() - began) / 60, 1)}
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.json").write_text(json.dumps({"meta": meta, **summary}, indent=1, default=str),
                                    encoding="utf-8")
    (out / "sweep.html").write_text(render_sweep(summary, meta), encoding="utf-8")
    fixed = thinnest(summary, 10 ** 6, varying=False)
    print(f"\n{len(fixed)} thresholded claim(s) took the same value at every seed (counts, fixed "
          "models on fixed inputs: the seeds are no evidence for them); at their threshold: "
          + (", ".join(f"{c['notebook']} · {c['name']}" for c in fixed if c["worst_margin"] == 0) or "none"))
    print("thinnest margins among claims that vary with the seed (relative to the claim's scale):")
    for c in thinnest(summary, 20, varying=True):
        print(f"  {c['notebook']} · {c['name']}: worst {format_value(c['worst_margin'])} at seed "
              f"{c['worst_seed']} (relative {c['relative_margin']:.3f}; z "
              f"{'–' if c['z'] is None else format(c['z'], '.1f')}; range "
              f"{format_value(c['min'])}–{format_value(c['max'])}; expected {c['expected']})")
    bad_claims = [(nb, c["name"], c["failed_at"]) for nb, e in summary["notebooks"].items()
                  for c in e["claims"] if c["failed_at"]]
    bad_runs = [(nb, s) for nb, e in summary["notebooks"].items() for s, r in e["runs"].items()
                if r["status"] not in ("ok", "claims failed")]
    print(f"sweep: {out / 'sweep.html'}; {len(bad_claims)} claim(s) failed at some seed"
          + (f": {bad_claims}" if bad_claims else "") + f"; {len(bad_runs)} run(s) in error"
          + (f": {bad_runs}" if bad_runs else ""))
    return 1 if bad_claims or bad_runs else 0
