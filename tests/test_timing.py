import math
import sys
import time

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.attention import scaled_dot_product_attention
from course_utils.timing import (attention_flops, compare, cost_plot, count_flops, fit_loglog,
                                 lstm_flops, matmul_flops, matmul_peak_gflops, measure,
                                 page_faults, peak_memory)


def test_measure_and_compare_order_by_work():
    fast, slow = (lambda: time.sleep(0.001)), (lambda: time.sleep(0.02))
    t = measure(fast, label="fast", min_run_time=0.05)
    assert t.median > 0 and t.runs >= 1 and "fast" in str(t)
    res = compare({"fast": fast, "slow": slow}, rounds=2, min_run_time=0.05)
    assert res["slow"].median > 3 * res["fast"].median
    with pytest.raises(ValueError):
        compare({})


@pytest.mark.parametrize("m,k,n", [(3, 4, 5), (64, 32, 16)])
def test_flop_count_of_a_matmul_equals_the_formula(m, k, n):
    a, b = torch.randn(m, k), torch.randn(k, n)
    assert count_flops(lambda: a @ b) == matmul_flops(m, k, n) == 2 * m * k * n


def test_attention_flops_counted_for_ours_and_fused_cpu_kernel():
    q = torch.randn(1, 2, 96, 16)
    expected = attention_flops(96, 16, batch=2)
    assert count_flops(lambda: scaled_dot_product_attention(q, q, q)) == expected
    assert count_flops(lambda: F.scaled_dot_product_attention(q, q, q)) == expected


def test_fused_cpu_attention_backward_counts_twice_its_forward():
    q, k, v = (torch.randn(2, 3, 40, 8, requires_grad=True) for _ in range(3))
    forward = attention_flops(40, 8, batch=2 * 3)
    out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert count_flops(lambda: out.sum().backward()) == 2 * forward
    # the explicit path (matmul, softmax, matmul) through autograd counts the same, both ways
    for attend in (F.scaled_dot_product_attention, scaled_dot_product_attention):
        def step():
            o = attend(q, k, v)
            (o[0] if isinstance(o, tuple) else o).sum().backward()
        assert count_flops(step) == 3 * forward


@pytest.mark.parametrize("op", ["efficient", "flash"])
def test_gpu_fused_attention_backward_counts_twice_its_forward(op):
    """The GPU kernels' ops run on meta tensors here: PyTorch's formula for their backward
    counts the recomputed scores too (5/2 of the forward); count_flops counts the model's 2x."""
    B, H, T, d = 2, 3, 40, 8
    q, k, v, g = (torch.empty(B, H, T, d, device="meta") for _ in range(4))
    forward = attention_flops(T, d, batch=B * H)
    aten = torch.ops.aten

    def step():
        if op == "efficient":
            o = aten._scaled_dot_product_efficient_attention(q, k, v, None, True, 0.0, True)
            aten._scaled_dot_product_efficient_attention_backward(
                g, q, k, v, None, o[0], o[1], o[2], o[3], 0.0, [True, True, True, False], True)
        else:
            o = aten._scaled_dot_product_flash_attention(q, k, v, 0.0, True, False)
            aten._scaled_dot_product_flash_attention_backward(
                g, q, k, v, o[0], o[1], o[2], o[3], o[4], o[5], 0.0, True, o[6], o[7])

    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as raw:
        step()
    assert raw.get_total_flops() == forward + 5 * forward // 2        # PyTorch's own count
    assert count_flops(step) == 3 * forward


@pytest.mark.parametrize("heads,layers", [(1, 1), (4, 2)])
def test_training_flops_equal_through_fused_and_explicit_attention(heads, layers):
    from course_utils.models import CausalLM
    from course_utils.pretraining import lm_loss

    x, y = torch.randint(0, 60, (1, 64)), torch.randint(0, 60, (1, 64))
    counted = []
    for store_attention in (False, True):     # False: F.scaled_dot_product_attention (fused)
        torch.manual_seed(0)
        model = CausalLM(60, d_model=16, num_heads=heads, num_layers=layers, max_len=64,
                         store_attention=store_attention)
        counted.append(count_flops(lambda: lm_loss(model, x, y).backward()))
    assert counted[0] == counted[1]
    if layers == 1:     # notebook 06's smallest model, one window of 64 characters
        assert counted[0] == 2_334_720


