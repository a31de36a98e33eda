"""Is this machine quiet enough to judge a timing? The CPU time other programs took meanwhile.

A timing claim ("attention's time grows like n²", "the KV cache is 2x faster") is only evidence
when nothing else competed for the cores while it was measured. On Linux the kernel counts every
core's busy time (``/proc/stat``, steal time from a hypervisor included) and this process's own
CPU time (``os.times``); their difference over a window is the CPU that *other* programs used.

Every timing the course takes (``timing.measure``, ``training.train``, ``parallel.ddp_run``)
runs inside :func:`watched`, which logs the other programs' CPU during it. A timing claim is
judged on the log of the timings taken since the previous timing claim was judged; where
nothing was logged, on the current cell (:func:`install_cell_hook`, called by ``get_profile``,
marks the start of every cell).
Where ``/proc/stat`` is missing (macOS, Windows), :func:`reference_spread` times a small matmul
a dozen times and reports how much the repeats disagree instead.
"""
from __future__ import annotations

import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

__all__ = ["CpuSnapshot", "Load", "snapshot", "load_since", "watched", "watching", "recent_load",
           "reset_log", "cell_start", "install_cell_hook", "reference_spread", "judge_quiet", "BUSY_CORES",
           "NOISY_SPREAD"]

BUSY_CORES = 0.3       # other programs using more cores than this (and than the free ones) → busy
NOISY_SPREAD = 0.25    # without /proc/stat: (p90 − p10) / median of repeated reference timings
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class CpuSnapshot:
    """Wall time, every core's busy seconds (None where unknown) and this process's CPU seconds
    (its finished children included)."""

    wall: float
    system_busy: float | None
    own: float


def _system_busy_seconds() -> float | None:
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = fh.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    # user nice system idle iowait irq softirq steal (guest time is already inside user)
    values = [int(v) for v in fields[1:9]]
    busy = values[0] + values[1] + values[2] + values[5] + values[6] + values[7]
    return busy / _TICK


def snapshot() -> CpuSnapshot:
    t = os.times()
    return CpuSnapshot(wall=time.perf_counter(), system_busy=_system_busy_seconds(),
                       own=t.user + t.system + t.children_user + t.children_system)


@dataclass(frozen=True)
class Load:
    """What other programs used over a window: ``other_cores`` is their CPU seconds per second
    (1.0 = one core kept busy the whole time); None where the system does not tell."""

    seconds: float
    other_cores: float | None
    cores: int

    def __str__(self) -> str:
        if self.other_cores is None:
            return f"{self.seconds:.1f} s window, other programs' CPU unknown"
        return (f"other programs used {max(0.0, self.other_cores):.2f} of {self.cores} cores "
                f"over {self.seconds:.1f} s")


def load_since(start: CpuSnapshot) -> Load:
    """The other programs' CPU use from ``start`` to now."""
    now = snapshot()
    seconds = max(now.wall - start.wall, 1e-9)
    other = None
    if now.system_busy is not None and start.system_busy is not None:
        # unclamped: tick rounding (10 ms) errs both ways and cancels when windows are summed
        other = ((now.system_busy - start.system_busy) - (now.own - start.own)) / seconds
    return Load(seconds=seconds, other_cores=other, cores=os.cpu_count() or 1)


_LOG: list[Load] = []   # the loads during the timings since the last judged timing claim
_JUDGED = False


@contextmanager
def watched() -> Iterator[None]:
    """Log what other programs used while the block runs (a timing, a training run).

    The first timing after a judged timing claim starts a new log."""
    global _JUDGED
    if _JUDGED:
        _LOG.clear()
        _JUDGED = False
    start = snapshot()
    try:
        yield
    finally:
        _LOG.append(load_since(start))


def reset_log() -> None:
    """Forget the logged timings (tests start from here)."""
    global _JUDGED
    _LOG.clear()
    _JUDGED = False


def watching(fn):
    """Decorator: run ``fn`` inside :func:`watched`."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with watched():
            return fn(*args, **kwargs)

    return wrapper


def recent_load() -> Load | None:
    """Other programs' CPU over the timings logged since the last judged timing claim: their
    CPU seconds over the timings' seconds (None when nothing was logged)."""
    if not _LOG:
        return None
    seconds = sum(x.seconds for x in _LOG)
    if any(x.other_cores is None for x in _LOG):
        return Load(seconds=seconds, other_cores=None, cores=_LOG[0].cores)
    other = sum(x.other_cores * x.seconds for x in _LOG)
    # one long timing spoiled by a busy spell spoils the claim, even if the rest were quiet
    worst = max((x.other_cores for x in _LOG if x.seconds >= 0.5), default=0.0)
    return Load(seconds=seconds, other_cores=max(other / seconds, worst), cores=_LOG[0].cores)


_CELL_START: CpuSnapshot = snapshot()
_HOOKED = False


def cell_start() -> CpuSnapshot:
    """When the current notebook cell began (or when this module was imported, outside one)."""
    return _CELL_START


def _mark_cell_start(*_args, **_kwargs) -> None:
    global _CELL_START
    _CELL_START = snapshot()


def install_cell_hook() -> bool:
    """In IPython, start a new load window before every cell; returns whether it is installed."""
    global _HOOKED
    if _HOOKED:
        return True
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    ip = get_ipython()
    if ip is None:
        return False
    ip.events.register("pre_run_cell", _mark_cell_start)
    _HOOKED = True
    return True


def reference_spread(repeats: int = 12, size: int = 192) -> float:
    """(p90 − p10) / median of ``repeats`` timings of one small matmul: how much a fixed amount
    of work varies right now. A quiet machine gives a few per cent."""
    import numpy as np
    import torch

    a = torch.randn(size, size)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(4):
            a @ a
        times.append(time.perf_counter() - t0)
    p10, p50, p90 = np.percentile(times, [10, 50, 90])
    return float((p90 - p10) / p50)


def judge_quiet(start: CpuSnapshot | None = None, *, threads: int | None = None
                ) -> tuple[bool, str]:
    """Whether the timings were taken on a quiet enough machine to judge a claim about them,
    measured with ``threads`` intra-op threads, and a sentence saying why. The window: from
    ``start`` if given, else the timings logged by :func:`watched` since the last judgement,
    else the current cell.

    Busy means other programs used more than :data:`BUSY_CORES` cores *and* more than the cores
    our threads left free (minus half a core), so one idle-looking daemon on a 16-core machine
    does not count, while one program spinning on a 2-core machine does.
    """
    import torch

    global _JUDGED
    threads = threads or torch.get_num_threads()
    load = load_since(start) if start is not None else (recent_load() or load_since(cell_start()))
    _JUDGED = True
    if load.seconds < 0.5:   # /proc/stat counts in 10 ms ticks: too short a window says nothing
        return False, f"no timing was logged and the window was {load.seconds:.2f} s, too short"
    if load.other_cores is None:
        spread = reference_spread()
        quiet = spread <= NOISY_SPREAD
        return quiet, (f"repeated reference timings spread {spread:.0%} "
                       f"({'≤' if quiet else '>'} {NOISY_SPREAD:.0%})")
    free = load.cores - threads - 0.5
    busy = load.other_cores > max(BUSY_CORES, free)
    return not busy, str(load)
