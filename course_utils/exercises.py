"""Feedback for the notebooks' exercises: each ``check_…`` prints what is right or wrong.

Every check returns True or False and never raises on a wrong answer, so a notebook still runs
top to bottom; an answer left as ``None`` is reported as not attempted.
"""
from __future__ import annotations

import math
from typing import Callable

import torch

from .attention import MultiHeadAttention, scaled_dot_product_attention
from .models import TransformerBlock, count_parameters
from .positional import RotaryEmbedding, sinusoidal_encoding

__all__ = ["check_mha_parameters", "check_block_parameters", "check_attention",
           "check_local_mask", "check_sinusoidal", "check_rotation", "check_attention_flops",
           "check_conv_layers_to_connect", "check_kv_cache_reads", "check_ring_allreduce_bytes",
           "check_rollout", "check_weat_effect", "check_oov_rate", "check_bpe_merge",
           "check_band_flops", "check_linformer", "check_state_bytes",
           "check_linear_attention_recurrence", "check_stack_parameters", "check_pre_ln_block",
           "check_compute_optimal", "check_patchify"]


def _verdict(ok: bool, good: str, bad: str) -> bool:
    print(("✔ " + good) if ok else ("✘ " + bad))
    return ok


def _not_attempted(answer, what: str) -> bool:
    if answer is None:
        print(f"… not attempted yet: {what}, then run this cell again.")
        return True
    return False


# ---- 01 -----------------------------------------------------------------------------------
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


# ---- 02 -----------------------------------------------------------------------------------
def check_attention(fn: Callable | None) -> bool:
    """Exercise: ``fn(q, k, v, mask=None) -> (output, weights)`` equals the reference."""
    if _not_attempted(fn, "write `my_attention(q, k, v, mask=None)`"):
        return False
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 5, 8, generator=g), torch.randn(2, 7, 8, generator=g),
               torch.randn(2, 7, 3, generator=g))
    mask = torch.rand(2, 5, 7, generator=g) > 0.3
    mask[..., 0] = True
    for m in (None, mask):
        out, w = fn(q, k, v, m) if m is not None else fn(q, k, v)
        ref_out, ref_w = scaled_dot_product_attention(q, k, v, m)
        if tuple(w.shape) != tuple(ref_w.shape):
            return _verdict(False, "", f"weights have shape {tuple(w.shape)}, expected "
                                       f"{tuple(ref_w.shape)} (..., T, S)")
        if not torch.allclose(w, ref_w, atol=1e-5):
            hint = ("Did you divide by √d_k?" if m is None else
                    "Masked scores should be -inf before the softmax (True = may attend).")
            return _verdict(False, "", f"weights differ (max error "
                                       f"{(w - ref_w).abs().max():.2e}). {hint}")
        if not torch.allclose(out, ref_out, atol=1e-5):
            return _verdict(False, "", "weights are right but the output is not: weights @ v")
    return _verdict(True, "matches the reference with and without a mask.", "")


def check_local_mask(fn: Callable[[int, int], torch.Tensor] | None) -> bool:
    """Exercise: ``fn(T, w)`` is a boolean (T, T) mask, True where |i − j| ≤ w."""
    if _not_attempted(fn, "write `local_mask(T, w)`"):
        return False
    for T, w in [(6, 1), (9, 2), (4, 0)]:
        m = fn(T, w)
        i = torch.arange(T)
        truth = (i[:, None] - i[None, :]).abs() <= w
        if not isinstance(m, torch.Tensor) or m.dtype != torch.bool:
            return _verdict(False, "", "return a boolean tensor (True where attention is allowed)")
        if tuple(m.shape) != (T, T) or not torch.equal(m, truth):
            return _verdict(False, "", f"local_mask({T}, {w}) is wrong: position i should see "
                                       "j with |i − j| ≤ w, itself included.")
    return _verdict(True, "a banded mask: the pattern Longformer uses (notebook 10).", "")


