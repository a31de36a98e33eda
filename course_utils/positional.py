"""Positional encodings: sinusoidal, learned, rotary (RoPE).

Self-attention is permutation-equivariant; these give it a sense of order.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .validation import sizes

__all__ = ["sinusoidal_encoding", "sinusoidal_shift_matrix", "SinusoidalPositionalEncoding",
           "LearnedPositionalEmbedding", "RotaryEmbedding", "rotate_half"]


def _frequencies(d_model: int) -> Tensor:
    """ω_i = 1 / 10000^(2i/d_model) for i = 0 … ceil(d_model/2) − 1."""
    two_i = torch.arange(0, d_model, 2, dtype=torch.float64)
    return torch.exp(-math.log(10000.0) * two_i / d_model)


@sizes("num_positions", "d_model")
def sinusoidal_encoding(num_positions: int, d_model: int,
                        dtype: torch.dtype | None = None) -> Tensor:
    """``(num_positions, d_model)``: PE[pos, 2i] = sin(pos·ω_i), PE[pos, 2i+1] = cos(pos·ω_i),
    with ω_i = 1 / 10000^(2i/d_model) (Vaswani et al. 2017, section 3.5).

    Computed in float64 and returned in ``dtype`` (default: torch's default dtype)."""
    if num_positions < 1 or d_model < 1:
        raise ValueError(f"need num_positions >= 1 and d_model >= 1, got "
                         f"num_positions={num_positions}, d_model={d_model}")
    pos = torch.arange(num_positions, dtype=torch.float64).unsqueeze(1)
    angles = pos * _frequencies(d_model)  # (P, ceil(d/2))
    pe = torch.zeros(num_positions, d_model, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angles)
    pe[:, 1::2] = torch.cos(angles[:, : d_model // 2])
    return pe.to(dtype or torch.get_default_dtype())


@sizes("d_model")
def sinusoidal_shift_matrix(k: int, d_model: int, dtype: torch.dtype | None = None) -> Tensor:
    """``(d_model, d_model)`` M_k with PE[p + k] = M_k @ PE[p] for every p (d_model even).

    Each (sin, cos) pair is rotated by the angle k·ω_i: a shift in position is a linear map
    that does not depend on p, which is why attention can learn relative offsets.
    """
    if d_model % 2:
        raise ValueError(f"the shift matrix needs an even d_model, got {d_model}")
    m = torch.zeros(d_model, d_model, dtype=torch.float64)
    for i, w in enumerate(_frequencies(d_model)):
        c, s = math.cos(k * w), math.sin(k * w)
        m[2 * i, 2 * i], m[2 * i, 2 * i + 1] = c, s
        m[2 * i + 1, 2 * i], m[2 * i + 1, 2 * i + 1] = -s, c
    return m.to(dtype or torch.get_default_dtype())


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the fixed sinusoidal table to ``x`` ``(B, T, d_model)``; no parameters."""

    @sizes("d_model", "max_len")
    def __init__(self, d_model: int, max_len: int = 4096):
        super().__init__()
        self.max_len = max_len
        self.register_buffer("pe", sinusoidal_encoding(max_len, d_model), persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        T = x.shape[1]
        if T > self.max_len:
            raise ValueError(f"sequence length {T} exceeds max_len={self.max_len}")
        return x + self.pe[:T].to(x.dtype)


class LearnedPositionalEmbedding(nn.Module):
    """Adds a learned vector per position to ``x`` ``(B, T, d_model)`` (BERT, GPT-2).

    Positions beyond those seen in training keep their random initialisation: this is why
    learned tables do not extrapolate to longer sequences.
    """

    @sizes("max_len", "d_model")
    def __init__(self, max_len: int, d_model: int):
        super().__init__()
        self.max_len = max_len
        self.embedding = nn.Embedding(max_len, d_model)  # N(0, 1), the scale of sin/cos

    def forward(self, x: Tensor) -> Tensor:
        T = x.shape[1]
        if T > self.max_len:
            raise ValueError(f"sequence length {T} exceeds the learned table's "
                             f"max_len={self.max_len}")
        return x + self.embedding.weight[:T]


def rotate_half(x: Tensor) -> Tensor:
    """(x1, x2, x3, x4, …) -> (−x2, x1, −x4, x3, …) on the last dim (interleaved pairs)."""
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack((-x2, x1), dim=-1).flatten(-2)


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (Su et al. 2021), applied to queries and keys.

    ``forward(q, k)`` with q ``(..., T, head_dim)`` and k ``(..., S, head_dim)`` rotates each
    pair of features at position p by p·θ_i, so q_p·k_s depends only on p − s and the content.
    """

    @sizes("head_dim")
    def __init__(self, head_dim: int, base: float = 10000.0):
        super().__init__()
        if head_dim % 2:
            raise ValueError(f"rotary embedding needs an even head_dim, got {head_dim}")
        inv_freq = 1.0 / base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        self.head_dim = head_dim

    def _cos_sin(self, n: int, offset: int, like: Tensor) -> tuple[Tensor, Tensor]:
        pos = torch.arange(offset, offset + n, device=like.device, dtype=torch.float32)
        angles = torch.outer(pos, self.inv_freq).repeat_interleave(2, dim=-1)  # (n, head_dim)
        return angles.cos().to(like.dtype), angles.sin().to(like.dtype)

    def rotate(self, x: Tensor, offset: int = 0) -> Tensor:
        if x.shape[-1] != self.head_dim:
            raise ValueError(f"last dim {x.shape[-1]} != head_dim {self.head_dim}")
        cos, sin = self._cos_sin(x.shape[-2], offset, x)
        return x * cos + rotate_half(x) * sin

    def forward(self, q: Tensor, k: Tensor) -> tuple[Tensor, Tensor]:
        return self.rotate(q), self.rotate(k)
