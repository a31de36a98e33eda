"""Numerical checks of ``docs/derivations.md``: every equation there that can be evaluated is
evaluated here, both sides on random inputs in float64, or the package's function against the
closed form the derivation reaches. Each test's docstring names the derivation's heading
(``NN · title``); each heading in the document names its test. A wrong sign or factor in either
fails: every tolerance sits well below the size of such an error (exact identities: float64
rounding; Monte Carlo: several standard errors, the standard error derived too; numerical
integrals and asymptotic laws: their stated error).
"""
from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.functional import jacobian

from course_utils.attention import MultiHeadAttention, scaled_dot_product_attention
from course_utils.efficient import (linformer_attention, sliding_window_attention,
                                    sliding_window_mask)
from course_utils.interpret import attention_rollout, gradient_x_input, log_odds
from course_utils.models import (GroupedQueryAttention, LayerCache, TransformerBlock,
                                 count_parameters)
from course_utils.positional import RotaryEmbedding, sinusoidal_encoding, sinusoidal_shift_matrix
from course_utils.timing import attention_flops, count_flops, fit_loglog, lstm_flops

D64 = torch.float64


def jac(f, x):
    """The Jacobian of f at x, vectorised (one pass for all rows)."""
    return jacobian(f, x, vectorize=True)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=gen(seed), dtype=D64)


# ---- 02 · self-attention ----------------------------------------------------------------------
def test_attention_weighted_average():
    """02 · Attention is a weighted average: out_t = Σ_s a_ts v_s, a_ts ≥ 0, Σ_s a_ts = 1; hence
    shifting every value by c shifts every output by c, and each output lies in the values' box."""
    q, k, v = randn(5, 4, seed=1), randn(7, 4, seed=2), randn(7, 3, seed=3)
    out, w = scaled_dot_product_attention(q, k, v)
    scores = q @ k.T / math.sqrt(4)
    a = scores.exp() / scores.exp().sum(-1, keepdim=True)               # the softmax, written out
    assert torch.allclose(w, a, rtol=0, atol=1e-14)
    assert torch.allclose(out, a @ v, rtol=0, atol=1e-14)
    assert (w >= 0).all() and torch.allclose(w.sum(-1), torch.ones(5, dtype=D64), atol=1e-14)
    c = randn(3, seed=4)
    assert torch.allclose(scaled_dot_product_attention(q, k, v + c)[0], out + c, atol=1e-13)
    assert (out <= v.max(0).values + 1e-14).all() and (out >= v.min(0).values - 1e-14).all()


def test_softmax_jacobian():
    """02 · The softmax Jacobian: ∂p_i/∂s_j = p_i(δ_ij − p_j), J = diag(p) − p pᵀ, symmetric,
    J·1 = 0."""
    for seed in range(3):
        s = randn(6, seed=seed) * 2
        p = torch.softmax(s, -1)
        J = jacobian(lambda x: torch.softmax(x, -1), s)
        closed = torch.diag(p) - torch.outer(p, p)
        assert torch.allclose(J, closed, rtol=0, atol=1e-15)
        assert torch.allclose(J, J.T, atol=1e-15)
        assert J.sum(1).abs().max() < 1e-15  # shifting all scores: no change


def test_variance_of_q_dot_k():
    """02 · Var(q·k) = d_k, hence √d_k: Monte Carlo with unit-variance independent entries, within
    5 standard errors; the standard error uses the derived Var((q·k)²) − … = 2d_k² + 6d_k."""
    n = 40_000
    g = gen(22)
    for d_k in (1, 16, 256):
        q = torch.randn(n, d_k, generator=g, dtype=D64)
        k = torch.randn(n, d_k, generator=g, dtype=D64)
        s = (q * k).sum(-1)
        assert abs(s.mean().item()) < 5 * math.sqrt(d_k / n)            # E[q·k] = 0
        fourth = (s ** 4).mean().item()                                 # E[(q·k)⁴] = 3d² + 6d
        assert abs(fourth - (3 * d_k ** 2 + 6 * d_k)) < 0.1 * (3 * d_k ** 2 + 6 * d_k)
        se = math.sqrt((2 * d_k ** 2 + 6 * d_k) / n)                    # SE of the sample variance
        assert abs(s.var().item() - d_k) < 5 * se, (d_k, s.var().item(), se)
        scaled = s / math.sqrt(d_k)
        assert abs(scaled.var().item() - 1) < 5 * se / d_k  # divided by √d_k: variance 1


