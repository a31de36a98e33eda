"""Pretraining objectives on real text: a character-level corpus, BERT's masking (15 %, then
80/10/10) and a masked language model.

Token ids are ``(B, T)`` long tensors. Targets use ``IGNORE`` (-100, PyTorch's
``cross_entropy`` default ``ignore_index``) where no prediction is scored.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .models import TransformerEncoder

__all__ = ["IGNORE", "CharCorpus", "char_corpus", "random_windows", "mlm_mask", "MaskedLM"]

IGNORE = -100


@dataclass
class CharCorpus:
    """Characters ↔ ids (0 ``<pad>``, 1 ``<unk>``, 2 ``<mask>``, then characters by frequency),
    with the training and validation text encoded as 1-D long tensors."""

    itos: list[str]
    train: Tensor
    val: Tensor

    def __post_init__(self) -> None:
        self.stoi = {c: i for i, c in enumerate(self.itos)}

    @property
    def mask_id(self) -> int:
        return 2

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> Tensor:
        return torch.tensor([self.stoi.get(c, 1) for c in text], dtype=torch.long)

    def decode(self, ids) -> str:
        ids = ids.tolist() if isinstance(ids, Tensor) else ids
        return "".join(self.itos[i] if i > 2 else "" if i == 0 else "?" for i in ids)


def char_corpus(texts: list[str], *, val_fraction: float = 0.1, min_count: int = 20
                ) -> CharCorpus:
    """Lower-cased characters of ``texts``; the last ``val_fraction`` of the *documents* are
    held out (so validation text is unseen text, not interleaved lines). Characters seen fewer
    than ``min_count`` times in training become ``<unk>``."""
    if not 0 < val_fraction < 1 or len(texts) < 2:
        raise ValueError(f"need >= 2 texts and 0 < val_fraction < 1, got {len(texts)} texts, "
                         f"val_fraction={val_fraction}")
    cut = max(1, min(len(texts) - 1, round(len(texts) * (1 - val_fraction))))
    train_text = "\n".join(t.lower() for t in texts[:cut])
    val_text = "\n".join(t.lower() for t in texts[cut:])
    counts = Counter(train_text)
    chars = [c for c, n in counts.most_common() if n >= min_count]
    corpus = CharCorpus(["<pad>", "<unk>", "<mask>"] + chars, torch.empty(0), torch.empty(0))
    corpus.train, corpus.val = corpus.encode(train_text), corpus.encode(val_text)
    return corpus


def random_windows(data: Tensor, batch_size: int, length: int,
                   generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """``batch_size`` random windows of a 1-D id tensor: inputs ``(B, length)`` and the next
    tokens ``(B, length)`` (the inputs shifted by one), for causal language modelling."""
    if data.dim() != 1 or data.numel() <= length + 1:
        raise ValueError(f"need a 1-D tensor longer than length + 1 = {length + 1}, got shape "
                         f"{tuple(data.shape)}")
    start = torch.randint(0, data.numel() - length - 1, (batch_size,), generator=generator)
    idx = start[:, None] + torch.arange(length + 1)
    window = data[idx]
    return window[:, :-1], window[:, 1:]


def mlm_mask(tokens: Tensor, *, mask_id: int, vocab_size: int, rate: float = 0.15,
             first_regular_id: int = 3, generator: torch.Generator | None = None
             ) -> tuple[Tensor, Tensor]:
    """BERT's masking (Devlin et al. 2019): choose ``rate`` of the positions; of those, 80 %
    become ``mask_id``, 10 % a random regular token (ids ≥ ``first_regular_id``) and 10 % stay
    as they are. Returns ``(inputs, targets)``: targets hold the original id at chosen positions
    and ``IGNORE`` elsewhere. Padding (id 0) is never chosen."""
    if not 0 < rate < 1:
        raise ValueError(f"rate must lie in (0, 1), got {rate}")
    if not first_regular_id < vocab_size:
        raise ValueError(f"no regular tokens: first_regular_id={first_regular_id}, "
                         f"vocab_size={vocab_size}")
    u = torch.rand(tokens.shape, generator=generator)
    chosen = (u < rate) & (tokens != 0)
    what = torch.rand(tokens.shape, generator=generator)
    random_ids = torch.randint(first_regular_id, vocab_size, tokens.shape, generator=generator)
    inputs = tokens.clone()
    inputs[chosen & (what < 0.8)] = mask_id
    swap = chosen & (what >= 0.8) & (what < 0.9)
    inputs[swap] = random_ids[swap]
    targets = torch.where(chosen, tokens, torch.full_like(tokens, IGNORE))
    return inputs, targets


class MaskedLM(nn.Module):
    """A bidirectional encoder (BERT-style, pre-LN, learned positions) with a token head:
    ``forward(tokens (B, T)) -> logits (B, T, vocab)``; every position sees every other."""

    def __init__(self, vocab_size: int, d_model: int = 64, num_heads: int = 4,
                 num_layers: int = 2, max_len: int = 256):
        super().__init__()
        self.vocab_size, self.max_len = vocab_size, max_len
        self.embed = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Parameter(torch.randn(1, max_len, d_model) * 0.02)
        self.encoder = TransformerEncoder(num_layers, d_model, num_heads)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, tokens: Tensor) -> Tensor:
        if tokens.dim() != 2 or tokens.shape[1] > self.max_len:
            raise ValueError(f"tokens must be (B, T <= {self.max_len}), got "
                             f"{tuple(tokens.shape)}")
        h = self.embed(tokens) + self.pos[:, :tokens.shape[1]]
        return self.head(self.encoder(h, need_weights=False))
