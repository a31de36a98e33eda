"""Counting the sequential path between two tensors through the autograd graph.

The longest chain of operations from an input to an output is the number of steps a signal
(and its gradient) must pass through in sequence: the "maximum path length" of Vaswani et al.
(2017), Table 1, counted on the real computation rather than stated.
"""
from __future__ import annotations

import sys

from torch import Tensor

__all__ = ["autograd_path_length"]


def autograd_path_length(output: Tensor, source: Tensor) -> int:
    """Longest chain of autograd operations from leaf ``source`` to ``output``.

    ``source`` must be a leaf tensor with ``requires_grad=True`` that ``output`` depends on.
    Returns the number of operation nodes on the longest path (0 only if output is source).
    """
    if not source.is_leaf or not source.requires_grad:
        raise ValueError("source must be a leaf tensor with requires_grad=True")
    if output is source:
        return 0
    if output.grad_fn is None:
        raise ValueError("output has no autograd history (was it computed under no_grad?)")
    memo: dict[object, int] = {}
    NOT = -(10**9)

    def longest(node: object) -> int:  # ops from node down to source, NOT if unreachable
        if node is None:
            return NOT
        key = node
        if key in memo:
            return memo[key]
        if type(node).__name__ == "AccumulateGrad":
            memo[key] = 0 if node.variable is source else NOT
            return memo[key]
        best = NOT
        for child, _ in node.next_functions:
            best = max(best, longest(child))
        memo[key] = best + 1 if best > NOT else NOT
        return memo[key]

    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 100_000))
    try:
        depth = longest(output.grad_fn)
    finally:
        sys.setrecursionlimit(old)
    if depth <= NOT // 2:
        raise ValueError("output does not depend on source")
    return depth
