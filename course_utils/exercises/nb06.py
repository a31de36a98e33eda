"""Exercise checks for notebook 06."""
from __future__ import annotations

import math
from typing import Callable

import torch

from ._common import (_as_tensor, _close, _gap, _not_attempted, _rounding_note, _shape_problem,
                      _verdict, exercise_check)

__all__ = ['check_compute_optimal', 'check_patchify']


@exercise_check
def check_compute_optimal(fn: Callable[[float], tuple[float, float]] | None) -> bool:
    """Exercise: ``fn(C) -> (N, D)``: the compute-optimal parameters and tokens for a budget of
    ``C`` FLOPs, using ``C ≈ 6·N·D`` and Chinchilla's rule of about 20 tokens per parameter."""
    if _not_attempted(fn, "write `compute_optimal(C)`"):
        return False
    for C in (1e18, 5.88e23, 3.0e21):
        result = fn(C)
        if not (isinstance(result, (tuple, list)) and len(result) == 2):
            return _verdict(False, "", f"compute_optimal({C:.3g}) returned {result!r}: return a "
                                       "pair (N, D)")
        N, D = (float(x) for x in result)
        n_true = math.sqrt(C / 120.0)
        if not (math.isclose(N, n_true, rel_tol=1e-6) and math.isclose(D, 20 * n_true, rel_tol=1e-6)):
            # point at the rule the answer breaks, not at the solution
            if not math.isclose(6 * N * D, C, rel_tol=1e-6):
                hint = f"6·N·D = {6 * N * D:.4g}, but the budget is C = {C:.3g}: the pair must spend C"
            elif math.isclose(N / D, 20, rel_tol=1e-6):
                hint = "your pair looks swapped: return (N, D), the parameters first"
            else:
                hint = f"D/N = {D / N:.4g}: Chinchilla's rule fixes the tokens per parameter"
            return _verdict(False, "", f"compute_optimal({C:.3g}) = ({N:.4g}, {D:.4g}): {hint}.")
    return _verdict(True, "Right: N = sqrt(C/120). Chinchilla's 5.88e23 FLOPs give "
                          f"{math.sqrt(5.88e23 / 120) / 1e9:.0f}B parameters and "
                          f"{20 * math.sqrt(5.88e23 / 120) / 1e12:.1f}T tokens.", "")


def _patches(images: torch.Tensor, p: int, patch_order: str = "rows",
             inner: tuple[int, int, int] = (1, 3, 5)) -> torch.Tensor:
    """``(B, n_patches, C·p·p)`` with the patches taken row by row ("rows") or column by column,
    each flattened in the order ``inner`` of the axes (1 channel, 3 pixel row, 5 pixel column)."""
    B, C, H, W = images.shape
    x = images.reshape(B, C, H // p, p, W // p, p)
    outer = (2, 4) if patch_order == "rows" else (4, 2)
    return x.permute(0, *outer, *inner).reshape(B, (H // p) * (W // p), C * p * p)


_PATCH_MISTAKES = [
    (dict(inner=(3, 5, 1)), "inside each patch your channel comes last: the embedding flattens "
                            "a patch channel first, then pixel rows, then pixel columns"),
    (dict(inner=(1, 5, 3)), "inside each patch your pixel rows and columns are transposed: "
                            "flatten a pixel row at a time"),
    (dict(patch_order="cols"), "your patches go column by column: they go row by row, like "
                               "reading a page"),
]


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
        problem = _shape_problem(got, truth, f"patchify of {tuple(images.shape)}, patch {p},")
        if problem:
            return _verdict(False, "", problem)
        if _close(got, truth):
            continue
        if C == 1:
            mistakes = [m for m in _PATCH_MISTAKES if "channel" not in m[1]]
        else:
            mistakes = _PATCH_MISTAKES
        hint = _rounding_note(got, _gap(got, truth)) or next(
            (say for wrong, say in mistakes if _close(got, _patches(images, p, **wrong))), None)
        if hint is None and _close(got, images.reshape(truth.shape)):
            hint = ("a reshape alone keeps the pixels in image order, so each of your rows mixes "
                    "pixels of several patches: move the axes first")
        if hint is None and _close(torch.sort(_as_tensor(got).double().flatten()).values,
                                   torch.sort(truth.double().flatten()).values):
            hint = ("the right pixels, in another order: patches go row by row; inside a patch, "
                    "channel first, then pixel rows, then pixel columns")
        if hint is None:
            hint = ("your values are not the image's pixels moved around: patchify only copies "
                    "pixels, it computes nothing")
        return _verdict(False, "", f"right shape, wrong values (images {tuple(images.shape)}, "
                                   f"patch {p}): {hint}.")
    return _verdict(True, "Right: this reshape and one Linear layer make a patch embedding "
                          "(a conv, kernel = stride = patch).", "")
