"""The field's explanation libraries (LIME, SHAP, Captum's integrated gradients) on the course's
token classifiers, and ERASER's faithfulness scores to judge any explanation.

Every explainer here takes a classifier mapping token ids ``(B, T)`` to logits ``(B, C)`` and
returns one score per token, ``(B, T)`` on the CPU, so that LIME, SHAP and IG sit in the same table
as :mod:`course_utils.interpret`'s attention rollout, gradient × input and occlusion.

*Removing* a token means replacing it by the model's padding id (``model.pad_id``, default 0): both
:class:`course_utils.models.TransformerClassifier` and :class:`course_utils.pretrained.BertClassifier`
mask padding out of attention and pooling, so the token is gone without shifting the others.
The same removal is used by LIME's and SHAP's samples, the faithfulness scores and integrated
gradients, whose path runs from each token removed to each token present (a presence gate).
``fixed`` (a ``(B, T)`` bool mask, optional) marks tokens that are never removed and score 0:
BERT's ``[CLS]`` and ``[SEP]``, which are part of the input format rather than of the text.

LIME and SHAP work on strings, so a sequence of ids travels as the string ``"12 7 31"``: one word
per token, the id as the word. That keeps one feature per position (LIME with ``bow=False``) and
lets both libraries run unchanged.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from .validation import sizes

__all__ = ["ids_to_text", "text_to_ids", "probabilities_of_texts", "lime_scores", "shap_scores",
           "integrated_gradients", "random_scores", "comprehensiveness", "sufficiency",
           "paired_difference", "paired_p_value", "holm", "paired_table", "separated_pairs"]


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


@sizes("length")
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
@sizes("batch_size")
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


@sizes("max_evals")
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


def _interp(x: Tensor, xp: Tensor, fp: Tensor) -> Tensor:
    """Piecewise-linear interpolation, differentiable in ``x``: ``x`` ``(N, T)`` at the increasing
    knots ``xp`` ``(K+1,)`` with values ``fp`` ``(N, K+1)``, one row of values per row of ``x``
    (or ``(K+1,)``, shared)."""
    k = torch.searchsorted(xp, x.contiguous(), right=True).clamp(1, len(xp) - 1)
    x0, x1 = xp[k - 1], xp[k]
    fp = fp.expand(x.shape[0], -1)
    f0, f1 = fp.gather(1, k - 1), fp.gather(1, k)
    return f0 + (x - x0) / (x1 - x0) * (f1 - f0)


@sizes("steps")
def integrated_gradients(model, tokens: Tensor, target: int | Tensor | None = None, *, steps: int = 32,
                         fixed: Tensor | None = None, ramp: float = 40.0, scan: int | None = None,
                         output: str = "log_odds", return_delta: bool = False):
    """Integrated gradients (Sundararajan et al. 2017) over each token's **presence**, with Captum's
    ``IntegratedGradients``. The model must take ``forward(tokens, presence=g)``, a float ``(B, T)``
    gate in [0, 1] that weighs each token's key in attention (a bias log g) and its share of the
    pooling, so that g = 0 removes a token exactly as padding does (both course classifiers do;
    see :func:`course_utils.models.key_presence`). The path runs from g = 0 at every scored token
    (``fixed`` tokens and padding stay as they are) to g = 1, the input: its start is the removal
    every other method here uses, an input the model can meet, so completeness reads: the scores
    add up to F(x) − F(x with the scored tokens removed), F the target class's log-odds
    (:func:`course_utils.interpret.log_odds`, what the decision rests on; ``output="logit"``: its
    raw logit), up to the error of ``steps`` points. ``tokens`` ``(B, T)`` → ``(B, T)``; padding and ``fixed`` positions score 0.
    ``return_delta=True`` also returns ``(delta, change)``, both ``(B,)``: the scores' sum minus
    F(x) − F(removed) (0 if the integral were exact), and that change.

    Where the steps go: the path is one straight segment (every scored token's g rises together),
    and an integral along it does not depend on the speed at which it is walked, so the steps can
    be put where F changes. A token starts to count once g times its attention weight rivals the
    weight of what stays (g ≈ e^-30 … e^-5 in the course's models: a trained classifier can give a
    deciding word an attention logit 20 above the rest, so ``ramp`` = 20 left a jump between g = 0
    and the first point), and a trained model can switch
    its decision within a small stretch of log g, which evenly spaced steps miss (the sum of the
    scores is then off by more than the change itself). So each sequence's path is first scanned
    at ``scan`` points (default ``2 * steps``) evenly spaced in log g from −``ramp`` to 0 (forward
    passes only), and Captum's ``riemann_middle`` rule takes its ``steps`` midpoints on intervals
    that each hold an equal share of √|change of F| between scan points, plus a tenth spread
    evenly (the square root puts steps on the flanks of a switch, not only on its steepest part).
    ``scan=0`` spaces the steps evenly in log g, and ``ramp=0`` as well, evenly in g.
    """
    import inspect

    from captum.attr import IntegratedGradients

    from .interpret import _output_fn

    out_fn = _output_fn(output)
    tokens = _check_tokens(tokens, fixed)
    if steps < 2:
        raise ValueError(f"steps must be >= 2, got {steps}")
    scan = 2 * steps if scan is None else scan
    if not ramp >= 0 or scan < 0 or scan == 1:
        raise ValueError(f"need ramp >= 0 and scan = 0 or >= 2, got ramp={ramp}, scan={scan}")
    if "presence" not in inspect.signature(model.forward).parameters:
        raise ValueError(f"integrated_gradients needs a model whose forward takes presence= "
                         f"(a (B, T) gate in [0, 1]); {type(model).__name__}.forward does not")
    pad, device = _pad_id(model), _device(model)
    target, free = _targets(model, tokens, target), _free(tokens, pad, fixed)
    B, T = tokens.shape

    def gate(u: Tensor) -> Tensor:                                    # [0, 1] -> g, evenly in log g
        return u if ramp == 0 else torch.expm1(ramp * u) / math.expm1(ramp)

    was_training = model.training
    model.eval()
    try:
        x, tgt, free_d = tokens.to(device), target.to(device), free.to(device)
        alpha = torch.linspace(0, 1, steps + 1, device=device)          # Captum's interval ends
        knots = alpha.expand(B, -1)                                      # u at each end: no scan, even
        if scan:
            u = torch.linspace(0, 1, scan + 1, device=device)            # (K+1,) scan points
            with torch.no_grad():
                g = gate(u)[:, None, None].expand(-1, B, T).masked_fill(~free_d, 1.0)       # (K+1, B, T)
                f = torch.cat([out_fn(model(x.repeat(len(g[i:i + 32]), 1), presence=g[i:i + 32].reshape(-1, T)))
                               for i in range(0, len(g), 32)]).view(len(g), B, -1)
                f = f.gather(2, tgt[None, :, None].expand(len(g), B, 1)).squeeze(2).T       # (B, K+1)
            change = (f[:, 1:] - f[:, :-1]).abs().sqrt()                  # (B, K): √|ΔF| per scan interval
            change = change + 0.1 * change.mean(1, keepdim=True) + 1e-12  # and a tenth evenly
            cum = torch.cat([torch.zeros(B, 1, device=device), change.cumsum(1)], 1)
            cum = cum / cum[:, -1:]                                      # (B, K+1), 0 … 1
            # each of the `steps` intervals gets an equal share: invert cum, row by row
            knots = torch.stack([_interp(alpha[None], c, u)[0] for c in cum]).clamp(0, 1)  # (B, steps+1)

        def forward(a, ids, kn):                                         # a: α per token, (N, T)
            return out_fn(model(ids, presence=gate(_interp(a, alpha, kn))))

        ig = IntegratedGradients(forward)
        present = torch.ones(B, T, device=device)
        removed = present.masked_fill(free_d, 0.0)                      # the baseline: scored tokens gone
        attributions, delta = ig.attribute(present, baselines=removed, target=tgt,
                                           additional_forward_args=(x, knots), n_steps=steps,
                                           method="riemann_middle",
                                           internal_batch_size=max(1, 4096 // T),
                                           return_convergence_delta=True)
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    scores = attributions.detach().cpu().float().masked_fill(~free, 0.0)
    delta = delta.detach().cpu().float()
    return (scores, (delta, scores.sum(1) - delta)) if return_delta else scores


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


def paired_difference(a: Tensor, b: Tensor) -> tuple[float, float]:
    """Mean and standard error of ``a − b`` over items scored by both, ``(N,), (N,)`` (e.g. one
    method's and random's comprehensiveness per article): the s.e. of a paired difference, far
    smaller than either mean's when the items differ more among themselves than the methods do."""
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    if a.dim() != 1 or a.shape != b.shape or len(a) < 2:
        raise ValueError(f"need two (N,) scores of the same items with N >= 2, got "
                         f"{tuple(a.shape)} and {tuple(b.shape)}")
    d = a - b
    return d.mean().item(), (d.std() / len(d) ** 0.5).item()


def paired_p_value(a: Tensor, b: Tensor) -> float:
    """Two-sided p-value of a paired t-test of ``a − b`` over the same items ``(N,), (N,)``:
    the mean over its standard error against Student's t with N − 1 degrees of freedom (with
    10 items a gap must exceed about 2.26 standard errors for p < 0.05, not 2). Identical
    differences (s.e. 0) give 1 when they are 0 and 0 otherwise."""
    from scipy.stats import t as student_t

    mean, se = paired_difference(a, b)
    if se == 0:
        return 1.0 if mean == 0 else 0.0
    return float(2 * student_t.sf(abs(mean / se), len(torch.as_tensor(a)) - 1))


def holm(p_values: dict, alpha: float = 0.05) -> dict:
    """Holm's step-down correction: which of several tests (name → p-value) reject at family-wise
    level ``alpha``. The smallest p is compared with alpha / m, the next with alpha / (m − 1), …,
    stopping at the first that fails; m tests each at alpha would find some "difference" by
    chance far more often than alpha."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha}")
    order = sorted(p_values, key=lambda k: p_values[k])
    reject, m = {k: False for k in p_values}, len(p_values)
    for i, k in enumerate(order):
        if p_values[k] > alpha / (m - i):
            break
        reject[k] = True
    return reject


def paired_table(per_item: dict[str, Tensor], baseline: str = "random", alpha: float = 0.05):
    """A pandas DataFrame with one row per method of ``per_item`` (method → scores on the same
    items ``(N,)``) and the columns ``mean``, ``minus random`` (the method's mean minus
    ``baseline``'s), ``± s.e.`` (that difference's paired standard error; 0 on the baseline's
    own row) and ``vs random``: "above" or "below" where a paired t-test, Holm-corrected over the
    methods, separates the method from the baseline at level ``alpha``, else "cannot tell"."""
    import pandas as pd

    if baseline not in per_item:
        raise ValueError(f"baseline={baseline!r} is not one of the methods {list(per_item)}")
    others = [k for k in per_item if k != baseline]
    apart = holm({k: paired_p_value(per_item[k], per_item[baseline]) for k in others}, alpha)
    rows = {}
    for name, scores in per_item.items():
        gap, se = paired_difference(scores, per_item[baseline])
        verdict = "" if name == baseline else ("above" if gap > 0 else "below") if apart[name] else "cannot tell"
        rows[name] = {"mean": float(torch.as_tensor(scores).double().mean()), f"minus {baseline}": gap,
                      "± s.e.": se, f"vs {baseline}": verdict}
    return pd.DataFrame(rows).T.astype({"mean": float, f"minus {baseline}": float, "± s.e.": float})


def separated_pairs(per_item: dict[str, Tensor], higher_is_better: bool = True, alpha: float = 0.05,
                    exclude: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """The order a sample supports, pair by pair. ``per_item`` maps each method to its scores on the
    same items ``(N,)``; every pair of methods not in ``exclude`` gets a paired t-test
    (:func:`paired_p_value`), Holm-corrected over all those pairs (:func:`holm`). Returns, for each
    method that beats at least one other, the methods it beats (best first by mean); an empty dict
    means the sample orders none of them. (Pairs, not groups: with a > b > c, a can beat c while
    neither gap to b is clear, and any split into groups would hide one of the three facts.)"""
    names = [k for k in per_item if k not in exclude]
    if len(names) < 2:
        raise ValueError(f"need at least two methods to compare, got {names}")
    sign = 1.0 if higher_is_better else -1.0
    names.sort(key=lambda k: -sign * float(torch.as_tensor(per_item[k]).double().mean()))
    pairs = {(a, b): paired_p_value(per_item[a], per_item[b]) for i, a in enumerate(names) for b in names[i + 1:]}
    apart = holm(pairs, alpha)
    beats: dict[str, list[str]] = {}
    for (a, b), yes in apart.items():
        gap = sign * paired_difference(per_item[a], per_item[b])[0]
        if yes and gap != 0:
            better, worse = (a, b) if gap > 0 else (b, a)
            beats.setdefault(better, []).append(worse)
    return {k: beats[k] for k in names if k in beats}