def test_saturated_softmax_small_gradient():
    """02 · A saturated softmax passes back little gradient:
    ‖J‖_∞ = max_i 2p_i(1 − p_i) ≤ 2(1 − max p)."""
    s = randn(10, seed=5)
    previous = float("inf")
    for beta in (1.0, 4.0, 16.0, 64.0):                                 # sharper and sharper scores
        p = torch.softmax(beta * s, -1)
        J = jacobian(lambda x: torch.softmax(x, -1), beta * s)
        rest = (p.expand(10, 10) * (1 - torch.eye(10, dtype=D64))).sum(1)   # 1 − p_i, no cancelling
        norm_inf = J.abs().sum(1).max().item()  # induced ∞-norm: largest row sum
        if beta < 64:  # at 64, autograd's p − p² itself cancels to 0
            assert math.isclose(norm_inf, (2 * p * rest).max().item(), rel_tol=1e-6)
        assert norm_inf <= 2 * rest[p.argmax()].item() * (1 + 1e-6)
        assert norm_inf <= 0.5 + 1e-15
        assert norm_inf < previous
        previous = norm_inf
    assert previous < 1e-6  # one-hot in float64: no gradient


# ---- 03 · positional encoding -----------------------------------------------------------------
def _rotation(k: int, d: int) -> torch.Tensor:
    """R(k) as derived: block i = [[cos kω_i, sin kω_i], [−sin kω_i, cos kω_i]] on (sin, cos)."""
    omega = 10000.0 ** (-torch.arange(0, d, 2, dtype=D64) / d)
    R = torch.zeros(d, d, dtype=D64)
    for i, w in enumerate(omega.tolist()):
        c, s = math.cos(k * w), math.sin(k * w)
        R[2 * i:2 * i + 2, 2 * i:2 * i + 2] = torch.tensor([[c, s], [-s, c]], dtype=D64)
    return R


def test_sinusoidal_shift_is_rotation():
    """03 · The sinusoidal shift is a rotation: PE(p + k) = R(k) PE(p), R(k) orthogonal,
    R(a)R(b) = R(a + b), and PE(p)·PE(p + k) = Σ_i cos(kω_i), independent of p."""
    d, P = 16, 300
    pe = sinusoidal_encoding(P, d, dtype=D64)
    omega = 10000.0 ** (-torch.arange(0, d, 2, dtype=D64) / d)
    for k in (1, 7, 50):
        R = _rotation(k, d)
        assert torch.allclose(sinusoidal_shift_matrix(k, d, dtype=D64), R, rtol=0, atol=1e-12)
        assert (pe[:-k] @ R.T - pe[k:]).abs().max() < 1e-11
        assert torch.allclose(R @ R.T, torch.eye(d, dtype=D64), atol=1e-14)
        dots = (pe[:-k] * pe[k:]).sum(-1)
        assert (dots - torch.cos(k * omega).sum()).abs().max() < 1e-11
    assert torch.allclose(_rotation(3, d) @ _rotation(4, d), _rotation(7, d), atol=1e-13)


def test_rope_score_depends_on_offset_only():
    """03 · RoPE's score depends on m − n only: with z_i = x_{2i} + i·x_{2i+1}, q_m·k_n =
    Re Σ_i z_i(q) conj(z_i(k)) e^{i(m−n)θ_i}. Checked on course_utils' RotaryEmbedding.rotate."""
    hd = 16
    rope = RotaryEmbedding(hd)
    q, k = randn(1, hd, seed=6), randn(1, hd, seed=7)
    theta = 10000.0 ** (-torch.arange(0, hd, 2, dtype=D64) / hd)
    zq = torch.complex(q[0, 0::2], q[0, 1::2])
    zk = torch.complex(k[0, 0::2], k[0, 1::2])

    def closed(m, n):
        return (zq * zk.conj() * torch.exp(1j * (m - n) * theta)).real.sum().item()

    for m, n in ((0, 0), (5, 2), (40, 37), (203, 200), (3, 10)):
        got = (rope.rotate(q, offset=m) * rope.rotate(k, offset=n)).sum().item()
        # the package computes its angles in float32 (whatever the input dtype): error ~ m·1e-7
        assert abs(got - closed(m, n)) < 1e-4, (m, n, got, closed(m, n))
    assert abs(closed(203, 200) - closed(5, 2)) < 1e-12  # the same offset, the same score
    assert abs(closed(5, 2) - closed(2, 5)) > 1e-3                      # the sign of m − n matters


