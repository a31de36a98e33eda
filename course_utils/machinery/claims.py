"""Measured claims: every statement a notebook makes is a number with a threshold.

``claim("name", value, at_least=0.9)`` records the measured value and whether it held, prints
one line (✔ held, ✘ failed, ○ not judged here) and returns; it never stops the notebook, so a
learner's Run-all reaches the end whatever one noisy number does. :func:`claims_table`, the
last cell of every notebook, raises :class:`ClaimFailed` when any claim failed, so nbmake, the
course runner and CI still fail. The runner sets ``COURSE_CLAIMS_FILE``; each record is then
appended there as one JSON line, so the runner can build its report.

Claims whose truth depends on the machine's speed and load (``timing=True``: times, speed-ups,
GFLOP/s, accuracies reached in a budget of seconds) are asserted only on the device types in
:data:`VERIFIED_ON`, and only when other programs left the cores alone during the timings behind
them (:mod:`course_utils.machinery.machine`); ``hardware=True`` asks for the device check alone. Elsewhere
they are reported as *unjudged*, with the reason. In a smoke run (``COURSE_SMOKE=1``) nothing is
judged: the sizes are real but the loops are cut to a step or two.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

from .environment import default_device, smoke_run

__all__ = ["Claim", "ClaimFailed", "claim", "observe", "claims", "claims_table", "reset",
           "VERIFIED_ON", "smoke_run"]

# Device types on which the hardware- and load-dependent claims' thresholds have been checked.
# Add "cuda" once the whole course has passed on a GPU (see README, "full profile").
VERIFIED_ON: tuple[str, ...] = ("cpu",)


class ClaimFailed(AssertionError):
    """A measured claim did not hold."""


@dataclass
class Claim:
    name: str
    value: Any
    expected: str
    holds: bool | None  # None: reported, not asserted (an observation, or unjudged here)
    detail: str = ""
    unjudged: str = ""  # why a claim with a threshold was not judged in this run
    verified_on: str = ""  # hardware-dependent claims: the devices their threshold was set on
    at_least: float | None = None  # the thresholds as numbers, for the sweep's margins
    at_most: float | None = None
    timing: bool = False  # a time, speed-up or rate: judged only on a verified, quiet device
    would_hold: bool | None = None  # an unjudged claim: what its threshold said of the value
    unjudged_short: str = ""  # the same reason in a few words, for the printed line
    quiet: bool = False  # recorded for the table and the report, not printed (unless it failed)

    def status(self) -> str:
        if self.holds is None:
            return "unjudged" if self.unjudged else "observed"
        return "holds" if self.holds else "FAILED"

    def mark(self) -> str:
        if self.holds is None:
            return "○" if self.unjudged else "·"
        return "✔" if self.holds else "✘"

    def _ipython_display_(self) -> None:
        """Shown as a cell's last value: nothing, since claim() and observe() already printed
        the line (otherwise a learner reads it twice)."""

    def __repr__(self) -> str:
        """The line printed under the cell: short enough not to wrap (the table and the report
        keep the full reason a timing was not judged)."""
        text = f"{self.mark()} {self.name}: {format_value(self.value)}"
        if self.expected != "(reported)":
            text += f" (expected {self.expected}"
            text += f", verified on {self.verified_on})" if self.verified_on else ")"
        if self.unjudged:
            tail = f" not judged here: {self.unjudged_short or 'see the claims table'}"
            return text + tail if len(text + tail) <= LINE_WIDTH else f"{text}\n  {tail.strip()}"
        if self.holds is False:
            return f"{text} FAILED"
        return text


_CLAIMS: list[Claim] = []
LINE_WIDTH = 100  # JupyterLab wraps longer printed lines, sometimes inside a number


def format_value(value: Any) -> str:
    """A measured value as the claims table and the report print it."""
    if isinstance(value, float):
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.3g}"
        return f"{value:.4g}"
    return str(value)


def _to_builtin(value: Any) -> Any:
    """Tensors and NumPy scalars to plain Python, so claims serialise as JSON."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


def _write(record: dict[str, Any]) -> None:
    path = os.environ.get("COURSE_CLAIMS_FILE")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, default=str) + "\n")


def record_run_info(**info: Any) -> None:
    """Tell the runner how this notebook ran (profile, device, seed …)."""
    global _RUN_DEVICE
    if info.get("device"):
        _RUN_DEVICE = str(info["device"])
    _write({"kind": "run", "time": time.time(), **info})


