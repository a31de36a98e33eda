"""The field's explanation libraries (LIME, SHAP, Captum's integrated gradients) on the course's
token classifiers, and ERASER's faithfulness scores to judge any explanation.

Every explainer here takes a classifier mapping token ids ``(B, T)`` to logits ``(B, C)`` and
returns one score per token, ``(B, T)`` on the CPU, so that LIME, SHAP and IG sit in the same table
as :mod:`course_utils.interpret`'s attention rollout, gradient × input and occlusion.

*Removing* a token means replacing it by the model's padding id (``model.pad_id``, default 0): both
:class:`course_utils.models.TransformerClassifier` and :class:`course_utils.pretrained.BertClassifier`
mask padding out of attention and pooling, so the token is gone without shifting the others.
The same removal is used by LIME's and SHAP's samples, IG's baseline and the faithfulness scores.
``fixed`` (a ``(B, T)`` bool mask, optional) marks tokens that are never removed and score 0:
BERT's ``[CLS]`` and ``[SEP]``, which are part of the input format rather than of the text.

LIME and SHAP work on strings, so a sequence of ids travels as the string ``"12 7 31"``: one word
per token, the id as the word. That keeps one feature per position (LIME with ``bow=False``) and
lets both libraries run unchanged.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

__all__ = ["ids_to_text", "text_to_ids", "probabilities_of_texts", "lime_scores", "shap_scores",
           "integrated_gradients", "random_scores", "comprehensiveness", "sufficiency"]


def _check_tokens(tokens: Tensor, fixed: Tensor | None = None) -> Tensor:
    if not isinstance(tokens, Tensor) or tokens.dim() != 2 or tokens.dtype != torch.long:
        raise ValueError(f"tokens must be a (B, T) long tensor, got "
                         f"{type(tokens).__name__} {tuple(getattr(tokens, 'shape', ()))} "
                         f"{getattr(tokens, 'dtype', '')}")
    if fixed is not None and (not isinstance(fixed, Tensor) or fixed.shape != tokens.shape
                              or fixed.dtype != torch.bool):
        raise ValueError(f"fixed must be a bool tensor shaped like tokens {tuple(tokens.shape)}, got "
                         f"{tuple(getattr(fixed, 'shape', ()))} {getattr(fixed, 'dtype', '')}")
    return tokens


def _pad_id(model) -> int:
    return int(getattr(model, "pad_id", 0))


def _device(model) -> torch.device:
    return next(model.parameters()).device


def _free(tokens: Tensor, pad: int, fixed: Tensor | None) -> Tensor:
    """``(B, T)`` bool: the tokens an explanation may score and remove (not padding, not fixed)."""
    free = tokens != pad
    return free if fixed is None else free & ~fixed


def ids_to_text(ids: Tensor) -> str:
    """One sequence of ids ``(T,)`` as the string the text explainers split: ``"12 7 31"``."""
    return " ".join(str(int(i)) for i in ids)


def text_to_ids(texts: list[str], length: int, pad_id: int = 0) -> Tensor:
    """Strings of ids back to ``(N, length)`` long ids, padded with ``pad_id`` (inverse of
    :func:`ids_to_text`); a string with more than ``length`` ids or a non-integer word is an error."""
    rows = []
    for text in texts:
        words = text.split()
        try:
            row = [int(w) for w in words]
        except ValueError as e:
            raise ValueError(f"expected a string of token ids, got {text[:60]!r}") from e
        if len(row) > length:
            raise ValueError(f"a string holds {len(row)} ids, more than length={length}")
        rows.append(row + [pad_id] * (length - len(row)))
    return torch.tensor(rows, dtype=torch.long).reshape(len(rows), length)


@torch.no_grad()
def probabilities_of_texts(model, texts, sequence: Tensor, positions: Tensor,
                           batch_size: int = 256) -> np.ndarray:
    """The classifier function LIME and SHAP call: each string holds ids for ``positions`` of
    ``sequence`` ``(T,)`` (a removed one is the padding id); the other positions keep their ids.
    Returns the model's class probabilities ``(N, C)`` as numpy."""
    was_training = model.training
    model.eval()
    words = text_to_ids([str(t) for t in texts], len(positions), _pad_id(model))   # (N, len(positions))
    ids = sequence.expand(len(words), -1).clone()
    ids[:, positions] = words
    out = [model(ids[i:i + batch_size].to(_device(model))).softmax(-1).cpu()
           for i in range(0, len(ids), batch_size)]
    model.train(was_training)
    return torch.cat(out).numpy()


def _targets(model, tokens: Tensor, target) -> Tensor:
    if target is None:
        with torch.no_grad():
            was_training = model.training
            model.eval()
            target = model(tokens.to(_device(model))).argmax(-1).cpu()
            model.train(was_training)
    return torch.as_tensor(target).expand(tokens.shape[0])


