"""Exercise checks for notebook 03."""
from __future__ import annotations

from typing import Callable

import torch

from ._common import (_as_tensor, _close, _diagnosis, _gap, _not_attempted, _shape_problem,
                      _verdict, exercise_check)

__all__ = ['check_sinusoidal', 'check_rotation']


def _sinusoid(P: int, d: int, *, first: int = 0, layout: str = "interleaved",
              exponent: str = "pair", sign: float = -1.0) -> torch.Tensor:
    """The sinusoidal table in float64, or one of the plausible wrong versions of it:
    ``layout`` "interleaved" (right), "swapped" (cos on even columns) or "halves" (sin | cos);
    ``exponent`` "pair" (right: 2i/d), "column" (each column j its own j/d) or "half" (i/d);
    ``first`` the first position; ``sign`` the exponent's sign."""
    pos = torch.arange(first, first + P, dtype=torch.float64)[:, None]
    i = torch.arange(d // 2, dtype=torch.float64)
    power = {"pair": 2 * i / d, "half": i / d, "column": 2 * i / d}[exponent]
    angles = pos * 10000.0 ** (sign * power)                                    # (P, d/2)
    sin, cos = torch.sin(angles), torch.cos(angles)
    if exponent == "column":
        cos = torch.cos(pos * 10000.0 ** (sign * (2 * i + 1) / d))
    if layout == "halves":
        return torch.cat([sin, cos], dim=1)
    pe = torch.empty(P, d, dtype=torch.float64)
    pe[:, 0::2], pe[:, 1::2] = (cos, sin) if layout == "swapped" else (sin, cos)
    return pe


_SINUSOID_MISTAKES = [
    (dict(layout="swapped"), "the even and odd columns look swapped: which function goes on "
                             "column 2i, which on 2i + 1?"),
    (dict(layout="halves"), "your sines fill the first half of the columns and the cosines the "
                            "second: the formula interleaves them, a (sin, cos) pair per i"),
    (dict(first=1), "your positions start at 1: the first row is position 0"),
    (dict(exponent="column"), "your cosine column 2i + 1 has another frequency than its sine "
                              "column 2i: the two columns of pair i share one ω_i"),
    (dict(exponent="half"), "pair 0 is right but the frequencies of the other pairs are off: "
                            "check how ω_i's exponent grows with i (i counts pairs of columns)"),
    (dict(sign=1.0), "your frequencies grow with i: ω_i should fall from 1 towards 1/10000 "
                     "across the pairs (check the exponent's sign)"),
]


@exercise_check
def check_sinusoidal(fn: Callable[[int, int], torch.Tensor] | None) -> bool:
    """Exercise: ``fn(num_positions, d_model) -> (num_positions, d_model)`` equals
    :func:`course_utils.positional.sinusoidal_encoding` (float32 or float64)."""
    if _not_attempted(fn, "write `my_sinusoidal(num_positions, d_model)`"):
        return False
    for P, d in [(10, 8), (50, 16)]:
        got, truth = fn(P, d), _sinusoid(P, d)
        problem = _shape_problem(got, truth, f"my_sinusoidal({P}, {d})")
        if problem:
            if getattr(got, "shape", None) is not None and tuple(got.shape) == (d, P):
                problem += " (yours is transposed: one row per position)"
            return _verdict(False, "", problem)
        if _close(got, truth):
            continue
        gap = _gap(got, truth)
        hint = _diagnosis(got, gap, _SINUSOID_MISTAKES, lambda **w: _sinusoid(P, d, **w), rtol=1e-4)
        if hint is None:
            diff = (_as_tensor(got).double() - truth).abs()
            col = int((diff.max(0).values > 1e-4).nonzero()[0])       # first wrong column
            hint = (f"column {col} is already wrong, and pair i = 0 has ω_0 = 1 whatever d_model: "
                    "check the positions p (one per row, from 0) and which function goes on which "
                    "column" if col < 2 else
                    f"columns 0 to {col - 1} are right, column {col} (pair i = {col // 2}) is not: "
                    "check ω_i in the formula of section 2, its base and its exponent")
        return _verdict(False, "", f"my_sinusoidal({P}, {d}): max error {gap:.2e}; {hint}")
    return _verdict(True, "your table equals course_utils.positional.sinusoidal_encoding.", "")


def _rope(x: torch.Tensor, offset: int, *, pairs: str = "interleaved", sign: float = 1.0,
          exponent: str = "pair", use_offset: bool = True) -> torch.Tensor:
    """RoPE in float64 (as :class:`RotaryEmbedding`), or a plausible wrong version of it:
    ``pairs`` "interleaved" (2i, 2i+1: right) or "halves" (i, i + d/2); ``sign`` −1 turns the
    other way; ``exponent`` "half" uses i/d for θ_i; ``use_offset`` False forgets the offset."""
    x = x.double()
    T, d = x.shape
    i = torch.arange(d // 2, dtype=torch.float64)
    theta = 10000.0 ** (-(2 * i if exponent == "pair" else i) / d)
    p = torch.arange(T, dtype=torch.float64) + (offset if use_offset else 0)
    angle = sign * p[:, None] * theta                                           # (T, d/2)
    if pairs == "halves":
        a, b = x[:, : d // 2], x[:, d // 2:]
    else:
        a, b = x[:, 0::2], x[:, 1::2]
    ra, rb = a * angle.cos() - b * angle.sin(), a * angle.sin() + b * angle.cos()
    out = torch.empty_like(x)
    if pairs == "halves":
        out[:, : d // 2], out[:, d // 2:] = ra, rb
    else:
        out[:, 0::2], out[:, 1::2] = ra, rb
    return out


_ROPE_MISTAKES = [
    (dict(pairs="halves"), "you rotate feature i with feature i + head_dim/2 (the rotate-half "
                           "layout some libraries use); this exercise pairs features 2i and 2i + 1"),
    (dict(sign=-1.0), "lengths are kept but every pair turns the other way: check the signs of "
                      "the sine terms in your 2×2 rotation"),
    (dict(use_offset=False), "right at offset 0, not at offset 5: where does the offset enter "
                             "the position p?"),
    (dict(exponent="half"), "pair 0 is right but the other pairs turn at the wrong speed: check "
                            "how θ_i's exponent grows with i (i counts pairs of features)"),
]


@exercise_check
def check_rotation(fn: Callable[[torch.Tensor, int], torch.Tensor] | None) -> bool:
    """Exercise: ``fn(x (T, head_dim), offset) -> (T, head_dim)`` rotates like
    :class:`RotaryEmbedding` (float32 or float64)."""
    if _not_attempted(fn, "write `my_rope(x, offset)`"):
        return False
    x = torch.randn(6, 8, generator=torch.Generator().manual_seed(1))
    for offset in (0, 5):
        got, truth = fn(x.clone(), offset), _rope(x, offset)
        problem = _shape_problem(got, truth, f"my_rope(x, {offset})")
        if problem:
            return _verdict(False, "", f"{problem}: return a tensor shaped like x")
        if _close(got, truth):
            continue
        gap = _gap(got, truth)
        hint = _diagnosis(got, gap, _ROPE_MISTAKES, lambda **w: _rope(x, offset, **w), rtol=1e-4)
        if hint is None:
            diff = (_as_tensor(got).double() - truth).abs()
            row = int(diff.max(1).values.argmax())
            pair = int(diff.max(0).values.argmax()) // 2
            norm_kept = torch.allclose(_as_tensor(got).double().norm(dim=-1), x.double().norm(dim=-1),
                                       rtol=1e-4)
            hint = (f"worst at row {row}, pair i = {pair}; lengths are kept, so it is a rotation, "
                    "but by other angles: compare yours at that row and pair with the prompt's "
                    "angle" if norm_kept else
                    f"worst at row {row}, pair i = {pair}; lengths change, so this is not a "
                    "rotation: check the 2×2 matrix you apply to each pair")
        return _verdict(False, "", f"offset {offset}: max error {gap:.2e}; {hint}")
    return _verdict(True, "equal to RotaryEmbedding, and lengths are kept: a rotation.", "")
