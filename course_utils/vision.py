"""A Vision Transformer and a small CNN for the digits that ship with scikit-learn.

Images are ``(B, C, H, W)`` float tensors. :func:`digits` loads scikit-learn's 1,797 8×8
handwritten digits (in its wheel: no download), scaled to [0, 1].
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .models import TransformerEncoder
from .training import accuracy, batches, train
from .validation import sizes

__all__ = ["digits", "PatchEmbedding", "VisionTransformer", "SmallCNN", "EarlyStop",
           "fit_early_stopped"]


def digits() -> tuple[Tensor, Tensor]:
    """scikit-learn's digits: images ``(1797, 1, 8, 8)`` in [0, 1] and labels ``(1797,)``."""
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    return x, torch.tensor(d.target, dtype=torch.long)


class PatchEmbedding(nn.Module):
    """Cut an image into non-overlapping ``patch``×``patch`` squares and project each, flattened,
    to ``d_model``: ``(B, C, H, W) -> (B, (H/patch)·(W/patch), d_model)`` (Dosovitskiy et al.
    2020). Equivalent to a convolution with kernel and stride ``patch``."""

    @sizes("image_size", "patch", "channels", "d_model")
    def __init__(self, image_size: int, patch: int, channels: int, d_model: int):
        super().__init__()
        if image_size % patch:
            raise ValueError(f"image_size={image_size} is not a multiple of patch={patch}")
        self.patch, self.channels, self.image_size = patch, channels, image_size
        self.num_patches = (image_size // patch) ** 2
        self.proj = nn.Linear(channels * patch * patch, d_model)

    def forward(self, images: Tensor) -> Tensor:
        if images.dim() != 4 or images.shape[1:] != (self.channels, self.image_size,
                                                     self.image_size):
            raise ValueError(f"expected images (B, {self.channels}, {self.image_size}, "
                             f"{self.image_size}), got {tuple(images.shape)}")
        p = self.patch
        x = images.unfold(2, p, p).unfold(3, p, p)                # (B, C, H/p, W/p, p, p)
        x = x.permute(0, 2, 3, 1, 4, 5).flatten(3)                # (B, H/p, W/p, C·p·p)
        return self.proj(x.flatten(1, 2))                         # (B, N, d_model)


class VisionTransformer(nn.Module):
    """ViT: patch embedding, a learned class token, learned positions, a pre-LN encoder, and a
    linear head on the class token. ``forward(images (B, C, H, W)) -> logits (B, classes)``."""

    @sizes("image_size", "patch", "channels", "num_classes", "d_model", "num_heads", "num_layers", "d_ff")
    def __init__(self, image_size: int = 8, patch: int = 2, channels: int = 1,
                 num_classes: int = 10, d_model: int = 32, num_heads: int = 4,
                 num_layers: int = 2, d_ff: int | None = None, dropout: float = 0.0):
        super().__init__()
        self.patches = PatchEmbedding(image_size, patch, channels, d_model)
        self.cls = nn.Parameter(torch.zeros(1, 1, d_model))
        self.pos = nn.Parameter(torch.randn(1, self.patches.num_patches + 1, d_model) * 0.02)
        self.encoder = TransformerEncoder(num_layers, d_model, num_heads, d_ff, dropout)
        self.head = nn.Linear(d_model, num_classes)

    def forward(self, images: Tensor) -> Tensor:
        x = self.patches(images)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        return self.head(self.encoder(x, need_weights=False)[:, 0])


class SmallCNN(nn.Module):
    """Two 3×3 convolutions (``width`` and ``2·width`` channels, ReLU, the second followed by
    2×2 max-pooling) and a linear head: locality and translation equivariance built in.
    ``forward(images (B, C, H, W)) -> logits (B, classes)``."""

    @sizes("image_size", "channels", "num_classes", "width")
    def __init__(self, image_size: int = 8, channels: int = 1, num_classes: int = 10,
                 width: int = 16):
        super().__init__()
        if image_size % 2:
            raise ValueError(f"image_size={image_size} must be even (2×2 pooling)")
        self.features = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Linear(2 * width * (image_size // 2) ** 2, num_classes)

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.features(images).flatten(1))


@dataclass(frozen=True)
class EarlyStop:
    """How :func:`fit_early_stopped` ended: the step whose weights were kept (``best_step``, 0 if
    none beat the untrained model), the steps trained until the patience ran out (``steps``),
    whether ``max_steps`` ended the run before that (``capped``), the validation accuracy kept,
    the validation accuracy at every evaluation (``history``: every ``eval_every`` steps and at
    ``max_steps``, the untrained model not included, the check's evaluations included), and, with ``check``
    evaluations after the stop, the best validation accuracy they reached (``checked_accuracy``,
    None without a check): equal to ``val_accuracy`` or below it means a patience of
    ``patience + check`` would have kept the same weights."""

    best_step: int
    steps: int
    capped: bool
    val_accuracy: float
    history: tuple[float, ...] = ()
    checked_accuracy: float | None = None


@sizes("max_steps", "eval_every", "patience", "batch_size", warmup_steps=0, check=0)
def fit_early_stopped(model: nn.Module, train_data: tuple[Tensor, Tensor],
                      val_data: tuple[Tensor, Tensor], *, max_steps: int, eval_every: int,
                      patience: int, batch_size: int, lr: float, warmup_steps: int = 0,
                      seed: int = 0, check: int = 0) -> EarlyStop:
    """Train a classifier until its validation accuracy has not risen for ``patience``
    evaluations in a row (or for ``max_steps``), then restore the weights of its best
    evaluation (the first, on ties): "trained to convergence", judged on data it does not train
    on.

    ``train_data`` and ``val_data`` are ``(inputs (N, …), labels (N,))``; shuffled mini-batches
    of ``min(batch_size, N)`` examples drawn with ``seed``; AdamW through
    :func:`course_utils.training.train`. The validation accuracy is that of
    ``argmax model(inputs) (N, classes)``, checked every ``eval_every`` steps.

    ``check`` > 0 tests whether the stop came too early: training goes on for ``check`` more
    evaluations (within ``max_steps``) and records the best validation accuracy they reach in
    ``EarlyStop.checked_accuracy``, but the weights kept, ``best_step``, ``steps`` and
    ``val_accuracy`` stay those of the stop at ``patience``. Returns an :class:`EarlyStop`;
    ``model`` holds the kept weights.
    """
    (x, y), (xv, yv) = train_data, val_data
    if x.shape[0] != y.shape[0] or xv.shape[0] != yv.shape[0] or xv.shape[0] == 0:
        raise ValueError(f"train_data and val_data need matching inputs and labels, got "
                         f"{tuple(x.shape)}/{tuple(y.shape)} and {tuple(xv.shape)}/{tuple(yv.shape)}")
    best = {"accuracy": accuracy(model, xv, yv), "eval": 0, "state": copy.deepcopy(model.state_dict())}
    history: list[float] = []
    stopped_at: list[int] = []        # the evaluation at which the patience ran out, once it has

    def evaluate() -> float:      # 1.0 (the target) once patience (and the check after it) has run out
        history.append(accuracy(model, xv, yv))
        if not stopped_at:
            if history[-1] > best["accuracy"]:
                best.update(accuracy=history[-1], eval=len(history),
                            state=copy.deepcopy(model.state_dict()))
            elif len(history) - best["eval"] >= patience:
                stopped_at.append(len(history))
        return float(bool(stopped_at) and len(history) - stopped_at[0] >= check)

    hist = train(model, batches(x, y, batch_size=min(batch_size, x.shape[0]),
                                generator=torch.Generator().manual_seed(seed)),
                 steps=max_steps, lr=lr, warmup_steps=warmup_steps, eval_fn=evaluate,
                 eval_every=eval_every, target=1.0, progress=False)
    model.load_state_dict(best["state"])
    kept = hist.eval_steps[best["eval"] - 1] if best["eval"] else 0
    stop = hist.eval_steps[stopped_at[0] - 1] if stopped_at else hist.num_steps
    checked = max(history[stopped_at[0]:], default=None) if check and stopped_at else None
    return EarlyStop(best_step=kept, steps=stop, capped=not stopped_at, val_accuracy=best["accuracy"],
                     history=tuple(history), checked_accuracy=checked)
