"""Exercise checks for notebook 09."""
from __future__ import annotations

import math
from typing import Callable

from ._common import _not_attempted, _verdict, exercise_check

__all__ = ['check_oov_rate', 'check_bpe_merge']


@exercise_check
def check_oov_rate(fn: Callable | None) -> bool:
    """Exercise: ``fn(train_words, test_words)`` = share of test tokens not seen in training."""
    if _not_attempted(fn, "write `oov_fn(train_words, test_words)`"):
        return False
    train = "the cat sat on the mat".split()
    test = "the dog sat on the log the end".split()
    truth = sum(w not in set(train) for w in test) / len(test)
    got = fn(train, test)
    if math.isclose(float(got), truth, rel_tol=1e-9):
        return _verdict(True, f"{truth:.3f}: counted over tokens (every occurrence), not types.", "")
    types = len({w for w in test if w not in set(train)}) / len(set(test))
    hint = ("that is the rate over distinct words (types); count every occurrence (tokens)"
            if math.isclose(float(got), types, rel_tol=1e-9) else
            "divide the number of test tokens missing from the training words by all test tokens")
    return _verdict(False, "", f"got {got}, expected {truth:.3f}: {hint}")


@exercise_check
def check_bpe_merge(fn: Callable | None) -> bool:
    """Exercise: ``fn(word_counts)`` returns the first BPE merge: the most frequent adjacent
    pair of symbols, counted over words weighted by their counts. Ties: the pair that sorts
    first (first characters compared, then second), as ``min`` orders tuples of strings."""
    if _not_attempted(fn, "write `first_merge(word_counts)`"):
        return False
    cases = [({"low": 5, "lower": 2, "newest": 6, "widest": 3}, ("e", "s")),
             ({"aa": 1, "ab": 3, "bb": 3}, ("a", "b")),
             ({"xy": 2, "yx": 2}, ("x", "y")),
             ({"cb": 2, "ca": 2, "ab": 1}, ("c", "a"))]
    for counts, truth in cases:
        got = tuple(fn(counts))
        if got != truth:
            return _verdict(False, "", f"first_merge({counts}) = {got}, expected {truth}: weight "
                                       "each pair by its word's count; among tied pairs take "
                                       "the one that sorts first (first character, then "
                                       "second)")
    return _verdict(True, "that is one step of the loop the tokenizers library runs.", "")