def test_lstm_flops_counted_through_the_fused_kernel():
    lstm = nn.LSTM(8, 12, batch_first=True)
    x = torch.randn(3, 20, 8)
    assert count_flops(lambda: lstm(x)) == lstm_flops(20, 8, 12, batch=3)
    assert attention_flops(10, 4, projections=True) == 4 * 100 * 4 + 8 * 10 * 16


def test_peak_memory_of_known_allocations():
    n = 2048
    q = torch.randn(1, n, 32)
    naive = peak_memory(lambda: torch.softmax(q @ q.transpose(1, 2), -1))
    assert naive == 2 * n * n * 4                    # scores and softmax, float32
    assert peak_memory(lambda: torch.empty(1000, dtype=torch.float64)) == 8000
    # the fused kernel keeps a fixed scratch of about 1 MiB, so the gap shows at larger n
    fused = peak_memory(lambda: F.scaled_dot_product_attention(q[None], q[None], q[None]))
    assert fused < naive / 10


def test_fit_of_known_data_returns_the_known_slope():
    x = np.array([1, 2, 4, 8, 16.0])
    fit = fit_loglog(x, 3.0 * x ** 1.5)
    assert fit.slope == pytest.approx(1.5) and math.exp(fit.intercept) == pytest.approx(3.0)
    assert fit.stderr == pytest.approx(0, abs=1e-9) and fit.r2 == pytest.approx(1.0)
    np.testing.assert_allclose(fit(x), 3.0 * x ** 1.5)


def test_fit_spread_grows_with_noise():
    rng = np.random.default_rng(0)
    x = np.geomspace(1, 1000, 12)
    noisy = fit_loglog(x, x ** 2 * np.exp(rng.normal(0, 0.3, x.size)))
    assert 1.8 < noisy.slope < 2.2 and noisy.stderr > 0.01
    lo, hi = noisy.ci95
    assert lo < noisy.slope < hi


def test_fit_interval_uses_the_t_quantile_of_its_points():
    from scipy.stats import t

    rng = np.random.default_rng(1)
    for n in (3, 4, 30):
        x = np.geomspace(1, 100, n)
        fit = fit_loglog(x, x ** -0.05 * np.exp(rng.normal(0, 0.02, n)))
        lo, hi = fit.ci95
        assert fit.n == n
        assert (hi - lo) / 2 == pytest.approx(t.ppf(0.975, n - 2) * fit.stderr)
    assert (hi - lo) / 2 > 1.96 * fit.stderr                       # wider than z, even at 30
    four = fit_loglog([1, 2, 4, 8], [1.0, 0.9, 0.85, 0.8])
    assert (four.ci95[1] - four.ci95[0]) / 2 == pytest.approx(4.303 * four.stderr, rel=1e-3)
    assert all(math.isnan(v) for v in fit_loglog([1.0, 2.0], [1.0, 2.0]).ci95)


def test_fit_errors():
    with pytest.raises(ValueError, match="two or more"):
        fit_loglog([1.0], [2.0])
    with pytest.raises(ValueError, match="positive"):
        fit_loglog([1.0, 2.0, 3.0], [1.0, 0.0, 2.0])


def test_cost_plot_and_peak():
    import matplotlib.pyplot as plt

    _, ax = plt.subplots()
    fits = cost_plot(ax, [1, 2, 4, 8], {"a": [1, 4, 16, 64], "b": [2, 4, 8, 16]}, fit_from=2)
    assert fits["a"].slope == pytest.approx(2) and fits["b"].slope == pytest.approx(1)
    plt.close("all")
    assert matmul_peak_gflops(128, min_run_time=0.05) > 0.01   # a floor that holds on a busy machine (0.065 seen)


def test_peak_memory_keeps_the_profilers_native_lines_out_of_the_output(capfd):
    from course_utils.timing import peak_memory

    assert peak_memory(lambda: torch.zeros(1000, 1000), "cpu") > 0
    out, err = capfd.readouterr()
    assert "profiler_start" not in err and "USDT" not in err


