"""Exercise checks for notebook 02."""
from __future__ import annotations

from typing import Callable

import torch

from ..attention import scaled_dot_product_attention
from ._common import (_as_tensor, _close, _gap, _not_attempted, _rounding_note, _shape_problem,
                      _verdict, exercise_check)

__all__ = ['check_attention', 'check_local_mask']


def _weights_hint(w: torch.Tensor, q: torch.Tensor, k: torch.Tensor, m: torch.Tensor | None) -> str:
    """Where unmasked or masked weights go wrong, named without the formula."""
    rows = w.sum(-1)
    if m is None:
        if not torch.allclose(rows, torch.ones_like(rows), atol=1e-4):
            return "each row of weights should sum to 1: over which axis is the softmax?"
        raw = q.double() @ k.double().transpose(-2, -1)
        if torch.allclose(w, raw.softmax(-1), atol=1e-5):
            return ("your scores are not scaled: section 1 says by what the dot products are "
                    "divided before the softmax, and why")
        return ("the weights are a softmax but not the right one: compare how the scores are "
                "formed and scaled with the formula in section 1")
    leaked = float(w[~m.expand_as(w)].abs().max())
    if leaked > 1e-6:
        return (f"a masked key still gets weight {leaked:.2f}: see section 3 on what a masked score "
                "is set to, and when")
    if not torch.allclose(rows, torch.ones_like(rows), atol=1e-4):
        return ("masked keys get 0, but the rows no longer sum to 1: the weights were zeroed after "
                "the softmax, so the allowed keys do not share all of the weight")
    return ("masked keys get 0 and the rows sum to 1, but the other weights are off: does the "
            "mask change anything besides the masked scores?")


@exercise_check
def check_attention(fn: Callable | None) -> bool:
    """Exercise: ``fn(q, k, v, mask=None) -> (output, weights)`` equals the reference.

    Shapes: q ``(..., T, d)``, k ``(..., S, d)``, v ``(..., S, d_v)``, mask ``(..., T, S)`` bool
    (True = may attend); output ``(..., T, d_v)``, weights ``(..., T, S)``. Answers in float32 or
    float64 are compared to float32 rounding.
    """
    if _not_attempted(fn, "write `my_attention(q, k, v, mask=None)`"):
        return False
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 5, 8, generator=g), torch.randn(2, 7, 8, generator=g),
               torch.randn(2, 7, 3, generator=g))
    mask = torch.rand(2, 5, 7, generator=g) > 0.3
    mask[..., 0] = True
    for m in (None, mask):
        result = fn(q, k, v, m) if m is not None else fn(q, k, v)
        if not (isinstance(result, tuple) and len(result) == 2):
            return _verdict(False, "", "return a pair: (output, weights)")
        out, w = result
        ref_out, ref_w = scaled_dot_product_attention(q.double(), k.double(), v.double(), m)
        problem = _shape_problem(w, ref_w, "the weights")
        if problem:
            return _verdict(False, "", f"{problem}: one row per query, one column per key")
        if not _close(w, ref_w):
            gap = _gap(w, ref_w)
            hint = _rounding_note(w, gap) or _weights_hint(_as_tensor(w).double(), q, k, m)
            return _verdict(False, "", f"{'masked' if m is not None else 'unmasked'} weights differ "
                                       f"(max error {gap:.2e}): {hint}")
        problem = _shape_problem(out, ref_out, "the output")
        if problem:
            return _verdict(False, "", f"{problem}: one row per query, as wide as v")
        if not _close(out, ref_out):
            return _verdict(False, "", "the weights are right but the output is not: which "
                                       "matrix does the formula average with them?")
    return _verdict(True, "matches the reference with and without a mask.", "")


@exercise_check
def check_local_mask(fn: Callable[[int, int], torch.Tensor] | None) -> bool:
    """Exercise: ``fn(T, w)`` is a boolean (T, T) mask, True where |i − j| ≤ w."""
    if _not_attempted(fn, "write `local_mask(T, w)`"):
        return False
    for T, w in [(6, 1), (9, 2), (4, 0)]:
        m = fn(T, w)
        i = torch.arange(T)
        truth = (i[:, None] - i[None, :]).abs() <= w
        if not isinstance(m, torch.Tensor) or m.dtype != torch.bool:
            return _verdict(False, "", "return a boolean tensor (True where attention is allowed)")
        if tuple(m.shape) != (T, T):
            return _verdict(False, "", f"local_mask({T}, {w}) has shape {tuple(m.shape)}, "
                                       f"expected ({T}, {T})")
        if not torch.equal(m, truth):
            r, c = (m != truth).nonzero()[0].tolist()
            return _verdict(False, "", f"local_mask({T}, {w})[{r}, {c}] is {bool(m[r, c])}: "
                                       f"query {r} and key {c} are {abs(r - c)} apart; "
                                       f"with w = {w}, may it attend?")
    return _verdict(True, "a banded mask: the pattern Longformer uses (notebook 10).", "")
