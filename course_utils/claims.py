"""Measured claims: every statement a notebook makes is a number with a threshold.

``claim("name", value, at_least=0.9)`` records the measured value and whether it held, and
raises :class:`ClaimFailed` when it did not. The course runner sets ``COURSE_CLAIMS_FILE``;
each record is then appended there as one JSON line, so the runner can build its report.
With ``COURSE_CLAIMS_DEFER=1`` (the runner's default) a failed claim does not stop the
notebook at once: :func:`claims_table` raises at the end instead, after every claim is known.
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Claim", "ClaimFailed", "claim", "observe", "claims", "claims_table", "reset"]


class ClaimFailed(AssertionError):
    """A measured claim did not hold."""


@dataclass
class Claim:
    name: str
    value: Any
    expected: str
    holds: bool | None  # None: an observation, reported but not asserted
    detail: str = ""

    def status(self) -> str:
        return {True: "holds", False: "FAILED", None: "observed"}[self.holds]

    def __repr__(self) -> str:
        mark = {True: "✔", False: "✘", None: "·"}[self.holds]
        return f"{mark} {self.name}: {format_value(self.value)} (expected {self.expected}) {self.status()}"


_CLAIMS: list[Claim] = []


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
    _write({"kind": "run", "time": time.time(), **info})


def _deferred() -> bool:
    return os.environ.get("COURSE_CLAIMS_DEFER", "0") == "1"


def claim(name: str, value: Any, *, at_least: float | None = None,
          at_most: float | None = None, holds: bool | None = None,
          expected: str | None = None, detail: str = "") -> Claim:
    """Record a measured claim and check it.

    Give a threshold (``at_least``, ``at_most``, or both) or compute ``holds`` yourself and
    say what was ``expected`` in words. A NaN value never holds. Raises :class:`ClaimFailed`
    when the claim does not hold (unless the runner deferred failures to the table).
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
    c = Claim(name=name, value=value, expected=expected, holds=holds, detail=detail)
    _add(c)
    if not holds and not _deferred():
        raise ClaimFailed(f"claim {name!r} did not hold: measured {format_value(value)}, "
                          f"expected {expected}. {detail}".strip())
    return c


def observe(name: str, value: Any, *, detail: str = "") -> Claim:
    """Record a measured number that the notebook reports but does not assert."""
    c = Claim(name=name, value=_to_builtin(value), expected="(reported)", holds=None,
              detail=detail)
    _add(c)
    return c


def _add(c: Claim) -> None:
    global _CLAIMS
    _CLAIMS = [x for x in _CLAIMS if x.name != c.name] + [c]  # re-running a cell replaces
    _write({"kind": "claim", **asdict(c)})


def claims() -> list[Claim]:
    """The claims recorded in this process, in order."""
    return list(_CLAIMS)


def reset() -> None:
    _CLAIMS.clear()


class ClaimsTable:
    """The claims of a notebook; renders as an HTML table in Jupyter and as text elsewhere."""

    def __init__(self, items: list[Claim]):
        self.items = items

    def _repr_html_(self) -> str:
        import html

        colour = {True: "#1a7f37", False: "#cf222e", None: "#57606a"}
        rows = "".join(
            f"<tr><td>{html.escape(c.name)}</td><td style='text-align:right'>"
            f"{html.escape(format_value(c.value))}</td><td>{html.escape(c.expected)}</td>"
            f"<td style='color:{colour[c.holds]};font-weight:bold'>{c.status()}</td></tr>"
            for c in self.items)
        return ("<table><thead><tr><th>claim</th><th>measured</th><th>expected</th>"
                f"<th>status</th></tr></thead><tbody>{rows}</tbody></table>")

    def __repr__(self) -> str:
        width = max((len(c.name) for c in self.items), default=5)
        lines = [f"{'claim':<{width}}  {'measured':>12}  {'expected':<20}  status"]
        lines += [f"{c.name:<{width}}  {format_value(c.value):>12}  {c.expected:<20}  {c.status()}"
                  for c in self.items]
        return "\n".join(lines)


def claims_table() -> ClaimsTable:
    """The table of this notebook's claims. Raises :class:`ClaimFailed` if any failed."""
    table = ClaimsTable(claims())
    failed = [c for c in table.items if c.holds is False]
    if failed:
        try:
            from IPython.display import display

            display(table)
        except ImportError:
            print(repr(table))
        names = "; ".join(f"{c.name} (measured {format_value(c.value)}, expected {c.expected})"
                          for c in failed)
        raise ClaimFailed(f"{len(failed)} claim(s) did not hold: {names}")
    if not table.items:
        raise ClaimFailed("this notebook recorded no claims")
    return table
