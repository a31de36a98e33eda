"""Measuring cost: time (``torch.utils.benchmark``), FLOPs (``FlopCounterMode``), peak memory,
and log-log fits of cost against size.

Claims about time compare ratios of 2x or more; the machines that run this course are noisy.
Counts (FLOPs, bytes) are exact and can be claimed tightly.
"""
from __future__ import annotations

import contextlib
import math
import os
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils import benchmark
from torch.utils.flop_counter import FlopCounterMode, register_flop_formula, sdpa_flop_count

from .machinery import machine
from .machinery.claims import smoke_run
from .validation import sizes

__all__ = ["Timing", "measure", "compare", "count_flops", "register_cpu_sdpa_flops",
           "matmul_flops", "attention_flops", "lstm_flops", "peak_memory", "Fit", "fit_loglog",
           "cost_plot", "matmul_peak_gflops", "page_faults", "op_time_shares"]


@dataclass(frozen=True)
class Timing:
    """Seconds per call: median and interquartile range over ``runs`` blocks of calls
    (:func:`compare`: over ``runs`` rounds, whose medians are ``samples``, in round order).

    ``faults`` (:func:`compare` only): minor page faults per call in each round, counted
    during the timed calls (the warm-up call excluded; NaN where ``getrusage`` does not exist).
    ``faults_per_call`` is their mean: all faults of the timed calls over the calls."""

    label: str
    median: float
    iqr: float
    runs: int
    samples: tuple[float, ...] = ()
    faults: tuple[float, ...] = ()

    @property
    def faults_per_call(self) -> float:
        """Minor page faults per timed call, over all rounds (NaN if none were counted)."""
        return float(np.mean(self.faults)) if self.faults else float("nan")

    def __str__(self) -> str:
        return f"{self.label}: {self.median * 1e3:.3f} ms (IQR {self.iqr * 1e3:.3f} ms, {self.runs} runs)"


def measure(fn: Callable[[], object], *, label: str = "", min_run_time: float = 0.2,
            threads: int | None = None) -> Timing:
    """Time ``fn()`` with ``torch.utils.benchmark.Timer.blocked_autorange``.

    The Timer warms up, synchronises CUDA around each block and picks the number of calls per
    block itself; ``min_run_time`` is the total seconds spent measuring. In a smoke run
    (``COURSE_SMOKE=1``) ``fn`` is called once, untimed in any careful sense.
    """
    if smoke_run():
        import time as _time

        t0 = _time.perf_counter()
        fn()
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            torch.cuda.synchronize()
        seconds = _time.perf_counter() - t0
        return Timing(label=label, median=seconds, iqr=0.0, runs=1)
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, label=label,
                            num_threads=threads or torch.get_num_threads())
    with machine.watched():
        m = timer.blocked_autorange(min_run_time=min_run_time)
    return Timing(label=label, median=m.median, iqr=m.iqr, runs=len(m.times))


