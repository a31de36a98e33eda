"""Transformer blocks, encoders and classifiers, and the RNN and bag-of-words baselines.

Token ids are ``(B, T)`` long tensors with ``pad_id`` (default 0) at padded positions.
"""
from __future__ import annotations

from collections import OrderedDict
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attention import MultiHeadAttention, padding_mask
from .positional import (LearnedPositionalEmbedding, RotaryEmbedding,
                         SinusoidalPositionalEncoding)
from .validation import sizes

__all__ = ["masked_mean", "FeedForward", "TransformerBlock", "TransformerEncoder", "TransformerClassifier",
           "RNNClassifier", "set_forget_bias", "BagOfWordsClassifier", "LoopLSTM", "CausalLM", "count_parameters",
           "parameter_breakdown", "to_torch_encoder_layer", "POSITIONAL_KINDS", "key_presence",
           "RMSNorm", "SwiGLU", "GroupedQueryAttention", "LayerCache", "LlamaBlock", "LlamaDecoder",
           "interleave_rotary_rows"]

POSITIONAL_KINDS = ("sinusoidal", "learned", "rotary", "none")


def masked_mean(h: Tensor, keep: Tensor) -> Tensor:
    """Mean of ``h (B, T, d)`` over the positions where ``keep (B, T)`` is true: ``(B, d)``.
    A row with nothing kept gives zeros (never a division by zero)."""
    if keep.shape != h.shape[:2]:
        raise ValueError(f"keep {tuple(keep.shape)} does not match h {tuple(h.shape)}")
    w = keep.unsqueeze(-1).to(h.dtype)
    return (h * w).sum(1) / w.sum(1).clamp_min(1.0)


def _check_presence(presence: Tensor | None, tokens: Tensor) -> Tensor | None:
    """``presence`` as the classifiers take it: ``None``, or a float ``(B, T)`` like ``tokens``."""
    if presence is not None and (not isinstance(presence, Tensor) or not presence.is_floating_point()
                                 or presence.shape != tokens.shape):
        raise ValueError(f"presence must be a float tensor shaped like tokens {tuple(tokens.shape)}, got "
                         f"{type(presence).__name__} {tuple(getattr(presence, 'shape', ()))} "
                         f"{getattr(presence, 'dtype', '')}")
    return presence


@contextmanager
def key_presence(blocks, presence: Tensor | None):
    """While open, every attention layer of ``blocks`` weighs key ``s`` by ``presence[:, s]``
    (``(B, S)`` in [0, 1]): softmax(scores + log g), i.e. each row's weights times g, renormalised.
    g = 1 leaves a key as it is; g = 0 removes it exactly as the padding mask does. ``None``
    changes nothing. (Built on ``MultiHeadAttention.weights_override``; an override already set
    is applied first and restored on exit.) Used by integrated gradients over token presence
    (:func:`course_utils.explainers.integrated_gradients`)."""
    if presence is None:
        yield
        return
    attns = [block.attn for block in blocks]
    before = [a.weights_override for a in attns]
    g = presence[:, None, None, :]                                   # (B, 1, 1, S)

    def gated(previous):
        def override(w):                                              # (B, H, T, S)
            w = (previous(w) if previous is not None else w) * g.to(w.dtype)
            total = w.sum(-1, keepdim=True)
            if bool((total == 0).any()):
                raise ValueError("presence removes every key some query could attend to; keep at "
                                 "least one token present (e.g. [CLS])")
            return w / total
        return override

    for a, previous in zip(attns, before):
        a.weights_override = gated(previous)
    try:
        yield
    finally:
        for a, previous in zip(attns, before):
            a.weights_override = previous


class FeedForward(nn.Module):
    """Position-wise feed-forward: Linear(d_model, d_ff) → activation → Linear(d_ff, d_model).

    ``(B, T, d_model) -> (B, T, d_model)``; the same MLP applied at every position.
    """

    @sizes("d_model", "d_ff")
    def __init__(self, d_model: int, d_ff: int, dropout: float = 0.0, activation: str = "gelu"):
        super().__init__()
        if activation not in ("gelu", "relu"):
            raise ValueError(f"activation must be 'gelu' or 'relu', got {activation!r}")
        self.linear1, self.linear2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        self.activation = activation
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        act = F.gelu if self.activation == "gelu" else F.relu
        return self.linear2(self.dropout(act(self.linear1(x))))


