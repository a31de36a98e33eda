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
    hint = ("Did you count the biases (4·d_model)?" if answer == 4 * d_model ** 2 else
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
                                       f"{truth}. Attention 4(d²+d), feed-forward 2·d·d_ff+d_ff+d, "
                                       "two LayerNorms 2d each.")
    return _verdict(True, "your formula matches count_parameters for three sizes.", "")
