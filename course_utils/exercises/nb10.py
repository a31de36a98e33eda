"""Exercise checks for notebook 10."""
from __future__ import annotations

from typing import Callable

import torch

from ._common import _not_attempted, _verdict, exercise_check

__all__ = ['check_band_flops', 'check_linformer']


@exercise_check
def check_band_flops(fn: Callable[[int, int, int], int] | None) -> bool:
    """Exercise: ``fn(n, d, window)`` returns the multiply-add FLOPs (2 per multiply-add) of
    sliding-window attention's two products, Q·Kᵀ and weights·V, counting only the kept
    pairs: every position i with every j, |i − j| ≤ window, 0 ≤ j < n."""
    if _not_attempted(fn, "write `band_flops(n, d, window)`"):
        return False
    for n, d, w in [(16, 8, 2), (100, 16, 10), (64, 32, 0), (10, 4, 20)]:
        i = torch.arange(n)
        pairs = int(((i[:, None] - i[None, :]).abs() <= w).sum())
        truth = 2 * 2 * pairs * d
        got = fn(n, d, w)
        if got != truth:
            hint = ("Near the two ends of the sequence a window is cut off: count only the "
                    "pairs that exist (draw the band for n=5, w=2)." if got == 4 * n * (2 * w + 1) * d
                    else "Count the matrix products of attention, and the FLOPs each spends on "
                         "one (query, key) pair.")
            return _verdict(False, "", f"band_flops({n}, {d}, {w}) = {got}, expected {truth}. "
                                       + hint)
    return _verdict(True, "Right: 4·d·(number of pairs), and the pairs grow as n·(2w+1) — "
                          "linearly in n.", "")


@exercise_check
def check_linformer(fn: Callable | None) -> bool:
    """Exercise: ``fn(q, k, v, E, F)`` implements Linformer attention
    softmax(Q (E K)ᵀ / √d) (F V) for q, k, v ``(n, d)`` and E, F ``(proj, n)``."""
    if _not_attempted(fn, "write `my_linformer(q, k, v, E, F)`"):
        return False
    from ..efficient import linformer_attention

    g = torch.Generator().manual_seed(0)
    for n, d, p in [(32, 8, 4), (50, 16, 50)]:
        q, k, v = (torch.randn(n, d, generator=g, dtype=torch.float64) for _ in range(3))
        E, F_ = (torch.randn(p, n, generator=g, dtype=torch.float64) / n ** 0.5 for _ in range(2))
        got, truth = fn(q, k, v, E, F_), linformer_attention(q, k, v, E, F_)
        if tuple(got.shape) != tuple(truth.shape):
            return _verdict(False, "", f"shape {tuple(got.shape)}, expected {tuple(truth.shape)} "
                                       "(one output per query)")
        err = float((got - truth).abs().max())
        if err > 1e-9:
            return _verdict(False, "", f"differs from linformer_attention by {err:.3g} at n={n}, "
                                       f"proj={p}: check which projection meets the keys and "
                                       "which the values, along which axis, and the scale "
                                       "(section 1's table).")
    return _verdict(True, "Equal to course_utils.efficient.linformer_attention.", "")