class TransformerBlock(nn.Module):
    """One encoder block: self-attention and feed-forward, each with a residual and LayerNorm.

    ``norm_first=True`` (pre-LN, GPT-2 and most modern models): x + f(LN(x)).
    ``norm_first=False`` (post-LN, the 2017 paper): LN(x + f(x)).
    ``forward(x (B, T, d_model), mask=None) -> (B, T, d_model)``; the mask is as in
    :class:`MultiHeadAttention`. ``residual=False`` drops both residual connections
    (to show what they do).
    """

    @sizes("d_model", "num_heads", "d_ff")
    def __init__(self, d_model: int, num_heads: int, d_ff: int | None = None,
                 dropout: float = 0.0, norm_first: bool = True, activation: str = "gelu",
                 residual: bool = True):
        super().__init__()
        d_ff = d_ff or 4 * d_model
        self.attn = MultiHeadAttention(d_model, num_heads, dropout=dropout)
        self.ff = FeedForward(d_model, d_ff, dropout=dropout, activation=activation)
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.drop1, self.drop2 = nn.Dropout(dropout), nn.Dropout(dropout)
        self.norm_first, self.residual = norm_first, residual

    @property
    def attention_weights(self) -> Tensor | None:
        return self.attn.attention_weights

    def _sa(self, x: Tensor, mask: Tensor | None, need_weights: bool) -> Tensor:
        return self.drop1(self.attn(x, x, x, mask=mask, need_weights=need_weights))

    def forward(self, x: Tensor, mask: Tensor | None = None, need_weights: bool = True) -> Tensor:
        r = 1.0 if self.residual else 0.0
        if self.norm_first:
            x = r * x + self._sa(self.norm1(x), mask, need_weights)
            return r * x + self.drop2(self.ff(self.norm2(x)))
        x = self.norm1(r * x + self._sa(x, mask, need_weights))
        return self.norm2(r * x + self.drop2(self.ff(x)))


class TransformerEncoder(nn.Module):
    """A stack of :class:`TransformerBlock`; pre-LN stacks end with a final LayerNorm.

    ``forward(x (B, T, d_model), mask=None) -> (B, T, d_model)``.
    ``attention_weights`` is the list of each layer's last weights ``(B, H, T, S)``.
    """

    @sizes("d_model", "num_heads", "d_ff", num_layers=0)
    def __init__(self, num_layers: int, d_model: int, num_heads: int, d_ff: int | None = None,
                 dropout: float = 0.0, norm_first: bool = True, activation: str = "gelu",
                 residual: bool = True):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.layers = nn.ModuleList(
            TransformerBlock(d_model, num_heads, d_ff, dropout, norm_first, activation, residual)
            for _ in range(num_layers))
        self.final_norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()

    @property
    def attention_weights(self) -> list[Tensor | None]:
        return [layer.attention_weights for layer in self.layers]

    def forward(self, x: Tensor, mask: Tensor | None = None, need_weights: bool = True) -> Tensor:
        for layer in self.layers:
            x = layer(x, mask, need_weights)
        return self.final_norm(x)


def _check_tokens(tokens: Tensor, vocab_size: int) -> None:
    if tokens.dim() != 2 or tokens.dtype not in (torch.long, torch.int, torch.int32):
        raise ValueError(f"token ids must be a (B, T) integer tensor, got shape "
                         f"{tuple(tokens.shape)} dtype {tokens.dtype}")
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= vocab_size):
        raise ValueError(f"token ids must lie in [0, {vocab_size}); got min {int(tokens.min())}"
                         f", max {int(tokens.max())}")


