"""Exercise checks for notebook 09."""
from __future__ import annotations

import collections
import math
from typing import Callable

from ._common import _not_attempted, _verdict, exercise_check

__all__ = ['check_oov_rate', 'check_bpe_merge']


def _oov_mistakes(train: list[str], test: list[str]) -> list[tuple[float, str]]:
    """Plausible wrong OOV rates for (train, test), each with the clause naming its mistake."""
    seen = set(train)
    unseen_tokens = sum(w not in seen for w in test)
    unseen_types = {w for w in test if w not in seen}
    return [
        (len(unseen_types) / len(test), "that counts each unseen word once (distinct words, "
                                        "types) but divides by all test tokens: count every "
                                        "occurrence of an unseen word"),
        (len(unseen_types) / len(set(test)), "that is the rate over distinct words (types); count "
                                             "every occurrence (tokens)"),
        (1 - unseen_tokens / len(test), "that is the share of test tokens seen in training: the "
                                        "OOV rate is the share never seen"),
        (unseen_tokens / len(train), "that divides by the training words: the share is of the "
                                     "test tokens"),
        (100 * unseen_tokens / len(test), "that is a percentage: return a share between 0 and 1"),
        (sum(w not in set(test) for w in train) / len(train), "that is the share of training "
                                                              "words missing from the test: it "
                                                              "goes the other way"),
    ]


@exercise_check
def check_oov_rate(fn: Callable | None) -> bool:
    """Exercise: ``fn(train_words, test_words)`` = share of test tokens (every occurrence) not
    seen in training. Two cases, in which unseen words occur more than once."""
    if _not_attempted(fn, "write `oov_fn(train_words, test_words)`"):
        return False
    cases = [("the cat sat on the mat".split(), "the dog sat on the log the dog ate the end".split()),
             ("a b c a b".split(), "a x x x b y c y".split())]
    for train, test in cases:
        value = fn(list(train), list(test))
        try:
            got = float(value)
        except (TypeError, ValueError):
            return _verdict(False, "", f"oov_fn returned {type(value).__name__}: return one "
                                       "number, a share between 0 and 1")
        truth = sum(w not in set(train) for w in test) / len(test)
        if math.isclose(got, truth, rel_tol=1e-6):              # a float32 share passes
            continue
        hint = next((say for wrong, say in _oov_mistakes(train, test)
                     if math.isclose(got, wrong, rel_tol=1e-6)), None)
        hint = hint or ("count the test tokens (every occurrence) that never appear in the "
                        "training words, and divide by the number of test tokens")
        return _verdict(False, "", f"oov_fn({' '.join(train)!r}.split(), {' '.join(test)!r}"
                                   f".split()) = {got:.3f}: {hint}")
    return _verdict(True, "counted over tokens (every occurrence), not types.", "")


def _first_merge(word_counts: dict[str, int], *, per: str = "occurrence", ties: str = "min",
                 weighted: bool = True) -> tuple[str, str]:
    """The first BPE merge, or a plausible wrong version of it: ``per`` "word" counts a pair
    once per word however often it occurs in it; ``weighted`` False ignores the words' counts;
    ``ties`` "max" takes the pair that sorts last, "first" the first one counted."""
    pairs: collections.Counter = collections.Counter()
    for word, n in word_counts.items():
        found = list(zip(word, word[1:]))
        if per == "word":
            found = list(dict.fromkeys(found))
        for pair in found:
            pairs[pair] += n if weighted else 1
    top = max(pairs.values())
    tied = [p for p, c in pairs.items() if c == top]
    return {"min": min(tied), "max": max(tied), "first": tied[0]}[ties]


_BPE_MISTAKES = [
    (dict(per="word"), "a pair that occurs twice in one word counts twice: count every adjacent "
                       "position, times the word's count, not each pair once per word"),
    (dict(weighted=False), "each word counts once here: weight its pairs by the word's count"),
    (dict(ties="first"), "among the tied pairs you take the first one counted (or the one "
                         "that sorts last): take the one that sorts first (first character, "
                         "then second)"),
    (dict(ties="max"), "among the tied pairs you take the one that sorts last: take the one "
                       "that sorts first (first character, then second)"),
]


@exercise_check
def check_bpe_merge(fn: Callable | None) -> bool:
    """Exercise: ``fn(word_counts)`` returns the first BPE merge: the most frequent adjacent
    pair of symbols, counted over every adjacent position of every word, weighted by the word's
    count. Ties: the pair that sorts first (first characters compared, then second), as ``min``
    orders tuples of strings."""
    if _not_attempted(fn, "write `first_merge(word_counts)`"):
        return False
    cases = [{"low": 5, "lower": 2, "newest": 6, "widest": 3},
             {"aa": 1, "ab": 3, "bb": 3},
             {"xy": 2, "yx": 2},
             {"cb": 2, "ca": 2, "ab": 1},
             {"banana": 3, "xy": 5},            # "an" and "na" occur twice in one word
             {"aaaa": 2, "ab": 5}]              # (a, a) occurs three times in one word
    for counts in cases:
        got = tuple(fn(dict(counts)))
        truth = _first_merge(counts)
        if got == truth:
            continue
        hint = next((say for wrong, say in _BPE_MISTAKES
                     if _first_merge(counts, **wrong) == got), None)
        hint = hint or ("count every adjacent pair of characters in every word, weighted by the "
                        "word's count; among tied pairs take the one that sorts first")
        return _verdict(False, "", f"first_merge({counts}) = {got}: {hint}")
    return _verdict(True, "that is one step of the loop the tokenizers library runs.", "")
