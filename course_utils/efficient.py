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
from .models import FeedForward
from .validation import sizes

__all__ = ["sliding_window_attention", "sliding_window_mask", "block_sparse_attention",
           "block_sparse_mask", "block_sparse_tiles", "linformer_attention", "ATTENTION_KINDS",
           "EfficientSelfAttention", "LinformerSelfAttention", "LongSequenceClassifier",
           "train_long_classifiers"]


def _check_qkv(q: Tensor, k: Tensor, v: Tensor) -> None:
    if not (q.shape[:-1] == k.shape[:-1] == v.shape[:-1]) or q.shape[-1] != k.shape[-1]:
        raise ValueError(f"self-attention needs q, k, v of shape (..., n, d) with the same n: "
                         f"q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}")


@sizes("n", window=0)
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


def _check_key_mask(key_mask: Tensor | None, q: Tensor) -> Tensor | None:
    """``key_mask`` as a boolean ``(..., n)`` (None stays None), or a ValueError naming it."""
    if key_mask is None:
        return None
    if key_mask.dim() < 1 or key_mask.shape[-1] != q.shape[-2]:
        raise ValueError(f"key_mask must be (..., n={q.shape[-2]}) booleans (True: a key that may "
                         f"be read), got shape {tuple(key_mask.shape)}")
    return key_mask.to(device=q.device, dtype=torch.bool)


@sizes(window=0, chunk=1, slab=0)
def sliding_window_attention(q: Tensor, k: Tensor, v: Tensor, window: int,
                             global_tokens: list[int] | None = None,
                             chunk: int | None = None, slab: int = 2048,
                             key_mask: Tensor | None = None) -> Tensor:
    """Longformer-style attention: position i attends to every j with |i − j| ≤ ``window``
    (and to/from ``global_tokens``, if any). Returns ``(..., n, d_v)``.

    Queries are processed in chunks of ``chunk`` (default ``max(window, 16)``); each chunk sees
    only the ``chunk + 2·window`` keys around it, so time and memory grow as n·window, not n².
    Without global tokens, sequences longer than ``slab`` are done ``slab`` queries at a time
    (with their keys ± window), which keeps the working set in cache and the time linear.
    ``key_mask`` ``(..., n)`` booleans, broadcast over q's leading dimensions (e.g. ``(B, 1, n)``
    for ``(B, heads, n, d)``): False marks a key (padding) that no other position reads; a
    masked position still reads itself, so no row of the softmax is empty.
    """
    _check_qkv(q, k, v)
    if window < 0:
        raise ValueError(f"window must be >= 0, got {window}")
    key_mask = _check_key_mask(key_mask, q)
    n, d = q.shape[-2], q.shape[-1]
    if not global_tokens and n > slab > 0:
        outs = []
        for s in range(0, n, slab):
            e, ks, ke = min(n, s + slab), max(0, s - window), min(n, s + slab + window)
            # every key within `window` of queries s..e lies in ks..ke, and |i − j| is unchanged
            out = sliding_window_attention(q[..., ks:ke, :], k[..., ks:ke, :], v[..., ks:ke, :],
                                           window, chunk=chunk, slab=0,
                                           key_mask=None if key_mask is None else key_mask[..., ks:ke])
            outs.append(out[..., s - ks:e - ks, :])
        return torch.cat(outs, dim=-2)
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
    if key_mask is not None:                # padding keys: read by no one but themselves
        kmc = F.pad(key_mask.float(), (window, n_pad - n + window)).unfold(-1, span, c) > 0.5
        allowed = allowed & (kmc.unsqueeze(-2) | (qi[:, :, None] == kj[:, None, :]))
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
        if key_mask is not None:            # a global padding key is read by no one either
            in_window = in_window | ~key_mask[..., g][..., None, None, :]
        scores = torch.cat([scores.masked_fill(~allowed, float("-inf")),
                            gscores.masked_fill(in_window, float("-inf"))], dim=-1)
        weights = torch.softmax(scores, dim=-1)
        out = weights[..., :span] @ vc + weights[..., span:] @ gv.unsqueeze(-3)
        out = out.reshape(*lead, n_pad, -1)[..., :n, :].clone()
        # global queries attend to everything (but padding): dense rows, |G| × n
        gmask = None if key_mask is None else \
            key_mask.unsqueeze(-2) | (g[:, None] == torch.arange(n, device=q.device))
        out[..., g, :] = scaled_dot_product_attention(q[..., g, :], k, v, mask=gmask)[0]
        return out
    weights = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
    out = weights @ vc                                                         # (..., C, c, d_v)
    return out.reshape(*lead, n_pad, -1)[..., :n, :]


