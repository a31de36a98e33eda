"""One training loop for the whole course: clipping, progress, early stop, loud failures."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from .machinery import machine
from .machinery.claims import smoke_run
from .validation import sizes

__all__ = ["History", "NonFiniteLossError", "train", "accuracy", "batches", "SMOKE_STEPS",
           "SMOKE_EVAL_ROWS", "smoke_rows"]

# In a smoke run (COURSE_SMOKE=1): optimiser steps per training run, and rows per evaluation.
SMOKE_STEPS = 1
SMOKE_EVAL_ROWS = 16


def smoke_rows(*tensors: Tensor) -> tuple[Tensor, ...]:
    """The tensors an evaluation walks through: all of them, or in a smoke run their first
    :data:`SMOKE_EVAL_ROWS` rows."""
    return tuple(t[:SMOKE_EVAL_ROWS] for t in tensors) if smoke_run() else tensors


class NonFiniteLossError(FloatingPointError):
    """The loss or the gradient norm became NaN or infinite: training stops here."""


@dataclass
class History:
    """What happened in a run of :func:`train`."""

    steps: list[int] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    grad_norms: list[float] = field(default_factory=list)  # before clipping
    eval_steps: list[int] = field(default_factory=list)
    eval_metrics: list[float] = field(default_factory=list)
    eval_seconds: list[float] = field(default_factory=list)  # training time so far, evals excluded
    stopped_at_target: bool = False
    stopped_at_time: bool = False
    seconds: float = 0.0

    @property
    def final_metric(self) -> float:
        return self.eval_metrics[-1] if self.eval_metrics else float("nan")

    @property
    def num_steps(self) -> int:
        return self.steps[-1] + 1 if self.steps else 0


@sizes("batch_size")
def batches(*tensors: Tensor, batch_size: int, generator: torch.Generator | None = None
            ) -> Iterator[tuple[Tensor, ...]]:
    """Endless shuffled mini-batches over tensors that share their first dim."""
    n = tensors[0].shape[0]
    if any(t.shape[0] != n for t in tensors):
        raise ValueError(f"tensors disagree on their first dim: {[tuple(t.shape) for t in tensors]}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    while True:
        perm = torch.randperm(n, generator=generator)
        for i in range(0, n - batch_size + 1 if n >= batch_size else 1, batch_size):
            idx = perm[i:i + batch_size]
            yield tuple(t[idx] for t in tensors)


@torch.no_grad()
@sizes("batch_size")
def accuracy(model: nn.Module, inputs: Tensor, targets: Tensor, batch_size: int = 1024) -> float:
    """Fraction of ``argmax(model(inputs)) == targets``; model in eval mode, restored after.
    ``inputs`` ``(N, …)`` are fed in batches of ``batch_size``; in a smoke run only the first
    :data:`SMOKE_EVAL_ROWS` rows are (an evaluation needs no gradients, so training, not
    evaluation, sets a run's peak memory)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    inputs, targets = smoke_rows(inputs, targets)
    for i in range(0, inputs.shape[0], batch_size):
        logits = model(inputs[i:i + batch_size].to(device))
        correct += int((logits.argmax(-1).cpu() == targets[i:i + batch_size]).sum())
    model.train(was_training)
    return correct / max(1, inputs.shape[0])


def _notebook_kernel() -> bool:
    """True in a Jupyter or Colab kernel (where tqdm draws a widget), False in a terminal."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return getattr(get_ipython(), "kernel", None) is not None


class _Progress:
    """A training bar that leaves a line of text, not a widget, once it closes.

    In a notebook the bar is an ipywidget shown through a display handle; :meth:`close` replaces
    it with one line ("negation: 600 steps (the whole budget), 9.8 s"). A widget left in the
    saved output reads "Error displaying widget: model not found" after a page reload or on
    reopening the notebook without a kernel. The bar is also completed before it closes: a bar stopped before
    its total turns red ("danger") in tqdm.notebook, which reads as a failure.
    """

    def __init__(self, total: int, desc: str, enabled: bool):
        self.desc, self.handle = desc, None
        if enabled and _notebook_kernel():
            try:
                from IPython.display import display
                from tqdm.notebook import tqdm as notebook_tqdm

                self.bar = notebook_tqdm(total=total, desc=desc, leave=False, mininterval=0.5,
                                         display=False)
                self.handle = display(self.bar.container, display_id=True)
                return
            except ImportError:  # no ipywidgets: tqdm's text bar below
                pass
        self.bar = tqdm(total=total, desc=desc, disable=not enabled, leave=False, mininterval=0.5)

    def close(self, summary: str) -> None:
        self.bar.total = self.bar.n
        self.bar.close()
        if self.handle is not None:
            from IPython.display import Pretty

            self.handle.update(Pretty(f"{self.desc}: {summary}"))


@machine.watching  # a training run is a timing too (History.seconds, budgets)
@sizes("steps", "eval_every", warmup_steps=0)
def train(model: nn.Module, data: Iterable[tuple[Tensor, Tensor]], *, steps: int,
          lr: float = 1e-3, optimizer: torch.optim.Optimizer | None = None,
          loss_fn: Callable[[Tensor, Tensor], Tensor] = F.cross_entropy,
          model_loss: Callable[[nn.Module, Tensor, Tensor], Tensor] | None = None,
          clip_norm: float | None = 1.0, warmup_steps: int = 0,
          eval_fn: Callable[[], float] | None = None, eval_every: int = 100,
          target: float | None = None, max_seconds: float | None = None,
          progress: bool = True, desc: str = "train") -> History:
    """Train ``model`` on ``(inputs, targets)`` batches for at most ``steps`` steps.

    - ``clip_norm``: clip the global gradient norm (None: no clipping); the norm before
      clipping is recorded in ``History.grad_norms``.
    - ``warmup_steps``: linear learning-rate warm-up from 0.
    - ``eval_fn`` is called every ``eval_every`` steps and at the end; with ``target`` the run
      stops as soon as ``eval_fn() >= target``. ``History.eval_seconds`` holds the training
      time at each evaluation, time spent evaluating excluded.
    - ``model_loss(model, x, y)``: when the loss is not ``loss_fn(model(x), y)`` (e.g. a
      sequence-to-sequence model fed both source and target); replaces ``loss_fn``.
    - ``max_seconds``: a time budget; training stops after the first step that ends past it
      (then ``eval_fn`` is called once more). Time spent in ``eval_fn`` counts too. On a CPU
      the budget is this process's CPU seconds (``time.process_time``, all threads together:
      with n intra-op threads it runs out up to n times sooner), which another program cannot
      take away, though it can slow each step by sharing the core's caches. On a GPU it is
      wall-clock time. ``History.seconds`` is wall-clock time either way.
    - In a smoke run (``COURSE_SMOKE=1``) at most :data:`SMOKE_STEPS` steps are taken, and
      ``eval_fn`` runs once.
    - A NaN or infinite loss or gradient norm raises :class:`NonFiniteLossError` naming the
      step, instead of training on.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if max_seconds is not None and not max_seconds > 0:
        raise ValueError(f"max_seconds must be > 0, got {max_seconds}")
    if target is not None and eval_fn is None:
        raise ValueError("target= needs eval_fn= to measure it")
    device = next(model.parameters()).device
    if smoke_run():
        steps, eval_every = min(steps, SMOKE_STEPS), SMOKE_STEPS
    clock = time.perf_counter if device.type == "cuda" else time.process_time
    opt = optimizer or torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    base_lrs = [g["lr"] for g in opt.param_groups]
    hist = History()
    data_iter = iter(data)
    start = time.perf_counter()
    budget_start = clock()
    in_eval = 0.0  # seconds spent in eval_fn
    model.train()
    progress_bar = _Progress(steps, desc, progress)
    bar = progress_bar.bar
    for step in range(steps):
        bar.update(1)
        try:
            x, y = next(data_iter)
        except StopIteration:  # a finite loader: start another epoch
            data_iter = iter(data)
            x, y = next(data_iter)
        if warmup_steps:
            for g, base in zip(opt.param_groups, base_lrs):
                g["lr"] = base * min(1.0, (step + 1) / warmup_steps)
        x, y = x.to(device), y.to(device)
        loss = model_loss(model, x, y) if model_loss is not None else loss_fn(model(x), y)
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"loss is {loss.item()} at step {step} (lr={opt.param_groups[0]['lr']:.3g}); "
                f"last finite loss: {hist.losses[-1] if hist.losses else 'none'}. "
                "Lower the learning rate, clip gradients, or check the inputs.")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for p in model.parameters() if p.grad is not None]
        norm = torch.nn.utils.clip_grad_norm_(params, clip_norm if clip_norm else math.inf)
        if not torch.isfinite(norm):
            raise NonFiniteLossError(f"gradient norm is {norm.item()} at step {step} "
                                     f"(loss {loss.item():.4g})")
        opt.step()
        hist.steps.append(step)
        hist.losses.append(loss.item())
        hist.grad_norms.append(norm.item())
        out_of_time = max_seconds is not None and clock() - budget_start > max_seconds
        hist.stopped_at_time = out_of_time
        last = step == steps - 1 or out_of_time
        if eval_fn is not None and ((step + 1) % eval_every == 0 or last):
            hist.eval_seconds.append(time.perf_counter() - start - in_eval)
            t_eval = time.perf_counter()
            metric = eval_fn()
            in_eval += time.perf_counter() - t_eval
            model.train()
            hist.eval_steps.append(step + 1)
            hist.eval_metrics.append(metric)
            bar.set_postfix(loss=f"{loss.item():.3f}", metric=f"{metric:.3f}")
            if target is not None and metric >= target:
                hist.stopped_at_target = True
                break
        if out_of_time:
            break
    hist.seconds = time.perf_counter() - start
    why = ("stopped at the target" if hist.stopped_at_target else
           "stopped at the time budget" if hist.stopped_at_time else "the whole budget")
    progress_bar.close(f"{bar.n} steps ({why}), {hist.seconds:.1f} s")
    return hist
