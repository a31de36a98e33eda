"""Exercise checks for notebook 05."""
from __future__ import annotations

import math
from typing import Callable

from ._common import _not_attempted, _verdict, exercise_check

__all__ = ['check_kv_cache_reads', 'check_ring_allreduce_bytes']


@exercise_check
def check_kv_cache_reads(fn: Callable[[int, bool], int] | None) -> bool:
    """Exercise: ``fn(t, use_cache)`` = for how many tokens one layer computes a key and a value
    (a token's key and value count as 1) in the forward pass that predicts the token at position
    ``t`` (0-based, t >= 1) from positions 0 … t−1, fed one pass at a time before it."""
    if _not_attempted(fn, "write `kv_projections(t, use_cache)`"):
        return False
    for t in (1, 5, 100):
        no_cache, cache = fn(t, False), fn(t, True)
        if no_cache != t:
            return _verdict(False, "", f"kv_projections({t}, False) = {no_cache}: without a cache, "
                                       "which tokens' keys and values does this forward pass "
                                       "compute? (a prefix of t tokens is the input)")
        if cache != 1:
            return _verdict(False, "", f"kv_projections({t}, True) = {cache}: with a cache, which "
                                       "keys and values exist already before this step, and "
                                       "which one is new?")
    return _verdict(True, "t against 1 per step: generating T tokens costs O(T²) projections "
                          "without a cache and O(T) with one.", "")


@exercise_check
def check_ring_allreduce_bytes(fn: Callable[[int, int], float] | None) -> bool:
    """Exercise: ``fn(num_gpus, message_bytes)`` = bytes each GPU sends in a ring all-reduce."""
    if _not_attempted(fn, "write `ring_bytes(num_gpus, message_bytes)`"):
        return False
    for n, m in ((2, 1000), (8, 4096), (64, 10**9)):
        truth = 2 * (n - 1) / n * m
        got = fn(n, m)
        if not math.isclose(float(got), truth, rel_tol=1e-9):
            if math.isclose(float(got), truth / 2, rel_tol=1e-9):
                hint = "that is one phase: the all-reduce has two"
            elif got >= 2 * m:
                hint = ("more than twice the message: in a ring each GPU forwards one chunk per "
                        "round; how many rounds, and how big is a chunk?")
            else:
                hint = ("count the rounds of the reduce-scatter, the size of the chunk each GPU "
                        "sends per round, then the all-gather")
            return _verdict(False, "", f"ring_bytes({n}, {m}) = {got}: {hint}")
    return _verdict(True, "2(N−1)/N · M: nearly constant per GPU however many GPUs join.", "")
