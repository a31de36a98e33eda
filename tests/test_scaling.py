"""course_utils.scaling: reading LM runs at a fixed budget of FLOPs or seconds."""
import math

import matplotlib
import pytest

matplotlib.use("Agg")

from course_utils.pretraining import LMRun
from course_utils.scaling import loss_at_budgets, plot_budget_curves


def _run(steps, seconds, losses):
    return LMRun(steps=steps, tokens=[s * 10 for s in steps], seconds=seconds,
                 train_loss=losses, val_loss=losses, val_accuracy=[0.0] * len(steps))


RUNS = {100: _run([0, 10, 20], [0.0, 1.0, 2.0], [4.0, 3.0, 2.5]),
        1000: _run([0, 10, 20], [0.0, 0.5, 1.0], [4.0, 2.8, 2.0])}
FLOPS = {100: 1e6, 1000: 1e7}


def test_reads_the_last_evaluation_within_each_budget():
    t = loss_at_budgets(RUNS, FLOPS, flop_budget=2e7, seconds_budget=1.0)
    assert t["N"] == [100, 1000]
    assert t["loss at fixed tokens"] == [2.5, 2.0]
    # 2e7 FLOPs: the small model reaches step 20 (2e7), the large one only step 0 (1e8 at 10)
    assert t["index at FLOPs"] == [2, 0] and t["loss at fixed FLOPs"] == [2.5, 4.0]
    # 1 s: the small model is at step 10, the large one at step 20
    assert t["index at seconds"] == [1, 2] and t["loss at fixed seconds"] == [3.0, 2.0]
    assert math.isclose(t["achieved GFLOP/s"][0], 1e6 * 20 / 2.0 / 1e9)
    assert math.isclose(t["achieved GFLOP/s"][1], 1e7 * 20 / 1.0 / 1e9)


def test_bad_input_says_what_is_wrong():
    with pytest.raises(ValueError, match="empty"):
        loss_at_budgets({}, {}, 1.0, 1.0)
    with pytest.raises(ValueError, match="lacks"):
        loss_at_budgets(RUNS, {100: 1e6}, 1.0, 1.0)
    with pytest.raises(ValueError, match=">= 0"):
        loss_at_budgets(RUNS, FLOPS, -1.0, 1.0)
    with pytest.raises(ValueError, match="> 0"):
        loss_at_budgets(RUNS, {100: 1e6, 1000: 0.0}, 1.0, 1.0)


def test_plot_has_two_panels_with_one_curve_per_model():
    fig = plot_budget_curves(RUNS, FLOPS, 2e7, 1.0)
    assert len(fig.axes) == 2
    assert all(len(ax.get_legend().get_texts()) == len(RUNS) for ax in fig.axes)


# interpolate=True reads between evaluations (the small model's evaluations are unevenly spaced in time)
UNEVEN = {100: _run([0, 10, 20], [0.0, 1.0, 4.0], [4.0, 3.0, 2.0]),
          1000: _run([0, 10, 20], [0.0, 0.5, 1.0], [4.0, 2.8, 2.0])}


def test_interpolates_in_log_x_between_evaluations():
    t = loss_at_budgets(UNEVEN, FLOPS, flop_budget=2e7, seconds_budget=2.0, interpolate=True)
    # 2 s lies half-way between 1 s and 4 s in log seconds: half-way between 3.0 and 2.0
    assert math.isclose(t["loss at fixed seconds"][0], 2.5)
    # the large model is past its last evaluation at 2 s: its last loss, no extrapolation
    assert t["loss at fixed seconds"][1] == 2.0
    # 2e7 FLOPs end before the large model's first evaluation (1e8): its untrained loss is kept
    assert t["loss at fixed FLOPs"] == [2.0, 4.0]
    # the indices are those of the last evaluation within each budget, as without interpolation
    plain = loss_at_budgets(UNEVEN, FLOPS, flop_budget=2e7, seconds_budget=2.0)
    assert t["index at seconds"] == plain["index at seconds"] == [1, 2]
    assert plain["loss at fixed seconds"] == [3.0, 2.0]


def test_budget_on_an_evaluation_reads_that_evaluation():
    t = loss_at_budgets(UNEVEN, FLOPS, flop_budget=1e7, seconds_budget=1.0, interpolate=True)
    assert t["loss at fixed seconds"] == [3.0, 2.0] and t["loss at fixed FLOPs"][0] == 3.0


def test_plot_puts_interpolated_dots_on_the_budget_line():
    fig = plot_budget_curves(UNEVEN, FLOPS, 2e7, 2.0, interpolate=True)
    dots = [l for l in fig.axes[1].get_lines() if l.get_marker() == "o"]
    assert any(math.isclose(l.get_xdata()[0], 2.0) and math.isclose(l.get_ydata()[0], 2.5) for l in dots)
