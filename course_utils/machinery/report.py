"""The HTML report of a course run: per notebook its runtime, profile, device, claims, figures."""
from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from .claims import format_value

__all__ = ["NotebookResult", "render_report"]


@dataclass
class NotebookResult:
    name: str
    seconds: float
    error: str | None = None
    error_name: str | None = None  # the exception's class name, e.g. "ClaimFailed"
    run_info: dict[str, Any] = field(default_factory=dict)
    claims: list[dict[str, Any]] = field(default_factory=list)
    figures: list[str] = field(default_factory=list)  # base64 PNGs
    memory: dict[str, int] = field(default_factory=dict)  # peak_memory_bytes, cuda_peak_…

    @property
    def failed_claims(self) -> list[dict[str, Any]]:
        return [c for c in self.claims if c.get("holds") is False]

    @property
    def ok(self) -> bool:
        return self.error is None and not self.failed_claims and bool(self.claims)

    def status(self) -> str:
        if self.failed_claims and self.error_name in (None, "ClaimFailed"):
            return "claims failed"
        if self.error:
            return "error"
        if not self.claims:
            return "no claims"
        return "ok"

    def summary(self) -> dict[str, Any]:
        return {"notebook": self.name, "status": self.status(), "seconds": round(self.seconds, 2),
                "run_info": self.run_info, **self.memory, "claims": self.claims,
                "error": self.error,
                "figures": len(self.figures)}


_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#1f2328}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #d0d7de;padding:4px 8px}
th{background:#f6f8fa}.ok{color:#1a7f37;font-weight:bold}.bad{color:#cf222e;font-weight:bold}
.obs{color:#57606a}.unj{color:#9a6700}img{max-width:100%;border:1px solid #eee;margin:4px 0}
pre{background:#fff1f0;padding:8px;overflow-x:auto}section{margin-top:2.5em}
"""


def _status_cell(c: dict[str, Any]) -> str:
    holds = c.get("holds")
    if holds is True:
        return "<td class='ok'>holds</td>"
    if holds is False:
        return "<td class='bad'>FAILED</td>"
    if c.get("unjudged"):
        return f"<td class='unj'>unjudged: {html.escape(c['unjudged'])}</td>"
    return "<td class='obs'>observed</td>"


def _gib(value: Any) -> str:
    return f"{value / 2**30:.2f}" if value else "?"


def render_report(results: list[NotebookResult], meta: dict[str, Any]) -> str:
    e = html.escape
    rows = "".join(
        f"<tr><td><a href='#nb-{e(r.name)}'>{e(r.name)}</a></td>"
        f"<td class='{'ok' if r.ok else 'bad'}'>{e(r.status())}</td>"
        f"<td>{r.seconds:.1f}</td><td>{e(str(r.run_info.get('profile', '?')))}</td>"
        f"<td>{e(str(r.run_info.get('device', '?')))}</td>"
        f"<td>{_gib(r.memory.get('peak_memory_bytes'))}</td>"
        f"<td>{sum(c.get('holds') is True for c in r.claims)} / "
        f"{sum(c.get('holds') is not None for c in r.claims)}</td><td>{len(r.figures)}</td></tr>"
        for r in results)
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>Attention, Measured: "
             f"course report</title><style>{_CSS}</style></head><body>",
             "<h1>Attention, Measured: course report</h1>",
             "<p>" + " · ".join(f"{e(k)}: {e(str(v))}" for k, v in meta.items()) + "</p>",
             "<table><tr><th>notebook</th><th>status</th><th>seconds</th><th>profile</th>"
             f"<th>device</th><th>peak memory (GiB)</th><th>claims held</th><th>figures</th></tr>"
             f"{rows}</table>"]
    for r in results:
        info = r.run_info
        parts.append(f"<section id='nb-{e(r.name)}'><h2>{e(r.name)}</h2><p>runtime "
                     f"{r.seconds:.1f} s · profile {e(str(info.get('profile', '?')))} · device "
                     f"{e(str(info.get('device', '?')))} · seed {e(str(info.get('seed', '?')))} · "
                     f"torch {e(str(info.get('torch', '?')))} · threads "
                     f"{e(str(info.get('threads', '?')))} · peak memory "
                     f"{_gib(r.memory.get('peak_memory_bytes'))} GiB"
                     + (f" · CUDA peak {_gib(r.memory['cuda_peak_memory_bytes'])} GiB"
                        if r.memory.get("cuda_peak_memory_bytes") else "") + "</p>")
        if r.error:
            parts.append(f"<pre>{e(r.error)}</pre>")
        if r.claims:
            crow = "".join(
                f"<tr><td>{e(c['name'])}</td><td style='text-align:right'>{e(format_value(c['value']))}"
                f"</td><td>{e(str(c.get('expected', '')))}</td>{_status_cell(c)}</tr>"
                for c in r.claims)
            parts.append("<table><tr><th>claim</th><th>measured</th><th>expected</th>"
                         f"<th>status</th></tr>{crow}</table>")
        for i, fig in enumerate(r.figures):
            parts.append(f"<img alt='{e(r.name)} figure {i + 1}' src='data:image/png;base64,{fig}'>")
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)
