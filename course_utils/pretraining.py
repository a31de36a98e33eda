"""Pretraining objectives on real text: a character-level corpus, BERT's masking (15 %, then
80/10/10) and a masked language model.

Token ids are ``(B, T)`` long tensors. Targets use ``IGNORE`` (-100, PyTorch's
``cross_entropy`` default ``ignore_index``) where no prediction is scored.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .models import TransformerEncoder
from .positional import LearnedPositionalEmbedding
from .training import smoke_rows, train
from .validation import check_size
from .validation import sizes

__all__ = ["IGNORE", "PAD_ID", "UNK_ID", "MASK_ID", "CharCorpus", "char_corpus", "random_windows",
           "mlm_mask", "MaskedLM",
           "OBJECTIVES", "lm_batch", "lm_loss", "evaluate_lm", "CORRUPTIONS", "PositionScore",
           "score_against_constant", "score_by_corruption", "LMRun", "train_lm"]

OBJECTIVES = ("causal", "masked")

IGNORE = -100
PAD_ID, UNK_ID, MASK_ID = 0, 1, 2   # CharCorpus's special ids; regular tokens start at 3


@dataclass
class CharCorpus:
    """Characters ↔ ids (0 ``<pad>``, 1 ``<unk>``, 2 ``<mask>``, then characters by frequency),
    with the training and validation text encoded as 1-D long tensors."""

    itos: list[str]
    train: Tensor
    val: Tensor

    def __post_init__(self) -> None:
        self.stoi = {c: i for i, c in enumerate(self.itos)}

    @property
    def mask_id(self) -> int:
        return MASK_ID

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> Tensor:
        return torch.tensor([self.stoi.get(c, UNK_ID) for c in text], dtype=torch.long)

    def decode(self, ids) -> str:
        ids = ids.tolist() if isinstance(ids, Tensor) else ids
        return "".join(self.itos[i] if i > MASK_ID else "" if i == PAD_ID else "?" for i in ids)


def char_corpus(texts: list[str], *, val_fraction: float = 0.1, min_count: int = 20,
                seed: int | None = None) -> CharCorpus:
    """Lower-cased characters of ``texts``; the last ``val_fraction`` of the *documents* are
    held out (so validation text is unseen text, not interleaved lines). With ``seed`` the
    documents are shuffled first (needed when ``texts`` are sorted, e.g. by class). Characters
    seen fewer than ``min_count`` times in training become ``<unk>``."""
    if not 0 < val_fraction < 1 or len(texts) < 2:
        raise ValueError(f"need >= 2 texts and 0 < val_fraction < 1, got {len(texts)} texts, "
                         f"val_fraction={val_fraction}")
    if seed is not None:
        order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(seed))
        texts = [texts[i] for i in order.tolist()]
    cut = max(1, min(len(texts) - 1, round(len(texts) * (1 - val_fraction))))
    train_text = "\n".join(t.lower() for t in texts[:cut])
    val_text = "\n".join(t.lower() for t in texts[cut:])
    counts = Counter(train_text)
    chars = [c for c, n in counts.most_common() if n >= min_count]
    specials = ["<pad>", "<unk>", "<mask>"]                          # PAD_ID, UNK_ID, MASK_ID
    corpus = CharCorpus(specials + chars, torch.empty(0), torch.empty(0))
    corpus.train, corpus.val = corpus.encode(train_text), corpus.encode(val_text)
    return corpus


def random_windows(data: Tensor, batch_size: int, length: int,
                   generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """``batch_size`` random windows of a 1-D id tensor ``data (N,)``: inputs ``(B, length)`` and
    the next tokens ``(B, length)`` (the inputs shifted by one), for causal language modelling.
    Each window starts at one of the ``N - length`` valid positions ``0 … N - length - 1``, drawn
    uniformly and independently (a text of exactly ``length + 1`` tokens has one window)."""
    check_size("batch_size", batch_size)
    check_size("length", length)
    if data.dim() != 1 or data.numel() < length + 1:
        raise ValueError(f"data must be a 1-D tensor of at least length + 1 = {length + 1} "
                         f"tokens (a window and its next token), got shape {tuple(data.shape)}")
    start = torch.randint(0, data.numel() - length, (batch_size,), generator=generator)
    idx = start[:, None] + torch.arange(length + 1)
    window = data[idx]
    return window[:, :-1], window[:, 1:]


def mlm_mask(tokens: Tensor, *, mask_id: int, vocab_size: int, rate: float = 0.15,
             first_regular_id: int = MASK_ID + 1, generator: torch.Generator | None = None
             ) -> tuple[Tensor, Tensor]:
    """BERT's masking (Devlin et al. 2019): choose ``rate`` of the positions; of those, 80 %
    become ``mask_id``, 10 % a random regular token (ids ≥ ``first_regular_id``) and 10 % stay
    as they are. Returns ``(inputs, targets)``: targets hold the original id at chosen positions
    and ``IGNORE`` elsewhere. Padding (id 0) is never chosen."""
    if not 0 < rate < 1:
        raise ValueError(f"rate must lie in (0, 1), got {rate}")
    if not first_regular_id < vocab_size:
        raise ValueError(f"no regular tokens: first_regular_id={first_regular_id}, "
                         f"vocab_size={vocab_size}")
    u = torch.rand(tokens.shape, generator=generator)
    chosen = (u < rate) & (tokens != PAD_ID)
    what = torch.rand(tokens.shape, generator=generator)
    random_ids = torch.randint(first_regular_id, vocab_size, tokens.shape, generator=generator)
    inputs = tokens.clone()
    inputs[chosen & (what < 0.8)] = mask_id
    swap = chosen & (what >= 0.8) & (what < 0.9)
    inputs[swap] = random_ids[swap]
    targets = torch.where(chosen, tokens, torch.full_like(tokens, IGNORE))
    return inputs, targets


class MaskedLM(nn.Module):
    """A bidirectional encoder (BERT-style, pre-LN, learned positions) with a token head:
    ``forward(tokens (B, T)) -> logits (B, T, vocab)``; every position sees every other."""

    @sizes("vocab_size", "d_model", "num_heads", "num_layers", "max_len")
    def __init__(self, vocab_size: int, d_model: int = 64, num_heads: int = 4,
                 num_layers: int = 2, max_len: int = 256):
        super().__init__()
        self.vocab_size, self.max_len = vocab_size, max_len
        self.embed = nn.Embedding(vocab_size, d_model)
        self.pos = LearnedPositionalEmbedding(max_len, d_model)  # as CausalLM's
        self.encoder = TransformerEncoder(num_layers, d_model, num_heads)
        self.head = nn.Linear(d_model, vocab_size)

    def forward(self, tokens: Tensor) -> Tensor:
        if tokens.dim() != 2 or tokens.shape[1] > self.max_len:
            raise ValueError(f"tokens must be (B, T <= {self.max_len}), got "
                             f"{tuple(tokens.shape)}")
        h = self.pos(self.embed(tokens))
        return self.head(self.encoder(h, need_weights=False))


# ---- Training language models -----------------------------------------------------------------
def lm_batch(data: Tensor, batch_size: int, length: int, *, objective: str = "causal",
             vocab_size: int | None = None, mask_id: int = MASK_ID,
             generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """One batch ``(inputs (B, length), targets (B, length))`` of random windows of ``data``.
    ``causal``: targets are the next tokens. ``masked``: inputs are masked as in BERT
    (:func:`mlm_mask`) and targets are ``IGNORE`` except at the chosen positions."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    x, y = random_windows(data, batch_size, length, generator)
    if objective == "causal":
        return x, y
    if vocab_size is None:
        raise ValueError("the masked objective needs vocab_size (for the 10 % random tokens)")
    return mlm_mask(x, mask_id=mask_id, vocab_size=vocab_size, generator=generator)