# ---- 03 -----------------------------------------------------------------------------------
def check_sinusoidal(fn: Callable[[int, int], torch.Tensor] | None) -> bool:
    """Exercise: ``fn(num_positions, d_model)`` equals :func:`sinusoidal_encoding`."""
    if _not_attempted(fn, "write `my_sinusoidal(num_positions, d_model)`"):
        return False
    for P, d in [(10, 8), (50, 16)]:
        got, truth = fn(P, d), sinusoidal_encoding(P, d)
        if tuple(got.shape) != (P, d):
            return _verdict(False, "", f"shape {tuple(got.shape)}, expected ({P}, {d})")
        err = (got.double() - truth.double()).abs().max().item()
        if err > 1e-5:
            hint = ("sin goes on even columns, cos on odd ones" if torch.allclose(
                got[:, 0::2].double(), truth[:, 1::2].double(), atol=1e-4) else
                "the frequency is 1 / 10000^(2i/d_model) for columns 2i and 2i+1")
            return _verdict(False, "", f"max error {err:.2e}: {hint}")
    return _verdict(True, "your table equals course_utils.positional.sinusoidal_encoding.", "")


def check_rotation(fn: Callable[[torch.Tensor, int], torch.Tensor] | None) -> bool:
    """Exercise: ``fn(x (T, head_dim), offset)`` rotates like :class:`RotaryEmbedding`."""
    if _not_attempted(fn, "write `my_rope(x, offset)`"):
        return False
    rope = RotaryEmbedding(8)
    x = torch.randn(6, 8, generator=torch.Generator().manual_seed(1))
    for offset in (0, 5):
        got = fn(x, offset)
        truth = rope.rotate(x, offset)
        if not torch.allclose(got, truth, atol=1e-5):
            return _verdict(False, "", f"offset {offset}: max error "
                                       f"{(got - truth).abs().max():.2e}. Pair features (0,1), (2,3)…"
                                       " and rotate pair i at position p by p·θ_i, θ_i = "
                                       "10000^(−2i/head_dim).")
    norms_kept = math.isclose(float(fn(x, 3).norm()), float(x.norm()), rel_tol=1e-5)
    return _verdict(norms_kept, "equal to RotaryEmbedding, and lengths are kept: a rotation.",
                    "not norm-preserving: a rotation must keep lengths")


# ---- 04 -----------------------------------------------------------------------------------
def check_attention_flops(fn: Callable[[int, int], int] | None) -> bool:
    """Exercise: ``fn(n, d)`` is the FLOPs of softmax(QKᵀ/√d)V for one head, counted by
    ``FlopCounterMode`` (matmuls only: 2 FLOPs per multiply-add)."""
    if _not_attempted(fn, "write `attention_flops_guess(n, d)`"):
        return False
    from .timing import count_flops

    for n, d in [(64, 16), (128, 32), (100, 8)]:
        q = torch.randn(1, 1, n, d)
        truth = count_flops(lambda: scaled_dot_product_attention(q, q, q))
        got = fn(n, d)
        if got != truth:
            hint = ("half the count: one matmul is missing (Q Kᵀ and A V)" if got * 2 == truth
                    else "each (n×d)@(d×n) product costs 2·n·d·n FLOPs")
            return _verdict(False, "", f"attention_flops_guess({n}, {d}) = {got}, counted "
                                       f"{truth}: {hint}")
    return _verdict(True, "4·n²·d: quadratic in n, linear in d.", "")


def check_conv_layers_to_connect(fn: Callable[[int, int], int] | None) -> bool:
    """Exercise: ``fn(n, k)`` = Conv1d layers (kernel k, no dilation) for the last output to
    depend on the first input of ``n`` tokens."""
    if _not_attempted(fn, "write `conv_layers(n, k)`"):
        return False
    for n, k in [(16, 3), (64, 3), (50, 5), (2, 3)]:
        # each layer widens the receptive field by k - 1 on one side when padding is symmetric
        # ("same" padding): output i sees inputs i - (k-1)/2 ... i + (k-1)/2.
        reach = (k - 1) // 2
        truth = math.ceil((n - 1) / reach)
        got = fn(n, k)
        if got != truth:
            return _verdict(False, "", f"conv_layers({n}, {k}) = {got}, expected {truth}: a "
                                       f"'same'-padded kernel of {k} reaches {reach} position(s) "
                                       "further per layer")
    return _verdict(True, "O(n/k) layers: why convolutions need depth (or dilation) for "
                          "long-range paths.", "")