def lime_scores(model, tokens: Tensor, target: int | Tensor | None = None, *, num_samples: int = 500,
                seed: int = 0, fixed: Tensor | None = None) -> Tensor:
    """LIME (Ribeiro et al. 2016) with ``lime.lime_text.LimeTextExplainer``: ``num_samples``
    random removals per sequence, a locally weighted linear model fitted to the target class's
    probability; its coefficient per position is the score. ``tokens`` ``(B, T)`` → ``(B, T)``;
    padding and ``fixed`` positions score 0. ``target`` defaults to the prediction."""
    from lime.lime_text import LimeTextExplainer

    tokens = _check_tokens(tokens, fixed)
    if num_samples < 2:
        raise ValueError(f"num_samples must be >= 2, got {num_samples}")
    pad = _pad_id(model)
    target, free = _targets(model, tokens, target), _free(tokens, pad, fixed)
    explainer = LimeTextExplainer(split_expression=r"\s+", bow=False, mask_string=str(pad),
                                  random_state=seed)
    scores = torch.zeros(tokens.shape, dtype=torch.float32)
    for b in range(tokens.shape[0]):
        pos = free[b].nonzero().squeeze(1)
        if len(pos) == 0:
            continue
        label = int(target[b])
        exp = explainer.explain_instance(
            ids_to_text(tokens[b, pos]), lambda texts: probabilities_of_texts(model, texts, tokens[b], pos),
            labels=(label,), num_features=len(pos), num_samples=num_samples)
        for feature, weight in exp.as_map()[label]:
            scores[b, pos[feature]] = weight
    return scores


def _import_shap():
    """``import shap`` with numba's JIT off while shap's modules load, so its ``@njit`` functions stay
    plain Python. shap does not cache their compiled code: every new process compiled them on first
    use, 10-15 s on 2 cores, while the course's short texts need about 0.1 s of SHAP per sentence
    without them. (If shap was imported before, its compiled functions are used as they are.)"""
    import sys

    if "shap" in sys.modules:
        return sys.modules["shap"]
    import numba

    before = numba.config.DISABLE_JIT
    numba.config.DISABLE_JIT = True
    try:
        import shap
    finally:
        numba.config.DISABLE_JIT = before
    return shap


def shap_scores(model, tokens: Tensor, target: int | Tensor | None = None, *, max_evals: int = 300,
                seed: int = 0, fixed: Tensor | None = None) -> Tensor:
    """SHAP values (Lundberg & Lee 2017) from ``shap``'s Partition explainer with a text masker:
    at most ``max_evals`` model calls per sequence, Owen values over a hierarchy of neighbouring
    tokens, removal = padding. ``tokens`` ``(B, T)`` → ``(B, T)`` for the target class; padding and
    ``fixed`` positions score 0."""
    shap = _import_shap()

    tokens = _check_tokens(tokens, fixed)
    if max_evals < 2:
        raise ValueError(f"max_evals must be >= 2, got {max_evals}")
    pad = _pad_id(model)
    target, free = _targets(model, tokens, target), _free(tokens, pad, fixed)
    np.random.seed(seed)
    masker = shap.maskers.Text(r"\s+", mask_token=str(pad), collapse_mask_token=False)
    scores = torch.zeros(tokens.shape, dtype=torch.float32)
    for b in range(tokens.shape[0]):
        pos = free[b].nonzero().squeeze(1)
        if len(pos) == 0:
            continue
        explainer = shap.Explainer(lambda texts: probabilities_of_texts(model, texts, tokens[b], pos),
                                   masker, algorithm="partition")
        explanation = explainer([ids_to_text(tokens[b, pos])], max_evals=max_evals, silent=True)
        values = np.asarray(explanation.values[0])[:, int(target[b])]
        words = [w.strip() for w in explanation.data[0]]
        keep = [i for i, w in enumerate(words) if w]          # the masker may add empty pieces
        if len(keep) != len(pos):
            raise RuntimeError(f"shap split the sequence into {len(keep)} tokens, expected {len(pos)}")
        scores[b, pos] = torch.tensor(values[keep], dtype=torch.float32)
    return scores


