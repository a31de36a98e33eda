"""Explaining a prediction: attention rollout, gradient × input, occlusion, and how far they agree.

All functions take a classifier mapping token ids ``(B, T)`` to logits ``(B, C)`` (as
:class:`course_utils.models.TransformerClassifier` does) and return one score per token.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from .validation import sizes

__all__ = ["attention_rollout", "log_odds", "gradient_x_input", "occlusion", "rank_correlation",
           "rank_correlations", "repeated_random_tokens", "per_token_loss", "induction_scores",
           "previous_token_scores", "top1_agreement"]


def attention_rollout(attentions: list[Tensor] | Tensor, residual: bool = True) -> Tensor:
    """Attention rollout (Abnar & Zuidema 2020) for one input.

    ``attentions``: per layer ``(H, T, T)`` (or a ``(L, H, T, T)`` tensor). Heads are averaged;
    with ``residual`` each layer's matrix becomes 0.5·A + 0.5·I (the skip connection), rows
    renormalised; the layers are multiplied from the first to the last. Returns ``(T, T)``:
    row t is how much each input token flows into position t at the top.
    """
    layers = list(attentions)
    if not layers or any(a.dim() != 3 for a in layers):
        raise ValueError(f"need per-layer (H, T, T) weights, got {[tuple(a.shape) for a in layers]}")
    T = layers[0].shape[-1]
    rollout = torch.eye(T, dtype=layers[0].dtype, device=layers[0].device)
    for a in layers:
        a = a.mean(0)
        if residual:
            a = 0.5 * a + 0.5 * torch.eye(T, dtype=a.dtype, device=a.device)
            a = a / a.sum(-1, keepdim=True)
        rollout = a @ rollout
    return rollout


def _embedding_module(model):
    emb = getattr(model, "embed", None)                         # the course's classifiers
    if emb is not None:
        return emb
    norm = getattr(getattr(model, "encoder", None), "norm", None)   # BertClassifier: embedding LayerNorm
    if norm is None:
        raise ValueError("the model needs an `embed` nn.Embedding (or BERT's `encoder.norm`); "
                         "pass `at=` the module whose output holds one vector per token")
    return norm


def log_odds(logits: Tensor) -> Tensor:
    """Each class's log-odds, ``(B, C) -> (B, C)``: log p_c / (1 − p_c) = z_c − log Σ_{j≠c} e^{z_j}.
    With two classes it is the logit margin z_c − z_other. It is what a decision rests on: adding
    the same amount to every logit leaves it unchanged (a class's raw logit does not), and unlike
    log p_c it does not flatten to 0 when the prediction is sure (computed without forming p)."""
    if logits.dim() != 2 or logits.shape[1] < 2:
        raise ValueError(f"need logits (B, C) with C >= 2, got {tuple(logits.shape)}")
    eye = torch.eye(logits.shape[1], dtype=torch.bool, device=logits.device)
    others = logits[:, None, :].masked_fill(eye, -float("inf"))          # (B, C, C): row c without z_c
    return logits - others.logsumexp(-1)


OUTPUTS = {"log_odds": log_odds, "logit": lambda z: z}


def _output_fn(output: str):
    if output not in OUTPUTS:
        raise ValueError(f"output must be one of {list(OUTPUTS)}, got {output!r}")
    return OUTPUTS[output]


def gradient_x_input(model, tokens: Tensor, target: int | Tensor | None = None, *,
                     at: torch.nn.Module | None = None, at_input: bool = False,
                     output: str = "log_odds") -> Tensor:
    """Gradient × input per token: ``(B, T)`` on the CPU, the sum over features of
    ∂F/∂e · e, where e ``(B, T, d)`` is the output of the module ``at`` (its first input with
    ``at_input=True``) and F the target class's log-odds (:func:`log_odds`; ``output="logit"``:
    its raw logit, which with a softmax can rise or fall with every class's logit and so need
    not follow the decision). ``target`` defaults to the prediction. ``tokens`` ``(B, T)``
    may live anywhere: they are moved to the model's device.

    ``at`` defaults to ``model.embed`` (the course's classifiers: the token embedding feeds a
    residual stream) and, for BERT (:class:`course_utils.pretrained.BertClassifier`), to the
    *output* of the embedding LayerNorm ``model.encoder.norm``. Not its input, nor the word
    embedding: LayerNorm is scale-invariant, LN(c·s) = LN(s), so at s = word + position + type
    ∂F/∂s · s = 0 for every token, and the word embedding's score is minus that of position
    and type (call with ``at=model.encoder.norm, at_input=True`` to see the zero). After the
    LayerNorm the vector enters attention and the residual stream, where its scale matters."""
    out_fn = _output_fn(output)
    emb = _embedding_module(model) if at is None else at
    device = next(model.parameters()).device
    tokens = tokens.to(device)
    captured = {}

    def keep(e):
        if not e.requires_grad:
            raise ValueError(f"gradient × input at {type(emb).__name__}: its "
                             f"{'input' if at_input else 'output'} does not require a gradient")
        e.retain_grad()
        captured["e"] = e

    handle = (emb.register_forward_pre_hook(lambda _m, inputs: keep(inputs[0])) if at_input
              else emb.register_forward_hook(lambda _m, _inputs, output: keep(output)))
    was_training = model.training
    model.eval()
    try:
        logits = model(tokens)
        if target is None:
            target = logits.argmax(-1)
        target = torch.as_tensor(target, device=tokens.device).expand(tokens.shape[0])
        out_fn(logits).gather(1, target[:, None]).sum().backward()
        e = captured["e"]
        if e.shape[:2] != tokens.shape:
            raise ValueError(f"gradient × input at {type(emb).__name__}: its tensor {tuple(e.shape)} "
                             f"does not hold one vector per token {tuple(tokens.shape)}")
        scores = (e.grad * e).sum(-1).detach()
    finally:
        handle.remove()
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    return scores.masked_fill(tokens == getattr(model, "pad_id", 0), 0.0).cpu()


@torch.no_grad()
def occlusion(model, tokens: Tensor, target: int | Tensor | None = None) -> Tensor:
    """Leave-one-token-out importance ``(B, T)`` on the CPU: the drop in the target class's
    probability when that token is removed (the rest shift left, padding fills the end).
    ``tokens`` ``(B, T)`` are moved to the model's device."""
    tokens = tokens.to(next(model.parameters()).device)
    was_training = model.training
    model.eval()
    pad = getattr(model, "pad_id", 0)
    probs = model(tokens).softmax(-1)
    if target is None:
        target = probs.argmax(-1)
    target = torch.as_tensor(target, device=tokens.device).expand(tokens.shape[0])
    base = probs.gather(1, target[:, None]).squeeze(1)
    B, T = tokens.shape
    scores = torch.zeros(B, T, device=tokens.device)
    for t in range(T):
        removed = torch.cat([tokens[:, :t], tokens[:, t + 1:],
                             torch.full((B, 1), pad, device=tokens.device)], dim=1)
        p = model(removed).softmax(-1).gather(1, target[:, None]).squeeze(1)
        scores[:, t] = base - p
    model.train(was_training)
    return scores.masked_fill(tokens == pad, 0.0).cpu()