def lm_loss(model: nn.Module, inputs: Tensor, targets: Tensor) -> Tensor:
    """Mean cross-entropy (nats) of ``model(inputs) (B, T, V)`` over positions whose target is
    not ``IGNORE``: next-token loss for a causal model, masked-token loss for a masked one."""
    logits = model(inputs)
    if logits.shape[:2] != targets.shape:
        raise ValueError(f"logits {tuple(logits.shape)} do not match targets "
                         f"{tuple(targets.shape)}")
    return F.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=IGNORE)


@torch.no_grad()
@sizes("batch_size")
def evaluate_lm(model: nn.Module, inputs: Tensor, targets: Tensor, batch_size: int = 256
                ) -> tuple[float, float]:
    """``(loss, accuracy)`` over the scored (non-``IGNORE``) positions of fixed windows,
    in eval mode (restored after). In a smoke run only the first ``SMOKE_EVAL_ROWS`` windows
    are evaluated."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    inputs, targets = smoke_rows(inputs, targets)
    total, correct, count = 0.0, 0, 0
    for i in range(0, inputs.shape[0], batch_size):
        logits = model(inputs[i:i + batch_size].to(device)).cpu()
        y = targets[i:i + batch_size]
        scored = y != IGNORE
        total += float(F.cross_entropy(logits[scored], y[scored], reduction="sum"))
        correct += int((logits[scored].argmax(-1) == y[scored]).sum())
        count += int(scored.sum())
    model.train(was_training)
    if count == 0:
        raise ValueError("no scored positions to evaluate (every target is IGNORE)")
    return total / count, correct / count


CORRUPTIONS = ("<mask>", "random", "unchanged")


@dataclass(frozen=True)
class PositionScore:
    """A model's accuracy at ``count`` scored positions (``kind``: ``"all"`` or one of
    :data:`CORRUPTIONS`), beside always guessing ``reference_id`` on the same positions
    (``baseline``). ``gain_se`` is the standard error of ``gain = accuracy − baseline``, paired
    position by position and clustered by window (positions of one window are not independent);
    ``guessed_reference`` the share of these positions where the model
    predicted ``reference_id`` itself."""

    kind: str
    count: int
    accuracy: float
    baseline: float
    gain_se: float
    guessed_reference: float

    @property
    def gain(self) -> float:
        return self.accuracy - self.baseline


@torch.no_grad()
def _predictions(model: nn.Module, inputs: Tensor, batch_size: int) -> Tensor:
    """``argmax`` of ``model(inputs (W, T))`` over the vocabulary, ``(W, T)`` on the CPU, in eval
    mode (restored after)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    pred = torch.cat([model(inputs[i:i + batch_size].to(device)).argmax(-1).cpu()
                      for i in range(0, inputs.shape[0], batch_size)])
    model.train(was_training)
    return pred