def integrated_gradients(model, tokens: Tensor, target: int | Tensor | None = None, *, steps: int = 32,
                         embedding: torch.nn.Module | None = None, fixed: Tensor | None = None,
                         return_delta: bool = False):
    """Integrated gradients (Sundararajan et al. 2017) with Captum's ``LayerIntegratedGradients``
    on the token embedding's output: the straight path from a baseline (each scored token's
    embedding replaced by the padding token's embedding; ``fixed`` tokens kept) to the input, in
    ``steps`` steps, summed over features. The padding mask still comes from the original ids, so
    the baseline's positions stay visible to attention: the baseline is "pad vectors", not "no
    tokens". ``tokens`` ``(B, T)`` → ``(B, T)``; padding and ``fixed`` positions score 0.
    ``embedding`` defaults to ``model.embed`` (course models) or ``model.encoder.word`` (BERT).
    ``return_delta=True`` also returns Captum's convergence delta ``(B,)``: the attributions' sum
    minus (target logit at the input − at the baseline), which completeness says is 0 and a
    ``steps``-point approximation of the integral leaves small."""
    from captum.attr import LayerIntegratedGradients

    tokens = _check_tokens(tokens, fixed)
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    if embedding is None:
        embedding = getattr(model, "embed", None) or getattr(getattr(model, "encoder", None), "word", None)
    if embedding is None:
        raise ValueError("pass `embedding=`: the model has neither .embed nor .encoder.word")
    pad, device = _pad_id(model), _device(model)
    target, free = _targets(model, tokens, target), _free(tokens, pad, fixed)
    was_training = model.training
    model.eval()
    try:
        ig = LayerIntegratedGradients(model, embedding)
        x = tokens.to(device)
        baseline = x.masked_fill(free.to(device), pad)
        attributions, delta = ig.attribute(x, baselines=baseline, target=target.to(device), n_steps=steps,
                                           internal_batch_size=max(1, 4096 // tokens.shape[1]),
                                           return_convergence_delta=True)
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    scores = attributions.sum(-1).detach().cpu().float().masked_fill(~free, 0.0)
    return (scores, delta.detach().cpu().float()) if return_delta else scores


def random_scores(tokens: Tensor, seed: int = 0, pad_id: int = 0, fixed: Tensor | None = None) -> Tensor:
    """The baseline every method must beat: uniform random scores ``(B, T)``; padding and
    ``fixed`` positions 0."""
    tokens = _check_tokens(tokens, fixed)
    g = torch.Generator().manual_seed(seed)
    return torch.rand(tokens.shape, generator=g).masked_fill(~_free(tokens, pad_id, fixed), 0.0)


def _top_mask(free: Tensor, scores: Tensor, fraction: float) -> Tensor:
    """``(B, T)`` bool: each row's ``max(1, round(fraction × free tokens))`` highest-scoring free tokens."""
    k = (free.sum(1).float() * fraction).round().clamp(min=1).long()
    order = scores.masked_fill(~free, -float("inf")).argsort(dim=1, descending=True, stable=True)
    ranks = torch.empty_like(order)
    ranks.scatter_(1, order, torch.arange(free.shape[1]).expand_as(order).contiguous())
    return (ranks < k[:, None]) & free


@torch.no_grad()
def _erasure(model, tokens, scores, fractions, target, fixed, keep_top: bool) -> Tensor:
    tokens = _check_tokens(tokens, fixed)
    if scores.shape != tokens.shape:
        raise ValueError(f"scores {tuple(scores.shape)} must match tokens {tuple(tokens.shape)}")
    if not torch.isfinite(scores).all():
        raise ValueError("scores hold NaN or infinite values")
    if not fractions or not all(0 < f <= 1 for f in fractions):
        raise ValueError(f"fractions must lie in (0, 1], got {fractions}")
    pad, device = _pad_id(model), _device(model)
    free = _free(tokens, pad, fixed)
    was_training = model.training
    model.eval()
    target = _targets(model, tokens, target).to(device)
    x = tokens.to(device)
    p_full = model(x).softmax(-1).gather(1, target[:, None]).squeeze(1)
    drops = []
    for f in fractions:
        top = _top_mask(free, scores.float().cpu(), f)
        removed = top if not keep_top else (free & ~top)
        p = model(x.masked_fill(removed.to(device), pad)).softmax(-1).gather(1, target[:, None]).squeeze(1)
        drops.append(p_full - p)
    model.train(was_training)
    return torch.stack(drops, 1).mean(1).cpu()


def comprehensiveness(model, tokens: Tensor, scores: Tensor, fractions=(0.1, 0.2, 0.3, 0.5),
                      target: int | Tensor | None = None, fixed: Tensor | None = None) -> Tensor:
    """ERASER's comprehensiveness (DeYoung et al. 2020), per sequence ``(B,)``: how much the target
    class's probability drops when the top-scored tokens are removed, averaged over the
    ``fractions`` of each sequence's scored tokens (an AOPC). Higher = more faithful.
    ``tokens``, ``scores`` ``(B, T)``."""
    return _erasure(model, tokens, scores, fractions, target, fixed, keep_top=False)


def sufficiency(model, tokens: Tensor, scores: Tensor, fractions=(0.1, 0.2, 0.3, 0.5),
                target: int | Tensor | None = None, fixed: Tensor | None = None) -> Tensor:
    """ERASER's sufficiency, per sequence ``(B,)``: the drop when *only* the top-scored tokens are
    kept (the rest removed), averaged over ``fractions``. Lower = the top tokens suffice."""
    return _erasure(model, tokens, scores, fractions, target, fixed, keep_top=True)