@sizes("num_blocks", window_blocks=0, global_blocks=0, random_blocks=0)
def block_sparse_tiles(num_blocks: int, *, window_blocks: int = 1, global_blocks: int = 1,
                       random_blocks: int = 1, seed: int = 0) -> Tensor:
    """BigBird's pattern at block level: ``(num_blocks, num_blocks)`` boolean, True where query
    block i reads key block j. Each block sees its neighbours within ``window_blocks``, the first
    ``global_blocks`` blocks (which also see everything) and ``random_blocks`` random blocks
    (seeded). Costs num_blocks², never n²."""
    if num_blocks < 1 or min(window_blocks, global_blocks, random_blocks) < 0:
        raise ValueError(f"need num_blocks >= 1 and non-negative counts, got {num_blocks}, "
                         f"{window_blocks}, {global_blocks}, {random_blocks}")
    g = torch.Generator().manual_seed(seed)
    b = torch.arange(num_blocks)
    tiles = (b[:, None] - b[None, :]).abs() <= window_blocks
    tiles[:, :global_blocks] = True
    tiles[:global_blocks, :] = True
    if random_blocks:
        for i in range(num_blocks):
            tiles[i, torch.randperm(num_blocks, generator=g)[:random_blocks]] = True
    return tiles


@sizes("n", "block", window_blocks=0, global_blocks=0, random_blocks=0)
def block_sparse_mask(n: int, block: int, *, window_blocks: int = 1, global_blocks: int = 1,
                      random_blocks: int = 1, seed: int = 0, device=None) -> Tensor:
    """:func:`block_sparse_tiles` expanded to an ``(n, n)`` boolean mask of
    ``block``×``block`` tiles (for checking and plotting; the attention never builds it)."""
    if n % block:
        raise ValueError(f"n={n} must be a multiple of block={block}")
    tiles = block_sparse_tiles(n // block, window_blocks=window_blocks,
                               global_blocks=global_blocks, random_blocks=random_blocks, seed=seed)
    return tiles.repeat_interleave(block, 0).repeat_interleave(block, 1).to(device)