def compare(fns: dict[str, Callable[[], object]], *, rounds: int = 3,
            min_run_time: float = 0.1,
            threads: int | dict[str, int] | None = None, warmup: bool = True) -> dict[str, Timing]:
    """Time several functions interleaved (a, b, c, a, b, c, …) so that drift in the machine's
    speed hits all of them alike; returns the median over rounds of each one's seconds per call,
    their interquartile range and the per-round values (``Timing.samples``), and the minor page
    faults per call of every round (``Timing.faults``: counted during the timed calls
    themselves, not in an extra call; the process's count, so other threads' faults too).

    The first round warms each function up with one untimed call and times one call to size
    its block: as many calls as fill about ``min_run_time`` (at least one); if that is more than
    one, it times one such block. Every later round times one block, so a slow function costs
    one call per round (and one to warm up). In a smoke run: one round of one call, no warm-up.
    ``threads``: intra-op threads for every function, or per name (e.g. ``{"1 thread": 1,
    "2 threads": 2}`` with the same function under both names). ``warmup=False`` skips the
    untimed call: for functions that take seconds and whose code has already run (generating
    text with a model that has run), where a warm-up would double the cost and change nothing."""
    if not isinstance(warmup, bool):
        raise TypeError(f"warmup must be True or False, got {warmup!r}")
    if not fns:
        raise ValueError("compare() needs at least one function")
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    per_name = threads if isinstance(threads, dict) else {k: threads for k in fns}
    if set(per_name) != set(fns):
        raise ValueError(f"threads names {sorted(per_name)} must match fns {sorted(fns)}")
    if smoke_run():
        rounds = 1
    per: dict[str, list[float]] = {k: [] for k in fns}
    per_faults: dict[str, list[float]] = {k: [] for k in fns}
    number: dict[str, int] = {}
    for r in range(rounds):
        for name, fn in fns.items():
            with machine.watched():
                if r == 0:
                    if warmup and not smoke_run():
                        _block(fn, 1, per_name[name])                   # warm-up, untimed
                    seconds, faults = _block(fn, 1, per_name[name])
                    fill = max(1, round(min_run_time / max(seconds, 1e-9)))   # calls per block
                    number[name] = 1 if smoke_run() else fill
                    if number[name] > 1:
                        seconds, faults = _block(fn, number[name], per_name[name])
                else:
                    seconds, faults = _block(fn, number[name], per_name[name])
            per[name].append(seconds)
            per_faults[name].append(faults)
    out = {}
    for name, values in per.items():
        t = torch.tensor(values, dtype=torch.float64)
        q = torch.quantile(t, torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64))
        out[name] = Timing(name, float(q[1]), float(q[2] - q[0]), rounds, tuple(values),
                           tuple(per_faults[name]))
    return out


def _minor_faults() -> float:
    """This process's minor page faults so far (``getrusage``); NaN without ``resource``."""
    try:
        import resource
    except ImportError:
        return float("nan")
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)


def _block(fn: Callable[[], object], number: int, threads: int | None) -> tuple[float, float]:
    """Seconds per call and minor page faults per call of ``number`` back-to-back calls of
    ``fn()`` (CUDA synchronised around them), run on ``threads`` intra-op threads (restored
    after). No warm-up: the caller did it."""
    cuda = torch.cuda.is_available() and torch.cuda.is_initialized()
    old = torch.get_num_threads()
    torch.set_num_threads(threads or old)
    try:
        if cuda:
            torch.cuda.synchronize()
        f0, t0 = _minor_faults(), time.perf_counter()
        for _ in range(number):
            fn()
        if cuda:
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
        return seconds / number, (_minor_faults() - f0) / number
    finally:
        torch.set_num_threads(old)


def page_faults(fn: Callable[[], object]) -> float:
    """Minor page faults of this process during one call of ``fn()``: each is a page of memory
    the kernel mapped (and zero-filled) on first touch, e.g. for a large buffer the allocator
    took fresh from the operating system. ``getrusage``'s count on Linux and macOS; NaN where
    the ``resource`` module does not exist (Windows)."""
    try:
        import resource
    except ImportError:
        return float("nan")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    out = fn()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    del out
    return float(after - before)


def op_time_shares(fn: Callable[[], object], groups: dict[str, Sequence[str]]) -> dict[str, float]:
    """Share of one call of ``fn()``'s operator time spent in each group of operators:
    ``torch.profiler``'s self CPU time (an operator's own time, the operators it calls
    excluded), summed over each group's operator names and divided by the sum over every
    operator recorded. An operator in no group counts only in that total, so the shares sum to
    at most 1. Warm ``fn`` up first: this times one call, as it comes.

    ``groups``: ``{name: operator names}``, e.g. ``{"softmax": ("aten::_softmax",
    "aten::_softmax_backward_data")}``; no operator may be in two groups."""
    names = [op for ops in groups.values() for op in ops]
    if not groups or any(isinstance(ops, str) or not ops for ops in groups.values()):
        raise ValueError(f"groups must map names to non-empty sequences of operator names, "
                         f"got {groups!r}")
    if len(set(names)) < len(names):
        raise ValueError(f"an operator is named in two groups: {sorted(names)}")
    from torch.profiler import ProfilerActivity, profile

    with _native_stderr_silenced(), profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    self_time = {e.key: e.self_cpu_time_total for e in prof.key_averages()}
    total = sum(self_time.values())
    if total <= 0:
        return {g: float("nan") for g in groups}
    return {g: sum(self_time.get(op, 0) for op in ops) / total for g, ops in groups.items()}