# ---- 05 -----------------------------------------------------------------------------------
def check_kv_cache_reads(fn: Callable[[int, bool], int] | None) -> bool:
    """Exercise: ``fn(t, use_cache)`` = key/value projections computed, per layer, to produce
    the token at position ``t`` (0-based; the prefix is positions 0 … t−1)."""
    if _not_attempted(fn, "write `kv_projections(t, use_cache)`"):
        return False
    for t in (1, 5, 100):
        no_cache, cache = fn(t, False), fn(t, True)
        if no_cache != t or cache != 1:
            return _verdict(False, "", f"for t={t}: got {no_cache} without a cache and {cache} with "
                                       f"one; expected {t} and 1. Without a cache the whole prefix "
                                       "is projected again; with one only the newest token is.")
    return _verdict(True, "t against 1 per step: generating T tokens costs O(T²) projections "
                          "without a cache and O(T) with one.", "")


def check_ring_allreduce_bytes(fn: Callable[[int, int], float] | None) -> bool:
    """Exercise: ``fn(num_gpus, message_bytes)`` = bytes each GPU sends in a ring all-reduce."""
    if _not_attempted(fn, "write `ring_bytes(num_gpus, message_bytes)`"):
        return False
    for n, m in ((2, 1000), (8, 4096), (64, 10**9)):
        truth = 2 * (n - 1) / n * m
        got = fn(n, m)
        if not math.isclose(float(got), truth, rel_tol=1e-9):
            return _verdict(False, "", f"ring_bytes({n}, {m}) = {got}, expected {truth:g}: a ring "
                                       "all-reduce is a reduce-scatter then an all-gather, each "
                                       "sending (N−1)/N of the message.")
    return _verdict(True, "2(N−1)/N · M: nearly constant per GPU however many GPUs join.", "")


# ---- 07 -----------------------------------------------------------------------------------
def check_rollout(fn: Callable | None) -> bool:
    """Exercise: ``fn(list of (H, T, T))`` equals :func:`course_utils.interpret.attention_rollout`."""
    if _not_attempted(fn, "write `my_rollout(attentions)`"):
        return False
    from .interpret import attention_rollout

    g = torch.Generator().manual_seed(0)
    layers = [torch.softmax(torch.randn(3, 5, 5, generator=g), -1) for _ in range(3)]
    got, truth = fn(layers), attention_rollout(layers)
    if tuple(got.shape) != (5, 5):
        return _verdict(False, "", f"shape {tuple(got.shape)}, expected (5, 5)")
    if not torch.allclose(got, truth, atol=1e-5):
        hint = ("multiply in the other order: later layers on the left" if torch.allclose(
            got, attention_rollout(layers[::-1]), atol=1e-5) else
            "average heads, mix with the identity (0.5 each), renormalise rows, multiply")
        return _verdict(False, "", f"max error {(got - truth).abs().max():.2e}: {hint}")
    return _verdict(True, "rows still sum to 1: rollout is a flow of attention through layers.", "")


def check_weat_effect(fn: Callable | None) -> bool:
    """Exercise: ``fn(s_x, s_y)`` is WEAT's effect size (sample standard deviation)."""
    if _not_attempted(fn, "write `effect_size(s_x, s_y)`"):
        return False
    s_x, s_y = torch.tensor([0.3, 0.1, 0.2, 0.4]), torch.tensor([-0.1, 0.0, 0.1, -0.2])
    both = torch.cat([s_x, s_y])
    truth = ((s_x.mean() - s_y.mean()) / both.std()).item()
    got = float(fn(s_x, s_y))
    if math.isclose(got, truth, rel_tol=1e-4):
        return _verdict(True, f"d = {truth:.3f}: a difference of means in units of the spread.", "")
    pop = ((s_x.mean() - s_y.mean()) / both.std(unbiased=False)).item()
    hint = "use the sample standard deviation (unbiased)" if math.isclose(got, pop, rel_tol=1e-4) \
        else "divide the difference of means by the std of both sets together"
    return _verdict(False, "", f"got {got:.4f}, expected {truth:.4f}: {hint}")