# ---- 04 · complexity --------------------------------------------------------------------------
def test_attention_and_lstm_flops():
    """04 · FLOPs of attention and of an LSTM, and where they cross: the core 4n²d, the layer
    8nd² + 4n²d, the LSTM 16nd²; per token they meet at n = 4d (core) and n = 2d (layer).
    timing.attention_flops / lstm_flops against the derivation and against counted matmuls."""
    d = 16
    torch.manual_seed(0)
    lstm, mha = nn.LSTM(d, d, batch_first=True), MultiHeadAttention(d, 4)
    for n in (8, 32, 64):
        x = torch.randn(1, n, d)
        core = count_flops(lambda: scaled_dot_product_attention(x, x, x)[0])
        layer = count_flops(lambda: mha(x, x, x))
        assert core == attention_flops(n, d) == 4 * n * n * d
        assert layer == attention_flops(n, d, projections=True) == 8 * n * d * d + 4 * n * n * d
        assert count_flops(lambda: lstm(x)) == lstm_flops(n, d, d) == 16 * n * d * d
    assert attention_flops(4 * d, d) == lstm_flops(4 * d, d, d)                     # n = 4d
    assert attention_flops(2 * d, d, projections=True) == lstm_flops(2 * d, d, d)  # n = 2d
    assert attention_flops(4 * d - 1, d) < lstm_flops(4 * d - 1, d, d)      # cheaper below,
    assert attention_flops(4 * d + 1, d) > lstm_flops(4 * d + 1, d, d)      # dearer above


def test_recurrent_gradient_product_of_jacobians():
    """04 · The recurrent gradient is a product of Jacobians, and decays geometrically: for a
    tanh RNN ∂h_T/∂h_0 = Π_t diag(1 − h_t²) W_hh, bounded by Π‖J_t‖ ≤ ‖W_hh‖^T (default init:
    spectral radius near 1/√3); along an LSTM's cell,
    ∂c_t/∂c_{t−1} (h_{t−1} held) = diag(f_t), so the cell path carries Π_t f_t."""
    torch.manual_seed(1)
    h_dim, T = 6, 12
    rnn = nn.RNN(h_dim, h_dim, batch_first=True).double()
    x = randn(1, T, h_dim, seed=8)
    h0 = randn(1, 1, h_dim, seed=9)
    hT = lambda h: rnn(x, h.view(1, 1, h_dim))[1].view(h_dim)
    J = jacobian(hT, h0.view(h_dim))
    hs = rnn(x, h0)[0][0]                                               # (T, h): h_1 … h_T
    W = rnn.weight_hh_l0.detach()
    prod, bound = torch.eye(h_dim, dtype=D64), 1.0
    for t in range(T):
        J_t = torch.diag(1 - hs[t] ** 2) @ W
        prod = J_t @ prod
        bound *= torch.linalg.matrix_norm(J_t, 2).item()
    assert torch.allclose(J, prod, atol=1e-13)
    assert torch.linalg.matrix_norm(J, 2).item() <= bound * (1 + 1e-12)
    assert bound <= torch.linalg.matrix_norm(W, 2).item() ** T * (1 + 1e-12)
    # PyTorch's default W_hh, uniform in ±1/√h (variance 1/(3h)): spectral radius near 1/√3
    big = nn.RNN(256, 256).weight_hh_l0.detach().double()
    assert abs(torch.linalg.eigvals(big).abs().max().item() - 1 / math.sqrt(3)) < 0.08  # 1/√2: 0.71
    # an LSTM cell: the Jacobian of c_t in c_{t−1}, h_{t−1} held, is diag(f_t); gates i, f, g, o
    cell = nn.LSTMCell(4, h_dim).double()
    xt, h, c = randn(1, 4, seed=10), randn(1, h_dim, seed=11), randn(1, h_dim, seed=12)
    Jc = jacobian(lambda cc: cell(xt, (h, cc.view(1, h_dim)))[1].view(h_dim), c.view(h_dim))
    pre = xt @ cell.weight_ih.T + cell.bias_ih + h @ cell.weight_hh.T + cell.bias_hh
    f = torch.sigmoid(pre[0, h_dim:2 * h_dim])
    assert torch.allclose(Jc, torch.diag(f.detach()), atol=1e-14)