class TransformerClassifier(nn.Module):
    """Embedding → positions → :class:`TransformerEncoder` → mean over real tokens → Linear.

    ``forward(tokens (B, T)) -> logits (B, num_classes)``. Padding (``pad_id``) is masked out
    of attention and of the mean. ``forward(tokens, presence=g)`` (optional, float ``(B, T)`` in
    [0, 1]) weighs each token's key in attention by g (see :func:`key_presence`) and its share of
    the mean; g = 0 removes a token exactly as padding it does (not with ``pooling="last"``).
    ``positional`` is one of ``POSITIONAL_KINDS``; with "none"
    the model is invariant to the order of its tokens. ``pooling="last"`` classifies the output
    at the last real token instead of the mean; ``residual=False`` removes the residual
    connections of every block. ``store_attention=False`` uses PyTorch's
    fused attention and keeps no weights (faster; ``attention_weights`` are then None).
    """

    @sizes("vocab_size", "num_classes", "d_model", "num_heads", "d_ff", "max_len", num_layers=0)
    def __init__(self, vocab_size: int, num_classes: int, d_model: int = 64,
                 num_heads: int = 4, num_layers: int = 2, d_ff: int | None = None,
                 max_len: int = 512, positional: str = "sinusoidal", dropout: float = 0.0,
                 norm_first: bool = True, pad_id: int = 0, pooling: str = "mean",
                 store_attention: bool = True, residual: bool = True):
        super().__init__()
        if positional not in POSITIONAL_KINDS:
            raise ValueError(f"positional must be one of {POSITIONAL_KINDS}, got {positional!r}")
        if pooling not in ("mean", "cls", "last"):
            raise ValueError(f"pooling must be 'mean', 'cls' or 'last', got {pooling!r}")
        self.vocab_size, self.pad_id, self.positional = vocab_size, pad_id, positional
        self.pooling, self.store_attention = pooling, store_attention
        # with "cls", a learned vector is put in front of the tokens and only it is classified:
        # information reaches the classifier through attention alone (attention weights are
        # then (B, H, T + 1, T + 1), position 0 being the CLS vector)
        self.cls = nn.Parameter(torch.randn(1, 1, d_model)) if pooling == "cls" else None
        self.embed = nn.Embedding(vocab_size, d_model)
        self.pos: nn.Module = {
            "sinusoidal": lambda: SinusoidalPositionalEncoding(d_model, max_len),
            "learned": lambda: LearnedPositionalEmbedding(max_len, d_model),
            "rotary": nn.Identity, "none": nn.Identity}[positional]()
        self.encoder = TransformerEncoder(num_layers, d_model, num_heads, d_ff, dropout,
                                          norm_first, residual=residual)
        if positional == "rotary":
            rope = RotaryEmbedding(d_model // num_heads)
            for layer in self.encoder.layers:
                layer.attn.rotary = rope
        self.head = nn.Linear(d_model, num_classes)

    @property
    def attention_weights(self) -> list[Tensor | None]:
        return self.encoder.attention_weights

    def forward(self, tokens: Tensor, presence: Tensor | None = None) -> Tensor:
        _check_tokens(tokens, self.vocab_size)
        gate = _check_presence(presence, tokens)
        if gate is not None and self.pooling == "last":
            raise ValueError("presence= needs pooling 'mean' or 'cls' (the last real token is undefined)")
        keep = padding_mask(tokens, self.pad_id)  # (B, 1, T)
        x = self.embed(tokens)
        if self.cls is not None:
            x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1)
            keep = torch.cat([keep.new_ones(keep.shape[0], 1, 1), keep], dim=2)
            gate = None if gate is None else torch.cat([gate.new_ones(gate.shape[0], 1), gate], 1)
        with key_presence(self.encoder.layers, gate):
            if self.store_attention:
                h = self.encoder(self.pos(x), mask=keep)
            else:  # fused SDPA; with no padding in the batch, no mask at all (the fastest kernel)
                h = self.encoder(self.pos(x), mask=None if bool(keep.all()) else keep,
                                 need_weights=False)
        if self.cls is not None:
            return self.head(h[:, 0])
        if self.pooling == "last":  # the output at the last real token (e.g. a query)
            last = keep[:, 0].sum(1).clamp_min(1) - 1
            return self.head(h[torch.arange(h.shape[0], device=h.device), last])
        return self.head(masked_mean(h, keep[:, 0] if gate is None else keep[:, 0] * gate))


def set_forget_bias(lstm: nn.LSTM | nn.LSTMCell, value: float) -> None:
    """Set the forget gate's total bias of every layer (and direction) of ``lstm`` to ``value``.

    PyTorch keeps two bias vectors per layer, ``bias_ih`` and ``bias_hh``, each ``(4 * hidden,)``
    in gate order input, forget, cell, output; the forget slice of ``bias_ih`` is set to
    ``value`` and that of ``bias_hh`` to 0, so the gate starts at sigmoid(value) (0.73 for 1)
    instead of about 0.5: the state is kept by default (Gers et al. 2000; Jozefowicz et al. 2015).
    """
    if not isinstance(lstm, (nn.LSTM, nn.LSTMCell)):
        raise TypeError(f"lstm must be an nn.LSTM or nn.LSTMCell, got {type(lstm).__name__}")
    if not getattr(lstm, "bias", True):
        raise ValueError("lstm was built with bias=False: there is no forget-gate bias to set")
    h = lstm.hidden_size
    with torch.no_grad():
        for name, p in lstm.named_parameters():
            if name.startswith("bias_ih"):
                p[h:2 * h].fill_(value)
            elif name.startswith("bias_hh"):
                p[h:2 * h].zero_()