# ---- 09 -----------------------------------------------------------------------------------
def check_oov_rate(fn: Callable | None) -> bool:
    """Exercise: ``fn(train_words, test_words)`` = share of test tokens not seen in training."""
    if _not_attempted(fn, "write `oov(train_words, test_words)`"):
        return False
    train = "the cat sat on the mat".split()
    test = "the dog sat on the log the end".split()
    truth = sum(w not in set(train) for w in test) / len(test)
    got = fn(train, test)
    if math.isclose(float(got), truth, rel_tol=1e-9):
        return _verdict(True, f"{truth:.3f}: counted over tokens (every occurrence), not types.", "")
    types = len({w for w in test if w not in set(train)}) / len(set(test))
    hint = ("that is the rate over distinct words (types); count every occurrence (tokens)"
            if math.isclose(float(got), types, rel_tol=1e-9) else
            "divide the number of test tokens missing from the training words by all test tokens")
    return _verdict(False, "", f"got {got}, expected {truth:.3f}: {hint}")


def check_bpe_merge(fn: Callable | None) -> bool:
    """Exercise: ``fn(word_counts)`` returns the first BPE merge: the most frequent adjacent
    pair of symbols, counted over words weighted by their counts (ties: smallest pair)."""
    if _not_attempted(fn, "write `first_merge(word_counts)`"):
        return False
    cases = [({"low": 5, "lower": 2, "newest": 6, "widest": 3}, ("e", "s")),
             ({"aa": 1, "ab": 3, "bb": 3}, ("a", "b")),
             ({"xy": 2, "yx": 2}, ("x", "y"))]
    for counts, truth in cases:
        got = tuple(fn(counts))
        if got != truth:
            return _verdict(False, "", f"first_merge({counts}) = {got}, expected {truth}: weight "
                                       "each pair by its word's count; break ties by the "
                                       "smaller pair")
    return _verdict(True, "that is one step of the loop the tokenizers library runs.", "")


# ---- 10 -----------------------------------------------------------------------------------
def check_band_flops(fn: Callable[[int, int, int], int] | None) -> bool:
    """Exercise: ``fn(n, d, window)`` returns the multiply-add FLOPs (2 per multiply-add) of
    sliding-window attention's two products, Q·Kᵀ and weights·V, counting only the kept
    pairs: every position i with every j, |i − j| ≤ window, 0 ≤ j < n."""
    if _not_attempted(fn, "write `band_flops(n, d, window)`"):
        return False
    for n, d, w in [(16, 8, 2), (100, 16, 10), (64, 32, 0), (10, 4, 20)]:
        i = torch.arange(n)
        pairs = int(((i[:, None] - i[None, :]).abs() <= w).sum())
        truth = 2 * 2 * pairs * d
        got = fn(n, d, w)
        if got != truth:
            hint = ("Near the ends a window is cut off: count the pairs exactly, or subtract "
                    "the two missing triangles w(w+1) from n(2w+1)." if got == 4 * n * (2 * w + 1) * d
                    else "Two products, each 2·d FLOPs per (query, key) pair.")
            return _verdict(False, "", f"band_flops({n}, {d}, {w}) = {got}, expected {truth}. "
                                       + hint)
    return _verdict(True, "Right: 4·d·(number of pairs), and the pairs grow as n·(2w+1) — "
                          "linearly in n.", "")