# ---- FLOPs ----------------------------------------------------------------------------------

_CPU_SDPA = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
_CPU_SDPA_BACKWARD = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward
_registered = False


def register_cpu_sdpa_flops() -> None:
    """Teach ``FlopCounterMode`` the FLOPs of PyTorch's fused CPU attention kernel, forward and
    backward.

    The counter only knows ops that have a formula; on CPU, ``F.scaled_dot_product_attention``
    runs ``_scaled_dot_product_flash_attention_for_cpu`` and, under autograd,
    ``…_for_cpu_backward``: neither has one, so both would count 0. The forward is the two
    products Q Kᵀ and A V (``(B, H, n, d)`` inputs: 4·B·H·n²·d). The backward is counted as the
    four products of their gradients, twice the forward, which is what the explicit path
    (matmul, softmax, matmul) counts through autograd, and what the 6·N·D convention counts (a
    model's FLOPs). The kernel also recomputes Q Kᵀ (a fifth product) instead of storing it;
    that recomputation is left out here, and :func:`count_flops` leaves it out of the GPU
    kernels too (PyTorch's own formulas for them count it).
    """
    global _registered
    from torch.utils.flop_counter import flop_registry

    if _registered:
        return
    if _CPU_SDPA not in flop_registry:            # the registry is keyed by op packet
        @register_flop_formula(_CPU_SDPA)
        def _cpu_sdpa_flop(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs):
            return sdpa_flop_count(query_shape, key_shape, value_shape)

    if _CPU_SDPA_BACKWARD not in flop_registry:
        @register_flop_formula(_CPU_SDPA_BACKWARD)
        def _cpu_sdpa_backward_flop(grad_out_shape, query_shape, key_shape, value_shape, *args,
                                    out_shape=None, **kwargs):
            # dA = dO Vᵀ, dV = Aᵀ dO, dQ = dS K, dK = dSᵀ Q: twice the forward's two products
            return 2 * sdpa_flop_count(query_shape, key_shape, value_shape)

    _registered = True


# PyTorch's formulas for the backward of its fused GPU attention kernels count five products:
# the four gradient products and the recomputation of Q Kᵀ. With equal head sizes for queries
# and values (every model in this course) the five are equal, so 4/5 of them is the model's
# FLOPs, twice the forward, as on a CPU and through the explicit path.
_GPU_SDPA_BACKWARD = ("_scaled_dot_product_efficient_attention_backward",
                      "_scaled_dot_product_flash_attention_backward",
                      "_scaled_dot_product_cudnn_attention_backward",
                      "_efficient_attention_backward", "_flash_attention_backward")


def _without_recomputation() -> dict:
    from torch.utils.flop_counter import flop_registry

    mapping = {}
    for name in _GPU_SDPA_BACKWARD:
        packet = getattr(torch.ops.aten, name, None)
        formula = flop_registry.get(packet) if packet is not None else None
        if formula is None:
            continue

        def four_fifths(*args, _formula=formula, **kwargs):
            return _formula(*args, **kwargs) * 4 // 5
        four_fifths._get_raw = True          # FlopCounterMode passes the tensors through as is
        mapping[packet] = four_fifths
    return mapping