class RNNClassifier(nn.Module):
    """Embedding → LSTM or GRU → hidden state at the last real token (or the mean over real
    tokens, ``pooling="mean"``) → Linear.

    ``forward(tokens (B, T)) -> logits (B, num_classes)``; right padding with ``pad_id``.
    ``forget_bias`` (LSTM only): None keeps PyTorch's initialisation (forget-gate bias near 0);
    a number sets the forget gate's bias to it (see :func:`set_forget_bias`; 1.0 is the usual
    choice).
    """

    @sizes("vocab_size", "num_classes", "d_model", "hidden_size", "num_layers")
    def __init__(self, vocab_size: int, num_classes: int, d_model: int = 64,
                 hidden_size: int = 64, num_layers: int = 1, cell: str = "lstm",
                 pad_id: int = 0, pooling: str = "last", forget_bias: float | None = None):
        super().__init__()
        rnn = {"lstm": nn.LSTM, "gru": nn.GRU}.get(cell)
        if rnn is None:
            raise ValueError(f"cell must be 'lstm' or 'gru', got {cell!r}")
        if pooling not in ("last", "mean"):
            raise ValueError(f"pooling must be 'last' or 'mean', got {pooling!r}")
        if forget_bias is not None and cell != "lstm":
            raise ValueError(f"forget_bias={forget_bias!r} needs cell='lstm' (a GRU has no forget "
                             f"gate), got cell={cell!r}")
        self.vocab_size, self.pad_id, self.cell, self.pooling = vocab_size, pad_id, cell, pooling
        self.embed = nn.Embedding(vocab_size, d_model)
        self.rnn = rnn(d_model, hidden_size, num_layers=num_layers, batch_first=True)
        if forget_bias is not None:
            set_forget_bias(self.rnn, forget_bias)
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, tokens: Tensor) -> Tensor:
        _check_tokens(tokens, self.vocab_size)
        out, _ = self.rnn(self.embed(tokens))  # (B, T, hidden)
        real = tokens != self.pad_id
        if self.pooling == "mean":
            return self.head(masked_mean(out, real))
        last = (real.sum(1) - 1).clamp_min(0)  # (B,)
        return self.head(out[torch.arange(tokens.shape[0]), last])


class BagOfWordsClassifier(nn.Module):
    """Mean of token embeddings → MLP: sees which words occur, never their order.

    ``forward(tokens (B, T)) -> logits (B, num_classes)``.
    """

    @sizes("vocab_size", "num_classes", "d_model")
    def __init__(self, vocab_size: int, num_classes: int, d_model: int = 64, pad_id: int = 0):
        super().__init__()
        self.vocab_size, self.pad_id = vocab_size, pad_id
        self.embed = nn.Embedding(vocab_size, d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_model), nn.GELU(),
                                 nn.Linear(d_model, num_classes))

    def forward(self, tokens: Tensor) -> Tensor:
        _check_tokens(tokens, self.vocab_size)
        return self.mlp(masked_mean(self.embed(tokens), tokens != self.pad_id))


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) scalar parameters in ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


def parameter_breakdown(module: nn.Module) -> "OrderedDict[str, int]":
    """Parameters per direct child module (``{"embed": 1024, "encoder": …}``)."""
    return OrderedDict((name, count_parameters(child)) for name, child in module.named_children())


@torch.no_grad()
def to_torch_encoder_layer(block: TransformerBlock) -> nn.TransformerEncoderLayer:
    """The same block as PyTorch's ``nn.TransformerEncoderLayer``, weights copied.

    The two compute the same function (in eval mode); used to show our block is the standard
    one. Works for residual blocks without rotary positions.
    """
    if not block.residual or block.attn.rotary is not None:
        raise ValueError("only residual blocks without rotary positions have a PyTorch twin")
    a, ff = block.attn, block.ff
    layer = nn.TransformerEncoderLayer(
        a.d_model, a.num_heads, dim_feedforward=ff.linear1.out_features, dropout=0.0,
        activation=ff.activation, batch_first=True, norm_first=block.norm_first)
    layer.self_attn.in_proj_weight.copy_(torch.cat([a.q_proj.weight, a.k_proj.weight,
                                                    a.v_proj.weight]))
    layer.self_attn.in_proj_bias.copy_(torch.cat([a.q_proj.bias, a.k_proj.bias, a.v_proj.bias]))
    layer.self_attn.out_proj.load_state_dict(a.out_proj.state_dict())
    layer.linear1.load_state_dict(ff.linear1.state_dict())
    layer.linear2.load_state_dict(ff.linear2.state_dict())
    layer.norm1.load_state_dict(block.norm1.state_dict())
    layer.norm2.load_state_dict(block.norm2.state_dict())
    return layer


