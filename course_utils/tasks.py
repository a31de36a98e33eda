"""Seeded synthetic tasks whose right answer is known, so a model's success can be checked.

Every generator takes a ``seed`` and returns the same data for the same seed.
Token id 0 is padding in every vocabulary here.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, replace

import torch
from torch import Tensor

from .validation import sizes

__all__ = ["Vocab", "TokenTask", "negation_sentiment", "order_task", "bag_of_words_ceiling",
           "arithmetic_sequences", "signal_word_task", "needle_task",
           "first_token_recall", "pointer_chain_task"]

PAD = "<pad>"


@dataclass
class Vocab:
    """Token strings ↔ ids; id 0 is ``<pad>``."""

    itos: list[str]

    def __post_init__(self) -> None:
        if not self.itos or self.itos[0] != PAD:
            raise ValueError(f"the first token must be {PAD!r}")
        if len(set(self.itos)) != len(self.itos):
            raise ValueError("vocabulary has duplicate tokens")
        self.stoi = {s: i for i, s in enumerate(self.itos)}

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, words: list[str] | str) -> list[int]:
        words = words.split() if isinstance(words, str) else words
        unknown = [w for w in words if w not in self.stoi]
        if unknown:
            raise KeyError(f"words not in the vocabulary: {unknown}")
        return [self.stoi[w] for w in words]

    def decode(self, ids: list[int] | Tensor, skip_pad: bool = True) -> list[str]:
        ids = ids.tolist() if isinstance(ids, Tensor) else ids
        return [self.itos[i] for i in ids if not (skip_pad and i == 0)]


@dataclass
class TokenTask:
    """A classification task on token sequences: ``(N, T)`` ids, ``(N,)`` labels.

    ``val_x`` ``(V, T)`` and ``val_y`` ``(V,)`` are a validation split (None until
    :meth:`with_validation` carves one out of the training rows).
    """

    vocab: Vocab
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    classes: list[str]
    description: str
    val_x: Tensor | None = None
    val_y: Tensor | None = None

    def with_validation(self, size: int) -> "TokenTask":
        """The same task with its first ``size`` training rows moved to ``val_x`` / ``val_y``.

        Early stopping and model choice then read the validation rows, and the test set is
        scored once, after training. Every generator here draws its rows independently, so the
        first rows are a random sample of the training distribution. The test set is unchanged.
        """
        n = self.train_x.shape[0]
        if isinstance(size, bool) or not isinstance(size, int) or not 0 < size < n:
            raise ValueError(f"size must be an integer in 1..{n - 1} (the task has {n} training "
                             f"rows, and some must stay for training), got {size!r}")
        if self.val_x is not None:
            raise ValueError("this task already has a validation split")
        return replace(self, train_x=self.train_x[size:], train_y=self.train_y[size:],
                       val_x=self.train_x[:size], val_y=self.train_y[:size])


POSITIVE = ["good", "great", "fun", "superb", "brilliant", "lovely"]
NEGATIVE = ["bad", "dull", "awful", "boring", "poor", "bland"]
FILLER = ["the", "film", "movie", "plot", "was", "is", "acting", "really", "quite", "very",
          "story", "and", "a", "cast", "ending", "music", "overall", "felt", "so", "this"]


@sizes("min_len", "max_len", train_size=0, test_size=0)
def negation_sentiment(train_size: int, test_size: int, *, seed: int, min_len: int = 12,
                       max_len: int = 12) -> TokenTask:
    """Sentences of filler words with one sentiment word and maybe a ``not``.

    The label is the word's polarity, flipped when ``not`` stands *immediately before* it.
    In 3/8 of sentences ``not`` negates, in 3/8 it stands elsewhere (e.g. just after the word:
    "good not", which does not negate) and in 1/4 there is no ``not``. A bag of words sees the
    same words in the first two cases, so no order-blind model can exceed about 62.5 %.
    Lengths are uniform in ``[min_len, max_len]``; shorter sentences are right-padded.
    """
    if not 4 <= min_len <= max_len:
        raise ValueError(f"need 4 <= min_len <= max_len, got {min_len}, {max_len}")
    vocab = Vocab([PAD, "not"] + POSITIVE + NEGATIVE + FILLER)
    g = torch.Generator().manual_seed(seed)
    n = train_size + test_size
    x = torch.zeros(n, max_len, dtype=torch.long)
    y = torch.zeros(n, dtype=torch.long)
    filler_ids = torch.tensor(vocab.encode(FILLER))
    pos_ids, neg_ids = torch.tensor(vocab.encode(POSITIVE)), torch.tensor(vocab.encode(NEGATIVE))
    not_id = vocab.stoi["not"]
    lengths = torch.randint(min_len, max_len + 1, (n,), generator=g)
    for i in range(n):
        L = int(lengths[i])
        row = filler_ids[torch.randint(len(filler_ids), (L,), generator=g)]
        positive = bool(torch.rand((), generator=g) < 0.5)
        word = (pos_ids if positive else neg_ids)[torch.randint(6, (), generator=g)]
        p = int(torch.randint(1, L - 1, (), generator=g))  # room for "not" on either side
        row[p] = word
        case = float(torch.rand((), generator=g))
        label = positive
        if case < 3 / 8:  # "not good": negated
            row[p - 1] = not_id
            label = not positive
        elif case < 6 / 8:  # "not" present but elsewhere: after the word, or far before it
            others = [j for j in range(L) if j not in (p, p - 1)]
            j = p + 1 if torch.rand((), generator=g) < 0.5 else others[
                int(torch.randint(len(others), (), generator=g))]
            row[j] = not_id
        x[i, :L] = row
        y[i] = int(label)
    return TokenTask(vocab, x[:train_size], y[:train_size], x[train_size:], y[train_size:],
                     ["negative", "positive"],
                     "sentiment with negation: 'not' flips the word right after it")


@sizes("seq_len", "test_len", train_size=0, test_size=0)
def order_task(train_size: int, test_size: int, *, seed: int, seq_len: int = 16,
               test_len: int | None = None) -> TokenTask:
    """Is ``A`` before ``B``? Each sentence holds one ``A`` and one ``B`` among fillers.

    Every bag of words is the same for both labels: a model that ignores order is at chance
    (50 %). Test sentences have length ``test_len`` (default ``seq_len``); set it larger to
    test generalisation to longer sequences.
    """
    test_len = test_len or seq_len
    if min(seq_len, test_len) < 2:
        raise ValueError(f"sequences need room for A and B: seq_len={seq_len}, test_len={test_len}")
    fillers = [f"w{i}" for i in range(12)]
    vocab = Vocab([PAD, "A", "B"] + fillers)
    g = torch.Generator().manual_seed(seed)

    def make(n: int, L: int) -> tuple[Tensor, Tensor]:
        x = torch.randint(3, len(vocab), (n, L), generator=g)
        scores = torch.rand(n, L, generator=g)
        pa, pb = scores.topk(2, dim=1).indices.unbind(1)  # two distinct random positions
        rows = torch.arange(n)
        x[rows, pa], x[rows, pb] = vocab.stoi["A"], vocab.stoi["B"]
        return x, (pa < pb).long()

    tx, ty = make(train_size, seq_len)
    vx, vy = make(test_size, test_len)
    return TokenTask(vocab, tx, ty, vx, vy, ["B first", "A first"],
                     "is A before B? (order is all that decides)")


def bag_of_words_ceiling(tokens: Tensor, labels: Tensor, ignore: set[int] | None = None,
                         pad_id: int = 0) -> float:
    """Best accuracy an order-blind classifier can reach on this data.

    Groups examples by their multiset of tokens and predicts each group's majority label.
    ``ignore`` names tokens drawn independently of the label (fillers): leaving them out of
    the multiset loses nothing an order-blind model could use, and keeps groups large enough
    for the majority vote to be an estimate rather than a memory of single examples.
    """
    if tokens.shape[0] != labels.shape[0]:
        raise ValueError(f"{tokens.shape[0]} sequences but {labels.shape[0]} labels")
    skip = set(ignore or ()) | {pad_id}
    groups: dict[tuple, Counter] = defaultdict(Counter)
    for row, label in zip(tokens.tolist(), labels.tolist()):
        groups[tuple(sorted(t for t in row if t not in skip))][label] += 1
    best = sum(max(c.values()) for c in groups.values())
    return best / max(1, len(labels))


@sizes("n", "length", "vocab_size")
def arithmetic_sequences(n: int, length: int, *, seed: int, vocab_size: int = 16) -> Tensor:
    """``(n, length)`` token sequences s, s+k, s+2k, … (mod ``vocab_size``) with random start s
    and step k ≥ 1: a language whose next token is fully determined by the first two.
    Token ids are 0 … vocab_size − 1 (no padding: for causal language models)."""
    if length < 3 or vocab_size < 3:
        raise ValueError(f"need length >= 3 and vocab_size >= 3, got {length}, {vocab_size}")
    g = torch.Generator().manual_seed(seed)
    start = torch.randint(0, vocab_size, (n, 1), generator=g)
    step = torch.randint(1, vocab_size, (n, 1), generator=g)
    return (start + step * torch.arange(length)) % vocab_size


@sizes("seq_len", train_size=0, test_size=0)
def signal_word_task(train_size: int, test_size: int, *, seed: int, seq_len: int = 12,
                     none_share: float = 0.0) -> tuple[TokenTask, Tensor]:
    """A task whose deciding token is known: fillers with exactly one sentiment word at a random
    position; the label is its polarity. Returns the task and, for the test set, the position
    of the deciding word ``(test_size,)`` (what an explanation should point at).

    With ``none_share`` > 0 that share of sentences holds no sentiment word (fillers only) and
    has a third label, "none" (class 2, position −1). With two labels a model can detect one
    polarity and call everything else the other, so the word of that default polarity decides
    nothing; with "none" a sentence without a sentiment word has its own answer, and removing
    the word of either polarity should turn the prediction into "none"."""
    if seq_len < 2:
        raise ValueError(f"seq_len must be >= 2, got {seq_len}")
    if not 0 <= none_share < 1:
        raise ValueError(f"none_share must lie in [0, 1), got {none_share}")
    vocab = Vocab([PAD] + POSITIVE + NEGATIVE + FILLER)
    g = torch.Generator().manual_seed(seed)
    n = train_size + test_size
    filler_ids = torch.tensor(vocab.encode(FILLER))
    x = filler_ids[torch.randint(len(filler_ids), (n, seq_len), generator=g)]
    y = torch.randint(0, 2, (n,), generator=g)
    word = torch.randint(0, len(POSITIVE), (n,), generator=g)
    ids = torch.where(y == 1, torch.tensor(vocab.encode(POSITIVE))[word],
                      torch.tensor(vocab.encode(NEGATIVE))[word])
    pos = torch.randint(0, seq_len, (n,), generator=g)
    none = (torch.rand(n, generator=g) < none_share) if none_share > 0 else torch.zeros(n, dtype=torch.bool)
    rows = (~none).nonzero().squeeze(1)
    x[rows, pos[rows]] = ids[rows]
    y, pos = y.masked_fill(none, 2), pos.masked_fill(none, -1)
    classes = ["negative", "positive"] + (["none"] if none_share > 0 else [])
    task = TokenTask(vocab, x[:train_size], y[:train_size], x[train_size:], y[train_size:],
                     classes, "one sentiment word among fillers decides"
                     + (" (or none: fillers only)" if none_share > 0 else ""))
    return task, pos[train_size:]


@sizes("seq_len", "num_classes", "copies", train_size=0, test_size=0, after=0, noise_tokens=0)
def needle_task(train_size: int, test_size: int, *, seed: int, seq_len: int = 512,
                after: int = 128, num_classes: int = 4, copies: int = 1,
                noise_tokens: int = 32) -> TokenTask:
    """Long-range retrieval: a "needle" token (``n0`` … ``n{num_classes-1}``), ``copies`` times
    at random positions in ``[after, seq_len)``, among random noise tokens; the label is which
    needle.
    A classifier reading a summary vector at position 0 must fetch a token at least ``after``
    positions away: models that see only the first ``after`` tokens (truncation), or only a
    short window around position 0, stay at chance, 1 / num_classes. Returns the task; the
    needle positions are ``(x >= 1) & (x <= num_classes)``."""
    if not 0 <= after < seq_len or num_classes < 2 or noise_tokens < 1 or \
            not 1 <= copies <= seq_len - after:
        raise ValueError(f"need 0 <= after < seq_len, num_classes >= 2, noise_tokens >= 1, copies >= 1; got "
                         f"after={after}, seq_len={seq_len}, num_classes={num_classes}, "
                         f"noise_tokens={noise_tokens}, copies={copies} (at most seq_len − after)")
    classes = [f"n{i}" for i in range(num_classes)]
    vocab = Vocab([PAD] + classes + [f"w{i}" for i in range(noise_tokens)])
    g = torch.Generator().manual_seed(seed)
    n = train_size + test_size
    x = torch.randint(1 + num_classes, 1 + num_classes + noise_tokens, (n, seq_len), generator=g)
    y = torch.randint(0, num_classes, (n,), generator=g)
    # `copies` distinct positions per row, all at or past `after`
    pos = after + torch.rand(n, seq_len - after, generator=g).argsort(1)[:, :copies]
    x[torch.arange(n)[:, None], pos] = (1 + y)[:, None]
    return TokenTask(vocab, x[:train_size], y[:train_size], x[train_size:], y[train_size:],
                     classes, f"which needle lies in positions {after}–{seq_len - 1} of {seq_len}")


@sizes("num_values", train_size=0, test_size=0, distractors=0)
def first_token_recall(train_size: int, test_size: int, *, seed: int, distractors: int,
                       num_values: int = 10) -> TokenTask:
    """Recall the first token after ``distractors`` more tokens drawn from the same
    ``num_values`` symbols: ``(N, 1 + distractors)`` ids, label = the first symbol's index.
    Chance is 1 / num_values. The model must carry the first token across the whole sequence
    (a recurrence) or look back to position 0 (attention with positions)."""
    if distractors < 0 or num_values < 2:
        raise ValueError(f"need distractors >= 0 and num_values >= 2, got {distractors}, "
                         f"{num_values}")
    vocab = Vocab([PAD] + [f"v{i}" for i in range(num_values)])
    g = torch.Generator().manual_seed(seed)
    n = train_size + test_size
    x = torch.randint(1, num_values + 1, (n, 1 + distractors), generator=g)
    y = x[:, 0] - 1
    return TokenTask(vocab, x[:train_size], y[:train_size], x[train_size:], y[train_size:],
                     [f"v{i}" for i in range(num_values)],
                     f"recall the first of {1 + distractors} tokens")


@sizes("hops", "num_symbols", "num_pairs", train_size=0, test_size=0)
def pointer_chain_task(train_size: int, test_size: int, *, seed: int, hops: int,
                       num_symbols: int = 16, num_pairs: int = 8) -> TokenTask:
    """Multi-hop variable binding ("a=b; b=c; c=7; a?") with one token per assignment.

    Each row holds ``num_pairs`` assignment tokens ``a=b`` (in random order) and ends with a
    query token ``a?``. Following ``hops`` assignments from the query's symbol gives the label;
    the other assignments form distractor chains over the remaining symbols. A single attention
    layer can follow one assignment, so the depth needed grows with ``hops``; the order of the
    assignment tokens carries no information (no positions needed).
    Token ids: 0 pad, 1 + a·S + b for ``a=b``, 1 + S² + a for ``a?`` (S = ``num_symbols``).
    """
    if hops < 1 or num_pairs < hops or num_symbols < num_pairs + 1:
        raise ValueError(f"need 1 <= hops <= num_pairs < num_symbols; got hops={hops}, "
                         f"num_pairs={num_pairs}, num_symbols={num_symbols}")
    S = num_symbols
    itos = [PAD] + [f"{a}={b}" for a in range(S) for b in range(S)] + [f"{a}?" for a in range(S)]
    vocab = Vocab(itos)
    g = torch.Generator().manual_seed(seed)
    n = train_size + test_size
    x = torch.zeros(n, num_pairs + 1, dtype=torch.long)
    y = torch.zeros(n, dtype=torch.long)
    for r in range(n):
        sym = torch.randperm(S, generator=g).tolist()
        pairs = []
        chain = sym[:hops + 1]                          # query → … → answer
        pairs += [(chain[i], chain[i + 1]) for i in range(hops)]
        # distractors: the other symbols, each assigned a random symbol (so they form chains too)
        rest = sym[hops + 1:hops + 1 + num_pairs - hops]
        rhs = torch.randint(S, (len(rest),), generator=g).tolist()
        pairs += list(zip(rest, rhs))
        order = torch.randperm(num_pairs, generator=g).tolist()
        x[r, :num_pairs] = torch.tensor([1 + pairs[i][0] * S + pairs[i][1] for i in order])
        x[r, num_pairs] = 1 + S * S + chain[0]
        y[r] = chain[-1]
    return TokenTask(vocab, x[:train_size], y[:train_size], x[train_size:], y[train_size:],
                     [str(s) for s in range(S)], f"follow {hops} assignment(s) from the query")
