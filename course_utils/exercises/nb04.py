"""Exercise checks for notebook 04."""
from __future__ import annotations

import math
from typing import Callable

import torch

from ..attention import scaled_dot_product_attention
from ._common import _not_attempted, _verdict, exercise_check

__all__ = ['check_attention_flops', 'check_conv_layers_to_connect']


@exercise_check
def check_attention_flops(fn: Callable[[int, int], int] | None) -> bool:
    """Exercise: ``fn(n, d)`` is the FLOPs of softmax(QKᵀ/√d)V for one head, counted by
    ``FlopCounterMode`` (matmuls only: 2 FLOPs per multiply-add)."""
    if _not_attempted(fn, "write `attention_flops_guess(n, d)`"):
        return False
    from .timing import count_flops

    for n, d in [(64, 16), (128, 32), (100, 8)]:
        q = torch.randn(1, 1, n, d)
        truth = count_flops(lambda: scaled_dot_product_attention(q, q, q))
        got = fn(n, d)
        if got != truth:
            hint = ("half the count: one matmul is missing (Q Kᵀ and A V)" if got * 2 == truth
                    else "each (n×d)@(d×n) product costs 2·n·d·n FLOPs")
            return _verdict(False, "", f"attention_flops_guess({n}, {d}) = {got}, counted "
                                       f"{truth}: {hint}")
    return _verdict(True, "4·n²·d: quadratic in n, linear in d.", "")


@exercise_check
def check_conv_layers_to_connect(fn: Callable[[int, int], int] | None) -> bool:
    """Exercise: ``fn(n, k)`` = Conv1d layers (kernel k, no dilation) for the last output to
    depend on the first input of ``n`` tokens."""
    if _not_attempted(fn, "write `conv_layers(n, k)`"):
        return False
    for n, k in [(16, 3), (64, 3), (50, 5), (2, 3)]:
        # each layer widens the receptive field by k - 1 on one side when padding is symmetric
        # ("same" padding): output i sees inputs i - (k-1)/2 ... i + (k-1)/2.
        reach = (k - 1) // 2
        truth = math.ceil((n - 1) / reach)
        got = fn(n, k)
        if got != truth:
            return _verdict(False, "", f"conv_layers({n}, {k}) = {got}, expected {truth}: a "
                                       f"'same'-padded kernel of {k} reaches {reach} position(s) "
                                       "further per layer")
    return _verdict(True, "O(n/k) layers: why convolutions need depth (or dilation) for "
                          "long-range paths.", "")
