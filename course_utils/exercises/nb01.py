"""Exercise checks for notebook 01."""
from __future__ import annotations

from typing import Callable

from ..attention import MultiHeadAttention
from ..models import TransformerBlock, count_parameters
from ._common import _not_attempted, _verdict, exercise_check

__all__ = ['check_mha_parameters', 'check_block_parameters', 'check_kv_cache_bytes']


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


# SmolLM2-135M-Instruct's shape (its config, printed in section 6): 30 layers, 3 key-value heads
# of 64 dimensions (9 query heads share them), float32 weights and cache
_SMOLLM2_LAYERS, _SMOLLM2_KV_HEADS, _SMOLLM2_HEAD_DIM, _FLOAT32_BYTES = 30, 3, 64, 4


@exercise_check
def check_kv_cache_bytes(fn: Callable[[int], int] | None) -> bool:
    """Exercise: ``fn(tokens)`` returns the bytes of SmolLM2's KV cache after ``tokens`` tokens
    (float32, one sequence)."""
    if _not_attempted(fn, "write `kv_cache_bytes(tokens)`"):
        return False
    per_token = 2 * _SMOLLM2_LAYERS * _SMOLLM2_KV_HEADS * _SMOLLM2_HEAD_DIM * _FLOAT32_BYTES
    for tokens in (1, 200, 8192):
        got, truth = fn(tokens), per_token * tokens
        if got != truth:
            return _verdict(False, "", f"kv_cache_bytes({tokens}) = {got}, which is not right. "
                                       f"{_kv_hint(got / truth if truth else 0.0)}")
    return _verdict(True, f"{per_token:,} bytes per token: {per_token * 8192 / 2**20:.0f} MiB for a "
                          "full 8,192-token context, a third of what 9 key-value heads would need.", "")


def _kv_hint(ratio: float) -> str:
    """Where to look when a KV-cache size is off by ``ratio`` (never the formula itself)."""
    hints = {3.0: "SmolLM2 caches keys and values for its key-value heads only: the 9 query heads "
                  "share them (grouped-query attention; see num_key_value_heads).",
             0.5: "A cache holds two tensors per layer, not one.",
             0.25: "Sizes in bytes: how many bytes does one float32 take?",
             2.0: "The weights and the cache are float32 here, not float64."}
    for r, hint in hints.items():
        if abs(ratio - r) < 1e-9:
            return hint
    if abs(ratio * _SMOLLM2_LAYERS - 1) < 1e-9:
        return "Every layer keeps its own keys and values."
    return ("Per token and per layer, count what is stored: which tensors, how many heads, how "
            "wide each head is (hidden_size / num_attention_heads), and the bytes per number.")
