"""Exercise checks for notebook 01."""
from __future__ import annotations

from typing import Callable

from ..attention import MultiHeadAttention
from ..models import TransformerBlock, count_parameters
from ._common import _not_attempted, _verdict, exercise_check

__all__ = ['check_mha_parameters', 'check_block_parameters']


@exercise_check
def check_mha_parameters(answer: int | None, d_model: int = 128, num_heads: int = 8) -> bool:
    """Exercise: parameters of ``MultiHeadAttention(d_model, num_heads)`` with biases."""
    if _not_attempted(answer, "set `answer` to your count"):
        return False
    truth = count_parameters(MultiHeadAttention(d_model, num_heads))
    if answer == truth:
        return _verdict(True, f"{answer:,} parameters: four d×d matrices and four biases; "
                              "the number of heads does not change it.", "")
    hint = ("Did you count the biases of the four projections?" if answer == 4 * d_model ** 2 else
            "Heads split d_model, they do not multiply the weights." if answer > truth else
            "There are four projections: queries, keys, values and output.")
    return _verdict(False, "", f"{answer:,} is not right. {hint}")


@exercise_check
def check_block_parameters(fn: Callable[[int, int], int] | None) -> bool:
    """Exercise: ``fn(d_model, d_ff)`` returns the parameters of one encoder block."""
    if _not_attempted(fn, "write `block_parameters(d_model, d_ff)`"):
        return False
    for d, ff in [(16, 64), (64, 256), (48, 100)]:
        truth = count_parameters(TransformerBlock(d, 4, ff))
        got = fn(d, ff)
        if got != truth:
            return _verdict(False, "", f"block_parameters({d}, {ff}) = {got}, but the block has "
                                       f"{truth}. {_block_hint(truth - got, d, ff)}")
    return _verdict(True, "your formula matches count_parameters for three sizes.", "")


def _block_hint(missing: int, d: int, ff: int) -> str:
    """Where to look when a block count is off by ``missing`` (never the formula itself)."""
    if missing == 4 * d:
        return ("You are missing a few vectors of size d_model: the biases of the attention "
                "projections, or the LayerNorms' gains and biases?")
    if missing in (2 * d, ff + d):
        return "Some biases or LayerNorm parameters are missing: count every vector, not only matrices."
    if missing < 0:
        return ("Your count is too large: the heads split d_model (they add no weights), and "
                "there are two LayerNorms, not three.")
    return ("Count the parts one by one: print count_parameters(block.attn), "
            "count_parameters(block.ff) and count_parameters(block.norm1) for a "
            "TransformerBlock(d_model, 4, d_ff) and compare each with your term.")
