"""Notebook 09, exercise 2: the tie rule (the pair that sorts first) is checked, not left to luck."""
import collections

from course_utils.exercises import check_bpe_merge


def _pair_counts(word_counts):
    pairs = collections.Counter()
    for word, n in word_counts.items():
        for a, b in zip(word, word[1:]):
            pairs[(a, b)] += n
    return pairs


def test_first_merge_breaks_ties_by_the_pair_that_sorts_first():
    def right(word_counts):
        pairs = _pair_counts(word_counts)
        top = max(pairs.values())
        return min(p for p, c in pairs.items() if c == top)

    assert check_bpe_merge(right)


def test_first_merge_that_ignores_ties_is_caught():
    def first_seen(word_counts):          # most_common keeps insertion order among ties
        return _pair_counts(word_counts).most_common(1)[0][0]

    assert not check_bpe_merge(first_seen)
