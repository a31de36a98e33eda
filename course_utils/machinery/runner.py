"""The main job: execute every notebook, collect its claims and figures, write the report.

``python -m course_utils run [--profile quick|full] [--smoke] [--only 02 03] [--seed N] [--out build]``

``--smoke`` runs the full profile's sizes with loops cut to a step or two and no claim judged
(see :mod:`course_utils.profile`). Every run records each notebook's peak memory: the kernel
process's peak resident set (``VmHWM``, read after every cell) and, on a GPU, CUDA's peak
allocation (written by ``claims_table()``).
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

from .editions import answered_failures, write_edition
from .notebooks import find_notebooks
from .report import NotebookResult, render_report

__all__ = ["run_notebook", "run_course"]


def _first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip():
            return line.strip()[:60]
    return ""


def _kernel_peak_rss(client: NotebookClient) -> int | None:
    """Peak resident bytes of the kernel process so far (Linux), or None."""
    km = client.km
    pid = getattr(getattr(km, "provisioner", None), "pid", None) if km else None
    if pid is None and km is not None:   # jupyter_client < 7 has no provisioner
        pid = getattr(getattr(km, "kernel", None), "pid", None)
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def run_notebook(path: Path, out_dir: Path, *, timeout: int = 900,
                 cell_bar: bool = True, answered: bool = False) -> NotebookResult:
    """Execute one notebook in its own kernel (working directory: its folder).

    ``answered``: the notebook is an answered edition (:mod:`.editions`); it fails unless every
    answered exercise cell printed a ✔ and no ✘ or "not attempted".

    Claims are gathered through ``COURSE_CLAIMS_FILE`` (see :mod:`course_utils.machinery.claims`); the
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

    peak = {"rss": 0}

    def on_done(cell, cell_index):
        if cell.cell_type == "code":
            bar.update(1)
            rss = _kernel_peak_rss(client)
            if rss:
                peak["rss"] = max(peak["rss"], rss)

    old_env = {k: os.environ.get(k) for k in ("COURSE_CLAIMS_FILE",)}
    os.environ["COURSE_CLAIMS_FILE"] = str(claims_file.resolve())
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}},
                            on_cell_start=on_start, on_cell_complete=on_done)
    error = error_name = None
    start = time.perf_counter()
    # The kernel process's own stderr (not the cells' output, which travels over ZMQ) goes to a
    # log file: after a timeout or an interrupt the dying kernel prints ZMQ tracebacks there.
    kernel_log = out_dir / "kernel-logs" / f"{path.stem}.log"
    kernel_log.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(kernel_log, "w", encoding="utf-8") as log:
            client.execute(stderr=log)
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
        error = f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, CellExecutionError):
            error += f" (the kernel's own log: {kernel_log})"
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

    if answered and error is None:
        failures = answered_failures(nb)
        if failures:
            error_name = "ExerciseCheckFailed"
            error = f"{error_name}: answered exercises did not pass: " + "; ".join(failures)
    result = NotebookResult(name=path.stem, seconds=seconds, error=error, error_name=error_name)
    if peak["rss"]:
        result.memory["peak_memory_bytes"] = peak["rss"]
    if claims_file.exists():
        by_name: dict[str, dict] = {}
        for line in claims_file.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line)
            kind = rec.pop("kind")
            if kind == "run":
                result.run_info = rec
            elif kind == "memory":  # the kernel's own reading, at its last cell
                for key, value in rec.items():
                    result.memory[key] = max(result.memory.get(key, 0), int(value))
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
               notebooks: str | Path | None = None, timeout: int = 900,
               smoke: bool = False, edition: str = "reference") -> int:
    """Run the notebooks, write ``out/report.html`` and ``out/claims.json``; return an exit
    status: 0 when every notebook ran and every claim held, 1 otherwise. ``smoke``: the full
    profile's sizes with loops cut and no claim judged (exits 1 only when a cell errors).
    ``edition``: ``reference`` (the notebooks as committed), ``student`` (reference solutions
    removed) or ``answered`` (each exercise answered in its own cell; every check must pass);
    the edition's notebooks are written to ``out/editions/<edition>/`` and run from there."""
    if smoke and profile not in (None, "full"):
        raise ValueError(f"--smoke runs the full profile's sizes, not {profile!r}")
    settings = {"COURSE_SMOKE": "1" if smoke else None,
                "COURSE_PROFILE": "full" if smoke else profile,
                "COURSE_SEED": None if seed is None else str(seed)}
    saved = {k: os.environ.get(k) for k in settings}
    for key, value in settings.items():
        if value is not None:
            os.environ[key] = value
        elif key == "COURSE_SMOKE":
            os.environ.pop(key, None)
    try:
        if edition != "reference":
            written = write_edition(edition, Path(out) / "editions" / edition,
                                    find_notebooks(Path(notebooks) if notebooks else None, only))
            if not written:
                print("no notebooks found")
                return 1
            notebooks, only = written[0].parent, None
        return _run_course(only, out, notebooks, timeout, answered=edition == "answered")
    finally:  # the kernels inherited these; the calling process gets its own back
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _run_course(only: list[str] | None, out: str | Path, notebooks: str | Path | None,
                timeout: int, answered: bool = False) -> int:
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
        r = run_notebook(path, out_dir, timeout=timeout, answered=answered)
        results.append(r)
        mark = "ok" if r.ok else r.status().upper()
        mem = r.memory.get("peak_memory_bytes")
        outer.write(f"{path.stem}: {mark} in {r.seconds:.1f} s"
                    + (f", peak memory {mem / 2**30:.2f} GiB" if mem else "")
                    + f", {sum(c.get('holds') is True for c in r.claims)} claims held"
                    + (f", {sum(bool(c.get('unjudged')) for c in r.claims)} unjudged"
                       if any(c.get("unjudged") for c in r.claims) else "")
                    + (f", failed: {[c['name'] for c in r.failed_claims]}" if r.failed_claims else "")
                    + (f"\n  {r.error.splitlines()[0][:300]}" if r.error else ""))
    meta = {"date": time.strftime("%Y-%m-%d %H:%M"), "python": platform.python_version(),
            "machine": platform.machine(), "cpus": os.cpu_count(),
            "profile": os.environ.get("COURSE_PROFILE", "auto"),
            "smoke": os.environ.get("COURSE_SMOKE", "0") == "1",
            "seed": os.environ.get("COURSE_SEED", "0")}
    (out_dir / "report.html").write_text(render_report(results, meta), encoding="utf-8")
    (out_dir / "claims.json").write_text(
        json.dumps({"meta": meta, "notebooks": [r.summary() for r in results]}, indent=1,
                   default=str), encoding="utf-8")
    bad = [r.name for r in results if not r.ok]
    print(f"report: {out_dir / 'report.html'}; {len(results) - len(bad)}/{len(results)} "
          f"notebooks ok" + (f"; not ok: {bad}" if bad else ""))
    return 1 if bad else 0
