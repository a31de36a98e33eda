"""Wrong answers to notebooks 01 and 11's exercises get a hint, never the answer itself."""
import torch

from course_utils import exercises as ex


def test_block_parameters_hint_does_not_state_the_formula(capsys):
    assert not ex.check_block_parameters(lambda d, f: 4 * d * d + 2 * d * f + f + d + 4 * d)
    out = capsys.readouterr().out
    assert "✘" in out and "biases" in out
    assert "4(d²+d)" not in out and "2·d·d_ff" not in out


def test_mha_hint_does_not_state_the_bias_count(capsys):
    assert not ex.check_mha_parameters(4 * 128 * 128)
    out = capsys.readouterr().out
    assert "biases" in out and "512" not in out and "66,048" not in out


def test_state_bytes_hint_does_not_state_the_expected_value(capsys):
    assert not ex.check_state_bytes(lambda kind, n, d, layers: 1)
    out = capsys.readouterr().out
    assert "✘" in out and str(2 * 64 * 1 * 4) not in out.split("=")[-1]


def test_linear_attention_hint_points_to_the_recurrence_without_it(capsys):
    assert not ex.check_linear_attention_recurrence(lambda q, k, v: torch.zeros_like(v))
    out = capsys.readouterr().out
    assert "recurrence" in out and "φ(k_t) v_t" not in out