@sizes("block", window_blocks=0, global_blocks=0, random_blocks=0, slab=0)
def block_sparse_attention(q: Tensor, k: Tensor, v: Tensor, block: int, *,
                           window_blocks: int = 1, global_blocks: int = 1,
                           random_blocks: int = 1, seed: int = 0, slab: int = 2048,
                           key_mask: Tensor | None = None) -> Tensor:
    """BigBird-style attention computed block by block: each query block gathers only the key
    blocks its pattern selects (see :func:`block_sparse_tiles`), so cost grows as
    n · (selected blocks) · block. The global query blocks, which read everything, are computed
    as dense rows (global_blocks · block × n); the others in slabs of about ``slab`` queries
    (0: all at once). Returns ``(..., n, d_v)``; equal to full attention under
    :func:`block_sparse_mask`. ``key_mask`` ``(..., n)``: False marks padding keys, read by no
    position but themselves (as in :func:`sliding_window_attention`)."""
    _check_qkv(q, k, v)
    key_mask = _check_key_mask(key_mask, q)
    n, d = q.shape[-2], q.shape[-1]
    if n % block:
        raise ValueError(f"n={n} must be a multiple of block={block}")
    nb = n // block
    tiles = block_sparse_tiles(nb, window_blocks=window_blocks, global_blocks=global_blocks,
                               random_blocks=random_blocks, seed=seed)
    g = min(global_blocks, nb) * block                            # rows that read everything
    local = tiles[min(global_blocks, nb):]                        # the other query blocks
    lead = q.shape[:-2]
    out = q.new_empty(*lead, n, v.shape[-1])
    if g:
        gmask = None if key_mask is None else \
            key_mask.unsqueeze(-2) | (torch.arange(g, device=q.device)[:, None] == torch.arange(n, device=q.device))
        out[..., :g, :] = scaled_dot_product_attention(q[..., :g, :], k, v, mask=gmask)[0]
    if g == n:
        return out
    kb = k.reshape(*lead, nb, block, d)
    vb = v.reshape(*lead, nb, block, v.shape[-1])
    qb = q[..., g:, :].reshape(*lead, nb - g // block, block, d)
    width = int(local.sum(1).max())
    # for each query block, the indices of its selected key blocks, padded to the same width
    idx = torch.zeros(len(local), width, dtype=torch.long)
    valid = torch.zeros(len(local), width, dtype=torch.bool)
    for i, row in enumerate(local):
        sel = row.nonzero().squeeze(1)
        idx[i, :len(sel)], valid[i, :len(sel)] = sel, True
    idx, valid = idx.to(q.device), valid.to(q.device)
    # query blocks in slabs of about `slab` queries: the gathered keys stay in cache, time linear
    per = max(1, slab // block) if slab > 0 else len(local)
    for s in range(0, len(local), per):
        e = min(len(local), s + per)
        ks = kb[..., idx[s:e], :, :].flatten(-3, -2)              # (..., slab, width·block, d)
        vs = vb[..., idx[s:e], :, :].flatten(-3, -2)
        scores = qb[..., s:e, :, :] @ ks.transpose(-1, -2) / math.sqrt(d)
        key_ok = valid[s:e].repeat_interleave(block, 1)[:, None, :]   # (slab, 1, width·block)
        if key_mask is not None:        # padding keys: read only by themselves
            qblock = torch.arange(s, e, device=q.device) + g // block
            self_ = ((idx[s:e] == qblock[:, None])[:, None, :, None]
                     & torch.eye(block, dtype=torch.bool, device=q.device)[None, :, None, :])
            km = key_mask.reshape(*key_mask.shape[:-1], nb, block)[..., idx[s:e], :].flatten(-2)
            key_ok = key_ok & (km.unsqueeze(-2) | self_.flatten(-2))
        weights = torch.softmax(scores.masked_fill(~key_ok, float("-inf")), dim=-1)
        out[..., g + s * block:g + e * block, :] = (weights @ vs).reshape(*lead, (e - s) * block, -1)
    return out


def linformer_attention(q: Tensor, k: Tensor, v: Tensor, E: Tensor, F_: Tensor,
                        key_mask: Tensor | None = None) -> Tensor:
    """Linformer: keys and values projected along the sequence to length ``proj``:
    softmax(Q (E K)ᵀ / √d) (F V), with E, F of shape ``(proj, n)``. ``(..., n, d_v)``.
    ``key_mask`` ``(..., n)``: False marks padding, whose keys and values are zeroed before the
    projection, so that no summary contains them."""
    _check_qkv(q, k, v)
    key_mask = _check_key_mask(key_mask, q)
    n = k.shape[-2]
    if E.shape[-1] != n or F_.shape[-1] != n or E.shape != F_.shape:
        raise ValueError(f"E and F must both be (proj, n={n}); got {tuple(E.shape)}, "
                         f"{tuple(F_.shape)}")
    if key_mask is not None:
        keep = key_mask.unsqueeze(-1).to(k.dtype)
        k, v = k * keep, v * keep
    return scaled_dot_product_attention(q, E @ k, F_ @ v)[0]


ATTENTION_KINDS = ("full", "sliding", "block_sparse", "linformer")


class EfficientSelfAttention(nn.Module):
    """Multi-head self-attention with a choice of pattern, for sequences of length ``seq_len``:

    - ``"full"``: exact, through PyTorch's fused ``F.scaled_dot_product_attention``;
    - ``"sliding"``: :func:`sliding_window_attention` with ``window`` and ``global_tokens``;
    - ``"block_sparse"``: :func:`block_sparse_attention` (block 0 is global);
    - ``"linformer"``: learned projections of keys and values to length ``proj``.

    ``forward(x (B, n, d_model), key_mask (B, n) | None) -> (B, n, d_model)``; ``key_mask``
    False marks padding, which no other position reads.
    """

    @sizes("d_model", "num_heads", "seq_len", "block", "proj", window=0)
    def __init__(self, d_model: int, num_heads: int, kind: str, seq_len: int, *,
                 window: int = 16, global_tokens: list[int] | None = None, block: int = 16,
                 proj: int = 64, seed: int = 0):
        super().__init__()
        if kind not in ATTENTION_KINDS:
            raise ValueError(f"kind must be one of {ATTENTION_KINDS}, got {kind!r}")
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}")
        if kind == "block_sparse" and seq_len % block:
            raise ValueError(f"block_sparse needs seq_len={seq_len} to be a multiple of "
                             f"block={block}")
        self.kind, self.h, self.seq_len = kind, num_heads, seq_len
        self.window, self.global_tokens, self.block, self.seed = window, global_tokens, block, seed
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        if kind == "linformer":
            self.E = nn.Parameter(torch.randn(proj, seq_len) / math.sqrt(seq_len))
            self.F = nn.Parameter(torch.randn(proj, seq_len) / math.sqrt(seq_len))

    def forward(self, x: Tensor, key_mask: Tensor | None = None) -> Tensor:
        if x.dim() != 3 or x.shape[1] != self.seq_len:
            raise ValueError(f"expected (B, n={self.seq_len}, d_model), got {tuple(x.shape)}")
        B, n, D = x.shape
        if key_mask is not None and tuple(key_mask.shape) != (B, n):
            raise ValueError(f"key_mask must be (B, n) = {(B, n)}, got {tuple(key_mask.shape)}")
        km = None if key_mask is None else key_mask.bool()[:, None, :]          # (B, 1, n)
        q, k, v = self.qkv(x).view(B, n, 3, self.h, D // self.h).permute(2, 0, 3, 1, 4)
        if self.kind == "full":
            # (B, 1, 1, n): every query, padding or not, reads the unmasked keys (a row would be
            # empty only if a whole sequence were padding; as cheap as no mask on a CPU)
            mask = None if km is None else km[:, :, None, :]
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        elif self.kind == "sliding":
            out = sliding_window_attention(q, k, v, self.window, self.global_tokens, key_mask=km)
        elif self.kind == "block_sparse":
            out = block_sparse_attention(q, k, v, self.block, seed=self.seed, key_mask=km)
        else:
            out = linformer_attention(q, k, v, self.E, self.F, key_mask=km)
        return self.out(out.transpose(1, 2).reshape(B, n, D))


class LinformerSelfAttention(EfficientSelfAttention):
    """Multi-head self-attention with learned Linformer projections of length ``proj``:
    :class:`EfficientSelfAttention` with ``kind="linformer"``.

    ``forward(x (B, n, d_model)) -> (B, n, d_model)``, for sequences of exactly ``seq_len``.
    """

    @sizes("d_model", "num_heads", "seq_len", "proj")
    def __init__(self, d_model: int, num_heads: int, seq_len: int, proj: int):
        super().__init__(d_model, num_heads, "linformer", seq_len, proj=proj)


class LongSequenceClassifier(nn.Module):
    """A pre-LN encoder for long inputs with a pluggable attention pattern.

    A learned CLS vector is put at position 0; it is a global token for ``"sliding"`` (unless
    ``global_cls=False``; it lies in the global block for ``"block_sparse"``), and the class is
    read from it. ``pretrained_embeddings`` ``(vocab_size, E)``: frozen word vectors, projected
    to ``d_model`` by a trained Linear, instead of embeddings learned from scratch.
    ``forward(tokens (B, seq_len)) -> logits (B, num_classes)``; inputs of another length are
    refused (cut or pad them first). Tokens equal to ``pad_id`` (0: MiniLM's [PAD] and the
    course's vocabularies) are masked as keys in every layer: no other position, the CLS
    included, reads them, so appending padding cannot change the logits (tested). Their input
    vector is *not* zero (a pretrained [PAD] row, or the projection's bias, plus a position), so
    ``pad_id=None``, which reads them like any token, lets the padding change the output.
    """

    @sizes("vocab_size", "num_classes", "seq_len", "d_model", "num_heads", "num_layers", "block", "proj", window=0)
    def __init__(self, vocab_size: int, num_classes: int, seq_len: int, attention: str = "full",
                 *, d_model: int = 32, num_heads: int = 2, num_layers: int = 1,
                 window: int = 16, block: int = 16, proj: int = 64, seed: int = 0,
                 global_cls: bool = True, pretrained_embeddings: Tensor | None = None,
                 pad_id: int | None = 0):
        super().__init__()
        n = seq_len + 1 if attention != "block_sparse" else seq_len + block  # CLS (+ its block)
        self.vocab_size, self.seq_len, self.attention, self.n = vocab_size, seq_len, attention, n
        if pad_id is not None and not 0 <= pad_id < vocab_size:
            raise ValueError(f"pad_id must lie in [0, vocab_size={vocab_size}) or be None, got {pad_id}")
        self.pad_id = pad_id
        if pretrained_embeddings is None:
            self.embed: nn.Module = nn.Embedding(vocab_size, d_model, padding_idx=pad_id)
        else:  # frozen word vectors (vocab_size, E), projected to d_model by a trained Linear
            if pretrained_embeddings.shape[0] != vocab_size:
                raise ValueError(f"pretrained_embeddings has {pretrained_embeddings.shape[0]} "
                                 f"rows for vocab_size={vocab_size}")
            self.embed = nn.Sequential(nn.Embedding.from_pretrained(pretrained_embeddings),
                                       nn.Linear(pretrained_embeddings.shape[1], d_model))
        self.cls = nn.Parameter(torch.randn(1, 1, d_model) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, n, d_model) * 0.02)
        self.layers = nn.ModuleList()
        for _ in range(num_layers):
            self.layers.append(nn.ModuleDict(dict(
                norm1=nn.LayerNorm(d_model),
                attn=EfficientSelfAttention(d_model, num_heads, attention, n, window=window,
                                            global_tokens=[0] if global_cls else None, block=block, proj=proj,
                                            seed=seed),
                norm2=nn.LayerNorm(d_model),
                ff=FeedForward(d_model, 4 * d_model))))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, tokens: Tensor) -> Tensor:
        if tokens.dim() != 2 or tokens.shape[1] != self.seq_len:
            raise ValueError(f"tokens must be (B, seq_len={self.seq_len}), got "
                             f"{tuple(tokens.shape)}")
        if int(tokens.min()) < 0 or int(tokens.max()) >= self.vocab_size:
            raise ValueError(f"token ids must lie in [0, {self.vocab_size}); got "
                             f"[{int(tokens.min())}, {int(tokens.max())}]")
        x = self.embed(tokens)
        lead = self.n - self.seq_len      # CLS, then (block_sparse) zeros filling its block
        x = torch.cat([self.cls.expand(x.shape[0], 1, -1),
                       x.new_zeros(x.shape[0], lead - 1, x.shape[2]), x], dim=1) + self.pos
        key_mask = None                   # (B, n): False at padding; None when there is none
        if self.pad_id is not None and bool((tokens == self.pad_id).any()):
            key_mask = F.pad(tokens != self.pad_id, (lead, 0), value=True)
        for layer in self.layers:
            x = x + layer["attn"](layer["norm1"](x), key_mask)
            x = x + layer["ff"](layer["norm2"](x))
        return self.head(self.norm(x[:, 0]))


