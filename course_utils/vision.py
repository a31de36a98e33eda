"""A Vision Transformer and a small CNN for the digits that ship with scikit-learn.

Images are ``(B, C, H, W)`` float tensors. :func:`digits` loads scikit-learn's 1,797 8×8
handwritten digits (in its wheel: no download), scaled to [0, 1].
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .models import TransformerEncoder
from .validation import sizes

__all__ = ["digits", "PatchEmbedding", "VisionTransformer", "SmallCNN"]


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
