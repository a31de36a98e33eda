"""Tokenizers for the course: a word-level vocabulary with OOV statistics, subword tokenizers
trained with Hugging Face ``tokenizers``, and unseen-word test sets made by perturbing words."""
from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable

import torch
from torch import Tensor

from .validation import sizes

__all__ = ["words", "WordVocab", "train_subword_tokenizer", "perturb_words", "encode_batch",
           "SUBWORD_KINDS"]

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
SUBWORD_KINDS = ("char", "bpe", "wordpiece", "unigram", "byte-bpe")


def words(text: str) -> list[str]:
    """Lower-cased word tokens: runs of letters and digits (with an apostrophe suffix)."""
    return _WORD.findall(text.lower())


@dataclass
class WordVocab:
    """A word-level vocabulary: id 0 ``<pad>``, id 1 ``<unk>``, then words by frequency."""

    itos: list[str]

    def __post_init__(self) -> None:
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    @classmethod
    @sizes("max_size", min_count=0)
    def build(cls, texts: Iterable[str], max_size: int | None = None, min_count: int = 1
              ) -> "WordVocab":
        return cls.from_counts(Counter(w for t in texts for w in words(t)), max_size, min_count)

    @classmethod
    @sizes("max_size", min_count=0)
    def from_counts(cls, counts: Counter, max_size: int | None = None, min_count: int = 1
                    ) -> "WordVocab":
        """The ``max_size`` most frequent words of ``counts`` (ties: first seen first)."""
        ranked = [w for w, c in counts.most_common() if c >= min_count]
        if max_size is not None:
            ranked = ranked[:max(0, max_size - 2)]
        return cls(["<pad>", "<unk>"] + ranked)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        return [self.stoi.get(w, 1) for w in words(text)]

    def oov_rate(self, texts: Iterable[str]) -> float:
        """Share of word tokens in ``texts`` that the vocabulary does not hold."""
        total = unknown = 0
        for t in texts:
            for w in words(t):
                total += 1
                unknown += w not in self.stoi
        if total == 0:
            raise ValueError("no words in the texts")
        return unknown / total


@sizes("vocab_size")
def train_subword_tokenizer(kind: str, texts: Iterable[str], vocab_size: int):
    """Train a ``tokenizers.Tokenizer`` of one ``kind`` (see ``SUBWORD_KINDS``) on ``texts``.

    "char" is BPE with no merges (its vocabulary is the alphabet). All but "byte-bpe" split on
    whitespace and punctuation first and lower-case; "byte-bpe" (GPT-2 style) works on bytes, so
    it never needs an unknown token.
    """
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    if kind not in SUBWORD_KINDS:
        raise ValueError(f"kind must be one of {SUBWORD_KINDS}, got {kind!r}")
    texts = list(texts)
    if kind == "byte-bpe":
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                      special_tokens=["<pad>"])
    else:
        special = ["<pad>", "<unk>"]
        if kind in ("bpe", "char"):
            tok = Tokenizer(models.BPE(unk_token="<unk>"))
            size = 1 if kind == "char" else vocab_size     # char: stop before any merge
            trainer = trainers.BpeTrainer(vocab_size=size, show_progress=False,
                                          special_tokens=special)
        elif kind == "wordpiece":
            tok = Tokenizer(models.WordPiece(unk_token="<unk>"))
            trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, show_progress=False,
                                                special_tokens=special)
        else:
            tok = Tokenizer(models.Unigram())
            trainer = trainers.UnigramTrainer(vocab_size=vocab_size, show_progress=False,
                                              special_tokens=special, unk_token="<unk>")
        tok.normalizer = normalizers.Sequence([normalizers.NFD(), normalizers.Lowercase()])
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.train_from_iterator(texts, trainer)
    return tok


def perturb_words(text: str, known: set[str], *, rate: float, rng: random.Random) -> str:
    """Rewrite words of ``text`` (lower-cased) so that many are unseen: with probability ``rate``
    a word of 4+ letters gets a typo (two inner letters swapped, a letter dropped or doubled) or
    a suffix (-s, -ing, -ed, -ly, -ness); a variant is kept only if it is not in ``known``."""
    out = []
    for w in words(text):
        if len(w) >= 4 and w.isalpha() and rng.random() < rate:
            variants = []
            i = rng.randrange(1, len(w) - 2)
            variants.append(w[:i] + w[i + 1] + w[i] + w[i + 2:])
            variants.append(w[:i] + w[i + 1:])
            variants.append(w[:i] + w[i] + w[i:])
            variants += [w + s for s in ("s", "ing", "ed", "ly", "ness")]
            rng.shuffle(variants)
            w = next((v for v in variants if v not in known and v != w), w)
        out.append(w)
    return " ".join(out)


@sizes("max_len")
def encode_batch(ids: list[list[int]], max_len: int, pad_id: int = 0) -> Tensor:
    """Right-pad (and cut) lists of token ids into a ``(N, max_len)`` long tensor."""
    x = torch.full((len(ids), max_len), pad_id, dtype=torch.long)
    for i, row in enumerate(ids):
        row = row[:max_len]
        if row:
            x[i, :len(row)] = torch.tensor(row)
    return x
