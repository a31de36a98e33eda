"""Exercise checks for notebook 04."""
from __future__ import annotations

import math
from typing import Callable

import torch

from ..attention import scaled_dot_product_attention
from ..timing import count_flops
from ._common import _not_attempted, _verdict, exercise_check

__all__ = ['check_attention_flops', 'check_conv_layers_to_connect', 'check_dilated_conv_layers',
           'check_cross_attention_flops']


@exercise_check
def check_attention_flops(fn: Callable[[int, int], int] | None) -> bool:
    """Exercise: ``fn(n, d)`` is the FLOPs of softmax(QKᵀ/√d)V for one head, counted by
    ``FlopCounterMode`` (matmuls only: 2 FLOPs per multiply-add)."""
    if _not_attempted(fn, "write `attention_flops_guess(n, d)`"):
        return False
    for n, d in [(64, 16), (128, 32), (100, 8)]:
        q = torch.randn(1, 1, n, d)
        truth = count_flops(lambda: scaled_dot_product_attention(q, q, q))
        got = fn(n, d)
        if got != truth:
            hint = ("half the count: softmax(QKᵀ/√d)V has two matrix products" if got * 2 == truth
                    else "write down the shapes of each matrix product, and remember that the "
                         "counter charges 2 FLOPs per multiply-add")
            off = "too many" if got > truth else "too few"
            return _verdict(False, "", f"attention_flops_guess({n}, {d}) = {got}: {off} "
                                       f"for FlopCounterMode. {hint}")
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
            return _verdict(False, "", f"conv_layers({n}, {k}) = {got}, which is not right: how "
                                       f"many positions further to the left does each layer of "
                                       f"kernel {k} let output {n - 1} see?")
    return _verdict(True, "O(n/k) layers: why convolutions need depth (or dilation) for "
                          "long-range paths.", "")


def _dilated_layers(n: int, k: int) -> int:
    layers, reach = 0, 0
    while reach < n - 1:
        reach += (k - 1) * k ** layers
        layers += 1
    return layers


@exercise_check
def check_dilated_conv_layers(fn: Callable[[int, int], int] | None) -> bool:
    """Exercise: ``fn(n, k)`` = layers of causal ``Conv1d`` (kernel ``k``, dilation ``k**j`` at
    layer ``j``, output ``i`` sees ``i - m·k**j`` for ``m < k``) stacked before the last of ``n``
    outputs depends on the first input (WaveNet's stack; the answer is ⌈log_k n⌉)."""
    if _not_attempted(fn, "write `dilated_conv_layers(n, k)`"):
        return False
    for n, k in [(2, 3), (4, 3), (9, 3), (64, 3), (1000, 3), (124, 5), (126, 5), (65, 2)]:
        truth, got = _dilated_layers(n, k), fn(n, k)
        if got != truth:
            off = "too many" if got > truth else "too few"
            return _verdict(False, "", f"dilated_conv_layers({n}, {k}) = {got}: {off}. Write down how "
                                       "far back the last output sees after 1, 2, 3 layers, "
                                       "and stop as soon as it reaches the first input.")
    return _verdict(True, "O(log_k n) layers, against O(n/k) without dilation: Table 1's "
                          "convolutional row.", "")


@exercise_check
def check_cross_attention_flops(fn: Callable[[int, int, int], int] | None) -> bool:
    """Exercise: ``fn(n, m, d)`` is the FLOPs ``FlopCounterMode`` counts for one
    ``MultiHeadAttention(d, 4)`` layer in which ``n`` queries ``(1, n, d)`` attend to ``m``
    keys and values ``(1, m, d)`` (projections included; 2 FLOPs per multiply-add)."""
    if _not_attempted(fn, "write `cross_attention_flops(n, m, d)`"):
        return False
    from ..attention import MultiHeadAttention

    for n, m, d in [(8, 8, 16), (10, 30, 16), (50, 7, 32), (1, 100, 8)]:
        layer = MultiHeadAttention(d, 4)
        q, kv = torch.randn(1, n, d), torch.randn(1, m, d)
        with torch.no_grad():
            truth = count_flops(lambda: layer(q, kv, kv))
        got = fn(n, m, d)
        if got != truth:
            off = "too many" if got > truth else "too few"
            hint = ("right when n = m, so look at which products have n rows and which m"
                    if fn(8, 8, 16) == count_flops(lambda: MultiHeadAttention(16, 4)(
                        torch.randn(1, 8, 16), torch.randn(1, 8, 16), torch.randn(1, 8, 16)))
                    else "list every matrix product in the layer (four projections, scores, "
                         "weighted sum) with its shapes")
            return _verdict(False, "", f"cross_attention_flops({n}, {m}, {d}) = {got}: {off}. "
                                       f"{hint}.")
    return _verdict(True, "The projections scale with n and m separately, the attention itself "
                          "with n·m: an encoder–decoder pays the product of the two lengths.", "")