def rank_correlation(a: Tensor, b: Tensor) -> float:
    """Spearman's rank correlation of two score vectors of the same length (one row of
    :func:`rank_correlations`)."""
    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"score vectors differ in length: {a.shape} and {b.shape}")
    return float(rank_correlations(a[None], b[None])[0])


def rank_correlations(a: Tensor, b: Tensor) -> Tensor:
    """Spearman's rank correlation of each row of ``a`` with the same row of ``b``:
    ``(B, T), (B, T) -> (B,)`` (ties get average ranks; a row that is constant in either gives NaN)."""
    from scipy.stats import rankdata

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"need two (B, T) score tensors of the same shape, got {a.shape} and {b.shape}")
    ra, rb = rankdata(a, axis=1), rankdata(b, axis=1)
    ra, rb = ra - ra.mean(1, keepdims=True), rb - rb.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (ra * rb).sum(1) / np.sqrt((ra ** 2).sum(1) * (rb ** 2).sum(1))
    return torch.from_numpy(r)


def top1_agreement(scores: Tensor, positions: Tensor) -> float:
    """Fraction of rows whose highest score sits at the known deciding ``positions`` ``(B,)``."""
    return (scores.argmax(-1) == positions).float().mean().item()


# ---- induction heads (Olsson et al. 2022) on a pretrained causal language model -------------------
@sizes("batch", "length")
def repeated_random_tokens(batch: int, length: int, *, low: int, high: int, bos_id: int,
                           seed: int) -> Tensor:
    """``(batch, 1 + 2·length)`` ids: a BOS token, then ``length`` ids drawn uniformly from
    ``[low, high)``, then the same ``length`` ids again (Olsson et al.'s repeated random tokens)."""
    if batch < 1 or length < 2 or not 0 <= low < high:
        raise ValueError(f"need batch >= 1, length >= 2 and 0 <= low < high; got batch={batch}, "
                         f"length={length}, low={low}, high={high}")
    g = torch.Generator().manual_seed(seed)
    r = torch.randint(low, high, (batch, length), generator=g)
    return torch.cat([torch.full((batch, 1), bos_id), r, r], 1)


