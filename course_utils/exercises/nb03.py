"""Exercise checks for notebook 03."""
from __future__ import annotations

import math
from typing import Callable

import torch

from ..positional import RotaryEmbedding, sinusoidal_encoding
from ._common import _not_attempted, _verdict, exercise_check

__all__ = ['check_sinusoidal', 'check_rotation']


@exercise_check
def check_sinusoidal(fn: Callable[[int, int], torch.Tensor] | None) -> bool:
    """Exercise: ``fn(num_positions, d_model) -> (num_positions, d_model)`` equals
    :func:`sinusoidal_encoding`."""
    if _not_attempted(fn, "write `my_sinusoidal(num_positions, d_model)`"):
        return False
    for P, d in [(10, 8), (50, 16)]:
        got, truth = fn(P, d), sinusoidal_encoding(P, d)
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != (P, d):
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            return _verdict(False, "", f"my_sinusoidal({P}, {d}) gave {shape}, expected a tensor "
                                       f"of shape ({P}, {d}): one row per position")
        diff = (got.double() - truth.double()).abs()
        err = diff.max().item()
        if err > 1e-5:
            col = int((diff.max(0).values > 1e-5).nonzero()[0])      # first wrong column
            swapped = torch.allclose(got[:, 0::2].double(), truth[:, 1::2].double(), atol=1e-4)
            if swapped:
                hint = "the even and odd columns look swapped: which function goes on column 2i?"
            elif col < 2:
                hint = (f"column {col} is already wrong, and pair i = 0 has ω_0 = 1 for any "
                        "d_model: check the positions p (one per row, from 0) and sin/cos")
            else:
                hint = (f"columns 0 to {col - 1} are right, column {col} (pair i = {col // 2}) is "
                        "not: check ω_i in the formula of section 2, its base and its exponent")
            return _verdict(False, "", f"my_sinusoidal({P}, {d}): max error {err:.2e}; {hint}")
    return _verdict(True, "your table equals course_utils.positional.sinusoidal_encoding.", "")


@exercise_check
def check_rotation(fn: Callable[[torch.Tensor, int], torch.Tensor] | None) -> bool:
    """Exercise: ``fn(x (T, head_dim), offset) -> (T, head_dim)`` rotates like
    :class:`RotaryEmbedding`."""
    if _not_attempted(fn, "write `my_rope(x, offset)`"):
        return False
    rope = RotaryEmbedding(8)
    x = torch.randn(6, 8, generator=torch.Generator().manual_seed(1))
    for offset in (0, 5):
        got = fn(x.clone(), offset)
        truth = rope.rotate(x, offset)
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(x.shape):
            return _verdict(False, "", f"return a tensor shaped like x, {tuple(x.shape)}")
        if not torch.allclose(got, truth, atol=1e-5):
            diff = (got - truth).abs()
            row = int(diff.max(1).values.argmax())
            pair = int(diff.max(0).values.argmax()) // 2
            norm_kept = torch.allclose(got.norm(dim=-1), x.norm(dim=-1), rtol=1e-4)
            hint = ("lengths are kept, so it is a rotation, but by the wrong angle or direction: "
                    "compare your angle with p·θ_i, p = offset + row" if norm_kept else
                    "lengths change, so this is not a rotation: check the 2×2 matrix you apply "
                    "to each pair")
            return _verdict(False, "", f"offset {offset}: max error {diff.max():.2e}, worst at row "
                                       f"{row}, pair i = {pair}; {hint}")
    norms_kept = math.isclose(float(fn(x.clone(), 3).norm()), float(x.norm()), rel_tol=1e-5)
    return _verdict(norms_kept, "equal to RotaryEmbedding, and lengths are kept: a rotation.",
                    "not norm-preserving: a rotation must keep lengths")
