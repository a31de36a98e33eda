"""Explaining a prediction: attention rollout, gradient × input, occlusion, and how far they agree.

All functions take a classifier mapping token ids ``(B, T)`` to logits ``(B, C)`` (as
:class:`course_utils.models.TransformerClassifier` does) and return one score per token.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["attention_rollout", "gradient_x_input", "occlusion", "rank_correlation",
           "top1_agreement"]


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
    emb = getattr(model, "embed", None)
    if emb is None:
        raise ValueError("the model needs an `embed` nn.Embedding to attribute to tokens")
    return emb


def gradient_x_input(model, tokens: Tensor, target: int | Tensor | None = None) -> Tensor:
    """Gradient × input per token: ``(B, T)`` on the CPU, the sum over features of
    ∂logit_target/∂e · e at each token's embedding e. ``target`` defaults to the prediction.
    ``tokens`` ``(B, T)`` may live anywhere: they are moved to the model's device."""
    emb = _embedding_module(model)
    tokens = tokens.to(emb.weight.device)
    captured = {}

    def hook(_module, _inputs, output):
        output.retain_grad()
        captured["e"] = output

    handle = emb.register_forward_hook(hook)
    was_training = model.training
    model.eval()
    try:
        logits = model(tokens)
        if target is None:
            target = logits.argmax(-1)
        target = torch.as_tensor(target, device=tokens.device).expand(tokens.shape[0])
        logits.gather(1, target[:, None]).sum().backward()
        e = captured["e"]
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
    """Spearman's rank correlation of two score vectors of the same length."""
    from scipy.stats import spearmanr

    a, b = np.asarray(a, dtype=float).ravel(), np.asarray(b, dtype=float).ravel()
    if a.shape != b.shape:
        raise ValueError(f"score vectors differ in length: {a.shape} and {b.shape}")
    return float(spearmanr(a, b).statistic)


def top1_agreement(scores: Tensor, positions: Tensor) -> float:
    """Fraction of rows whose highest score sits at the known deciding ``positions`` ``(B,)``."""
    return (scores.argmax(-1) == positions).float().mean().item()