def test_compare_interleaves_rounds_keeps_samples_and_sets_threads():
    seen, calls = [], {"slow": 0}

    def slow():
        calls["slow"] += 1
        time.sleep(0.03)

    def threads():
        seen.append(torch.get_num_threads())

    res = compare({"slow": slow}, rounds=4, min_run_time=0.01)
    assert res["slow"].runs == 4 and len(res["slow"].samples) == 4
    assert all(s >= 0.03 for s in res["slow"].samples)
    assert calls["slow"] <= 2 + 3          # a warm-up and one timed call, then one call per round
    before = torch.get_num_threads()
    compare({"one": threads, "two": threads}, rounds=2, min_run_time=0.001,
            threads={"one": 1, "two": 2})
    assert {1, 2} <= set(seen) and torch.get_num_threads() == before
    with pytest.raises(ValueError, match="threads names"):
        compare({"a": threads}, threads={"b": 1})
    with pytest.raises(ValueError, match="rounds"):
        compare({"a": threads}, rounds=0)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator and 4 KiB pages")
def test_page_faults_count_a_fresh_large_buffer_and_not_a_reused_one():
    """In a fresh process: whether a large buffer is mapped afresh depends on what the process freed
    before (after loading and freeing SmolLM2, glibc served 64 MiB from its heap with 0 faults), so
    the test gives the allocator a clean history."""
    import subprocess
    import sys

    code = ("import torch\nfrom course_utils.timing import page_faults\nmib = 64\n"
            "fresh = page_faults(lambda: torch.ones(mib * 2**20 // 4))\n"
            "buf = torch.empty(mib * 2**20 // 4); buf.fill_(0)\n"
            "print(fresh, page_faults(lambda: buf.fill_(1.0)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    fresh, reused = map(float, out.stdout.split())
    assert fresh >= 0.9 * 64 * 2**20 / 4096     # above glibc's largest mmap threshold (32 MiB)
    assert reused < 0.01 * fresh


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator and 4 KiB pages")
def test_compare_counts_page_faults_in_the_timed_calls_of_every_round():
    """In a fresh process (a clean allocator history): a 64 MiB buffer allocated in every call
    faults on each of its pages in every round, warm-up excluded; the same buffer reused
    never."""
    import subprocess

    code = ("import torch\nfrom course_utils.timing import compare\nn = 16 * 2**20\n"
            "buf = torch.empty(n); buf.fill_(0)\n"
            "t = compare({'fresh': lambda: torch.empty(n).fill_(1.0),"
            " 'reused': lambda: buf.fill_(1.0)}, rounds=3, min_run_time=0.001)\n"
            "print(len(t['fresh'].faults), min(t['fresh'].faults), t['fresh'].faults_per_call,"
            " max(t['reused'].faults))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    rounds, fewest, mean, reused = map(float, out.stdout.split())
    assert rounds == 3                                  # one value per round
    assert fewest >= 0.9 * 64 * 2**20 / 4096            # every round's calls faulted on every page
    assert mean >= fewest and reused < 0.01 * fewest


def test_compare_warms_up_once_and_sizes_its_blocks():
    calls = {"fast": 0}

    def fast():
        calls["fast"] += 1

    res = compare({"fast": fast}, rounds=3, min_run_time=0.002)
    assert res["fast"].runs == 3 and len(res["fast"].faults) == 3
    assert calls["fast"] > 3 + 3          # warm-up and one sizing call, then blocks of many calls
    assert math.isnan(measure(fast, min_run_time=0.001).faults_per_call)   # measure: none


def test_compare_without_warmup_calls_a_slow_function_once_per_round():
    calls = {"slow": 0}

    def slow():
        calls["slow"] += 1
        time.sleep(0.01)

    res = compare({"slow": slow}, rounds=2, min_run_time=0.0, warmup=False)
    assert res["slow"].runs == 2 and calls["slow"] == 2           # no untimed call
    compare({"slow": slow}, rounds=2, min_run_time=0.0)
    assert calls["slow"] == 2 + 3                                 # the default warms up once
    with pytest.raises(TypeError, match="warmup"):
        compare({"slow": slow}, warmup="no")


def test_op_time_shares_find_the_operator_that_takes_the_time():
    from course_utils.timing import op_time_shares

    big, small = torch.randn(512, 2048), torch.randn(4, 4)

    def fn():
        for _ in range(5):
            big.softmax(-1)
        return small @ small

    fn()
    shares = op_time_shares(fn, {"softmax": ("aten::_softmax",), "matmul": ("aten::mm",)})
    assert shares["softmax"] > 0.5 > shares["matmul"] >= 0
    assert sum(shares.values()) <= 1 + 1e-9
    with pytest.raises(ValueError, match="two groups"):
        op_time_shares(fn, {"a": ("aten::mm",), "b": ("aten::mm",)})
    with pytest.raises(ValueError, match="non-empty"):
        op_time_shares(fn, {"a": "aten::mm"})
