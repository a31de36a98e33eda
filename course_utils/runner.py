"""The main job: execute every notebook, collect its claims and figures, write the report.

``python -m course_utils run [--profile quick|full] [--only 02 03] [--seed N] [--out build]``
"""
from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from tqdm.auto import tqdm

from .notebooks import find_notebooks
from .report import NotebookResult, render_report

__all__ = ["run_notebook", "run_course"]


def _first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip():
            return line.strip()[:60]
    return ""


def run_notebook(path: Path, out_dir: Path, *, timeout: int = 900,
                 cell_bar: bool = True) -> NotebookResult:
    """Execute one notebook in its own kernel (working directory: its folder).

    Claims are gathered through ``COURSE_CLAIMS_FILE`` (see :mod:`course_utils.claims`); the
    executed copy is written to ``out_dir/executed/``.
    """
    claims_file = out_dir / "claims" / f"{path.stem}.jsonl"
    claims_file.parent.mkdir(parents=True, exist_ok=True)
    claims_file.unlink(missing_ok=True)
    nb = nbformat.read(path, as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    bar = tqdm(total=len(code_cells), desc=f"  {path.stem}", unit="cell", leave=False,
               disable=not cell_bar)

    def on_start(cell, cell_index):  # nbclient hook: show the code cell being run
        if cell.cell_type == "code":
            bar.set_postfix_str(f"cell {cell_index}: {_first_line(cell.source)}")

    def on_done(cell, cell_index):
        if cell.cell_type == "code":
            bar.update(1)

    old_env = {k: os.environ.get(k) for k in ("COURSE_CLAIMS_FILE", "COURSE_CLAIMS_DEFER")}
    os.environ["COURSE_CLAIMS_FILE"] = str(claims_file.resolve())
    os.environ["COURSE_CLAIMS_DEFER"] = "1"
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}},
                            on_cell_start=on_start, on_cell_complete=on_done)
    error = error_name = None
    start = time.perf_counter()
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
        error = f"{type(exc).__name__}: {exc}"
        error_name = getattr(exc, "ename", None) or type(exc).__name__
    finally:
        seconds = time.perf_counter() - start
        bar.close()
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    (out_dir / "executed").mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out_dir / "executed" / path.name)

    result = NotebookResult(name=path.stem, seconds=seconds, error=error, error_name=error_name)
    if claims_file.exists():
        by_name: dict[str, dict] = {}
        for line in claims_file.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            kind = rec.pop("kind")
            if kind == "run":
                result.run_info = rec
            else:
                by_name[rec["name"]] = rec  # a re-run cell replaces the earlier record
        result.claims = list(by_name.values())
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            png = output.get("data", {}).get("image/png")
            if png:
                result.figures.append(png.replace("\n", ""))
    return result


def run_course(*, profile: str | None = None, only: list[str] | None = None,
               seed: int | None = None, out: str | Path = "build",
               notebooks: str | Path | None = None, timeout: int = 900) -> int:
    """Run the notebooks, write ``out/report.html`` and ``out/claims.json``; return an exit
    status: 0 when every notebook ran and every claim held, 1 otherwise."""
    if profile is not None:
        os.environ["COURSE_PROFILE"] = profile
    if seed is not None:
        os.environ["COURSE_SEED"] = str(seed)
    out_dir = Path(out)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = find_notebooks(Path(notebooks) if notebooks else None, only)
    if not paths:
        print("no notebooks found")
        return 1
    results = []
    outer = tqdm(paths, desc="notebooks", unit="nb")
    for path in outer:
        outer.set_postfix_str(path.stem)
        r = run_notebook(path, out_dir, timeout=timeout)
        results.append(r)
        mark = "ok" if r.ok else r.status().upper()
        outer.write(f"{path.stem}: {mark} in {r.seconds:.1f} s, "
                    f"{sum(c.get('holds') is True for c in r.claims)} claims held"
                    + (f", failed: {[c['name'] for c in r.failed_claims]}" if r.failed_claims else "")
                    + (f"\n  {r.error.splitlines()[0][:300]}" if r.error else ""))
    meta = {"date": time.strftime("%Y-%m-%d %H:%M"), "python": platform.python_version(),
            "machine": platform.machine(), "cpus": os.cpu_count(),
            "profile": os.environ.get("COURSE_PROFILE", "auto"),
            "seed": os.environ.get("COURSE_SEED", "0")}
    (out_dir / "report.html").write_text(render_report(results, meta), encoding="utf-8")
    (out_dir / "claims.json").write_text(
        json.dumps({"meta": meta, "notebooks": [r.summary() for r in results]}, indent=1,
                   default=str), encoding="utf-8")
    bad = [r.name for r in results if not r.ok]
    print(f"report: {out_dir / 'report.html'}; {len(results) - len(bad)}/{len(results)} "
          f"notebooks ok" + (f"; not ok: {bad}" if bad else ""))
    return 1 if bad else 0
