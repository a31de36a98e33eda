"""course_utils.scaling: loss_at_budgets(..., interpolate=True) reads between evaluations."""
import math

import matplotlib

matplotlib.use("Agg")

from course_utils.pretraining import LMRun
from course_utils.scaling import loss_at_budgets, plot_budget_curves


def _run(steps, seconds, losses):
    return LMRun(steps=steps, tokens=[s * 10 for s in steps], seconds=seconds,
                 train_loss=losses, val_loss=losses, val_accuracy=[0.0] * len(steps))


RUNS = {100: _run([0, 10, 20], [0.0, 1.0, 4.0], [4.0, 3.0, 2.0]),
        1000: _run([0, 10, 20], [0.0, 0.5, 1.0], [4.0, 2.8, 2.0])}
FLOPS = {100: 1e6, 1000: 1e7}


def test_interpolates_in_log_x_between_evaluations():
    t = loss_at_budgets(RUNS, FLOPS, flop_budget=2e7, seconds_budget=2.0, interpolate=True)
    # 2 s lies half-way between 1 s and 4 s in log seconds: half-way between 3.0 and 2.0
    assert math.isclose(t["loss at fixed seconds"][0], 2.5)
    # the large model is past its last evaluation at 2 s: its last loss, no extrapolation
    assert t["loss at fixed seconds"][1] == 2.0
    # 2e7 FLOPs end before the large model's first evaluation (1e8): its untrained loss is kept
    assert t["loss at fixed FLOPs"] == [2.0, 4.0]
    # the indices are those of the last evaluation within each budget, as without interpolation
    plain = loss_at_budgets(RUNS, FLOPS, flop_budget=2e7, seconds_budget=2.0)
    assert t["index at seconds"] == plain["index at seconds"] == [1, 2]
    assert plain["loss at fixed seconds"] == [3.0, 2.0]


def test_budget_on_an_evaluation_reads_that_evaluation():
    t = loss_at_budgets(RUNS, FLOPS, flop_budget=1e7, seconds_budget=1.0, interpolate=True)
    assert t["loss at fixed seconds"] == [3.0, 2.0] and t["loss at fixed FLOPs"][0] == 3.0


def test_plot_puts_interpolated_dots_on_the_budget_line():
    fig = plot_budget_curves(RUNS, FLOPS, 2e7, 2.0, interpolate=True)
    dots = [l for l in fig.axes[1].get_lines() if l.get_marker() == "o"]
    assert any(math.isclose(l.get_xdata()[0], 2.0) and math.isclose(l.get_ydata()[0], 2.5) for l in dots)