def check_linformer(fn: Callable | None) -> bool:
    """Exercise: ``fn(q, k, v, E, F)`` implements Linformer attention
    softmax(Q (E K)ᵀ / √d) (F V) for q, k, v ``(n, d)`` and E, F ``(proj, n)``."""
    if _not_attempted(fn, "write `my_linformer(q, k, v, E, F)`"):
        return False
    from .efficient import linformer_attention

    g = torch.Generator().manual_seed(0)
    for n, d, p in [(32, 8, 4), (50, 16, 50)]:
        q, k, v = (torch.randn(n, d, generator=g, dtype=torch.float64) for _ in range(3))
        E, F_ = (torch.randn(p, n, generator=g, dtype=torch.float64) / n ** 0.5 for _ in range(2))
        got, truth = fn(q, k, v, E, F_), linformer_attention(q, k, v, E, F_)
        if tuple(got.shape) != tuple(truth.shape):
            return _verdict(False, "", f"shape {tuple(got.shape)}, expected {tuple(truth.shape)} "
                                       "(one output per query)")
        err = float((got - truth).abs().max())
        if err > 1e-9:
            return _verdict(False, "", f"differs from linformer_attention by {err:.3g} at n={n}, "
                                       f"proj={p}: project keys with E and values with F "
                                       "along the sequence (E @ k), and scale by √d.")
    return _verdict(True, "Equal to course_utils.efficient.linformer_attention.", "")


# ---- 11 -----------------------------------------------------------------------------------
def check_state_bytes(fn: Callable[[str, int, int, int], int] | None) -> bool:
    """Exercise: ``fn(kind, length, d_model, num_layers)`` returns the bytes (float32) a model
    must keep to generate the next token after ``length`` tokens: ``kind="lstm"`` (h and c per
    layer) or ``kind="transformer"`` (keys and values of every past token, per layer)."""
    if _not_attempted(fn, "write `state_bytes(kind, length, d_model, num_layers)`"):
        return False
    for kind, length, d, layers in [("lstm", 10, 64, 1), ("lstm", 1000, 32, 3),
                                    ("transformer", 10, 64, 1), ("transformer", 500, 32, 4)]:
        truth = (2 * d * layers * 4 if kind == "lstm" else 2 * length * d * layers * 4)
        got = fn(kind, length, d, layers)
        if got != truth:
            hint = ("An LSTM keeps h and c, whatever the length." if kind == "lstm" else
                    "A key and a value (each d_model floats) for every past token and layer.")
            return _verdict(False, "", f"state_bytes({kind!r}, {length}, {d}, {layers}) = {got}, "
                                       f"expected {truth}. {hint} float32 is 4 bytes.")
    return _verdict(True, "Right: the recurrence carries a constant state; the KV cache grows "
                          "with every token.", "")


def check_linear_attention_recurrence(fn: Callable | None) -> bool:
    """Exercise: ``fn(q, k, v)`` computes causal linear attention (feature map φ(x) = elu(x)+1)
    as a recurrence over t with a (d, d_v) state S and a (d,) normaliser z, for ``(T, d)``
    inputs; it must equal the parallel (masked-matrix) form."""
    if _not_attempted(fn, "write `linear_attention_recurrent(q, k, v)`"):
        return False
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(12, 4, generator=g, dtype=torch.float64) for _ in range(3))
    phi = lambda x: torch.nn.functional.elu(x) + 1
    scores = (phi(q) @ phi(k).T).tril()
    truth = scores @ v / scores.sum(-1, keepdim=True)
    got = fn(q, k, v)
    if tuple(got.shape) != tuple(truth.shape):
        return _verdict(False, "", f"shape {tuple(got.shape)}, expected {tuple(truth.shape)}")
    err = float((got - truth).abs().max())
    return _verdict(err < 1e-9, "Equal to the parallel form: the same layer, trained in parallel "
                                "and run as an RNN.",
                    f"differs from the parallel form by {err:.3g}: S += φ(k_t) v_tᵀ, "
                    "z += φ(k_t), y_t = φ(q_t)ᵀS / φ(q_t)ᵀz.")