def per_token_loss(logits: Tensor, ids: Tensor) -> Tensor:
    """Next-token cross-entropy in nats, ``(B, T-1)``: entry t is −log p(ids[t+1] | ids[≤t]).
    ``logits`` ``(B, T, V)``, ``ids`` ``(B, T)``."""
    if logits.dim() != 3 or ids.shape != logits.shape[:2]:
        raise ValueError(f"need logits (B, T, V) and ids (B, T); got {tuple(logits.shape)} and {tuple(ids.shape)}")
    logp = logits[:, :-1].float().log_softmax(-1)
    return -logp.gather(2, ids[:, 1:, None]).squeeze(2)


@sizes("length")
def induction_scores(attentions, length: int) -> Tensor:
    """Induction score per (layer, head), ``(L, H)``: on BOS + r + r with ``len(r) = length``, the
    mean attention from each token of the second copy (position t) to the token *after* its
    earlier occurrence (position t − length + 1), averaged over the batch. An induction head
    scores near 1; a head that ignores the earlier copy scores near 1 / t.
    ``attentions``: per layer ``(B, H, T, T)`` (as ``output_attentions=True`` returns) with
    ``T = 1 + 2·length``, or one ``(B, L, H, T, T)`` tensor."""
    a = torch.stack(list(attentions), 1) if not isinstance(attentions, Tensor) else attentions
    if a.dim() != 5 or a.shape[-1] != a.shape[-2] or a.shape[-1] != 1 + 2 * length:
        raise ValueError(f"need (B, L, H, T, T) weights with T = 1 + 2·length = {1 + 2 * length}, "
                         f"got {tuple(a.shape)}")
    queries = torch.arange(length + 1, 2 * length + 1)
    return a[..., queries, queries - length + 1].float().mean((0, -1))


def previous_token_scores(attentions) -> Tensor:
    """Previous-token score per (layer, head), ``(L, H)``: the mean attention from each query
    ``t >= 2`` to key ``t - 1``, averaged over the batch (query 1 is left out: its only earlier key
    is the first token). A previous-token head scores near 1. ``attentions``: per layer
    ``(B, H, T, T)`` with ``T >= 3``, or one ``(B, L, H, T, T)`` tensor."""
    a = torch.stack(list(attentions), 1) if not isinstance(attentions, Tensor) else attentions
    if a.dim() != 5 or a.shape[-1] != a.shape[-2] or a.shape[-1] < 3:
        raise ValueError(f"need (B, L, H, T, T) weights with T >= 3, got {tuple(a.shape)}")
    return a.diagonal(offset=-1, dim1=-2, dim2=-1)[..., 1:].float().mean((0, -1))
