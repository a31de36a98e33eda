"""Timing on ``torch.utils.benchmark``: warm-up, CUDA synchronisation, median and spread.

Claims about time compare ratios of 2x or more; the machines that run this course are noisy.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from torch.utils import benchmark

__all__ = ["Timing", "measure", "compare"]


@dataclass(frozen=True)
class Timing:
    """Seconds per call: median and interquartile range over ``runs`` blocks of calls."""

    label: str
    median: float
    iqr: float
    runs: int

    def __str__(self) -> str:
        return f"{self.label}: {self.median * 1e3:.3f} ms (IQR {self.iqr * 1e3:.3f} ms, {self.runs} runs)"


def measure(fn: Callable[[], object], *, label: str = "", min_run_time: float = 0.2,
            threads: int | None = None) -> Timing:
    """Time ``fn()`` with ``torch.utils.benchmark.Timer.blocked_autorange``.

    The Timer warms up, synchronises CUDA around each block and picks the number of calls per
    block itself; ``min_run_time`` is the total seconds spent measuring.
    """
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, label=label,
                            num_threads=threads or torch.get_num_threads())
    m = timer.blocked_autorange(min_run_time=min_run_time)
    return Timing(label=label, median=m.median, iqr=m.iqr, runs=len(m.times))


def compare(fns: dict[str, Callable[[], object]], *, rounds: int = 3,
            min_run_time: float = 0.1) -> dict[str, Timing]:
    """Time several functions interleaved (a, b, c, a, b, c, …) so that drift in the machine's
    speed hits all of them alike; returns the median over rounds of each one's median."""
    if not fns:
        raise ValueError("compare() needs at least one function")
    per: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            per[name].append(measure(fn, label=name, min_run_time=min_run_time).median)
    out = {}
    for name, values in per.items():
        t = torch.tensor(values, dtype=torch.float64)
        q = torch.quantile(t, torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64))
        out[name] = Timing(name, float(q[1]), float(q[2] - q[0]), rounds)
    return out