# ---- 08 -----------------------------------------------------------------------------------
def check_stack_parameters(fn: Callable[[int, int, int], int] | None) -> bool:
    """Exercise: ``fn(num_layers, d_model, vocab_size)`` returns the parameters of
    ``TransformerClassifier(vocab_size, vocab_size, d_model, num_heads=4, num_layers,
    positional="none", pooling="last")``: embedding, blocks, final LayerNorm, output layer."""
    if _not_attempted(fn, "write `stack_parameters(num_layers, d_model, vocab_size)`"):
        return False
    from .models import TransformerClassifier

    for layers, d, V in [(1, 16, 10), (4, 32, 50), (7, 8, 3)]:
        truth = count_parameters(TransformerClassifier(V, V, d_model=d, num_heads=4,
                                                       num_layers=layers, positional="none",
                                                       pooling="last"))
        got = fn(layers, d, V)
        if got != truth:
            return _verdict(False, "", f"stack_parameters({layers}, {d}, {V}) = {got}, expected "
                                       f"{truth}. Per block: attention 4(d²+d), FFN 8d²+5d, two "
                                       "LayerNorms 4d; plus embedding V·d, a final LayerNorm 2d "
                                       "and the output layer d·V+V.")
    return _verdict(True, "Right: parameters grow exactly linearly with depth, 12d²+13d per "
                          "block.", "")


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
                                "x is never normalised, so gradients reach every layer intact.",
                    f"differs from the block by {err:.3g}.{hint}")


# ---- 06 -----------------------------------------------------------------------------------
def check_compute_optimal(fn: Callable[[float], tuple[float, float]] | None) -> bool:
    """Exercise: ``fn(C) -> (N, D)``: the compute-optimal parameters and tokens for a budget of
    ``C`` FLOPs, using ``C ≈ 6·N·D`` and Chinchilla's rule of about 20 tokens per parameter."""
    if _not_attempted(fn, "write `compute_optimal(C)`"):
        return False
    for C in (1e18, 5.88e23, 3.0e21):
        N, D = fn(C)
        n_true = math.sqrt(C / 120.0)
        if not (math.isclose(N, n_true, rel_tol=1e-6) and math.isclose(D, 20 * n_true, rel_tol=1e-6)):
            return _verdict(False, "", f"compute_optimal({C:.3g}) = ({N:.4g}, {D:.4g}); expected "
                                       f"N = {n_true:.4g}, D = {20 * n_true:.4g}. Put D = 20·N "
                                       "into C = 6·N·D and solve for N.")
    return _verdict(True, "Right: N = sqrt(C/120). Chinchilla's own budget, 5.88e23 FLOPs, gives "
                          f"{math.sqrt(5.88e23 / 120) / 1e9:.0f}B parameters and "
                          f"{20 * math.sqrt(5.88e23 / 120) / 1e12:.1f}T tokens: the 70B model "
                          "trained on 1.4T tokens.", "")


def check_patchify(fn: Callable[[torch.Tensor, int], torch.Tensor] | None) -> bool:
    """Exercise: ``fn(images (B, C, H, W), patch) -> (B, (H/p)·(W/p), C·p·p)``: the flattened
    patches, row by row, each flattened channel-first, as the ViT's patch embedding sees them."""
    if _not_attempted(fn, "write `patchify(images, patch)`"):
        return False
    from .vision import PatchEmbedding

    g = torch.Generator().manual_seed(0)
    for B, C, size, p in [(2, 1, 8, 2), (3, 3, 12, 4), (1, 2, 6, 3)]:
        images = torch.randn(B, C, size, size, generator=g)
        embed = PatchEmbedding(size, p, C, C * p * p)
        with torch.no_grad():
            embed.proj.weight.copy_(torch.eye(C * p * p))
            embed.proj.bias.zero_()
            truth = embed(images)
        got = fn(images, p)
        if not isinstance(got, torch.Tensor) or got.shape != truth.shape:
            return _verdict(False, "", f"patchify of {tuple(images.shape)}, patch {p}: expected "
                                       f"shape {tuple(truth.shape)}, got "
                                       f"{getattr(got, 'shape', type(got).__name__)}")
        if not torch.allclose(got, truth):
            return _verdict(False, "", f"right shape, wrong order (images {tuple(images.shape)}, "
                                       f"patch {p}): patches go row by row; inside a patch, "
                                       "channel first, then pixel rows, then pixel columns.")
    return _verdict(True, "Right: a patch embedding is this reshape followed by one Linear layer, "
                          "the same as a convolution with kernel = stride = patch.", "")