def peak_memory_bytes() -> dict[str, int]:
    """This process's peak resident memory so far, and CUDA's peak allocation where used."""
    import sys

    out = {}
    try:
        import resource  # not on Windows: there the runner's reading is all there is
    except ImportError:
        resource = None
    if resource is not None:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        out["peak_memory_bytes"] = int(rss if sys.platform == "darwin" else rss * 1024)
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        timing = sys.modules.get("course_utils.timing")
        seen = getattr(timing, "CUDA_PEAK_BEFORE_RESETS", 0) if timing else 0
        out["cuda_peak_memory_bytes"] = int(max(seen, *(torch.cuda.max_memory_allocated(i)
                                                      for i in range(torch.cuda.device_count()))))
    return out


_RUN_DEVICE: str | None = None  # set by get_profile through record_run_info


def _device_type() -> str:
    if _RUN_DEVICE:
        return _RUN_DEVICE.split(":")[0]
    return default_device().type


def _why_unjudged(timing: Any, hardware: bool, verified_on: tuple[str, ...] | None,
                  threads: int | None) -> tuple[str, str]:
    """Why a claim is reported instead of judged, in full and in a few words ("", "" if judged)."""
    if smoke_run():
        return "smoke run (full sizes, loops cut to a step or two)", "smoke run"
    if not (timing or hardware):
        return "", ""
    devices = verified_on or VERIFIED_ON
    here = _device_type()
    if here not in devices:
        return (f"its threshold was verified on {'/'.join(devices)}; this run is on {here}, "
                "so it is reported until it has been measured there",
                f"threshold not yet verified on {here}")
    if timing:
        from . import machine

        start = timing if isinstance(timing, machine.CpuSnapshot) else None
        quiet, why = machine.judge_quiet(start, threads=threads)
        if not quiet:
            return (f"the machine was busy ({why}), so this timing is reported, not judged",
                    "the machine was busy")
    return "", ""


def claim(name: str, value: Any, *, at_least: float | None = None,
          at_most: float | None = None, holds: bool | None = None,
          expected: str | None = None, detail: str = "", timing: Any = False,
          hardware: bool = False, verified_on: tuple[str, ...] | None = None,
          threads: int | None = None, quiet: bool = False) -> Claim:
    """Record a measured claim, print one line about it, and return it. Never raises for a
    claim that does not hold: :func:`claims_table` does, at the end of the notebook.

    Give a threshold (``at_least``, ``at_most``, or both) or compute ``holds`` yourself and
    say what was ``expected`` in words. A NaN value never holds.

    - ``timing=True``: the value is a time, a speed-up or a rate. It is judged only on a device
      type in ``verified_on`` (default :data:`VERIFIED_ON`) and when other programs left the
      cores alone during the timings behind it: those logged by ``timing.measure``,
      ``training.train`` and ``parallel.ddp_run`` since the previous timing claim, or the
      current cell if none were (pass a :func:`course_utils.machinery.machine.snapshot` instead of True
      to start the window there). ``threads``: the intra-op threads the timings used, default
      torch's current number.
    - ``hardware=True``: the value depends on the device but not on its load: judged only on
      ``verified_on`` devices. (No notebook uses it today: an accuracy reached in a budget of
      seconds turned out to depend on the load too, so it is a timing claim.)
    - ``quiet=True``: record it for the claims table and the report without printing a line
      (a sanity check, or a number the cell already shows); a claim that fails still prints.
    """
    value = _to_builtin(value)
    bounds = at_least is not None or at_most is not None
    if bounds and holds is not None:
        raise ValueError(f"claim {name!r}: give thresholds or holds=, not both")
    if not bounds and holds is None:
        raise ValueError(f"claim {name!r}: give at_least=/at_most= or holds= "
                         "(use observe() for a number reported without a threshold)")
    if bounds:
        if not isinstance(value, (int, float)):
            raise TypeError(f"claim {name!r}: thresholds need a number, got {type(value).__name__}")
        ok = not math.isnan(value)
        parts = []
        if at_least is not None:
            ok = ok and value >= at_least
            parts.append(f">= {format_value(at_least)}")
        if at_most is not None:
            ok = ok and value <= at_most
            parts.append(f"<= {format_value(at_most)}")
        expected = expected or " and ".join(parts)
        holds = bool(ok)
    else:
        holds = bool(holds)
        expected = expected or "holds"
    why, short = _why_unjudged(timing, hardware, verified_on, threads)
    c = Claim(name=name, value=value, expected=expected, holds=None if why else holds,
              detail=detail, unjudged=(f"{why}; it would have {'held' if holds else 'failed'}"
                                       if why else ""),
              verified_on="/".join(verified_on or VERIFIED_ON) if (timing or hardware) else "",
              at_least=None if at_least is None else float(at_least),
              at_most=None if at_most is None else float(at_most),
              timing=bool(timing), would_hold=holds if why else None,
              unjudged_short=(f"{short}; it would have {'held' if holds else 'failed'}"
                              if why else ""), quiet=quiet)
    _add(c)
    if not quiet or c.holds is False:
        print(repr(c))
    return c


