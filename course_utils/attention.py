"""Scaled dot-product attention, masks and multi-head attention, written out.

Shapes use ``B`` batch, ``H`` heads, ``T`` queries, ``S`` keys, ``d`` width.
Masks are boolean and **True where a query may attend** (the opposite of
``nn.MultiheadAttention``'s ``key_padding_mask``, the same as ``F.scaled_dot_product_attention``).
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .validation import sizes

__all__ = ["scaled_dot_product_attention", "causal_mask", "padding_mask",
           "MultiHeadAttention", "check_mask"]


def check_mask(mask: Tensor, target: tuple[int, ...], what: str = "mask") -> None:
    """Raise a clear error unless ``mask`` is boolean and broadcastable to ``target``."""
    if mask.dtype != torch.bool:
        raise TypeError(f"{what} must be boolean (True where a query may attend), "
                        f"got dtype {mask.dtype}")
    try:
        torch.broadcast_shapes(tuple(mask.shape), target)
    except RuntimeError:
        raise ValueError(f"{what} of shape {tuple(mask.shape)} does not broadcast to the "
                         f"attention scores' shape {target}") from None


def scaled_dot_product_attention(q: Tensor, k: Tensor, v: Tensor,
                                 mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """softmax(q kᵀ / √d) v, with the weights.

    Args:
        q: ``(..., T, d)`` queries.
        k: ``(..., S, d)`` keys.
        v: ``(..., S, d_v)`` values.
        mask: optional boolean, broadcastable to ``(..., T, S)``; True where query ``t`` may
            attend to key ``s``. Every query must be allowed at least one key.

    Returns:
        ``(output, weights)``: output ``(..., T, d_v)`` and weights ``(..., T, S)`` whose rows
        sum to 1.
    """
    if q.dim() < 2 or k.dim() < 2 or v.dim() < 2:
        raise ValueError(f"q, k, v need at least 2 dims (..., length, width); got "
                         f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must share their last dim d: q {tuple(q.shape)}, "
                         f"k {tuple(k.shape)}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"k and v must have the same number of keys S: k {tuple(k.shape)}, "
                         f"v {tuple(v.shape)}")
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (..., T, S)
    if mask is not None:
        check_mask(mask, tuple(scores.shape))
        empty = ~mask.any(dim=-1)
        if bool(empty.any()):
            rows = empty.nonzero().tolist()[:5]
            raise ValueError(f"mask {tuple(mask.shape)} leaves some queries with no key to "
                             f"attend to (index of the first: {rows}); their softmax would "
                             "be NaN")
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return weights @ v, weights


@sizes("T")
def causal_mask(T: int, device: torch.device | str | None = None) -> Tensor:
    """``(T, T)`` boolean, True on and below the diagonal: query t sees keys 0 … t."""
    if T < 1:
        raise ValueError(f"causal_mask needs T >= 1, got {T}")
    return torch.ones(T, T, dtype=torch.bool, device=device).tril()


def padding_mask(tokens: Tensor, pad_id: int = 0) -> Tensor:
    """``(B, 1, S)`` boolean from token ids ``(B, S)``: True at real keys, False at padding.

    Broadcasts against scores ``(B, T, S)``; combine with a causal mask by ``&``.
    """
    if tokens.dim() != 2:
        raise ValueError(f"padding_mask takes token ids (B, S), got shape {tuple(tokens.shape)}")
    return (tokens != pad_id).unsqueeze(1)


class MultiHeadAttention(nn.Module):
    """Multi-head attention, batch first, that keeps its last weights.

    ``forward(query (B, T, d_model), key (B, S, d_model), value (B, S, d_model), mask=None)``
    returns ``(B, T, d_model)`` and stores ``attention_weights`` ``(B, H, T, S)``.
    ``mask`` is boolean, True where a query may attend, of shape ``(T, S)``, ``(B, T, S)``,
    ``(B, 1, S)`` or ``(B, H, T, S)``.
    With ``need_weights=False`` it calls PyTorch's fused ``F.scaled_dot_product_attention``
    and keeps no weights (``attention_weights`` is None).
    ``rotary``, when set, is applied to queries and keys of every head (see
    :class:`course_utils.positional.RotaryEmbedding`).
    """

    @sizes("d_model", "num_heads")
    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        if d_model % num_heads != 0:
            raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
        self.d_model, self.num_heads = d_model, num_heads
        self.head_dim = d_model // num_heads
        self.q_proj = nn.Linear(d_model, d_model, bias=bias)
        self.k_proj = nn.Linear(d_model, d_model, bias=bias)
        self.v_proj = nn.Linear(d_model, d_model, bias=bias)
        self.out_proj = nn.Linear(d_model, d_model, bias=bias)
        self.dropout = nn.Dropout(dropout)
        self.rotary: Callable[[Tensor, Tensor], tuple[Tensor, Tensor]] | None = None
        # Experiments only: replace the weights (B, H, T, S) before they mix the values, e.g. to
        # permute or flatten a trained model's attention (notebook 07).
        self.weights_override: Callable[[Tensor], Tensor] | None = None
        self.attention_weights: Tensor | None = None

    def _split(self, x: Tensor) -> Tensor:  # (B, T, d_model) -> (B, H, T, head_dim)
        B, T, _ = x.shape
        return x.view(B, T, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, query: Tensor, key: Tensor, value: Tensor, mask: Tensor | None = None,
                need_weights: bool = True) -> Tensor:
        for name, x in (("query", query), ("key", key), ("value", value)):
            if x.dim() != 3 or x.shape[-1] != self.d_model:
                raise ValueError(f"{name} must be (B, T, d_model={self.d_model}), "
                                 f"got {tuple(x.shape)}")
        if key.shape[:2] != value.shape[:2] or query.shape[0] != key.shape[0]:
            raise ValueError(f"batch or key lengths disagree: query {tuple(query.shape)}, "
                             f"key {tuple(key.shape)}, value {tuple(value.shape)}")
        q, k, v = (self._split(self.q_proj(query)), self._split(self.k_proj(key)),
                   self._split(self.v_proj(value)))
        if self.rotary is not None:
            q, k = self.rotary(q, k)
        if mask is not None and mask.dim() == 3:
            mask = mask.unsqueeze(1)  # (B, T|1, S) -> (B, 1, T|1, S): same for every head
        if need_weights or self.weights_override is not None:
            out, weights = scaled_dot_product_attention(q, k, v, mask)
            if self.weights_override is not None:
                weights = self.weights_override(weights)
                out = weights @ v
            self.attention_weights = weights.detach()
            out = self.dropout(weights) @ v if self.training and self.dropout.p > 0 else out
        else:
            if mask is not None:
                check_mask(mask, (q.shape[0], self.num_heads, q.shape[2], k.shape[2]))
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=self.dropout.p if self.training else 0.0)
            self.attention_weights = None
        B, _, T, _ = out.shape
        return self.out_proj(out.transpose(1, 2).reshape(B, T, self.d_model))
