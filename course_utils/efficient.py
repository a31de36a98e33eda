"""Attention for long sequences: sliding window (Longformer), block-sparse (BigBird), Linformer.

Each is exact masked full attention in its limit (a window covering everything; every block
selected; k = n with identity projections), which the tests check. Shapes: ``(..., n, d)``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .attention import scaled_dot_product_attention

__all__ = ["sliding_window_attention", "sliding_window_mask", "block_sparse_attention",
           "block_sparse_mask", "linformer_attention", "LinformerSelfAttention"]


def _check_qkv(q: Tensor, k: Tensor, v: Tensor) -> None:
    if not (q.shape[:-1] == k.shape[:-1] == v.shape[:-1]) or q.shape[-1] != k.shape[-1]:
        raise ValueError(f"self-attention needs q, k, v of shape (..., n, d) with the same n: "
                         f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}")


def sliding_window_mask(n: int, window: int, global_tokens: list[int] | None = None,
                        device=None) -> Tensor:
    """``(n, n)`` boolean: True where |i − j| ≤ window, or i or j is a global token."""
    i = torch.arange(n, device=device)
    mask = (i[:, None] - i[None, :]).abs() <= window
    if global_tokens:
        g = torch.tensor(global_tokens, device=device)
        mask[g, :] = True
        mask[:, g] = True
    return mask


def sliding_window_attention(q: Tensor, k: Tensor, v: Tensor, window: int,
                             global_tokens: list[int] | None = None,
                             chunk: int | None = None) -> Tensor:
    """Longformer-style attention: position i attends to every j with |i − j| ≤ ``window``
    (and to/from ``global_tokens``, if any). Returns ``(..., n, d_v)``.

    Queries are processed in chunks of ``chunk`` (default ``max(window, 16)``); each chunk sees
    only the ``chunk + 2·window`` keys around it, so time and memory grow as n·window, not n².
    """
    _check_qkv(q, k, v)
    if window < 0:
        raise ValueError(f"window must be >= 0, got {window}")
    n, d = q.shape[-2], q.shape[-1]
    c = chunk or max(window, 16)
    n_pad = math.ceil(n / c) * c
    lead = q.shape[:-2]
    # pad the sequence to whole chunks, and the keys by `window` on both sides
    qp = F.pad(q, (0, 0, 0, n_pad - n))
    kp = F.pad(k, (0, 0, window, n_pad - n + window))
    vp = F.pad(v, (0, 0, window, n_pad - n + window))
    span = c + 2 * window
    qc = qp.reshape(*lead, n_pad // c, c, d)                                   # (..., C, c, d)
    kc = kp.unfold(-2, span, c).transpose(-1, -2)                              # (..., C, span, d)
    vc = vp.unfold(-2, span, c).transpose(-1, -2)
    scores = qc @ kc.transpose(-1, -2) / math.sqrt(d)                          # (..., C, c, span)
    qi = torch.arange(n_pad, device=q.device).reshape(-1, c)                   # query positions
    kj = (torch.arange(n_pad // c, device=q.device)[:, None] * c - window
          + torch.arange(span, device=q.device))                               # key positions
    allowed = ((qi[:, :, None] - kj[:, None, :]).abs() <= window) & (kj[:, None, :] >= 0) \
        & (kj[:, None, :] < n)
    # padding queries (positions >= n, cut off at the end) may see no key at all; a softmax over
    # nothing is NaN, and NaN * 0 would poison the gradients, so let them see their whole span
    allowed |= (qi >= n)[:, :, None]
    if global_tokens:
        g = torch.tensor(sorted(set(global_tokens)), device=q.device)
        if int(g.min()) < 0 or int(g.max()) >= n:
            raise ValueError(f"global tokens must lie in [0, {n}), got {global_tokens}")
        # global keys, for every query (a global key already inside the window is masked here)
        gk, gv = k[..., g, :], v[..., g, :]                                    # (..., G, d)
        gscores = qc @ gk.unsqueeze(-3).transpose(-1, -2) / math.sqrt(d)       # (..., C, c, G)
        in_window = (qi[:, :, None] - g[None, None, :]).abs() <= window
        scores = torch.cat([scores.masked_fill(~allowed, float("-inf")),
                            gscores.masked_fill(in_window, float("-inf"))], dim=-1)
        weights = torch.softmax(scores, dim=-1)
        out = weights[..., :span] @ vc + weights[..., span:] @ gv.unsqueeze(-3)
        out = out.reshape(*lead, n_pad, -1)[..., :n, :].clone()
        # global queries attend to everything: dense rows, |G| × n
        out[..., g, :] = scaled_dot_product_attention(q[..., g, :], k, v)[0]
        return out
    weights = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
    out = weights @ vc                                                         # (..., C, c, d_v)
    return out.reshape(*lead, n_pad, -1)[..., :n, :]


def block_sparse_mask(n: int, block: int, *, window_blocks: int = 1, global_blocks: int = 1,
                      random_blocks: int = 1, seed: int = 0, device=None) -> Tensor:
    """BigBird's pattern as an ``(n, n)`` boolean mask built from ``block``×``block`` tiles: each
    query block sees its neighbours within ``window_blocks``, the first ``global_blocks`` blocks
    (which also see everything), and ``random_blocks`` random blocks (seeded)."""
    if n % block:
        raise ValueError(f"n={n} must be a multiple of block={block}")
    nb = n // block
    g = torch.Generator().manual_seed(seed)
    tiles = torch.zeros(nb, nb, dtype=torch.bool)
    b = torch.arange(nb)
    tiles |= (b[:, None] - b[None, :]).abs() <= window_blocks
    tiles[:, :global_blocks] = True
    tiles[:global_blocks, :] = True
    for i in range(nb):
        if random_blocks:
            tiles[i, torch.randperm(nb, generator=g)[:random_blocks]] = True
    return tiles.repeat_interleave(block, 0).repeat_interleave(block, 1).to(device)


def block_sparse_attention(q: Tensor, k: Tensor, v: Tensor, block: int, *,
                           window_blocks: int = 1, global_blocks: int = 1,
                           random_blocks: int = 1, seed: int = 0) -> Tensor:
    """BigBird-style attention computed block by block: each query block gathers only the key
    blocks its pattern selects (see :func:`block_sparse_mask`), so cost grows as n · (selected
    blocks) · block. Returns ``(..., n, d_v)``; equal to full attention under the same mask."""
    _check_qkv(q, k, v)
    n, d = q.shape[-2], q.shape[-1]
    tiles = block_sparse_mask(n, block, window_blocks=window_blocks, global_blocks=global_blocks,
                              random_blocks=random_blocks, seed=seed)[::block, ::block]
    nb = n // block
    lead = q.shape[:-2]
    qb = q.reshape(*lead, nb, block, d)
    kb = k.reshape(*lead, nb, block, d)
    vb = v.reshape(*lead, nb, block, v.shape[-1])
    width = int(tiles.sum(1).max())
    # for each query block, the indices of its selected key blocks, padded to the same width
    idx = torch.zeros(nb, width, dtype=torch.long)
    valid = torch.zeros(nb, width, dtype=torch.bool)
    for i in range(nb):
        sel = tiles[i].nonzero().squeeze(1)
        idx[i, :len(sel)], valid[i, :len(sel)] = sel, True
    ks = kb[..., idx, :, :].flatten(-3, -2)                       # (..., nb, width·block, d)
    vs = vb[..., idx, :, :].flatten(-3, -2)
    scores = qb @ ks.transpose(-1, -2) / math.sqrt(d)             # (..., nb, block, width·block)
    key_ok = valid.repeat_interleave(block, 1)[:, None, :]        # (nb, 1, width·block)
    weights = torch.softmax(scores.masked_fill(~key_ok, float("-inf")), dim=-1)
    return (weights @ vs).reshape(*lead, n, -1)


def linformer_attention(q: Tensor, k: Tensor, v: Tensor, E: Tensor, F_: Tensor) -> Tensor:
    """Linformer: keys and values projected along the sequence to length ``proj``:
    softmax(Q (E K)ᵀ / √d) (F V), with E, F of shape ``(proj, n)``. ``(..., n, d_v)``."""
    _check_qkv(q, k, v)
    n = k.shape[-2]
    if E.shape[-1] != n or F_.shape[-1] != n or E.shape != F_.shape:
        raise ValueError(f"E and F must both be (proj, n={n}); got {tuple(E.shape)}, "
                         f"{tuple(F_.shape)}")
    return scaled_dot_product_attention(q, E @ k, F_ @ v)[0]


class LinformerSelfAttention(nn.Module):
    """Multi-head self-attention with learned Linformer projections of length ``proj``.

    ``forward(x (B, n, d_model)) -> (B, n, d_model)``, for sequences of exactly ``seq_len``.
    """

    def __init__(self, d_model: int, num_heads: int, seq_len: int, proj: int):
        super().__init__()
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
        self.h, self.seq_len = num_heads, seq_len
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.E = nn.Parameter(torch.randn(proj, seq_len) / math.sqrt(seq_len))
        self.F = nn.Parameter(torch.randn(proj, seq_len) / math.sqrt(seq_len))

    def forward(self, x: Tensor) -> Tensor:
        B, n, D = x.shape
        if n != self.seq_len:
            raise ValueError(f"Linformer projections were built for n={self.seq_len}, got {n}")
        q, k, v = self.qkv(x).view(B, n, 3, self.h, D // self.h).permute(2, 0, 3, 1, 4)
        out = linformer_attention(q, k, v, self.E, self.F)        # (B, H, n, D/H)
        return self.out(out.transpose(1, 2).reshape(B, n, D))