def observe(name: str, value: Any, *, detail: str = "", quiet: bool = False) -> Claim:
    """Record a measured number that the notebook reports but does not assert, and print one
    line about it (``· name: value``): print the number this way instead of a second time.
    ``quiet=True``: record it without a line, where a table or figure of the cell shows it."""
    c = Claim(name=name, value=_to_builtin(value), expected="(reported)", holds=None,
              detail=detail, quiet=quiet)
    _add(c)
    if not quiet:
        print(repr(c))
    return c


def _add(c: Claim) -> None:
    global _CLAIMS
    _CLAIMS = [x for x in _CLAIMS if x.name != c.name] + [c]  # re-running a cell replaces
    _write({"kind": "claim", **asdict(c)})


def claims() -> list[Claim]:
    """The claims recorded in this process, in order."""
    return list(_CLAIMS)


def reset() -> None:
    """Forget this process's claims and the device recorded by ``get_profile``."""
    global _RUN_DEVICE
    _CLAIMS.clear()
    _RUN_DEVICE = None


class ClaimsTable:
    """The claims of a notebook: one summary line, with every row folded under it (an HTML
    ``<details>`` in Jupyter; :meth:`text` as plain text). The report keeps every row too."""

    def __init__(self, items: list[Claim]):
        self.items = items

    def summary(self) -> str:
        """One line: "32 claims: 30 held, 2 reported where timings cannot be judged; 9
        numbers reported without a threshold"."""
        judged = [c for c in self.items if c.expected != "(reported)"]
        held = sum(c.holds is True for c in judged)
        failed = sum(c.holds is False for c in judged)
        unjudged = sum(bool(c.unjudged) for c in judged)
        parts = [f"{held} held"]
        if failed:
            parts.append(f"{failed} FAILED")
        if unjudged:
            parts.append(f"{unjudged} reported where timings cannot be judged")
        observed = len(self.items) - len(judged)
        text = f"{len(judged)} claims: " + ", ".join(parts)
        if observed:
            text += f"; {observed} numbers reported without a threshold"
        return text

    def _repr_html_(self) -> str:
        import html

        colour = {"holds": "#1a7f37", "FAILED": "#cf222e", "observed": "#57606a",
                  "unjudged": "#9a6700"}
        rows = "".join(
            f"<tr><td>{html.escape(c.name)}</td><td style='text-align:right'>"
            f"{html.escape(format_value(c.value))}</td><td>{html.escape(c.expected)}</td>"
            f"<td style='color:{colour[c.status()]};font-weight:bold' "
            f"title='{html.escape(c.unjudged, quote=True)}'>{c.status()}</td>"
            f"<td>{html.escape(c.detail)}</td></tr>"
            for c in self.items)
        unjudged = [c for c in self.items if c.unjudged]
        note = (f"<p>Not judged in this run: {html.escape(unjudged[0].unjudged)}</p>"
                if unjudged else "")
        failed = any(c.holds is False for c in self.items)
        return (f"<details{' open' if failed else ''}><summary><b>"
                f"{html.escape(self.summary())}</b> (click for every row)</summary>"
                "<table><thead><tr><th>claim</th><th>measured</th><th>expected</th>"
                f"<th>status</th><th>detail</th></tr></thead><tbody>{rows}</tbody></table>{note}</details>")

    def text(self) -> str:
        """Every row as plain text."""
        width = min(max((len(c.name) for c in self.items), default=5), 70)
        lines = [f"{'claim':<{width}}  {'measured':>12}  {'expected':<20}  status"]
        lines += [f"{c.name:<{width}}  {format_value(c.value):>12}  {c.expected:<20}  {c.status()}"
                  for c in self.items]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.summary()


def claims_table() -> ClaimsTable:
    """The table of this notebook's claims. Raises :class:`ClaimFailed` if any failed (the
    table is shown first, so every claim is in view)."""
    _write({"kind": "memory", **peak_memory_bytes()})
    table = ClaimsTable(claims())
    failed = [c for c in table.items if c.holds is False]
    if failed:
        try:
            from IPython.display import display

            display(table)
        except ImportError:
            print(table.text())
        names = "; ".join(f"{c.name} (measured {format_value(c.value)}, expected {c.expected})"
                          for c in failed)
        raise ClaimFailed(f"{len(failed)} claim(s) did not hold: {names}")
    if not table.items:
        raise ClaimFailed("this notebook recorded no claims")
    return table
