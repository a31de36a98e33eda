"""Exercise checks for notebook 01."""
from __future__ import annotations

import numbers
from typing import Callable

from ..attention import MultiHeadAttention
from ..models import TransformerBlock, count_parameters
from ._common import _name_parts, _not_attempted, _parts_explaining, _verdict, exercise_check

__all__ = ['check_mha_parameters', 'check_block_parameters', 'check_kv_cache_bytes']


def _whole_number(value) -> bool:
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and float(value).is_integer())


def _mha_parts(d: int, h: int) -> dict[str, list[float]]:
    """What a wrong count of ``MultiHeadAttention(d, h)`` plausibly left out (positive) or added
    (negative), each as a clause that names the mistake (never the formula)."""
    full = 4 * d * d + 4 * d
    return {"the biases are missing (one vector per projection)": [4 * d],
            "three of the four biases are missing": [3 * d],
            "one of the four projections is missing (queries, keys, values and the output "
            "projection)": [d * d + d],
            "one projection's weight matrix is missing": [d * d],
            "a LayerNorm is counted, but it belongs to the block, not to the attention layer":
                [-2 * d],
            f"the weights are counted once per head: the {h} heads split d_model among them and "
            "share the four projections": [full - h * full],
            "only one head's share is counted: the heads together span d_model, so each "
            "projection is d_model wide, not d_model / num_heads": [full - 4 * (d * d // h + d // h)]}


@exercise_check
def check_mha_parameters(answer: int | None, d_model: int = 128, num_heads: int = 8) -> bool:
    """Exercise: parameters of ``MultiHeadAttention(d_model, num_heads)`` with biases."""
    if _not_attempted(answer, "set `answer` to your count"):
        return False
    if not _whole_number(answer):
        return _verdict(False, "", f"answer is {answer!r}: set it to a whole number, your count "
                                   "of parameters")
    truth = count_parameters(MultiHeadAttention(d_model, num_heads))
    if answer == truth:
        return _verdict(True, f"{int(answer):,} parameters: four d×d matrices and four biases; "
                              "the number of heads does not change it.", "")
    found = _parts_explaining([truth - answer], _mha_parts(d_model, num_heads), max_parts=2)
    off = "too many" if answer > truth else "too few"
    hint = (f"It looks as if {_name_parts(found)}." if found else
            "Count each of the four projections (queries, keys, values, output): a weight matrix "
            "and a bias each; print(MultiHeadAttention(128, 8)) lists them.")
    return _verdict(False, "", f"{int(answer):,} is {off}. {hint}")


def _block_parts(d: int, ff: int) -> dict[str, float]:
    """What a wrong count of ``TransformerBlock(d, 4, ff)`` plausibly left out (positive) or
    added (negative), each as a clause that names the mistake."""
    full_attention = 4 * d * d + 4 * d
    return {"the attention projections' biases are missing": 4 * d,
            "the two LayerNorms are missing (a gain and a bias per feature, each)": 4 * d,
            "one LayerNorm, or the LayerNorms' biases, is missing": 2 * d,
            "the feed-forward's biases are missing": ff + d,
            "the feed-forward's first bias (width d_ff) is missing": ff,
            "the feed-forward's second bias (width d_model) is missing": d,
            "the attention's output projection is missing": d * d + d,
            "one of the feed-forward's two weight matrices is missing": d * ff,
            "a third LayerNorm is counted (a block has two)": -2 * d,
            "the attention is counted once per head (4 heads here), but heads split d_model and "
            "share the projections": -3 * full_attention,
            "your count uses 4·d_model where the block has d_ff: use the d_ff argument":
                (2 * d + 1) * (ff - 4 * d)}


def _block_hint(diffs: list[int], sizes: list[tuple[int, int]]) -> str:
    """Where to look when a block count is off (``diffs``: truth − answer per size), by the
    parts the gap matches; never the formula itself."""
    per_size = [_block_parts(d, ff) for d, ff in sizes]
    parts = {name: [p[name] for p in per_size] for name in per_size[0]}
    found = _parts_explaining(diffs, parts, max_parts=3)
    if found:
        return f"It looks as if {_name_parts(found)}."
    return ("Count the parts one by one (the attention's four projections, the feed-forward's "
            "two layers, the two LayerNorms), a weight matrix and a bias each where there is one: "
            "print(TransformerBlock(d_model, 4, d_ff)) lists them with their shapes.")


@exercise_check
def check_block_parameters(fn: Callable[[int, int], int] | None) -> bool:
    """Exercise: ``fn(d_model, d_ff)`` returns the parameters of one encoder block."""
    if _not_attempted(fn, "write `block_parameters(d_model, d_ff)`"):
        return False
    sizes = [(16, 64), (64, 256), (48, 100)]
    truths = [count_parameters(TransformerBlock(d, 4, ff)) for d, ff in sizes]
    got = [fn(d, ff) for d, ff in sizes]
    for (d, ff), value in zip(sizes, got):
        if not _whole_number(value):
            return _verdict(False, "", f"block_parameters({d}, {ff}) returned {value!r}: return "
                                       "a whole number")
    wrong = [i for i in range(len(sizes)) if got[i] != truths[i]]
    if wrong:
        d, ff = sizes[wrong[0]]
        off = "too many" if got[wrong[0]] > truths[wrong[0]] else "too few"
        hint = _block_hint([t - g for t, g in zip(truths, got)], sizes)
        return _verdict(False, "", f"block_parameters({d}, {ff}) = {got[wrong[0]]}: {off}. {hint}")
    return _verdict(True, "your formula matches count_parameters for three sizes.", "")


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
    counts = {tokens: fn(tokens) for tokens in (1, 200, 8192)}
    for tokens, got in counts.items():
        if not _whole_number(got):
            return _verdict(False, "", f"kv_cache_bytes({tokens}) returned {got!r}: return a "
                                       "whole number of bytes")
    if any(counts[t] != counts[1] * t for t in counts):
        return _verdict(False, "", "your size does not grow in proportion to the tokens "
                                   f"(kv_cache_bytes(1) = {counts[1]}, kv_cache_bytes(200) = "
                                   f"{counts[200]}): every token read adds the same keys and "
                                   "values, and nothing else is cached.")
    for tokens, got in counts.items():
        truth = per_token * tokens
        if got != truth:
            return _verdict(False, "", f"kv_cache_bytes({tokens}) = {got}, which is not right. "
                                       f"{_kv_hint(got / truth)}")
    return _verdict(True, f"{per_token:,} bytes per token: {per_token * 8192 / 2**20:.0f} MiB for a "
                          "full 8,192-token context, a third of what 9 key-value heads would need.", "")


def _kv_hint(ratio: float) -> str:
    """Where to look when a KV-cache size is off by ``ratio`` (never the formula itself)."""
    hints = {3.0: "SmolLM2 caches keys and values for its key-value heads only: the 9 query heads "
                  "share them (grouped-query attention; see num_key_value_heads).",
             0.5: "A cache holds two tensors per layer, not one.",
             0.25: "Sizes in bytes: how many bytes does one float32 take?",
             2.0: "The weights and the cache are float32 here, not float64.",
             8.0: "Sizes in bytes, not bits.",
             1.5: "Keys and values for the key-value heads only, two tensors per layer: count "
                  "again which of these your formula doubles or triples."}
    for r, hint in hints.items():
        if abs(ratio - r) < 1e-9:
            return hint
    if abs(ratio * _SMOLLM2_LAYERS - 1) < 1e-9:
        return "Every layer keeps its own keys and values."
    if abs(ratio * _SMOLLM2_HEAD_DIM - 1) < 1e-9:
        return "Count numbers, not vectors: each key and value holds head_dim numbers."
    return ("Per token and per layer, count what is stored: which tensors, how many heads, how "
            "wide each head is (hidden_size / num_attention_heads), and the bytes per number.")