def _score(kind: str, pred: Tensor, targets: Tensor, where: Tensor,
           reference_id: int) -> PositionScore | None:
    n = int(where.sum())
    if n == 0:
        return None
    right = (pred[where] == targets[where]).double()
    base = (targets[where] == reference_id).double()
    # clustered by window (row of ``where (W, T)``): neighbouring characters are not independent
    rows = where.nonzero()[:, 0]
    per_window = torch.zeros(where.shape[0], dtype=torch.double).index_add_(
        0, rows, (right - base) - (right - base).mean())
    k = int(where.any(1).sum())                                        # windows with a position
    se = float(per_window.pow(2).sum().mul(k / (k - 1)).sqrt() / n) if k > 1 else float("nan")
    return PositionScore(kind, n, float(right.mean()), float(base.mean()), se,
                         float((pred[where] == reference_id).double().mean()))


def _check_windows(inputs: Tensor, targets: Tensor) -> None:
    if inputs.shape != targets.shape or inputs.dim() != 2:
        raise ValueError(f"inputs and targets must both be (W, T); got {tuple(inputs.shape)} "
                         f"and {tuple(targets.shape)}")


def score_against_constant(model: nn.Module, inputs: Tensor, targets: Tensor, *,
                           reference_id: int, batch_size: int = 256) -> PositionScore:
    """Accuracy of ``model(inputs (W, T))`` at every scored (non-``IGNORE``) position of
    ``targets (W, T)``, beside always guessing ``reference_id`` (e.g. the most frequent
    training token) there: a causal LM's next-token windows, or a masked LM's as a whole.
    In a smoke run only the first rows are scored (as :func:`evaluate_lm`)."""
    _check_windows(inputs, targets)
    inputs, targets = smoke_rows(inputs, targets)
    score = _score("all", _predictions(model, inputs, batch_size), targets, targets != IGNORE,
                   reference_id)
    if score is None:
        raise ValueError("no scored positions to evaluate (every target is IGNORE)")
    return score


def score_by_corruption(model: nn.Module, inputs: Tensor, targets: Tensor, *, reference_id: int,
                        mask_id: int = MASK_ID, batch_size: int = 256
                        ) -> dict[str, PositionScore]:
    """Score a masked LM on windows masked as in BERT, ``inputs`` and ``targets`` ``(W, T)``
    (:func:`mlm_mask`), separately by what the model saw at each scored position: ``<mask>``
    (the input is ``mask_id``), ``unchanged`` (the input is the answer, which the model can
    copy) and ``random`` (another token). Each kind is compared with always guessing
    ``reference_id`` on the same positions (:func:`score_against_constant`); kinds with no
    scored position are left out."""
    _check_windows(inputs, targets)
    inputs, targets = smoke_rows(inputs, targets)
    pred = _predictions(model, inputs, batch_size)
    scored = targets != IGNORE
    kinds = {"<mask>": scored & (inputs == mask_id), "unchanged": scored & (inputs == targets)}
    kinds["random"] = scored & ~kinds["<mask>"] & ~kinds["unchanged"]
    scores = {kind: _score(kind, pred, targets, kinds[kind], reference_id) for kind in CORRUPTIONS}
    return {kind: score for kind, score in scores.items() if score is not None}