class LoopLSTM(nn.Module):
    """An LSTM layer written as a Python loop over ``nn.LSTMCell``: the algorithm without a fused
    kernel. ``forward(x (B, T, d_in)) -> (B, T, hidden)``."""

    @sizes("d_in", "hidden_size")
    def __init__(self, d_in: int, hidden_size: int):
        super().__init__()
        self.cell = nn.LSTMCell(d_in, hidden_size)
        self.hidden_size = hidden_size

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3:
            raise ValueError(f"LoopLSTM takes (B, T, d_in), got {tuple(x.shape)}")
        h = c = x.new_zeros(x.shape[0], self.hidden_size)
        outs = []
        for t in range(x.shape[1]):
            h, c = self.cell(x[:, t], (h, c))
            outs.append(h)
        return torch.stack(outs, dim=1)


KVCache = list[tuple[Tensor, Tensor]]  # per layer: keys and values (B, H, t, head_dim)


class CausalLM(nn.Module):
    """A decoder-only transformer language model (GPT-style, pre-LN, learned positions).

    ``forward(tokens (B, T)) -> logits (B, T, vocab)``: every position predicts the next token
    in one pass, under a causal mask (teacher forcing). :meth:`generate` then writes one token
    at a time, with or without a key-value cache. ``store_attention=False`` runs PyTorch's
    ``scaled_dot_product_attention`` and keeps no weights (faster to train).
    """

    @sizes("vocab_size", "d_model", "num_heads", "max_len", "d_ff", num_layers=0)
    def __init__(self, vocab_size: int, d_model: int = 64, num_heads: int = 4,
                 num_layers: int = 2, max_len: int = 512, d_ff: int | None = None,
                 store_attention: bool = True):
        super().__init__()
        self.vocab_size, self.max_len = vocab_size, max_len
        self.store_attention = store_attention  # False: PyTorch's SDPA, no weights kept
        self.embed = nn.Embedding(vocab_size, d_model)
        self.pos = LearnedPositionalEmbedding(max_len, d_model)
        self.blocks = nn.ModuleList(TransformerBlock(d_model, num_heads, d_ff, norm_first=True)
                                    for _ in range(num_layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, tokens: Tensor) -> Tensor:
        _check_tokens(tokens, self.vocab_size)
        T = tokens.shape[1]
        mask = torch.ones(T, T, dtype=torch.bool, device=tokens.device).tril()
        h = self.pos(self.embed(tokens))
        for block in self.blocks:
            h = block(h, mask=mask, need_weights=self.store_attention)
        return self.head(self.norm(h))

    def step(self, tokens: Tensor, cache: KVCache | None) -> tuple[Tensor, KVCache]:
        """Run only the new ``tokens`` (B, t_new), attending to the cached past.

        Returns the logits of the new positions ``(B, t_new, vocab)`` and the grown cache.
        """
        _check_tokens(tokens, self.vocab_size)
        past = 0 if not cache else cache[0][0].shape[2]
        t_new = tokens.shape[1]
        if past + t_new > self.max_len:
            raise ValueError(f"{past + t_new} positions exceed max_len={self.max_len}")
        h = self.embed(tokens) + self.pos.embedding.weight[past:past + t_new]
        # new query i (absolute position past + i) may see keys 0 … past + i
        mask = torch.ones(t_new, past + t_new, dtype=torch.bool, device=tokens.device).tril(past)
        new_cache: KVCache = []
        for i, block in enumerate(self.blocks):
            a = block.attn
            x = block.norm1(h)
            q, k, v = a._split(a.q_proj(x)), a._split(a.k_proj(x)), a._split(a.v_proj(x))
            if cache:
                k = torch.cat([cache[i][0], k], dim=2)
                v = torch.cat([cache[i][1], v], dim=2)
            new_cache.append((k, v))
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
            B = out.shape[0]
            h = h + a.out_proj(out.transpose(1, 2).reshape(B, t_new, a.d_model))
            h = h + block.ff(block.norm2(h))
        return self.head(self.norm(h)), new_cache

    @torch.no_grad()
    @sizes(max_new_tokens=0)
    def generate(self, prompt: Tensor, max_new_tokens: int, use_cache: bool = True) -> Tensor:
        """Greedy decoding: ``(B, T0) -> (B, T0 + max_new_tokens)``.

        Without a cache every step re-runs the whole prefix: O(T²) work in total for the
        projections and feed-forward, O(T³) for the attention scores. With one, each step runs
        only the newest token against stored keys and values (O(T) and O(T²) in total).
        """
        if prompt.shape[1] + max_new_tokens > self.max_len:
            raise ValueError(f"prompt {prompt.shape[1]} + {max_new_tokens} new tokens exceed "
                             f"max_len={self.max_len}")
        was_training = self.training
        self.eval()
        tokens = prompt
        if use_cache:
            logits, cache = self.step(prompt, None)
            for _ in range(max_new_tokens):
                nxt = logits[:, -1].argmax(-1, keepdim=True)
                tokens = torch.cat([tokens, nxt], dim=1)
                logits, cache = self.step(nxt, cache)
        else:
            for _ in range(max_new_tokens):
                nxt = self(tokens)[:, -1].argmax(-1, keepdim=True)
                tokens = torch.cat([tokens, nxt], dim=1)
        self.train(was_training)
        return tokens


# ---- a 2024 decoder: Llama's block (SmolLM2, Llama 2/3, Mistral, Qwen use the same pieces) ---------
class RMSNorm(nn.Module):
    """Root-mean-square norm (Zhang & Sennrich 2019): ``x / sqrt(mean(x²) + eps) · weight``.
    LayerNorm without the mean subtraction and without a bias. ``(..., d) -> (..., d)``;
    equals ``torch.nn.RMSNorm(d, eps)`` (``tests/test_llama.py``)."""

    @sizes("d_model")
    def __init__(self, d_model: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d_model))
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[-1] != self.weight.shape[0]:
            raise ValueError(f"RMSNorm of width {self.weight.shape[0]} got input {tuple(x.shape)}")
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class SwiGLU(nn.Module):
    """The gated feed-forward of Shazeer (2020): ``down(silu(gate(x)) * up(x))``, no biases.
    ``(..., d_model) -> (..., d_model)`` through ``d_ff`` hidden units (three matrices instead of
    two, so a SwiGLU of width ``d_ff`` has 1.5x the parameters of a GELU MLP of the same width)."""

    @sizes("d_model", "d_ff")
    def __init__(self, d_model: int, d_ff: int):
        super().__init__()
        self.gate = nn.Linear(d_model, d_ff, bias=False)
        self.up = nn.Linear(d_model, d_ff, bias=False)
        self.down = nn.Linear(d_ff, d_model, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class GroupedQueryAttention(nn.Module):
    """Causal self-attention with ``num_heads`` query heads sharing ``num_kv_heads`` key/value
    heads (Ainslie et al. 2023): query head ``h`` reads key/value head ``h // (num_heads //
    num_kv_heads)``. ``num_kv_heads == num_heads`` is multi-head attention; the cache of keys and
    values shrinks by ``num_heads / num_kv_heads``. Rotary positions on queries and keys, no biases.

    ``forward(x (B, T, d_model), cache=None) -> (B, T, d_model)``. ``cache`` is ``None`` or a
    :class:`LayerCache` holding the keys and values of earlier positions ``(B, num_kv_heads, past,
    head_dim)``; the new ones are appended to it, and position ``t`` of ``x`` sits at ``past + t``.

    Two identity modules are hook points (as TransformerLens's ``HookPoint``): ``probs`` sees the
    attention weights ``(B, num_heads, T, past + T)``, ``head_out`` each head's output ``(B, T,
    num_heads, head_dim)`` before the output projection; a forward hook on either can read it, or
    return a replacement (to ablate a head)."""

    @sizes("d_model", "num_heads", "num_kv_heads")
    def __init__(self, d_model: int, num_heads: int, num_kv_heads: int, head_dim: int | None = None,
                 rope_base: float = 10000.0):
        super().__init__()
        if num_heads % num_kv_heads:
            raise ValueError(f"num_heads={num_heads} must be a multiple of num_kv_heads={num_kv_heads}")
        if head_dim is None and d_model % num_heads:
            raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
        head_dim = head_dim or d_model // num_heads
        self.num_heads, self.num_kv_heads, self.head_dim = num_heads, num_kv_heads, head_dim
        self.q_proj = nn.Linear(d_model, num_heads * head_dim, bias=False)
        self.k_proj = nn.Linear(d_model, num_kv_heads * head_dim, bias=False)
        self.v_proj = nn.Linear(d_model, num_kv_heads * head_dim, bias=False)
        self.o_proj = nn.Linear(num_heads * head_dim, d_model, bias=False)
        self.rotary = RotaryEmbedding(head_dim, base=rope_base)
        self.probs, self.head_out = nn.Identity(), nn.Identity()

    def forward(self, x: Tensor, cache: "LayerCache | None" = None) -> Tensor:
        B, T, _ = x.shape
        past = 0 if cache is None else cache.length
        q = self.q_proj(x).view(B, T, self.num_heads, self.head_dim).transpose(1, 2)     # (B, H, T, hd)
        k = self.k_proj(x).view(B, T, self.num_kv_heads, self.head_dim).transpose(1, 2)  # (B, Hkv, T, hd)
        v = self.v_proj(x).view(B, T, self.num_kv_heads, self.head_dim).transpose(1, 2)
        q, k = self.rotary.rotate(q, offset=past), self.rotary.rotate(k, offset=past)
        if cache is not None:
            k, v = cache.append(k, v)                                                    # (B, Hkv, S, hd)
        group = self.num_heads // self.num_kv_heads
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)      # (B, H, S, hd)
        scores = q @ k.transpose(-2, -1) / self.head_dim ** 0.5                          # (B, H, T, S)
        S = k.shape[2]
        allowed = torch.ones(T, S, dtype=torch.bool, device=x.device).tril(S - T)       # query t sees keys <= past + t
        weights = self.probs(scores.masked_fill(~allowed, float("-inf")).softmax(-1))
        out = self.head_out((weights @ v).transpose(1, 2))                               # (B, T, H, hd)
        return self.o_proj(out.reshape(B, T, self.num_heads * self.head_dim))


