"""Exercise checks for notebook 04."""
from __future__ import annotations

import math
from typing import Callable

import torch

from ..attention import scaled_dot_product_attention
from ..timing import count_flops
from ._common import _name_parts, _not_attempted, _parts_explaining, _verdict, exercise_check

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


def _near_power(n: int, k: int) -> int | None:
    """The exponent L when n or n − 1 is exactly k**L (where a floating-point log is fragile)."""
    for m in (n, n - 1):
        L, power = 0, 1
        while power < m:
            power, L = power * k, L + 1
        if power == m and m > 1:
            return L
    return None


@exercise_check
def check_dilated_conv_layers(fn: Callable[[int, int], int] | None) -> bool:
    """Exercise: ``fn(n, k)`` = layers of causal ``Conv1d`` (kernel ``k``, dilation ``k**j`` at
    layer ``j``, output ``i`` sees ``i - m·k**j`` for ``m < k``) stacked before the last of ``n``
    outputs depends on the first input (WaveNet's stack; the answer is ⌈log_k n⌉, which a
    floating-point log gets wrong at exact powers such as 125 = 5³)."""
    if _not_attempted(fn, "write `dilated_conv_layers(n, k)`"):
        return False
    sizes = [(2, 3), (4, 3), (9, 3), (64, 3), (1000, 3), (124, 5), (126, 5), (65, 2),
             (125, 5), (216, 6), (243, 3), (244, 3), (3125, 5)]
    got = {(n, k): fn(n, k) for n, k in sizes}
    wrong = [(n, k) for n, k in sizes if got[n, k] != _dilated_layers(n, k)]
    # a floating-point log: right everywhere except off by one next to an exact power of k
    float_log = all(_near_power(n, k) is not None and abs(got[n, k] - _dilated_layers(n, k)) == 1
                    for n, k in wrong)
    for n, k in wrong:
        truth = _dilated_layers(n, k)
        off = "too many" if got[n, k] > truth else "too few"
        if float_log:
            L = _near_power(n, k)
            hint = (f"one layer {off}, and {n if k ** L == n else n - 1} = {k}^{L} exactly. "
                    "Next to a power of k the reach lands exactly on the first input (or one "
                    "short of it), and a floating-point log lands just above or below the "
                    f"integer (math.log(125, 5) = {math.log(125, 5)!r}). Count with integers, "
                    "and check the case where the reach equals n − 1 exactly.")
        else:
            hint = (f"{off}. Write down how far back the last output sees after 1, 2, 3 "
                    "layers, and stop as soon as it reaches the first input.")
        return _verdict(False, "", f"dilated_conv_layers({n}, {k}) = {got[n, k]}: {hint}")
    return _verdict(True, "O(log_k n) layers, against O(n/k) without dilation: Table 1's "
                          "convolutional row.", "")


def _cross_parts(n: int, m: int, d: int) -> dict[str, int]:
    """What a wrong FLOP count of cross-attention plausibly left out (positive) or miscounted,
    each as a clause that names the mistake (never the formula)."""
    return {"the query projection is missing": 2 * n * d * d,
            "the output projection is missing": 2 * n * d * d,
            "the key and value projections are missing": 4 * m * d * d,
            "one of the key and value projections is missing": 2 * m * d * d,
            "one of the two attention products (scores, weighted sum) is missing": 2 * n * m * d,
            "the key and value projections are counted over n rows, but keys and values come "
            "from the m encoder outputs": 4 * m * d * d - 4 * n * d * d,
            "the query and output projections are counted over m rows, but there are n "
            "queries": 4 * n * d * d - 4 * m * d * d,
            "the scores and the weighted sum are counted as n × n, but n queries meet m keys":
                4 * n * m * d - 4 * n * n * d,
            "the scores and the weighted sum are counted as m × m, but n queries meet m keys":
                4 * n * m * d - 4 * m * m * d}


@exercise_check
def check_cross_attention_flops(fn: Callable[[int, int, int], int] | None) -> bool:
    """Exercise: ``fn(n, m, d)`` is the FLOPs ``FlopCounterMode`` counts for one
    ``MultiHeadAttention(d, 4)`` layer in which ``n`` queries ``(1, n, d)`` attend to ``m``
    keys and values ``(1, m, d)`` (projections included; 2 FLOPs per multiply-add)."""
    if _not_attempted(fn, "write `cross_attention_flops(n, m, d)`"):
        return False
    from ..attention import MultiHeadAttention

    sizes = [(8, 8, 16), (10, 30, 16), (50, 7, 32), (1, 100, 8)]
    truths = []
    for n, m, d in sizes:
        layer = MultiHeadAttention(d, 4)
        q, kv = torch.randn(1, n, d), torch.randn(1, m, d)
        with torch.no_grad():
            truths.append(count_flops(lambda: layer(q, kv, kv)))
    got = [fn(n, m, d) for n, m, d in sizes]
    for (n, m, d), truth, value in zip(sizes, truths, got):
        if value != truth:
            off = "too many" if value > truth else "too few"
            if all(2 * g == t for g, t in zip(got, truths)):
                hint = "Exactly half: the counter charges 2 FLOPs per multiply-add."
            else:
                per_size = [_cross_parts(*size) for size in sizes]
                parts = {name: [p[name] for p in per_size] for name in per_size[0]}
                found = _parts_explaining([t - g for t, g in zip(truths, got)], parts)
                hint = (f"It looks as if {_name_parts(found)}." if found else
                        "List every matrix product in the layer (four projections, scores, "
                        "weighted sum) with its shapes.")
            return _verdict(False, "", f"cross_attention_flops({n}, {m}, {d}) = {value}: {off}. "
                                       f"{hint}")
    return _verdict(True, "Projections scale with n and m apart, attention with n·m: "
                          "the product of the two lengths.", "")
