"""Exercise checks for notebook 08."""
from __future__ import annotations

from typing import Callable

import torch

from ..models import TransformerBlock, TransformerClassifier, count_parameters
from ._common import (_close, _gap, _name_parts, _not_attempted, _parts_explaining,
                      _rounding_note, _shape_problem, _verdict, exercise_check)

__all__ = ['check_stack_parameters', 'check_pre_ln_block']


def _stack_parts(L: int, d: int, V: int) -> dict[str, int]:
    """What a wrong count of notebook 08's model plausibly left out (positive) or added
    (negative), each as a clause that names the mistake (never the formula)."""
    return {"the token embedding, or the output layer's weights (each V·d), is missing": V * d,
            "the output layer's bias is missing": V,
            "the LayerNorm after the last block is missing": 2 * d,
            "a LayerNorm after the last block is counted once per block, but the stack has one":
                -2 * d * (L - 1),
            "the attention projections' biases are missing": 4 * d * L,
            "the blocks' two LayerNorms are missing": 4 * d * L,
            "the feed-forward's biases are missing": 5 * d * L,
            "the attention's output projection is missing": (d * d + d) * L,
            "the feed-forward is counted as d_model wide; here d_ff = 4·d_model": 6 * d * d * L
                + 3 * d * L,
            "the blocks are counted once, but every layer has its own": (12 * d * d + 13 * d)
                * (L - 1)}


@exercise_check
def check_stack_parameters(fn: Callable[[int, int, int], int] | None) -> bool:
    """Exercise: ``fn(num_layers, d_model, vocab_size)`` returns the parameters of
    ``TransformerClassifier(vocab_size, vocab_size, d_model, num_heads=4, num_layers,
    positional="none", pooling="last")``: embedding, blocks, final LayerNorm, output layer."""
    if _not_attempted(fn, "write `stack_parameters(num_layers, d_model, vocab_size)`"):
        return False
    sizes = [(1, 16, 10), (4, 32, 50), (7, 8, 3)]
    truths = [count_parameters(TransformerClassifier(V, V, d_model=d, num_heads=4, num_layers=L,
                                                     positional="none", pooling="last"))
              for L, d, V in sizes]
    got = [fn(L, d, V) for L, d, V in sizes]
    for (L, d, V), truth, value in zip(sizes, truths, got):
        if value != truth:
            off = "too many" if value > truth else "too few"
            per_size = [_stack_parts(*size) for size in sizes]
            parts = {name: [p[name] for p in per_size] for name in per_size[0]}
            found = _parts_explaining([t - g for t, g in zip(truths, got)], parts)
            hint = (f"It looks as if {_name_parts(found)}." if found else
                    "Print the model (print(make_model(1, V))) and count each part's weights "
                    "and biases: the blocks' four projections, feed-forward (width 4d) and "
                    "LayerNorms, and what sits outside the blocks.")
            return _verdict(False, "", f"stack_parameters({L}, {d}, {V}) = {value}: {off}. {hint}")
    return _verdict(True, "Right: parameters grow exactly linearly with depth, 12d²+13d per "
                          "block.", "")


def _pre_ln_variants(block: TransformerBlock, x: torch.Tensor) -> list[tuple[torch.Tensor, str]]:
    """Plausible wrong hand-written blocks, each with the clause that names its mistake."""
    n1, n2, attn, ff = block.norm1, block.norm2, block.attn, block.ff

    def sa(h):
        return attn(h, h, h)
    post = n2(n1(x + sa(x)) + ff(n1(x + sa(x))))
    reuse = x + sa(n1(x))
    reuse = reuse + ff(n1(reuse))
    normalised_residual = n1(x) + sa(n1(x))
    normalised_residual = n2(normalised_residual) + ff(n2(normalised_residual))
    parallel = x + sa(n1(x)) + ff(n2(x))
    no_norm2 = x + sa(n1(x))
    no_norm2 = no_norm2 + ff(no_norm2)
    swapped = x + sa(n2(x))
    swapped = swapped + ff(n1(swapped))
    h = x + sa(n1(x))
    no_ff_residual = ff(n2(h))
    no_attn_residual = sa(n1(x))
    no_attn_residual = no_attn_residual + ff(n2(no_attn_residual))
    return [
        (post, "that is the post-LN order (a LayerNorm after each residual addition); pre-LN "
               "normalises each sub-layer's input instead"),
        (reuse, "the feed-forward's input is normalised with norm1; each sub-layer has its own "
                "LayerNorm (norm2 for the feed-forward), with its own gain and bias"),
        (swapped, "norm1 and norm2 are swapped: norm1 belongs to the attention sub-layer"),
        (normalised_residual, "the residual carries the normalised x: in pre-LN the LayerNorm "
                              "feeds only the sub-layer, and the residual path carries x itself"),
        (parallel, "the feed-forward reads the block's input x (a parallel block): here it reads "
                   "the output of the attention sub-layer, residual included"),
        (no_norm2, "the feed-forward's input is not normalised: pre-LN normalises before each "
                   "sub-layer"),
        (no_ff_residual, "the feed-forward's residual is missing: its output is added to its "
                         "input"),
        (no_attn_residual, "the attention's residual is missing: its output is added to x"),
    ]


@exercise_check
def check_pre_ln_block(fn: Callable | None) -> bool:
    """Exercise: ``fn(block, x)`` computes a pre-LN block's output by hand from its parts
    (``block.norm1``, ``block.attn``, ``block.norm2``, ``block.ff``) for ``x (B, T, d)``. The
    block's two LayerNorms get different random gains and biases (in a fresh block both are
    1 and 0, and an answer that used norm1 twice would pass)."""
    if _not_attempted(fn, "write `pre_ln_block(block, x)`"):
        return False
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    block = TransformerBlock(16, 4, norm_first=True).eval()
    with torch.no_grad():
        for norm in (block.norm1, block.norm2):
            norm.weight.copy_(1 + 0.5 * torch.randn(16, generator=g))
            norm.bias.copy_(0.5 * torch.randn(16, generator=g))
    x = torch.randn(2, 5, 16, generator=g)
    with torch.no_grad():
        got = fn(block, x.clone())
        truth = block(x)
        variants = _pre_ln_variants(block, x)
    problem = _shape_problem(got, truth, "pre_ln_block(block, x)")
    if problem:
        return _verdict(False, "", f"{problem}: one vector per position, like x")
    if _close(got, truth):
        return _verdict(True, "Equal to TransformerBlock(norm_first=True): the residual path "
                              "x itself is never normalised.", "")
    gap = _gap(got, truth)
    hint = next((say for wrong, say in variants if _close(got, wrong)), None)
    hint = hint or _rounding_note(got, gap) or (
        "follow the pre-LN order step by step: which tensor each LayerNorm reads, what each "
        "sub-layer's output is added to, and which tensor the feed-forward reads")
    return _verdict(False, "", f"differs from the block by {gap:.3g}: {hint}.")
