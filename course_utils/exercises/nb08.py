"""Exercise checks for notebook 08."""
from __future__ import annotations

from typing import Callable

import torch

from ..models import TransformerBlock, TransformerClassifier, count_parameters
from ._common import _not_attempted, _verdict, exercise_check

__all__ = ['check_stack_parameters', 'check_pre_ln_block']


@exercise_check
def check_stack_parameters(fn: Callable[[int, int, int], int] | None) -> bool:
    """Exercise: ``fn(num_layers, d_model, vocab_size)`` returns the parameters of
    ``TransformerClassifier(vocab_size, vocab_size, d_model, num_heads=4, num_layers,
    positional="none", pooling="last")``: embedding, blocks, final LayerNorm, output layer."""
    if _not_attempted(fn, "write `stack_parameters(num_layers, d_model, vocab_size)`"):
        return False
    for layers, d, V in [(1, 16, 10), (4, 32, 50), (7, 8, 3)]:
        truth = count_parameters(TransformerClassifier(V, V, d_model=d, num_heads=4,
                                                       num_layers=layers, positional="none",
                                                       pooling="last"))
        got = fn(layers, d, V)
        if got != truth:
            off = "too many" if got > truth else "too few"
            return _verdict(False, "", f"stack_parameters({layers}, {d}, {V}) = {got}: {off}. "
                                       "Print the model (print(make_model(1, V))) and count each "
                                       "part's weights and biases: the blocks' four projections, "
                                       "feed-forward (width 4d) and LayerNorms, and what sits "
                                       "outside the blocks.")
    return _verdict(True, "Right: parameters grow exactly linearly with depth, 12d²+13d per "
                          "block.", "")


@exercise_check
def check_pre_ln_block(fn: Callable | None) -> bool:
    """Exercise: ``fn(block, x)`` computes a pre-LN block's output by hand from its parts
    (``block.norm1``, ``block.attn``, ``block.norm2``, ``block.ff``) for ``x (B, T, d)``."""
    if _not_attempted(fn, "write `pre_ln_block(block, x)`"):
        return False
    torch.manual_seed(0)
    block = TransformerBlock(16, 4, norm_first=True).eval()
    x = torch.randn(2, 5, 16)
    with torch.no_grad():
        got = fn(block, x)
        truth = block(x)
    if tuple(got.shape) != tuple(truth.shape):
        return _verdict(False, "", f"shape {tuple(got.shape)}, expected {tuple(truth.shape)}")
    err = float((got - truth).abs().max())
    post = TransformerBlock(16, 4, norm_first=False).eval()
    post.load_state_dict(block.state_dict())
    with torch.no_grad():
        is_post = float((got - post(x)).abs().max()) < 1e-5
    hint = (" That is the post-LN order: normalise after adding the residual, or before each "
            "sub-layer?" if is_post else
            " x + attn(LN₁(x)) first, then + ff(LN₂(·)).")
    return _verdict(err < 1e-5, "Equal to TransformerBlock(norm_first=True): the residual path "
                                "x itself is never normalised.",
                    f"differs from the block by {err:.3g}.{hint}")
