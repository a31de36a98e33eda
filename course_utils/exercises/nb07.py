"""Exercise checks for notebook 07."""
from __future__ import annotations

import math
from typing import Callable

import torch

from ._common import (_close, _diagnosis, _gap, _not_attempted, _shape_problem, _verdict,
                      exercise_check)

__all__ = ['check_rollout', 'check_weat_effect']


def _rollout(layers: list[torch.Tensor], *, heads: str = "mean", residual: bool = True,
             combine: str = "product", reverse: bool = False) -> torch.Tensor:
    """Attention rollout in float64, or a plausible wrong version of it: ``heads`` "mean"
    (right), "max" or "sum"; ``residual`` False leaves out the identity; ``combine`` "sum" adds
    the layers; ``reverse`` multiplies the first layer on the left."""
    T = layers[0].shape[-1]
    eye = torch.eye(T, dtype=torch.float64)
    result = eye if combine == "product" else torch.zeros(T, T, dtype=torch.float64)
    for a in layers:
        a = a.double()
        a = {"mean": a.mean(0), "max": a.max(0).values, "sum": a.sum(0)}[heads]
        if residual:
            a = 0.5 * a + 0.5 * eye
            a = a / a.sum(-1, keepdim=True)
        if combine == "sum":
            result = result + a
        else:
            result = result @ a if reverse else a @ result
    return result


_ROLLOUT_MISTAKES = [
    (dict(reverse=True), "multiply in the other order: each later layer goes on the left of what "
                         "the layers below it made"),
    (dict(residual=False), "the residual is left out: each layer's attention is mixed with the "
                           "identity (the skip connection) before the layers are composed"),
    (dict(heads="max"), "you take the largest weight over heads: rollout averages the heads"),
    (dict(heads="sum"), "the heads are summed, not averaged, so after renormalising the identity "
                        "gets less than its half"),
    (dict(combine="sum"), "your layers are added: rollout composes them, a matrix product from "
                          "the first layer to the last"),
]


@exercise_check
def check_rollout(fn: Callable | None) -> bool:
    """Exercise: ``fn(list of (H, T, T))`` equals :func:`course_utils.interpret.attention_rollout`
    (float32 or float64)."""
    if _not_attempted(fn, "write `my_rollout(attentions)`"):
        return False
    g = torch.Generator().manual_seed(0)
    layers = [torch.softmax(torch.randn(3, 5, 5, generator=g), -1) for _ in range(3)]
    got, truth = fn([a.clone() for a in layers]), _rollout(layers)
    problem = _shape_problem(got, truth, "my_rollout(3 layers of (3, 5, 5))")
    if problem:
        return _verdict(False, "", f"{problem}: one row per position")
    if not _close(got, truth):
        gap = _gap(got, truth)
        hint = _diagnosis(got, gap, _ROLLOUT_MISTAKES, lambda **w: _rollout(layers, **w)) or (
            "compare your steps with the prompt's: heads averaged, the residual mixed in (half "
            "each), rows renormalised, layers multiplied")
        return _verdict(False, "", f"max error {gap:.2e}: {hint}")
    return _verdict(True, "rows still sum to 1: rollout is a flow of attention through layers.", "")


def _effect(s_x: torch.Tensor, s_y: torch.Tensor, spread: str = "sample") -> float:
    """WEAT's effect size in float64 with the standard deviation of all scores together
    (``spread`` "sample", right), or with a plausible wrong spread: "population" (÷ n),
    "pooled" (Cohen's d: the two groups' pooled sd), "x" (X's scores only), "none"."""
    x, y = s_x.double(), s_y.double()
    both = torch.cat([x, y])
    diff = float(x.mean() - y.mean())
    sd = {"sample": both.std(), "population": both.std(unbiased=False),
          "pooled": ((x.var() + y.var()) / 2).sqrt(), "x": x.std(),
          "none": torch.tensor(1.0, dtype=torch.float64)}[spread]
    return diff / float(sd)


_WEAT_MISTAKES = [
    (lambda x, y: abs(_effect(x, y)), "the sign is lost: here X's scores lie below Y's, so d is "
                                      "negative (the sign says which way the association goes); "
                                      "drop the absolute value"),
    (lambda x, y: -_effect(x, y), "the sign is flipped: the numerator is X's mean minus Y's"),
    (lambda x, y: _effect(x, y, "population"),
     "that divides by the population standard deviation (÷ n, np.std's default); WEAT uses the "
     "sample standard deviation (÷ (n − 1): torch's std, np.std(..., ddof=1))"),
    (lambda x, y: -_effect(x, y, "population"),
     "the sign is flipped, and the spread is the population standard deviation (÷ n): WEAT "
     "uses the sample one (÷ (n − 1))"),
    (lambda x, y: abs(_effect(x, y, "population")),
     "the sign is lost (d is negative here), and the spread is the population standard "
     "deviation (÷ n): WEAT uses the sample one (÷ (n − 1))"),
    (lambda x, y: _effect(x, y, "pooled"),
     "that divides by the two groups' pooled standard deviation (Cohen's d); WEAT divides by "
     "the standard deviation of all target words' scores together, X and Y in one set"),
    (lambda x, y: _effect(x, y, "x"), "that divides by the spread of X's scores alone; WEAT uses "
                                      "all target words' scores together, X and Y in one set"),
    (lambda x, y: _effect(x, y, "none"), "the difference of means is not divided by the "
                                         "standard deviation"),
]


@exercise_check
def check_weat_effect(fn: Callable | None) -> bool:
    """Exercise: ``fn(s_x, s_y)`` is WEAT's effect size (sample standard deviation of all the
    scores together, ÷ (n − 1)), where ``s_x`` and ``s_y`` are the association scores s(w, A, B)
    of the target words of X and of Y (in notebook 07, Caliskan et al.'s test 6: male and female
    names as targets, career and family words as attributes). Two cases: d > 0 and d < 0."""
    if _not_attempted(fn, "write `effect_size(s_x, s_y)`"):
        return False
    cases = [(torch.tensor([0.3, 0.1, 0.2, 0.4]), torch.tensor([-0.1, 0.0, 0.1, -0.2])),
             (torch.tensor([-0.25, 0.05, -0.1, 0.0, -0.3]), torch.tensor([0.2, -0.05, 0.15, 0.3, 0.1]))]
    for s_x, s_y in cases:
        value = fn(s_x.clone(), s_y.clone())
        try:
            got = float(value)
        except (TypeError, ValueError):
            return _verdict(False, "", f"effect_size returned {type(value).__name__}: return one "
                                       "number (a float or a one-element tensor)")
        truth = _effect(s_x, s_y)
        if math.isclose(got, truth, rel_tol=1e-4):
            continue
        hint = next((say for wrong, say in _WEAT_MISTAKES
                     if math.isclose(got, wrong(s_x, s_y), rel_tol=1e-4)), None)
        hint = hint or ("divide the difference of the two means by the standard deviation of all "
                        "the scores, X's and Y's together")
        sign = "X above Y" if truth > 0 else "X below Y"
        return _verdict(False, "", f"got {got:.4f} for scores with {sign}: {hint}")
    return _verdict(True, "a difference of means in units of the spread, signed: positive "
                          "when X is closer to A than Y is.", "")