@dataclass
class LMRun:
    """A language-model run evaluated along the way (index 0 is the untrained model): after
    ``steps[i]`` optimiser steps the model has seen ``tokens[i]`` training tokens in
    ``seconds[i]`` of training (time spent evaluating excluded). Losses (nats per scored token) and accuracy are measured on fixed
    windows of the training data and of the held-out data. For the masked objective,
    ``val_mask_accuracy`` scores only the held-out positions whose input is ``<mask>`` (the
    accuracy over all scored positions also counts the 10 % left unchanged, which a model can
    copy)."""

    steps: list[int] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_accuracy: list[float] = field(default_factory=list)
    # masked objective only: accuracy at the held-out positions whose input is ``<mask>``
    val_mask_accuracy: list[float] = field(default_factory=list)
    # the fixed held-out windows ``(inputs (W, T), targets (W, T))`` every evaluation scored
    val_windows: tuple[Tensor, Tensor] | None = None

    def at_seconds(self, budget: float) -> int:
        """Index of the last evaluation reached within ``budget`` seconds of training."""
        if budget < 0:
            raise ValueError(f"budget must be >= 0 seconds, got {budget}")
        return max(i for i, s in enumerate(self.seconds) if s <= budget)

    def at_flops(self, budget: float, flops_per_step: float) -> int:
        """Index of the last evaluation reached within ``budget`` training FLOPs, for a model
        that costs ``flops_per_step`` per optimiser step."""
        if budget < 0 or flops_per_step <= 0:
            raise ValueError(f"need budget >= 0 and flops_per_step > 0, got {budget}, "
                             f"{flops_per_step}")
        return max(i for i, s in enumerate(self.steps) if s * flops_per_step <= budget)


@sizes("steps", "batch_size", "length", "eval_every", "eval_windows", warmup_steps=0)
def train_lm(model: nn.Module, train_data: Tensor, val_data: Tensor, *, steps: int,
             batch_size: int, length: int, objective: str = "causal", lr: float = 3e-3,
             warmup_steps: int = 0, eval_every: int = 50, eval_windows: int = 64,
             mask_id: int = MASK_ID, seed: int = 0, max_seconds: float | None = None) -> LMRun:
    """Train a causal or masked language model on random windows of ``train_data`` (1-D ids)
    with the course's :func:`~course_utils.training.train` (AdamW, clipping at 1, constant
    learning rate after a linear warm-up), evaluating every ``eval_every`` steps on
    ``eval_windows`` fixed windows of ``train_data`` and of ``val_data``."""
    vocab = getattr(model, "vocab_size", None)
    gen = torch.Generator().manual_seed(seed)
    fixed = torch.Generator().manual_seed(seed + 1)
    kw = dict(objective=objective, vocab_size=vocab, mask_id=mask_id)
    eval_train = lm_batch(train_data, eval_windows, length, generator=fixed, **kw)
    eval_val = lm_batch(val_data, eval_windows, length, generator=fixed, **kw)

    def stream() -> Iterator[tuple[Tensor, Tensor]]:
        while True:
            yield lm_batch(train_data, batch_size, length, generator=gen, **kw)

    run = LMRun(val_windows=eval_val)
    at_masks = (eval_val[0], torch.where(eval_val[0] == mask_id, eval_val[1], IGNORE))

    def evaluate() -> float:
        run.train_loss.append(evaluate_lm(model, *eval_train)[0])
        loss, acc = evaluate_lm(model, *eval_val)
        run.val_loss.append(loss)
        run.val_accuracy.append(acc)
        if objective == "masked":
            run.val_mask_accuracy.append(evaluate_lm(model, *at_masks)[1])
        return -loss

    evaluate()  # step 0: the untrained model
    hist = train(model, stream(), steps=steps, lr=lr, warmup_steps=warmup_steps,
                 model_loss=lm_loss, eval_fn=evaluate, eval_every=eval_every,
                 max_seconds=max_seconds, progress=False)
    run.steps = [0] + hist.eval_steps
    run.tokens = [s * batch_size * length for s in run.steps]
    run.seconds = [0.0] + hist.eval_seconds
    return run
