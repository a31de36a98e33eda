"""Word Embedding Association Test (WEAT, Caliskan et al. 2017) with a permutation p-value."""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["WEATResult", "weat"]


@dataclass(frozen=True)
class WEATResult:
    effect_size: float   # Cohen's d: (mean_x s − mean_y s) / std over X ∪ Y of s
    statistic: float     # Σ_x s(x) − Σ_y s(y)
    p_value: float       # one-sided: share of equal-size splits of X ∪ Y with a larger statistic
    permutations: int


def _s(w: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """s(w, A, B) = mean cos(w, a) − mean cos(w, b) for each row of w ``(N, D)``."""
    w, a, b = (torch.nn.functional.normalize(t, dim=-1) for t in (w, a, b))
    return (w @ a.T).mean(1) - (w @ b.T).mean(1)


def weat(x: Tensor, y: Tensor, a: Tensor, b: Tensor, *, permutations: int = 10_000,
         seed: int = 0) -> WEATResult:
    """Association of target sets X, Y ``(n, D)`` with attribute sets A, B ``(m, D)``.

    A positive effect means X is closer to A (and Y to B) than the reverse. The p-value compares
    the statistic with ``permutations`` random equal-size re-splits of X ∪ Y.
    """
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"X and Y must be the same size, got {x.shape[0]} and {y.shape[0]}")
    if len({t.shape[-1] for t in (x, y, a, b)}) != 1:
        raise ValueError("X, Y, A and B must share their embedding width; got "
                         f"{[tuple(t.shape) for t in (x, y, a, b)]}")
    s = _s(torch.cat([x, y]), a, b).double()
    n = x.shape[0]
    stat = (s[:n].sum() - s[n:].sum()).item()
    d = ((s[:n].mean() - s[n:].mean()) / s.std()).item()
    g = torch.Generator().manual_seed(seed)
    idx = torch.stack([torch.randperm(2 * n, generator=g) for _ in range(permutations)])
    perm = s[idx]
    null = perm[:, :n].sum(1) - perm[:, n:].sum(1)
    p = ((null >= stat).sum().item() + 1) / (permutations + 1)
    return WEATResult(d, stat, p, permutations)