# ---- 05 · parallelization ---------------------------------------------------------------------
def _ring_allreduce(xs: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[int]]:
    """Ring all-reduce simulated: reduce-scatter (p − 1 rounds), then all-gather (p − 1 rounds);
    each round every worker sends one chunk to its right neighbour. Returns (results, elements
    sent per worker)."""
    p = len(xs)
    chunks = [list(x.clone().chunk(p)) for x in xs]
    sent = [0] * p
    for r in range(p - 1):                                  # reduce-scatter
        msgs = [(w, (w - r) % p, chunks[w][(w - r) % p].clone()) for w in range(p)]
        for w, c, data in msgs:
            chunks[(w + 1) % p][c] += data
            sent[w] += data.numel()
    for r in range(p - 1):  # all-gather: worker w owns chunk (w + 1) % p
        msgs = [(w, (w + 1 - r) % p, chunks[w][(w + 1 - r) % p].clone()) for w in range(p)]
        for w, c, data in msgs:
            chunks[(w + 1) % p][c] = data
            sent[w] += data.numel()
    return [torch.cat(c) for c in chunks], sent


def test_ring_allreduce_traffic():
    """05 · Ring all-reduce traffic: each worker sends 2(p − 1)/p · M, checked on a simulated ring
    and against course_utils.exercises.check_ring_allreduce_bytes (notebook 05's exercise)."""
    from course_utils.exercises import check_ring_allreduce_bytes

    for p in (2, 3, 4, 8):
        M = 24 * p
        xs = [randn(M, seed=100 + w) for w in range(p)]
        results, sent = _ring_allreduce(xs)
        total = torch.stack(xs).sum(0)
        assert all(torch.allclose(r, total, atol=1e-12) for r in results)
        assert sent == [2 * (p - 1) * M // p] * p
    assert check_ring_allreduce_bytes(lambda p, m: 2 * (p - 1) / p * m)
    assert not check_ring_allreduce_bytes(lambda p, m: (p - 1) / p * m)  # one phase only: refused


def test_kv_cache_bytes_per_token():
    """05 · KV-cache bytes per token = 2 · layers · kv_heads · head_dim · bytes, and grouped-query
    attention divides it by heads / kv_heads: LayerCache.nbytes of GroupedQueryAttention with
    SmolLM2's head layout (9 heads, 3 key/value heads, head_dim 64, width 576)."""
    torch.manual_seed(2)
    layers, T = 2, 5
    gqa = [GroupedQueryAttention(576, 9, 3) for _ in range(layers)]
    mha = [GroupedQueryAttention(576, 9, 9) for _ in range(layers)]
    x = torch.randn(1, T, 576)
    total = {}
    for name, blocks in (("gqa", gqa), ("mha", mha)):
        caches = [LayerCache() for _ in blocks]
        with torch.no_grad():
            for t in range(T):  # one token at a time, as in decoding
                for block, cache in zip(blocks, caches):
                    block(x[:, t:t + 1], cache)
        total[name] = sum(c.nbytes for c in caches)
    assert total["gqa"] == T * 2 * layers * 3 * 64 * 4                  # float32: 4 bytes
    assert total["mha"] // total["gqa"] == 9 // 3 and total["mha"] % total["gqa"] == 0
    assert 2 * 30 * 3 * 64 * 4 == 46_080 and 2 * 30 * 3 * 64 * 2 == 23_040  # SmolLM2, 4 / 2 bytes


# ---- 06 · scaling -----------------------------------------------------------------------------
def test_power_law_is_line_in_loglog():
    """06 · A power law is a line in log–log: L = a·N^(−α) ⇔ log L = log a − α log N;
    timing.fit_loglog recovers slope −α and intercept log a exactly."""
    a, alpha = 7.3, 0.076
    N = [1e3, 1e4, 3e5, 2e6, 1e8]
    fit = fit_loglog(N, [a * n ** -alpha for n in N])
    assert math.isclose(fit.slope, -alpha, rel_tol=1e-9)
    assert math.isclose(fit.intercept, math.log(a), rel_tol=1e-9)
    assert fit.r2 > 1 - 1e-12


def test_training_flops_six_n_d():
    """06 · C ≈ 6ND: forward 2N per token, backward 4N (input gradients 2N, weight gradients 2N),
    exact for a stack of bias-free matrices (counted by timing.count_flops)."""
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(16, 32, bias=False), nn.Linear(32, 24, bias=False),
                        nn.Linear(24, 8, bias=False))
    N = count_parameters(net)
    for D in (1, 7, 64):
        x = torch.randn(D, 16, requires_grad=True)
        assert count_flops(lambda: net(x)) == 2 * N * D
        assert count_flops(lambda: net(x).sum().backward()) == 6 * N * D