@sizes("num_classes", "steps", "batch_size", "eval_every", "eval_batch_size")
def train_long_classifiers(variants: dict[str, dict], train_x: Tensor, train_y: Tensor,
                           test_x: Tensor, test_y: Tensor, *, num_classes: int, steps: int,
                           batch_size: int, seed: int, desc: str = "train", lr: float = 3e-3,
                           val_x: Tensor | None = None, val_y: Tensor | None = None,
                           eval_every: int = 25, target: float | None = None,
                           eval_batch_size: int = 64, device: torch.device | str = "cpu",
                           verbose: bool = True, **model_kw) -> dict[str, dict]:
    """Train one :class:`LongSequenceClassifier` per attention variant on the same data, from
    the same seed, and report each one's test accuracy.

    ``variants``: name -> keyword arguments of ``LongSequenceClassifier`` (``attention=``,
    ``global_cls=``, ...), plus an optional ``cut``: the model then sees only the first ``cut``
    tokens (truncation). ``train_x`` ``(N, n)``, ``test_x`` ``(M, n)`` and ``val_x`` ``(V, n)``:
    token ids; ``train_y`` ``(N,)``, ``test_y`` ``(M,)``, ``val_y`` ``(V,)``: labels.
    ``model_kw`` go to every model (sizes, ``num_layers``, ``pretrained_embeddings``);
    ``vocab_size`` defaults to ``max id + 1``.
    With ``target``, training stops early once the accuracy on the validation split
    (``val_x``, ``val_y``; required then), measured every ``eval_every`` steps, reaches it; the
    test set is read once, after training, so it never decides when to stop. Accuracies are
    computed ``eval_batch_size`` rows at a time (on a CPU, batches of tens of long sequences run
    faster than one huge batch). Returns ``{name: dict(accuracy, val_accuracy, steps, seconds,
    model)}`` (``val_accuracy`` None without a validation split) and, with ``verbose``, prints one
    line per variant (its test accuracy, steps and seconds).
    """
    from .training import accuracy, batches, train

    if train_x.dim() != 2 or test_x.dim() != 2 or train_x.shape[1] != test_x.shape[1]:
        raise ValueError(f"train_x and test_x must be (N, n) token ids of one length, got "
                         f"{tuple(train_x.shape)} and {tuple(test_x.shape)}")
    if len(train_y) != len(train_x) or len(test_y) != len(test_x):
        raise ValueError("train_y / test_y must have one label per row of train_x / test_x")
    if (val_x is None) != (val_y is None):
        raise ValueError("pass both val_x and val_y, or neither")
    if val_x is not None and (val_x.dim() != 2 or val_x.shape[1] != train_x.shape[1]
                              or len(val_y) != len(val_x)):
        raise ValueError(f"val_x must be (V, n={train_x.shape[1]}) token ids with one label per "
                         f"row in val_y, got {tuple(val_x.shape)} and {tuple(val_y.shape)}")
    if target is not None and val_x is None:
        raise ValueError(f"target={target} stops training on a validation accuracy: pass val_x "
                         f"and val_y (a split of the training data, never the test set)")
    if eval_batch_size < 1:
        raise ValueError(f"eval_batch_size must be >= 1, got {eval_batch_size}")
    model_kw.setdefault("vocab_size", int(max(train_x.max(), test_x.max())) + 1)

    @torch.no_grad()
    def score(model, x, y):
        return accuracy(model, x, y, batch_size=eval_batch_size)

    results = {}
    for name, kw in variants.items():
        kw = dict(kw)
        cut = kw.pop("cut", train_x.shape[1])
        if not 1 <= cut <= train_x.shape[1]:
            raise ValueError(f"{name}: cut={cut} must lie in [1, {train_x.shape[1]}]")
        torch.manual_seed(seed)
        model = LongSequenceClassifier(num_classes=num_classes, seq_len=cut, seed=seed,
                                       **kw, **model_kw).to(device)
        xt, xe = train_x[:, :cut], test_x[:, :cut]
        xv = None if val_x is None else val_x[:, :cut]
        hist = train(model, batches(xt, train_y, batch_size=batch_size,
                                    generator=torch.Generator().manual_seed(seed)),
                     steps=steps, lr=lr, warmup_steps=10, eval_every=eval_every, target=target,
                     eval_fn=None if xv is None else (lambda: score(model, xv, val_y)),
                     desc=f"{desc}: {name}")
        acc = score(model, xe, test_y)
        results[name] = dict(accuracy=acc, val_accuracy=hist.final_metric if xv is not None else None,
                             steps=hist.num_steps, seconds=hist.seconds, model=model)
        if verbose:
            print(f"{desc:>7} | {name:<22} accuracy {acc:.3f}  "
                  f"({hist.num_steps} steps, {hist.seconds:.1f} s)")
    return results
