"""Sequence-to-sequence: number words translated English → French, an encoder-decoder
transformer and an LSTM with Bahdanau attention, greedy decoding and exact match.

Token ids: 0 ``<pad>``, 1 ``<bos>``, 2 ``<eos>``. Sources ``(B, S)`` and targets ``(B, T)`` are
right-padded; a target row is ``<bos> w1 … wk <eos> <pad> …``.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attention import MultiHeadAttention, causal_mask
from .models import FeedForward, TransformerEncoder, masked_mean, set_forget_bias
from .positional import SinusoidalPositionalEncoding
from .tasks import PAD, Vocab
from .tokenization import encode_batch
from .training import smoke_rows
from .validation import sizes

__all__ = ["BOS", "EOS", "number_words", "TranslationData", "number_translation",
           "TransformerSeq2Seq", "LSTMSeq2Seq", "seq2seq_loss", "greedy_decode", "exact_match"]

BOS, EOS = "<bos>", "<eos>"


def number_words(number: int, lang: str) -> list[str]:
    """``num2words`` spelled out and split into word tokens, hyphens and commas kept as tokens:
    ``number_words(91, "fr") == ["quatre", "-", "vingt", "-", "onze"]``."""
    from num2words import num2words

    text = num2words(number, lang=lang)
    return text.replace("-", " - ").replace(",", " , ").split()


@dataclass
class TranslationData:
    """Parallel data as padded id tensors, with the numbers each row spells.

    ``val_src`` ``(V, S)``, ``val_tgt`` ``(V, T)`` and ``val_numbers`` are a validation split
    (None until :meth:`with_validation` carves one out of the training rows).
    """

    src_vocab: Vocab
    tgt_vocab: Vocab
    train_src: Tensor  # (N, S)
    train_tgt: Tensor  # (N, T)
    test_src: Tensor
    test_tgt: Tensor
    train_numbers: list[int]
    test_numbers: list[int]
    val_src: Tensor | None = None
    val_tgt: Tensor | None = None
    val_numbers: list[int] | None = None

    def with_validation(self, size: int) -> "TranslationData":
        """The same data with its first ``size`` training numbers moved to the validation split.

        Early stopping reads the validation rows, and the test set is scored once, after
        training. The training numbers were drawn in random order, so the first ones are a
        random sample of them; validation numbers stay disjoint from the test numbers (and, now,
        from the training numbers). The test set is unchanged.
        """
        n = self.train_src.shape[0]
        if isinstance(size, bool) or not isinstance(size, int) or not 0 < size < n:
            raise ValueError(f"size must be an integer in 1..{n - 1} (the data has {n} training "
                             f"numbers, and some must stay for training), got {size!r}")
        if self.val_src is not None:
            raise ValueError("this data already has a validation split")
        return replace(self, train_src=self.train_src[size:], train_tgt=self.train_tgt[size:],
                       train_numbers=self.train_numbers[size:], val_src=self.train_src[:size],
                       val_tgt=self.train_tgt[:size], val_numbers=self.train_numbers[:size])


def _pad(rows: list[list[int]]) -> Tensor:
    return encode_batch(rows, max(map(len, rows)))


@sizes("max_number", train_size=0, test_size=0)
def number_translation(train_size: int, test_size: int, *, seed: int, max_number: int = 9999,
                       src_lang: str = "en", tgt_lang: str = "fr") -> TranslationData:
    """Numbers 0 … ``max_number`` spelled in ``src_lang`` and ``tgt_lang`` by ``num2words``
    (generated offline), split into disjoint train and test numbers by ``seed``: a test number
    was never seen in training, only its parts. Vocabularies come from all numbers in range."""
    if train_size + test_size > max_number + 1:
        raise ValueError(f"{train_size} + {test_size} numbers requested, but only "
                         f"{max_number + 1} exist in 0 … {max_number}")
    numbers = random.Random(seed).sample(range(max_number + 1), train_size + test_size)
    src = {x: number_words(x, src_lang) for x in numbers}
    tgt = {x: number_words(x, tgt_lang) for x in numbers}
    src_vocab = Vocab([PAD, BOS, EOS] + sorted({w for ws in src.values() for w in ws}))
    tgt_vocab = Vocab([PAD, BOS, EOS] + sorted({w for ws in tgt.values() for w in ws}))
    enc_src = lambda xs: _pad([src_vocab.encode(src[x]) + [2] for x in xs])
    enc_tgt = lambda xs: _pad([[1] + tgt_vocab.encode(tgt[x]) + [2] for x in xs])
    tr, te = numbers[:train_size], numbers[train_size:]
    return TranslationData(src_vocab, tgt_vocab, enc_src(tr), enc_tgt(tr), enc_src(te),
                           enc_tgt(te), tr, te)


class _DecoderBlock(nn.Module):
    """Pre-LN decoder block: causal self-attention, cross-attention to the source, FFN."""

    def __init__(self, d_model: int, num_heads: int, d_ff: int):
        super().__init__()
        self.self_attn = MultiHeadAttention(d_model, num_heads)
        self.cross_attn = MultiHeadAttention(d_model, num_heads)
        self.ff = FeedForward(d_model, d_ff)
        self.norm1, self.norm2, self.norm3 = (nn.LayerNorm(d_model) for _ in range(3))

    def forward(self, y: Tensor, memory: Tensor, self_mask: Tensor, memory_mask: Tensor) -> Tensor:
        h = self.norm1(y)
        y = y + self.self_attn(h, h, h, mask=self_mask, need_weights=False)
        y = y + self.cross_attn(self.norm2(y), memory, memory, mask=memory_mask)
        return y + self.ff(self.norm3(y))


class TransformerSeq2Seq(nn.Module):
    """Encoder-decoder transformer (Vaswani et al. 2017), pre-LN, sinusoidal positions.

    ``forward(src (B, S), tgt_in (B, T)) -> logits (B, T, tgt_vocab)``; ``tgt_in`` starts with
    ``<bos>``. After a forward pass, ``cross_attention`` holds each decoder layer's
    cross-attention weights ``(B, H, T, S)``.

    As in Vaswani et al., token embeddings are initialised with standard deviation
    ``d_model ** -0.5`` and multiplied by ``sqrt(d_model)``, so a scaled token vector starts with
    an RMS of about 1, comparable to the sinusoidal positions' (0.71). (``nn.Embedding``'s own
    N(0, 1) times sqrt(d_model) would make tokens about 11x the positions at d_model = 64: word
    order nearly invisible.) The padding row stays zero.
    """

    @sizes("src_vocab", "tgt_vocab", "d_model", "num_heads", "num_layers", "d_ff", "max_len")
    def __init__(self, src_vocab: int, tgt_vocab: int, d_model: int = 64, num_heads: int = 4,
                 num_layers: int = 2, d_ff: int | None = None, max_len: int = 64):
        super().__init__()
        d_ff = d_ff or 4 * d_model
        self.src_embed = nn.Embedding(src_vocab, d_model, padding_idx=0)
        self.tgt_embed = nn.Embedding(tgt_vocab, d_model, padding_idx=0)
        with torch.no_grad():              # N(0, 1) -> N(0, 1 / d_model); the pad row stays 0
            for embed in (self.src_embed, self.tgt_embed):
                embed.weight.mul_(d_model ** -0.5)
        self.pos = SinusoidalPositionalEncoding(d_model, max_len)
        self.encoder = TransformerEncoder(num_layers, d_model, num_heads, d_ff)
        self.decoder = nn.ModuleList(_DecoderBlock(d_model, num_heads, d_ff)
                                     for _ in range(num_layers))
        self.norm = nn.LayerNorm(d_model)
        self.out = nn.Linear(d_model, tgt_vocab)
        self.scale = math.sqrt(d_model)

    @property
    def cross_attention(self) -> list[Tensor | None]:
        return [block.cross_attn.attention_weights for block in self.decoder]

    def encode(self, src: Tensor) -> tuple[Tensor, Tensor]:
        keep = (src != 0)[:, None, :]                                    # (B, 1, S)
        memory = self.encoder(self.pos(self.src_embed(src) * self.scale), mask=keep,
                              need_weights=False)
        return memory, keep

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        memory, keep = self.encode(src)
        T = tgt_in.shape[1]
        y = self.pos(self.tgt_embed(tgt_in) * self.scale)
        self_mask = causal_mask(T, device=src.device)
        for block in self.decoder:
            y = block(y, memory, self_mask, keep)
        return self.out(self.norm(y))


class LSTMSeq2Seq(nn.Module):
    """LSTM encoder-decoder with additive attention (Bahdanau, Cho & Bengio 2015).

    The encoder is a bidirectional LSTM; at each target step the decoder scores every source
    state, e_j = vᵀ tanh(W_s s + W_h h_j), and feeds the weighted context with the previous
    word into an LSTMCell. ``forward(src (B, S), tgt_in (B, T)) -> logits (B, T, tgt_vocab)``
    (teacher forcing); ``attention`` then holds the weights ``(B, T, S)``. ``forget_bias``: None
    keeps PyTorch's initialisation; a number sets the forget-gate bias of the encoder and the
    decoder cell to it (:func:`course_utils.models.set_forget_bias`).
    """

    @sizes("src_vocab", "tgt_vocab", "d_model", "hidden")
    def __init__(self, src_vocab: int, tgt_vocab: int, d_model: int = 64, hidden: int = 64,
                 forget_bias: float | None = None):
        super().__init__()
        self.src_embed = nn.Embedding(src_vocab, d_model, padding_idx=0)
        self.tgt_embed = nn.Embedding(tgt_vocab, d_model, padding_idx=0)
        self.encoder = nn.LSTM(d_model, hidden, batch_first=True, bidirectional=True)
        self.init = nn.Linear(2 * hidden, 2 * hidden)                    # -> (h0, c0)
        self.w_h = nn.Linear(2 * hidden, hidden, bias=False)
        self.w_s = nn.Linear(hidden, hidden)
        self.v = nn.Linear(hidden, 1, bias=False)
        self.cell = nn.LSTMCell(d_model + 2 * hidden, hidden)
        self.out = nn.Linear(hidden + 2 * hidden, tgt_vocab)
        if forget_bias is not None:
            set_forget_bias(self.encoder, forget_bias)
            set_forget_bias(self.cell, forget_bias)
        self.hidden = hidden
        self.attention: Tensor | None = None

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        keep = src != 0                                                  # (B, S)
        enc, _ = self.encoder(self.src_embed(src))                       # (B, S, 2h)
        enc = enc * keep[..., None]
        mean = masked_mean(enc, keep)
        h, c = torch.tanh(self.init(mean)).chunk(2, dim=-1)
        keys = self.w_h(enc)                                             # (B, S, h)
        emb = self.tgt_embed(tgt_in)                                     # (B, T, d)
        logits, weights = [], []
        for t in range(tgt_in.shape[1]):                                 # one step per word
            e = self.v(torch.tanh(keys + self.w_s(h)[:, None, :])).squeeze(-1)   # (B, S)
            a = torch.softmax(e.masked_fill(~keep, float("-inf")), dim=-1)
            context = (a[..., None] * enc).sum(1)                        # (B, 2h)
            h, c = self.cell(torch.cat([emb[:, t], context], -1), (h, c))
            logits.append(self.out(torch.cat([h, context], -1)))
            weights.append(a)
        self.attention = torch.stack(weights, 1).detach()
        return torch.stack(logits, 1)


def seq2seq_loss(model: nn.Module, src: Tensor, tgt: Tensor) -> Tensor:
    """Teacher-forced cross-entropy: predict ``tgt[:, 1:]`` from ``tgt[:, :-1]``, pads ignored."""
    logits = model(src, tgt[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt[:, 1:].reshape(-1),
                           ignore_index=0)


@torch.no_grad()
@sizes("max_len")
def greedy_decode(model: nn.Module, src: Tensor, max_len: int) -> Tensor:
    """Translate ``src (B, S)`` one token at a time, always taking the most likely next word;
    returns ``(B, ≤ max_len + 1)`` ids starting with ``<bos>``, pads after each ``<eos>``."""
    was_training = model.training
    model.eval()
    out = torch.ones(src.shape[0], 1, dtype=torch.long, device=src.device)
    done = torch.zeros(src.shape[0], dtype=torch.bool, device=src.device)
    for _ in range(max_len):
        nxt = model(src, out)[:, -1].argmax(-1)
        nxt = nxt.masked_fill(done, 0)
        out = torch.cat([out, nxt[:, None]], 1)
        done |= nxt == 2
        if bool(done.all()):
            break
    model.train(was_training)
    return out


@sizes("batch_size")
def exact_match(model: nn.Module, src: Tensor, tgt: Tensor, batch_size: int = 512) -> float:
    """Share of sources ``src (N, S)`` whose greedy translation equals the reference
    ``tgt (N, T)`` word for word. In a smoke run only the first ``SMOKE_EVAL_ROWS`` are decoded."""
    hits = 0
    device = next(model.parameters()).device
    src, tgt = smoke_rows(src, tgt)
    for i in range(0, src.shape[0], batch_size):
        s, t = src[i:i + batch_size].to(device), tgt[i:i + batch_size].to(device)
        pred = greedy_decode(model, s, t.shape[1] - 1)
        width = max(pred.shape[1], t.shape[1])
        pred = F.pad(pred, (0, width - pred.shape[1]))
        ref = F.pad(t, (0, width - t.shape[1]))
        hits += int((pred == ref).all(1).sum())
    return hits / max(1, src.shape[0])