def test_compute_optimal_split():
    """06 · Compute-optimal N*, D* under C = 6ND with L = E + A/N^α + B/D^β:
    N* = G (C/6)^(β/(α+β)), D* = G⁻¹ (C/6)^(α/(α+β)), G = (αA/(βB))^(1/(α+β)); checked against a
    numerical minimum, with Hoffmann et al.'s fitted constants."""
    from scipy.optimize import minimize_scalar

    E, A, B, alpha, beta = 1.69, 406.4, 410.7, 0.34, 0.28
    G = (alpha * A / (beta * B)) ** (1 / (alpha + beta))
    for C in (1e18, 1e21, 5.76e23):
        def loss(logN, C=C):
            return E + A * math.exp(-alpha * logN) + B * (C / (6 * math.exp(logN))) ** -beta

        best = minimize_scalar(loss, bounds=(math.log(1e3), math.log(1e15)), method="bounded",
                               options={"xatol": 1e-10})
        N_star = G * (C / 6) ** (beta / (alpha + beta))
        D_star = (C / 6) ** (alpha / (alpha + beta)) / G
        assert math.isclose(math.exp(best.x), N_star, rel_tol=1e-5)
        assert math.isclose(6 * N_star * D_star, C, rel_tol=1e-12)
        assert math.isclose(alpha * A * N_star ** -alpha, beta * B * D_star ** -beta, rel_tol=1e-12)
    assert math.isclose(beta / (alpha + beta), 0.4516, abs_tol=1e-4)     # N* ∝ C^0.45, D* ∝ C^0.55


# ---- 07 · interpretability --------------------------------------------------------------------
def test_rollout_is_product_of_half_residual():
    """07 · Rollout is a product of (A + I)/2: R = Â_L ⋯ Â_1, Â_l = (mean_h A_l + I)/2 (rows already
    sum to 1; otherwise renormalised), against interpret.attention_rollout; rows of R sum to 1."""
    L, H, T = 3, 4, 6
    layers = [torch.softmax(randn(H, T, T, seed=20 + l) * 2, -1) for l in range(L)]
    I = torch.eye(T, dtype=D64)
    hats = [(a.mean(0) + I) / 2 for a in layers]
    expected = hats[2] @ hats[1] @ hats[0]
    got = attention_rollout(layers)
    assert torch.allclose(got, expected, atol=1e-14)
    assert torch.allclose(got.sum(-1), torch.ones(T, dtype=D64), atol=1e-14)
    assert not torch.allclose(got, hats[0] @ hats[1] @ hats[2], atol=1e-3)   # the order matters
    assert torch.allclose(attention_rollout(layers, residual=False),
                          layers[2].mean(0) @ layers[1].mean(0) @ layers[0].mean(0), atol=1e-14)
    raw = [a * 3 for a in layers]  # rows summing to 3: renormalised
    half = [0.5 * a.mean(0) + 0.5 * I for a in raw]
    renorm = [h / h.sum(-1, keepdim=True) for h in half]
    assert torch.allclose(attention_rollout(raw), renorm[2] @ renorm[1] @ renorm[0], atol=1e-14)


def test_integrated_gradients_completeness():
    """07 · Integrated gradients' completeness: Σ_i (x_i − x'_i) ∫₀¹ ∂F/∂x_i(x' + α(x − x')) dα
    = F(x) − F(x'); the midpoint rule's error falls as 1/m². Then explainers.integrated_gradients
    (Captum, over token presence) on a small TransformerClassifier."""
    torch.manual_seed(4)
    f = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 1)).double()
    F_ = lambda z: f(z).sum()
    x, base = randn(5, seed=30), torch.zeros(5, dtype=D64)

    def ig(m):
        alphas = (torch.arange(m, dtype=D64) + 0.5) / m
        path = (base + alphas[:, None] * (x - base)).requires_grad_(True)
        grads, = torch.autograd.grad(f(path).sum(), path)
        return (x - base) * grads.mean(0)

    change = (F_(x) - F_(base)).item()
    errors = [abs(ig(m).sum().item() - change) for m in (16, 64, 1024)]
    assert errors[-1] < 1e-6 * max(1.0, abs(change))
    assert errors[1] < errors[0] / 10  # 4× the steps: ~16× smaller
    from course_utils import explainers
    from course_utils.models import TransformerClassifier

    model = TransformerClassifier(20, 3, d_model=16, num_heads=2, num_layers=1, max_len=8,
                                  pooling="cls")
    tokens = torch.randint(1, 20, (3, 6), generator=gen(31))
    scores, (delta, _) = explainers.integrated_gradients(model, tokens, steps=128,
                                                         return_delta=True)
    with torch.no_grad():                                   # F = the predicted class's log-odds
        logits = model(tokens)
        target = logits.argmax(-1, keepdim=True)
        gone = model(tokens, presence=torch.zeros(tokens.shape))  # all removed, [CLS] stays
        change = (log_odds(logits) - log_odds(gone)).gather(1, target)[:, 0]
    assert torch.allclose(scores.sum(1) - change, delta, atol=1e-5)
    gap = (scores.sum(1) - change).abs()
    assert (gap <= 0.02 * change.abs() + 1e-4).all(), (scores.sum(1), change)