def count_flops(fn: Callable[[], object], *, decompose_fused: bool = True) -> int:
    """FLOPs of ``fn()`` counted by ``torch.utils.flop_counter.FlopCounterMode``.

    A multiply-add counts as 2 FLOPs. With ``decompose_fused`` (default), oneDNN and cuDNN are
    switched off while counting, so fused kernels (``nn.LSTM``'s ``mkldnn_rnn`` on a CPU, its
    cuDNN kernel on a GPU) run as the matmuls the counter knows; otherwise they would count as
    0. Fused attention counts the model's FLOPs on every device: its backward is twice its
    forward (see :func:`register_cpu_sdpa_flops`; on a GPU, PyTorch's formulas without the
    recomputed scores), so the fused and the explicit path count the same.
    """
    register_cpu_sdpa_flops()
    with warnings.catch_warnings():  # oneDNN's flags() warns about Intel-GPU TF32 when toggled
        warnings.simplefilter("ignore", UserWarning)
        with contextlib.ExitStack() as stack:
            if decompose_fused:   # oneDNN on a CPU, cuDNN on a GPU: their fused RNNs count as 0
                stack.enter_context(torch.backends.mkldnn.flags(enabled=False))
                stack.enter_context(torch.backends.cudnn.flags(enabled=False))
            counter = stack.enter_context(FlopCounterMode(display=False,
                                                          custom_mapping=_without_recomputation()))
            fn()
    return int(counter.get_total_flops())


@sizes("m", "k", "n")
def matmul_flops(m: int, k: int, n: int) -> int:
    """FLOPs of an ``(m, k) @ (k, n)`` product: 2·m·k·n."""
    return 2 * m * k * n


@sizes("n", "d", "batch")
def attention_flops(n: int, d: int, *, batch: int = 1, projections: bool = False) -> int:
    """Analytic FLOPs of self-attention over ``n`` tokens of width ``d``.

    Scores Q Kᵀ and the weighted sum A V cost 2·n²·d each: 4·n²·d. With ``projections``, the
    four d×d projections of multi-head attention add 4 · 2·n·d² = 8·n·d².
    """
    flops = 4 * n * n * d + (8 * n * d * d if projections else 0)
    return batch * flops


@sizes("n", "d_in", "hidden", "batch")
def lstm_flops(n: int, d_in: int, hidden: int, *, batch: int = 1) -> int:
    """Analytic matmul FLOPs of one LSTM layer over ``n`` steps: 4 gates, each
    ``W x + U h``, so 2·4·hidden·(d_in + hidden) per step."""
    return batch * n * 8 * hidden * (d_in + hidden)


# ---- Memory ---------------------------------------------------------------------------------
# The notebook's CUDA peak before peak_memory() reset the counter (claims_table reports the max).
CUDA_PEAK_BEFORE_RESETS = 0


def peak_memory(fn: Callable[[], object], device: torch.device | str | None = None) -> int:
    """Peak bytes allocated by ``fn()`` beyond what was allocated before it, measured.

    On CUDA: ``torch.cuda.max_memory_allocated`` after a reset. On CPU: the profiler records
    every allocation and free (also those inside fused kernels); the peak of their running sum
    is returned. ``fn``'s result is dropped before the measurement ends.
    """
    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type == "cuda":
        global CUDA_PEAK_BEFORE_RESETS
        torch.cuda.synchronize(device)
        CUDA_PEAK_BEFORE_RESETS = max(CUDA_PEAK_BEFORE_RESETS,
                                      torch.cuda.max_memory_allocated(device))
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        out = fn()
        torch.cuda.synchronize(device)
        del out
        return int(torch.cuda.max_memory_allocated(device) - before)
    from torch._C._profiler import _EventType
    from torch.profiler import ProfilerActivity, profile

    with _native_stderr_silenced(), \
            profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        out = fn()
        del out
    events: list[tuple[int, int]] = []
    stack = list(prof.profiler.kineto_results.experimental_event_tree())
    while stack:
        node = stack.pop()
        if node.tag == _EventType.Allocation and node.extra_fields.device.type == "cpu":
            events.append((node.start_time_ns, node.extra_fields.alloc_size))
        stack.extend(node.children)
    current = peak = 0
    for _, size in sorted(events):
        current += size
        peak = max(peak, current)
    return int(peak)