class LayerCache:
    """One layer's key-value cache: ``keys`` and ``values`` ``(B, num_kv_heads, length, head_dim)``,
    grown by :meth:`append`."""

    def __init__(self):
        self.keys: Tensor | None = None
        self.values: Tensor | None = None

    @property
    def length(self) -> int:
        return 0 if self.keys is None else self.keys.shape[2]

    @property
    def nbytes(self) -> int:
        return 0 if self.keys is None else self.keys.nbytes + self.values.nbytes

    def append(self, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Add ``(B, Hkv, t, hd)`` keys and values; return all of them ``(B, Hkv, length, hd)``."""
        if self.keys is not None and (k.shape[:2] != self.keys.shape[:2] or k.shape[3] != self.keys.shape[3]):
            raise ValueError(f"cache holds {tuple(self.keys.shape)}, got new keys {tuple(k.shape)}")
        self.keys = k if self.keys is None else torch.cat([self.keys, k], dim=2)
        self.values = v if self.values is None else torch.cat([self.values, v], dim=2)
        return self.keys, self.values


class LlamaBlock(nn.Module):
    """Pre-norm decoder block: ``h + attn(norm1(h))``, then ``h + ffn(norm2(h))``, with RMSNorm,
    grouped-query attention with rotary positions, and a SwiGLU feed-forward.
    ``forward(h (B, T, d_model), cache=None) -> (B, T, d_model)``."""

    def __init__(self, d_model: int, num_heads: int, num_kv_heads: int, d_ff: int,
                 rope_base: float = 10000.0, eps: float = 1e-5):
        super().__init__()
        self.norm1, self.norm2 = RMSNorm(d_model, eps), RMSNorm(d_model, eps)
        self.attn = GroupedQueryAttention(d_model, num_heads, num_kv_heads, rope_base=rope_base)
        self.ffn = SwiGLU(d_model, d_ff)

    def forward(self, h: Tensor, cache: LayerCache | None = None) -> Tensor:
        h = h + self.attn(self.norm1(h), cache)
        return h + self.ffn(self.norm2(h))


class LlamaDecoder(nn.Module):
    """A Llama-style decoder-only language model: token embedding, ``num_layers`` :class:`LlamaBlock`,
    a final RMSNorm and an output layer that reuses the embedding matrix (tied, as SmolLM2's).
    No position table: positions enter through the rotary angles inside attention.

    ``forward(tokens (B, T), cache=None) -> logits (B, T, vocab_size)``; with ``cache`` (from
    :meth:`new_cache`) the tokens continue what the cache holds and their keys and values are
    appended. :meth:`generate` decodes greedily. :meth:`from_state` loads weights named as in
    Hugging Face's ``LlamaForCausalLM``."""

    @sizes("vocab_size", "d_model", "num_layers", "num_heads", "num_kv_heads", "d_ff")
    def __init__(self, vocab_size: int, d_model: int, num_layers: int, num_heads: int, num_kv_heads: int,
                 d_ff: int, rope_base: float = 10000.0, eps: float = 1e-5, tie_embeddings: bool = True):
        super().__init__()
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, d_model)
        self.blocks = nn.ModuleList(LlamaBlock(d_model, num_heads, num_kv_heads, d_ff, rope_base, eps)
                                    for _ in range(num_layers))
        self.norm = RMSNorm(d_model, eps)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        if tie_embeddings:
            self.head.weight = self.embed.weight

    def new_cache(self) -> list[LayerCache]:
        """An empty key-value cache, one :class:`LayerCache` per block."""
        return [LayerCache() for _ in self.blocks]

    def forward(self, tokens: Tensor, cache: list[LayerCache] | None = None, last_only: bool = False) -> Tensor:
        """``last_only=True``: logits of the last position only, ``(B, 1, vocab_size)`` (all that
        generation reads; the output layer is a fifth of SmolLM2's weights)."""
        _check_tokens(tokens, self.vocab_size)
        if cache is not None and len(cache) != len(self.blocks):
            raise ValueError(f"cache has {len(cache)} layers, the model {len(self.blocks)}")
        h = self.embed(tokens)
        for i, block in enumerate(self.blocks):
            h = block(h, None if cache is None else cache[i])
        return self.head(self.norm(h[:, -1:] if last_only else h))

    @torch.no_grad()
    @sizes(max_new_tokens=0)
    def generate(self, prompt: Tensor, max_new_tokens: int, use_cache: bool = True) -> Tensor:
        """Greedy decoding ``(B, T0) -> (B, T0 + max_new_tokens)``: with the cache, the prompt is
        run once (prefill) and then one token per pass; without it, every pass re-runs the prefix.
        Either way only the last position's logits are computed."""
        tokens, cache = prompt, (self.new_cache() if use_cache else None)
        logits = self(prompt, cache, last_only=True)                     # (B, 1, vocab_size)
        for step in range(max_new_tokens):
            nxt = logits[:, -1].argmax(-1, keepdim=True)
            tokens = torch.cat([tokens, nxt], dim=1)
            if step + 1 < max_new_tokens:
                logits = self(nxt, cache, last_only=True) if use_cache else self(tokens, last_only=True)
        return tokens

    @classmethod
    def from_state(cls, config: dict, state: dict[str, Tensor]) -> "LlamaDecoder":
        """The decoder with ``config`` (keys as in :func:`course_utils.pretrained.read_llama_gguf`:
        vocab_size, d_model, num_layers, num_heads, num_kv_heads, d_ff, rope_base, eps,
        tie_embeddings) and the weights of ``state``, named and ordered as Hugging Face's
        ``LlamaForCausalLM`` (``model.layers.{i}.self_attn.q_proj.weight`` …). Hugging Face rotates
        each head's two halves; our :class:`RotaryEmbedding` (notebook 03) rotates interleaved pairs,
        so the rows of q and k are reordered by :func:`interleave_rotary_rows` (the scores are the same)."""
        model = cls(**config)
        own = {"model.embed_tokens.weight": "embed.weight", "model.norm.weight": "norm.weight",
               "lm_head.weight": "head.weight"}
        parts = {"input_layernorm": "norm1", "post_attention_layernorm": "norm2", "self_attn.q_proj": "attn.q_proj",
                 "self_attn.k_proj": "attn.k_proj", "self_attn.v_proj": "attn.v_proj",
                 "self_attn.o_proj": "attn.o_proj", "mlp.gate_proj": "ffn.gate", "mlp.up_proj": "ffn.up",
                 "mlp.down_proj": "ffn.down"}
        mapped = {}
        for name, w in state.items():
            if name in own:
                mapped[own[name]] = w
                continue
            _, _, layer, rest = name.split(".", 3)              # model.layers.{i}.{part}.weight
            part = rest.rsplit(".", 1)[0]
            if part in ("self_attn.q_proj", "self_attn.k_proj"):
                heads = config["num_heads"] if part.endswith("q_proj") else config["num_kv_heads"]
                w = interleave_rotary_rows(w, heads)
            mapped[f"blocks.{layer}.{parts[part]}.weight"] = w
        if config.get("tie_embeddings", True):
            mapped.pop("head.weight", None)
        missing, unexpected = model.load_state_dict(mapped, strict=False)
        missing = [m for m in missing if not (m == "head.weight" and config.get("tie_embeddings", True))]
        if missing or unexpected:
            raise ValueError(f"weights do not fit the decoder: missing {missing[:5]}, unexpected {unexpected[:5]}")
        return model.eval()


def interleave_rotary_rows(w: Tensor, num_heads: int) -> Tensor:
    """Rows of a q or k projection ``(num_heads·head_dim, d_model)`` reordered from Hugging Face's
    rotary layout (each head's first half paired with its second half: rows ``i`` and ``i + hd/2``)
    to the interleaved one (rows ``2i`` and ``2i + 1``), as llama.cpp's GGUF stores them.
    ``(out, in) -> (out, in)``."""
    if w.shape[0] % (2 * num_heads):
        raise ValueError(f"{w.shape[0]} rows cannot be {num_heads} heads of an even width")
    half = w.shape[0] // num_heads // 2
    return w.reshape(num_heads, 2, half, *w.shape[1:]).transpose(1, 2).reshape(w.shape)