def test_layernorm_scale_invariance():
    """07 · LayerNorm's scale invariance voids gradient × input at its input: LN(c·s + b·1) =
    LN(s) (c > 0, ε = 0), J_LN = diag(γ)/σ (I − 11ᵀ/d − ŝŝᵀ/d), and J_LN·s = γ⊙ŝ · ε/(v + ε), so
    ∂F/∂s · s = 0 at ε = 0; checked with interpret.gradient_x_input(at=norm, at_input=True)."""
    d = 8
    ln = nn.LayerNorm(d, eps=0.0).double()
    with torch.no_grad():
        ln.weight.copy_(randn(d, seed=40)), ln.bias.copy_(randn(d, seed=41))
    s = randn(3, d, seed=42)
    assert torch.allclose(ln(3.7 * s + 2.0), ln(s), atol=1e-13)
    for eps in (0.0, 1e-5, 0.3):
        ln.eps = eps
        for row in s:
            J = jacobian(ln, row)
            mu, v = row.mean(), row.var(unbiased=False)
            sigma = (v + eps).sqrt()
            hat = (row - mu) / sigma
            P = torch.eye(d, dtype=D64) - 1 / d - torch.outer(hat, hat) / d
            closed = torch.diag(ln.weight.detach()) @ P / sigma
            assert torch.allclose(J, closed, atol=1e-12)
            assert torch.allclose(J @ row, ln.weight.detach() * hat * eps / (v + eps), atol=1e-12)
            assert (J @ torch.ones(d, dtype=D64)).abs().max() < 1e-12  # a shift: nothing

    class Tiny(nn.Module):  # embedding → LayerNorm → mean → 2 classes
        def __init__(self, eps):
            super().__init__()
            self.embed, self.norm = nn.Embedding(12, d), nn.LayerNorm(d, eps=eps)
            self.head = nn.Linear(d, 2)

        def forward(self, tokens):
            return self.head(self.norm(self.embed(tokens)).tanh().mean(1))

    torch.manual_seed(5)
    tokens = torch.randint(1, 12, (4, 5), generator=gen(43))
    for eps in (0.0, 1e-12):
        model = Tiny(eps).double()
        at_input = gradient_x_input(model, tokens, at=model.norm, at_input=True)
        at_output = gradient_x_input(model, tokens, at=model.norm)
        assert at_input.abs().max() < 1e-9, at_input
        assert at_output.abs().max() > 1e-3  # after the norm it is not void


def _shapley(v, n: int) -> list[float]:
    """Shapley values by the subset formula:
    φ_i = Σ_{S ∌ i} |S|!(n − |S| − 1)!/n! (v(S ∪ i) − v(S))."""
    phi = []
    for i in range(n):
        others = [j for j in range(n) if j != i]
        total = 0.0
        for r in range(n):
            for S in itertools.combinations(others, r):
                w = math.factorial(r) * math.factorial(n - r - 1) / math.factorial(n)
                total += w * (v(frozenset(S) | {i}) - v(frozenset(S)))
        phi.append(total)
    return phi


def test_shapley_value_efficiency():
    """07 · The Shapley value: the subset formula equals the average marginal contribution over
    all n! orders; efficiency Σ φ_i = v(N) − v(∅), symmetry, a null player gets 0."""
    n = 5
    g = gen(50)
    table = {frozenset(S): torch.randn(1, generator=g, dtype=D64).item()
             for r in range(n + 1) for S in itertools.combinations(range(n), r)}
    for S in list(table):  # player 4 is null: adds nothing anywhere
        if 4 in S:
            table[S] = table[S - {4}]
    v = table.__getitem__
    phi = _shapley(v, n)
    orders = list(itertools.permutations(range(n)))
    by_order = [0.0] * n
    for order in orders:
        before = frozenset()
        for i in order:
            by_order[i] += (v(before | {i}) - v(before)) / len(orders)
            before = before | {i}
    assert all(math.isclose(a, b, abs_tol=1e-12) for a, b in zip(phi, by_order))
    assert math.isclose(sum(phi), v(frozenset(range(n))) - v(frozenset()), abs_tol=1e-12)
    assert abs(phi[4]) < 1e-12
    sym = lambda S: len(S & {0, 1}) ** 2 + 3 * (2 in S)  # players 0 and 1 interchangeable
    phi_sym = _shapley(sym, 3)
    assert math.isclose(phi_sym[0], phi_sym[1], abs_tol=1e-12)
    assert math.isclose(phi_sym[2], 3, abs_tol=1e-12)
    banzhaf = [sum(v(frozenset(S) | {i}) - v(frozenset(S)) for r in range(n)
                   for S in itertools.combinations([j for j in range(n) if j != i], r))
               / 2 ** (n - 1) for i in range(n)]  # equal weights: not efficient
    assert not math.isclose(sum(banzhaf), sum(phi), abs_tol=1e-6)