# ---- Fits -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Fit:
    """``y ≈ exp(intercept) · x^slope``, fitted on log-log axes to ``n`` points; ``stderr`` is
    the slope's standard error from the least-squares covariance, ``r2`` the fit's R²."""

    slope: float
    intercept: float
    stderr: float
    r2: float
    n: int = 0

    def __call__(self, x) -> np.ndarray:
        return np.exp(self.intercept) * np.asarray(x, dtype=float) ** self.slope

    @property
    def ci95(self) -> tuple[float, float]:
        """95 % interval of the slope: ± Student's t quantile with ``n − 2`` degrees of freedom
        times ``stderr`` (4.30 for 4 points, 1.96 only for many); NaN with fewer than 3 points."""
        if self.n < 3:
            return (float("nan"), float("nan"))
        from scipy.stats import t

        half = float(t.ppf(0.975, self.n - 2)) * self.stderr
        return (self.slope - half, self.slope + half)

    def __str__(self) -> str:
        return f"slope {self.slope:.2f} ± {self.stderr:.2f}"


def fit_loglog(x: Sequence[float], y: Sequence[float]) -> Fit:
    """Least-squares line through ``(log x, log y)``: the exponent of a power law."""
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.shape != ya.shape or xa.size < 2:
        raise ValueError(f"need two or more matching points, got x {xa.shape}, y {ya.shape}")
    if not (np.all(np.isfinite(xa)) and np.all(np.isfinite(ya)) and np.all(xa > 0)
            and np.all(ya > 0)):
        raise ValueError(f"fit_loglog needs positive, finite x and y; got x={xa}, y={ya}")
    lx, ly = np.log(xa), np.log(ya)
    if lx.size == 2:
        slope = (ly[1] - ly[0]) / (lx[1] - lx[0])
        return Fit(float(slope), float(ly[0] - slope * lx[0]), float("nan"), 1.0, 2)
    (slope, intercept), cov = np.polyfit(lx, ly, 1, cov=True)
    resid = ly - (slope * lx + intercept)
    ss_tot = float(np.sum((ly - ly.mean()) ** 2))
    r2 = 1.0 - float(np.sum(resid ** 2)) / ss_tot if ss_tot > 0 else 1.0
    return Fit(float(slope), float(intercept), float(math.sqrt(max(cov[0, 0], 0.0))), r2,
               int(lx.size))


def cost_plot(ax, xs: Sequence[float], series: dict[str, Sequence[float]], *,
              fit_from: float | None = None, xlabel: str = "n", ylabel: str = "",
              title: str = "") -> dict[str, Fit]:
    """"Cost vs n" on log-log axes, each series with its fitted slope drawn (fitted on
    ``x >= fit_from`` when given). Returns the fits by name."""
    fits = {}
    xs_arr = np.asarray(xs, dtype=float)
    for i, (name, ys) in enumerate(series.items()):
        ys_arr = np.asarray(ys, dtype=float)
        keep = xs_arr >= (fit_from or -np.inf)
        fit = fit_loglog(xs_arr[keep], ys_arr[keep])
        fits[name] = fit
        ax.plot(xs_arr, ys_arr, "o", color=f"C{i}", label=f"{name}: {fit}")
        ax.plot(xs_arr[keep], fit(xs_arr[keep]), "-", color=f"C{i}", alpha=0.6)
    ax.set(xscale="log", yscale="log", xlabel=xlabel, ylabel=ylabel, title=title)
    from .plots import log_ticks

    log_ticks(ax, list(xs))
    ax.legend(fontsize=9)
    return fits


@sizes("size")
def matmul_peak_gflops(size: int = 1024, *, device: torch.device | str = "cpu",
                       dtype: torch.dtype = torch.float32, min_run_time: float = 0.3) -> float:
    """Measured GFLOP/s of a large square matmul: the practical ceiling of this machine."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    t = measure(lambda: a @ b, min_run_time=min_run_time)
    return matmul_flops(size, size, size) / t.median / 1e9


@contextlib.contextmanager
def _native_stderr_silenced():
    """Send file descriptor 2 to /dev/null for the block: the profiler's native code prints a
    ``USDT … profiler_start/stop`` line per use, which would bury a notebook's output. Python
    exceptions are unaffected."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:          # no file descriptor 2 (some embedded interpreters): nothing to do
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
