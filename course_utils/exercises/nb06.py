"""Exercise checks for notebook 06."""
from __future__ import annotations

import math
from typing import Callable

import torch

from ._common import _not_attempted, _verdict, exercise_check

__all__ = ['check_compute_optimal', 'check_patchify']


@exercise_check
def check_compute_optimal(fn: Callable[[float], tuple[float, float]] | None) -> bool:
    """Exercise: ``fn(C) -> (N, D)``: the compute-optimal parameters and tokens for a budget of
    ``C`` FLOPs, using ``C ≈ 6·N·D`` and Chinchilla's rule of about 20 tokens per parameter."""
    if _not_attempted(fn, "write `compute_optimal(C)`"):
        return False
    for C in (1e18, 5.88e23, 3.0e21):
        N, D = fn(C)
        n_true = math.sqrt(C / 120.0)
        if not (math.isclose(N, n_true, rel_tol=1e-6) and math.isclose(D, 20 * n_true, rel_tol=1e-6)):
            # point at the rule the answer breaks, not at the solution
            if not math.isclose(6 * N * D, C, rel_tol=1e-6):
                hint = f"6·N·D = {6 * N * D:.4g}, but the budget is C = {C:.3g}: the pair must spend C"
            else:
                hint = f"D/N = {D / N:.4g}: Chinchilla's rule fixes the tokens per parameter"
            return _verdict(False, "", f"compute_optimal({C:.3g}) = ({N:.4g}, {D:.4g}): {hint}.")
    return _verdict(True, "Right: N = sqrt(C/120). Chinchilla's own budget, 5.88e23 FLOPs, gives "
                          f"{math.sqrt(5.88e23 / 120) / 1e9:.0f}B parameters and "
                          f"{20 * math.sqrt(5.88e23 / 120) / 1e12:.1f}T tokens: the 70B model "
                          "trained on 1.4T tokens.", "")


@exercise_check
def check_patchify(fn: Callable[[torch.Tensor, int], torch.Tensor] | None) -> bool:
    """Exercise: ``fn(images (B, C, H, W), patch) -> (B, (H/p)·(W/p), C·p·p)``: the flattened
    patches, row by row, each flattened channel-first, as the ViT's patch embedding sees them."""
    if _not_attempted(fn, "write `patchify(images, patch)`"):
        return False
    from ..vision import PatchEmbedding

    g = torch.Generator().manual_seed(0)
    for B, C, size, p in [(2, 1, 8, 2), (3, 3, 12, 4), (1, 2, 6, 3)]:
        images = torch.randn(B, C, size, size, generator=g)
        embed = PatchEmbedding(size, p, C, C * p * p)
        with torch.no_grad():
            embed.proj.weight.copy_(torch.eye(C * p * p))
            embed.proj.bias.zero_()
            truth = embed(images)
        got = fn(images, p)
        if not isinstance(got, torch.Tensor) or got.shape != truth.shape:
            return _verdict(False, "", f"patchify of {tuple(images.shape)}, patch {p}: expected "
                                       f"shape {tuple(truth.shape)}, got "
                                       f"{getattr(got, 'shape', type(got).__name__)}")
        if not torch.allclose(got, truth):
            return _verdict(False, "", f"right shape, wrong order (images {tuple(images.shape)}, "
                                       f"patch {p}): patches go row by row; inside a patch, "
                                       "channel first, then pixel rows, then pixel columns.")
    return _verdict(True, "Right: a patch embedding is this reshape followed by one Linear layer, "
                          "the same as a convolution with kernel = stride = patch.", "")
