"""Reading language-model runs at a fixed budget of FLOPs or of seconds (notebook 06, section 5).

:func:`course_utils.pretraining.train_lm` records, at every evaluation, the optimiser steps taken
and the training seconds spent. Because the learning rate is constant after warm-up, a run read at
step k is exactly a k-step run with that schedule (not the best k-step run: one planned for k steps
would decay its learning rate at the end), so one set of runs can be read at any budget without
training again. These helpers do that reading and draw it; the notebook keeps the idea.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .pretraining import LMRun

__all__ = ["loss_at_budgets", "plot_budget_curves"]


def _check(runs: Mapping[int, LMRun], flops_per_step: Mapping[int, float], flop_budget: float,
           seconds_budget: float) -> list[int]:
    if not runs:
        raise ValueError("runs is empty: need at least one LMRun, keyed by its parameter count")
    missing = sorted(set(runs) - set(flops_per_step))
    if missing:
        raise ValueError(f"flops_per_step lacks the models {missing} (keys must match runs)")
    if flop_budget < 0 or seconds_budget < 0:
        raise ValueError(f"budgets must be >= 0, got {flop_budget} FLOPs and {seconds_budget} s")
    for n, run in runs.items():
        if not run.steps or len(run.steps) != len(run.val_loss) or len(run.seconds) != len(run.steps):
            raise ValueError(f"run {n}: steps, seconds and val_loss must be non-empty and of equal "
                             "length (an LMRun from train_lm)")
        if flops_per_step[n] <= 0:
            raise ValueError(f"flops_per_step[{n}] must be > 0, got {flops_per_step[n]}")
    return sorted(runs)


def _interpolated(xs, losses, i: int, budget: float) -> float:
    """The loss at ``budget`` on the straight segment, in log(x), from evaluation ``i`` (the last
    within the budget) to the next one; evaluation ``i``'s own loss when ``i`` is 0 (before the
    first evaluation nothing better than the untrained loss is known) or the last evaluation."""
    if i == 0 or i == len(xs) - 1 or xs[i] == budget:
        return float(losses[i])
    t = (np.log(budget) - np.log(xs[i])) / (np.log(xs[i + 1]) - np.log(xs[i]))
    return float(losses[i] + t * (losses[i + 1] - losses[i]))


def loss_at_budgets(runs: Mapping[int, LMRun], flops_per_step: Mapping[int, float],
                    flop_budget: float, seconds_budget: float,
                    interpolate: bool = False) -> dict[str, list]:
    """Each run's held-out loss at its last evaluation within each budget.

    With ``interpolate=True`` the losses at fixed FLOPs and seconds are read on the straight
    segment (in log FLOPs or log seconds, as the figure draws it) between that evaluation and the
    next, so a model is not penalised because its next evaluation falls just past the budget
    (before the first evaluation after step 0, the untrained loss is kept).

    ``runs`` maps a model's parameter count N to its :class:`LMRun` (index 0 = untrained);
    ``flops_per_step[N]`` is that model's training FLOPs per optimiser step. Returns columns
    (lists of length ``len(runs)``, models sorted by N): ``"N"``, ``"loss at fixed tokens"``
    (the last evaluation), ``"loss at fixed FLOPs"``, ``"loss at fixed seconds"``, the evaluation
    indices ``"index at FLOPs"`` / ``"index at seconds"`` (0: the budget ends before the first
    evaluation after step 0), and ``"achieved GFLOP/s"`` over each whole run.
    """
    Ns = _check(runs, flops_per_step, flop_budget, seconds_budget)
    table: dict[str, list] = {k: [] for k in ("N", "loss at fixed tokens", "loss at fixed FLOPs",
                                              "loss at fixed seconds", "index at FLOPs",
                                              "index at seconds", "achieved GFLOP/s")}
    for N in Ns:
        run = runs[N]
        i, j = run.at_flops(flop_budget, flops_per_step[N]), run.at_seconds(seconds_budget)
        seconds = run.seconds[-1]
        table["N"].append(N)
        table["loss at fixed tokens"].append(run.val_loss[-1])
        if interpolate:
            flops = [s * flops_per_step[N] for s in run.steps]
            table["loss at fixed FLOPs"].append(_interpolated(flops, run.val_loss, i, flop_budget))
            table["loss at fixed seconds"].append(_interpolated(run.seconds, run.val_loss, j, seconds_budget))
        else:
            table["loss at fixed FLOPs"].append(run.val_loss[i])
            table["loss at fixed seconds"].append(run.val_loss[j])
        table["index at FLOPs"].append(i)
        table["index at seconds"].append(j)
        table["achieved GFLOP/s"].append(
            flops_per_step[N] * run.steps[-1] / seconds / 1e9 if seconds > 0 else float("nan"))
    return table


def plot_budget_curves(runs: Mapping[int, LMRun], flops_per_step: Mapping[int, float],
                       flop_budget: float, seconds_budget: float, budget_name: str = "budget",
                       interpolate: bool = False):
    """Two panels: held-out loss against training FLOPs (left) and against training seconds
    (right), one curve per model, a dashed line at each budget and a dot where each model stands
    at it (read as :func:`loss_at_budgets` reads it, with the same ``interpolate``). Returns the
    matplotlib figure."""
    import matplotlib.pyplot as plt

    from .plots import plain_log_labels

    Ns = _check(runs, flops_per_step, flop_budget, seconds_budget)
    read = loss_at_budgets(runs, flops_per_step, flop_budget, seconds_budget, interpolate)
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for k, (N, color) in enumerate(zip(Ns, plt.cm.viridis(np.linspace(0, 0.85, len(Ns))))):
        run = runs[N]
        flops = np.array(run.steps) * flops_per_step[N]
        axes[0].loglog(flops[1:], run.val_loss[1:], "-", color=color, label=f"N = {N:,}")
        axes[1].loglog(run.seconds[1:], run.val_loss[1:], "-", color=color, label=f"N = {N:,}")
        i, j = read["index at FLOPs"][k], read["index at seconds"][k]
        at_x = (flop_budget, seconds_budget) if interpolate else (flops[i], run.seconds[j])
        if i > 0:   # i = 0: the budget ends before this model's first evaluation
            axes[0].plot(min(at_x[0], flops[-1]), read["loss at fixed FLOPs"][k], "o", color=color)
        if j > 0:
            axes[1].plot(min(at_x[1], run.seconds[-1]), read["loss at fixed seconds"][k], "o", color=color)
    for ax, b, what in [(axes[0], flop_budget, "FLOPs"), (axes[1], seconds_budget, "seconds")]:
        ax.axvline(b, color="gray", ls="--", lw=1)
        ax.text(b, ax.get_ylim()[1], f" {budget_name} ({what})", va="top", fontsize=8, color="gray")
        ax.legend(fontsize=8, loc="lower left")
        plain_log_labels(ax, "y")
    axes[0].set(xlabel="training FLOPs (counted)", ylabel="validation loss (nats/char)",
                title="Loss against compute")
    axes[1].set(xlabel="training seconds (this machine)", ylabel="validation loss (nats/char)",
                title="Loss against wall-clock time")
    fig.tight_layout()
    return fig
