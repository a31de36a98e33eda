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
    return _verdict(True, "K/V projections per pass: t without a cache, 1 with one; over T tokens, "
                          "O(T²) against O(T).", "")


_RING_MISTAKES = [
    (lambda n, m: (n - 1) / n * m, "that is one phase: the all-reduce has two (a reduce-scatter, "
                                   "then an all-gather)"),
    (lambda n, m: 2 * m, "exactly twice the message for every N: in a ring a GPU does not send "
                         "all N chunks in a phase; how many rounds does a phase take, if a GPU's "
                         "own chunk never needs sending?"),
    (lambda n, m: 2 * (n - 1) * m, "each round sends one chunk, 1/N of the message, not the whole "
                                   "message (and count per GPU, not for all GPUs together)"),
    (lambda n, m: 2 * m / n, "one round per phase is not enough: a chunk is passed on around the "
                             "ring until every GPU has its share; how many rounds is that?"),
    (lambda n, m: 2 * (n - 1) // n * m, "the message itself, at every N: if you used integer "
                                        "division (//), it rounded your fraction down to 1 (use "
                                        "/); otherwise count the rounds of each phase and the "
                                        "size of a chunk"),
]


@exercise_check
def check_ring_allreduce_bytes(fn: Callable[[int, int], float] | None) -> bool:
    """Exercise: ``fn(num_gpus, message_bytes)`` = bytes each GPU sends in a ring all-reduce."""
    if _not_attempted(fn, "write `ring_bytes(num_gpus, message_bytes)`"):
        return False
    sizes = ((2, 1000), (8, 4096), (64, 10**9))
    got = [float(fn(n, m)) for n, m in sizes]
    for (n, m), value in zip(sizes, got):
        truth = 2 * (n - 1) / n * m
        if math.isclose(value, truth, rel_tol=1e-6):          # float32 arithmetic passes
            continue
        hint = next((say for wrong, say in _RING_MISTAKES
                     if all(math.isclose(g, wrong(*size), rel_tol=1e-6)
                            for g, size in zip(got, sizes))), None)
        if hint is None:
            hint = ("more than twice the message: in a ring each GPU forwards one chunk per "
                    "round; how many rounds, and how big is a chunk?" if value > 2 * m else
                    "exactly twice the message: how many rounds does each phase take, and how "
                    "big is a chunk?" if math.isclose(value, 2 * m, rel_tol=1e-6) else
                    "count the rounds of the reduce-scatter, the size of the chunk each GPU "
                    "sends per round, then the all-gather")
        return _verdict(False, "", f"ring_bytes({n}, {m}) = {value:g}: {hint}")
    return _verdict(True, "2(N−1)/N · M: nearly constant per GPU however many GPUs join.", "")
