"""Exercise checks for notebook 10."""
from __future__ import annotations

import math
from typing import Callable

import torch

from ._common import (_close, _gap, _not_attempted, _rounding_note, _shape_problem, _verdict,
                      exercise_check)

__all__ = ['check_band_flops', 'check_linformer']


def _pairs(n: int, w: int) -> int:
    """Pairs (i, j) with |i − j| ≤ w and 0 ≤ i, j < n."""
    i = torch.arange(n)
    return int(((i[:, None] - i[None, :]).abs() <= w).sum())


def _band_mistakes(n: int, d: int, w: int) -> list[tuple[int, str]]:
    """Plausible wrong FLOP counts at (n, d, w), each with the clause naming its mistake."""
    i = torch.arange(n)
    one_sided = int(((i[:, None] - i[None, :] >= 0) & (i[:, None] - i[None, :] <= w)).sum())
    return [
        (4 * n * (2 * w + 1) * d, "near the two ends of the sequence a window is cut off: count "
                                  "only the pairs that exist (draw the band for n=5, w=2)"),
        (4 * (n * (2 * w + 1) - w * (w + 1)) * d, "right for a window narrower than the sequence, "
                                                  "but here w ≥ n: a query cannot meet more than "
                                                  "the n keys there are"),
        (4 * _pairs(n, w - 1) * d if w > 0 else -1, "that counts |i − j| < w: the window "
                                                    "includes the pairs at distance exactly w"),
        (4 * (_pairs(n, w) - n) * d, "the diagonal is missing: every position also attends to "
                                     "itself"),
        (4 * one_sided * d, "that counts one side of the band (j ≤ i): the window reaches w "
                            "positions on both sides"),
        (2 * _pairs(n, w) * d, "half the count: two matrix products, Q·Kᵀ and weights·V, "
                               "each 2 FLOPs per multiply-add"),
    ]


@exercise_check
def check_band_flops(fn: Callable[[int, int, int], int] | None) -> bool:
    """Exercise: ``fn(n, d, window)`` returns the multiply-add FLOPs (2 per multiply-add) of
    sliding-window attention's two products, Q·Kᵀ and weights·V, counting only the kept
    pairs: every position i with every j, |i − j| ≤ window, 0 ≤ j < n."""
    if _not_attempted(fn, "write `band_flops(n, d, window)`"):
        return False
    for n, d, w in [(16, 8, 2), (100, 16, 10), (64, 32, 0), (10, 4, 20)]:
        truth = 2 * 2 * _pairs(n, w) * d
        got = fn(n, d, w)
        if got != truth:
            off = "too many" if got > truth else "too few"
            hint = next((say for wrong, say in _band_mistakes(n, d, w) if wrong == got), None)
            hint = hint or ("count the kept (query, key) pairs, then the FLOPs each pair costs in "
                            "each of the two matrix products")
            return _verdict(False, "", f"band_flops({n}, {d}, {w}) = {got}: {off}. "
                                       f"{hint[0].upper() + hint[1:]}.")
    return _verdict(True, "Right: 4·d·(number of pairs), and the pairs grow as n·(2w+1) — "
                          "linearly in n.", "")


def _linformer(q, k, v, E, F_, *, swap: bool = False, scale: str = "d", axis: int = -1):
    """Linformer in float64, or a plausible wrong version: ``swap`` E and F, ``scale`` "d"
    (right), "none" or "p", softmax over ``axis``."""
    q, k, v, E, F_ = (t.double() for t in (q, k, v, E, F_))
    if swap:
        E, F_ = F_, E
    s = {"d": math.sqrt(q.shape[-1]), "none": 1.0, "p": math.sqrt(E.shape[0])}[scale]
    return torch.softmax(q @ (E @ k).T / s, dim=axis) @ (F_ @ v)


_LINFORMER_MISTAKES = [
    (dict(swap=True), "E and F are swapped: E makes the summary keys, F the summary values"),
    (dict(scale="none"), "the scores are not scaled: each query meets the summary keys with the "
                         "usual scaling of attention"),
    (dict(scale="p"), "the scores are scaled by the projected length: the usual scaling uses the "
                      "width d of queries and keys"),
    (dict(axis=0), "the softmax runs over the queries: each query's weights over the p summaries "
                   "should sum to 1"),
]


@exercise_check
def check_linformer(fn: Callable | None) -> bool:
    """Exercise: ``fn(q, k, v, E, F)`` implements Linformer attention
    softmax(Q (E K)ᵀ / √d) (F V) for q, k, v ``(n, d)`` and E, F ``(proj, n)``. The inputs are
    float64; an answer computed in float32 passes (to float32 rounding)."""
    if _not_attempted(fn, "write `my_linformer(q, k, v, E, F)`"):
        return False
    g = torch.Generator().manual_seed(0)
    for n, d, p in [(32, 8, 4), (50, 16, 50)]:
        q, k, v = (torch.randn(n, d, generator=g, dtype=torch.float64) for _ in range(3))
        E, F_ = (torch.randn(p, n, generator=g, dtype=torch.float64) / n ** 0.5 for _ in range(2))
        got = fn(q.clone(), k.clone(), v.clone(), E.clone(), F_.clone())
        truth = _linformer(q, k, v, E, F_)
        problem = _shape_problem(got, truth, f"my_linformer at n={n}, proj={p}")
        if problem:
            return _verdict(False, "", f"{problem} (one output per query)")
        if _close(got, truth):
            continue
        gap = _gap(got, truth)
        hint = next((say for wrong, say in _LINFORMER_MISTAKES
                     if _close(got, _linformer(q, k, v, E, F_, **wrong))), None)
        if hint is None and _close(got, torch.softmax(q @ k.T / math.sqrt(d), -1) @ v):
            hint = ("that is exact attention over all n keys: Linformer's queries attend over the "
                    "p summaries that E and F make of the keys and values")
        hint = hint or _rounding_note(got, gap) or (
            "check which projection meets the keys and which the values, along which axis, and "
            "the scale (section 1's table)")
        return _verdict(False, "", f"differs from linformer_attention by {gap:.3g} at n={n}, "
                                   f"proj={p}: {hint}.")
    return _verdict(True, "Equal to course_utils.efficient.linformer_attention.", "")
