"""Exercise checks for notebook 07."""
from __future__ import annotations

import math
from typing import Callable

import torch

from ._common import _not_attempted, _verdict, exercise_check

__all__ = ['check_rollout', 'check_weat_effect']


@exercise_check
def check_rollout(fn: Callable | None) -> bool:
    """Exercise: ``fn(list of (H, T, T))`` equals :func:`course_utils.interpret.attention_rollout`."""
    if _not_attempted(fn, "write `my_rollout(attentions)`"):
        return False
    from ..interpret import attention_rollout

    g = torch.Generator().manual_seed(0)
    layers = [torch.softmax(torch.randn(3, 5, 5, generator=g), -1) for _ in range(3)]
    got, truth = fn(layers), attention_rollout(layers)
    if tuple(got.shape) != (5, 5):
        return _verdict(False, "", f"shape {tuple(got.shape)}, expected (5, 5)")
    if not torch.allclose(got, truth, atol=1e-5):
        hint = ("multiply in the other order: later layers on the left" if torch.allclose(
            got, attention_rollout(layers[::-1]), atol=1e-5) else
            "average heads, mix with the identity (0.5 each), renormalise rows, multiply")
        return _verdict(False, "", f"max error {(got - truth).abs().max():.2e}: {hint}")
    return _verdict(True, "rows still sum to 1: rollout is a flow of attention through layers.", "")


@exercise_check
def check_weat_effect(fn: Callable | None) -> bool:
    """Exercise: ``fn(s_x, s_y)`` is WEAT's effect size (sample standard deviation), where
    ``s_x`` and ``s_y`` are the association scores s(w, A, B) of the target words of X and of Y
    (in notebook 07, Caliskan et al.'s test 6: male and female names as targets, career and
    family words as attributes)."""
    if _not_attempted(fn, "write `effect_size(s_x, s_y)`"):
        return False
    s_x, s_y = torch.tensor([0.3, 0.1, 0.2, 0.4]), torch.tensor([-0.1, 0.0, 0.1, -0.2])
    both = torch.cat([s_x, s_y])
    truth = ((s_x.mean() - s_y.mean()) / both.std()).item()
    got = float(fn(s_x, s_y))
    if math.isclose(got, truth, rel_tol=1e-4):
        return _verdict(True, f"d = {truth:.3f}: a difference of means in units of the spread.", "")
    pop = ((s_x.mean() - s_y.mean()) / both.std(unbiased=False)).item()
    hint = "use the sample standard deviation (unbiased)" if math.isclose(got, pop, rel_tol=1e-4) \
        else "divide the difference of means by the std of both sets together"
    return _verdict(False, "", f"got {got:.4f}, expected {truth:.4f}: {hint}")
