import pytest
import torch
from torch import nn

from course_utils import exercises as ex
from course_utils.models import CausalLM, LoopLSTM
from course_utils.parallel import ddp_run, single_process_gradients
from course_utils.tasks import arithmetic_sequences


def test_loop_lstm_equals_fused_lstm():
    torch.manual_seed(0)
    loop = LoopLSTM(6, 5)
    fused = nn.LSTM(6, 5, batch_first=True)
    with torch.no_grad():
        fused.weight_ih_l0.copy_(loop.cell.weight_ih)
        fused.weight_hh_l0.copy_(loop.cell.weight_hh)
        fused.bias_ih_l0.copy_(loop.cell.bias_ih)
        fused.bias_hh_l0.copy_(loop.cell.bias_hh)
    x = torch.randn(3, 7, 6)
    torch.testing.assert_close(loop(x), fused(x)[0], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match=r"\(B, T, d_in\)"):
        loop(torch.randn(7, 6))


def test_causal_lm_is_causal_and_cache_matches_full_pass():
    torch.manual_seed(0)
    lm = CausalLM(12, d_model=16, num_heads=2, num_layers=2, max_len=40).eval()
    tokens = torch.randint(0, 12, (2, 10))
    full = lm(tokens)
    changed = tokens.clone()
    changed[:, 6:] = (changed[:, 6:] + 1) % 12
    torch.testing.assert_close(lm(changed)[:, :6], full[:, :6])        # the future is not seen
    logits, cache = lm.step(tokens[:, :4], None)
    pieces = [logits]
    for t in range(4, 10):
        logits, cache = lm.step(tokens[:, t:t + 1], cache)
        pieces.append(logits)
    torch.testing.assert_close(torch.cat(pieces, 1), full, atol=1e-5, rtol=1e-5)
    assert cache[0][0].shape == (2, 2, 10, 8)


def test_generate_with_and_without_cache_agree():
    torch.manual_seed(1)
    lm = CausalLM(10, d_model=16, num_heads=2, num_layers=1, max_len=30)
    prompt = torch.randint(0, 10, (3, 4))
    a, b = lm.generate(prompt, 20, use_cache=True), lm.generate(prompt, 20, use_cache=False)
    assert a.shape == (3, 24) and torch.equal(a, b) and torch.equal(a[:, :4], prompt)
    assert lm.training  # mode restored
    with pytest.raises(ValueError, match="max_len=30"):
        lm.generate(prompt, 27)


def test_arithmetic_sequences():
    x = arithmetic_sequences(50, 8, seed=0, vocab_size=11)
    diffs = (x[:, 1:] - x[:, :-1]) % 11
    assert torch.all(diffs == diffs[:, :1]) and torch.all(diffs[:, 0] >= 1)
    assert torch.equal(x, arithmetic_sequences(50, 8, seed=0, vocab_size=11))
    with pytest.raises(ValueError):
        arithmetic_sequences(5, 2, seed=0)


def test_ddp_gradients_equal_single_process():
    result = ddp_run(seed=3, batch=16, world_size=2, allreduce_sizes=(100, 10_000), repeats=2)
    reference = single_process_gradients(seed=3, batch=16)
    for grads in result.gradients:
        for name, g in reference.items():
            torch.testing.assert_close(grads[name], g, atol=1e-6, rtol=1e-5)
    assert set(result.allreduce_seconds) == {100, 10_000}
    assert all(s > 0 for s in result.allreduce_seconds.values())
    with pytest.raises(ValueError, match="divide evenly"):
        ddp_run(seed=0, batch=15, world_size=2)


def test_new_exercise_checks():
    import math

    assert ex.check_attention_flops(lambda n, d: 4 * n * n * d)
    assert not ex.check_attention_flops(lambda n, d: 2 * n * n * d)
    assert ex.check_conv_layers_to_connect(lambda n, k: math.ceil((n - 1) / (k // 2)))
    assert not ex.check_conv_layers_to_connect(lambda n, k: n)
    assert ex.check_kv_cache_reads(lambda t, c: 1 if c else t)
    assert not ex.check_kv_cache_reads(lambda t, c: t)
    assert ex.check_ring_allreduce_bytes(lambda n, m: 2 * (n - 1) / n * m)
    assert not ex.check_ring_allreduce_bytes(lambda n, m: m)
    assert not ex.check_ring_allreduce_bytes(None)