# ---- 08 · depth -------------------------------------------------------------------------------
def test_parameters_per_layer():
    """08 · Parameters per layer 12d² + 13d: attention 4d² + 4d, feed-forward 8d² + 5d,
    LayerNorms 4d, against models.count_parameters(TransformerBlock); 01's feed-forward ÷
    attention = 2 − 3/(4d + 4)."""
    for d, h in ((8, 2), (32, 4), (64, 8), (96, 3)):
        block = TransformerBlock(d, h)
        assert count_parameters(block) == 12 * d * d + 13 * d
        assert count_parameters(block.attn) == 4 * d * d + 4 * d
        assert count_parameters(block.ff) == 8 * d * d + 5 * d
        assert count_parameters(block.norm1) + count_parameters(block.norm2) == 4 * d
        ratio = count_parameters(block.ff) / count_parameters(block.attn)  # 01: "twice", from below
        assert math.isclose(ratio, 2 - 3 / (4 * d + 4), rel_tol=1e-12) and ratio < 2


def test_gradient_through_pre_and_post_ln():
    """08 · The gradient through pre-LN and post-LN residual streams: pre-LN J = (I + J_F)(I + J_A),
    an identity path through every block; post-LN J = J_LN2 (I + J_F) J_LN1 (I + J_A), every path
    through a LayerNorm's Jacobian, which removes 1 and ŝ (singular values 1/σ, 0, ε/(σ(v + ε)))."""
    torch.manual_seed(6)
    T, d = 3, 8
    x = randn(1, T, d, seed=60)
    flat = lambda f: (lambda z: f(z.view(1, T, d)).reshape(-1))
    I = torch.eye(T * d, dtype=D64)
    for norm_first in (True, False):
        b = TransformerBlock(d, 2, norm_first=norm_first).double().eval()
        attn = lambda z: b.attn(z, z, z)
        J = jac(flat(b), x.reshape(-1))
        if norm_first:
            h = x + attn(b.norm1(x))
            J_A = jac(flat(lambda z: attn(b.norm1(z))), x.reshape(-1))
            J_F = jac(flat(lambda z: b.ff(b.norm2(z))), h.reshape(-1))
            expected = (I + J_F) @ (I + J_A)
        else:
            u1 = x + attn(x)
            h = b.norm1(u1)
            J_A = jac(flat(attn), x.reshape(-1))
            J_LN1 = jac(flat(b.norm1), u1.reshape(-1))
            J_F = jac(flat(b.ff), h.reshape(-1))
            J_LN2 = jac(flat(b.norm2), (h + b.ff(h)).reshape(-1))
            expected = J_LN2 @ (I + J_F) @ J_LN1 @ (I + J_A)
        assert torch.allclose(J, expected, atol=1e-12)
    # the branches switched off (output projections zero): pre-LN passes the gradient unchanged,
    # post-LN multiplies it by the LayerNorms' Jacobians
    for norm_first in (True, False):
        b = TransformerBlock(d, 2, norm_first=norm_first).double().eval()
        for lin in (b.attn.out_proj, b.ff.linear2):
            nn.init.zeros_(lin.weight), nn.init.zeros_(lin.bias)
        J = jac(flat(b), x.reshape(-1))
        if norm_first:
            assert torch.allclose(J, I, atol=1e-14)
        else:
            J_LN = jacobian(b.norm1, x[0, 0])  # one token: LN twice = LN once (γ = 1, β = 0)
            sv = torch.linalg.svdvals(J_LN)
            v = x[0, 0].var(unbiased=False)
            sigma = (v + b.norm1.eps).sqrt()
            eps = b.norm1.eps
            expected = torch.tensor(sorted([1 / sigma] * (d - 2) + [eps / (sigma * (v + eps)), 0.0],
                                           reverse=True), dtype=D64)
            assert torch.allclose(sv, expected, atol=1e-9)
            assert not torch.allclose(J, I, atol=1e-3)


# ---- 10 · long sequences ----------------------------------------------------------------------
def test_sliding_window_and_linformer_costs():
    """10 · Sliding-window and Linformer costs: a window of w scores n(2w + 1) − w(w + 1) pairs
    (sliding_window_mask); the chunked kernel computes 4·n·(c + 2w)·d FLOPs for chunks of
    c = max(w, 16); Linformer 8nkd (two n→k projections, scores and weighted sum), against full
    attention's 4n²d."""
    d = 8
    for n, w in ((64, 4), (128, 16), (96, 32)):
        assert int(sliding_window_mask(n, w).sum()) == n * (2 * w + 1) - w * (w + 1)
        q = k = v = torch.randn(1, 1, n, d)
        c = max(w, 16)
        assert n % c == 0
        window_flops = count_flops(lambda: sliding_window_attention(q, k, v, w, slab=0))
        assert window_flops == 4 * n * (c + 2 * w) * d
        for p in (4, 16):
            E = torch.randn(p, n)
            assert count_flops(lambda: linformer_attention(q, k, v, E, E)) == 8 * n * p * d
    assert 8 * 64 * 31 * d < attention_flops(64, d) < 8 * 64 * 33 * d  # cheaper only while k < n/2


def test_receptive_field_of_stacked_windows():
    """10 · The receptive field of stacked windows: after L layers of window w, output i depends on
    input j exactly when |i − j| ≤ L·w, so connecting positions 0 and n − 1 takes ⌈(n − 1)/w⌉
    layers.
    Boolean mask powers, and autograd through sliding_window_attention stacked L times; with one
    global token every pair is connected in two layers."""
    n, w = 24, 3
    A = sliding_window_mask(n, w).double()
    i = torch.arange(n)
    reach = torch.eye(n, dtype=D64)
    for L in range(1, 5):
        reach = ((A @ reach) > 0).double()
        assert torch.equal(reach.bool(), (i[:, None] - i[None, :]).abs() <= L * w)
    L = 3
    x = randn(1, 1, n, 4, seed=70).requires_grad_(True)
    h = x
    for _ in range(L):
        h = sliding_window_attention(h, h, h, w, slab=0) + h
    for out in (0, 11, n - 1):
        g, = torch.autograd.grad(h[0, 0, out].sum(), x, retain_graph=True)
        depends = g[0, 0].abs().sum(-1) > 0
        assert torch.equal(depends, (i - out).abs() <= L * w), out
    layers = next(L for L in range(1, n) if L * w >= n - 1)
    assert layers == math.ceil((n - 1) / w)
    G = sliding_window_mask(n, w, global_tokens=[5]).double()  # a global token: any pair in 2 steps
    assert not bool((G > 0).all()) and bool(((G @ G) > 0).all())


# ---- 11 · transformers against RNNs -----------------------------------------------------------
def test_linear_attention_is_rnn():
    """11 · Linear attention is an RNN: y_t = φ(q_t)ᵀS_t / φ(q_t)ᵀz_t with S_t = S_{t−1} +
    φ(k_t)v_tᵀ, z_t = z_{t−1} + φ(k_t), equals the masked parallel form; notebook 11's check
    accepts it."""
    from course_utils.exercises import check_linear_attention_recurrence

    from recurrences import linear_attention_recurrent as recurrent

    phi = lambda z: F.elu(z) + 1

    q, k, v = randn(40, 6, seed=80), randn(40, 6, seed=81), randn(40, 5, seed=82)
    scores = (phi(q) @ phi(k).T).tril()
    assert torch.allclose(recurrent(q, k, v), scores @ v / scores.sum(-1, keepdim=True), atol=1e-12)
    assert check_linear_attention_recurrence(recurrent)


def test_decayed_recurrence_equals_masked_parallel():
    """11 · A decayed recurrence equals its masked parallel form: S_t = γS_{t−1} + k_t v_tᵀ,
    y_t = q_tᵀS_t ⇔ Y = (QKᵀ ⊙ D)V with D_ts = γ^(t−s) for s ≤ t, 0 above; notebook 11's check
    accepts it."""
    from course_utils.exercises import check_retention_recurrence

    from recurrences import retention_recurrent as recurrent

    q, k, v = randn(30, 4, seed=90), randn(30, 4, seed=91), randn(30, 3, seed=92)
    t = torch.arange(30, dtype=D64)
    for gamma in (1.0, 0.9, 0.3):
        age = t[:, None] - t[None, :]
        D = torch.where(age >= 0, gamma ** age.clamp(min=0), 0.0)
        assert torch.allclose(recurrent(q, k, v, gamma), (q @ k.T * D) @ v, atol=1e-12)
    assert check_retention_recurrence(recurrent)
