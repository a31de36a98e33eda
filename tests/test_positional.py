import math

import pytest
import torch

from course_utils.positional import (LearnedPositionalEmbedding, RotaryEmbedding,
                                     SinusoidalPositionalEncoding, sinusoidal_encoding,
                                     sinusoidal_shift_matrix)


@pytest.mark.parametrize("d_model", [8, 7, 1])
def test_sinusoidal_formula(d_model):
    pe = sinusoidal_encoding(20, d_model)
    assert pe.shape == (20, d_model)
    for pos in (0, 3, 19):
        for col in range(d_model):
            i2 = col - col % 2
            angle = pos / 10000 ** (i2 / d_model)
            expected = math.sin(angle) if col % 2 == 0 else math.cos(angle)
            assert abs(pe[pos, col].item() - expected) < 1e-6


def test_sinusoidal_dtype_and_errors():
    assert sinusoidal_encoding(4, 4, dtype=torch.float64).dtype == torch.float64
    with pytest.raises(ValueError, match="num_positions=0"):
        sinusoidal_encoding(0, 4)


def test_shift_matrix_moves_every_position():
    pe = sinusoidal_encoding(64, 16, dtype=torch.float64)
    for k in (1, 5, 20):
        m = sinusoidal_shift_matrix(k, 16, dtype=torch.float64)
        torch.testing.assert_close(pe[:-k] @ m.T, pe[k:])
    with pytest.raises(ValueError, match="even"):
        sinusoidal_shift_matrix(1, 5)


def test_sinusoidal_module_adds_table_and_checks_length():
    mod = SinusoidalPositionalEncoding(8, max_len=10)
    x = torch.zeros(2, 6, 8)
    torch.testing.assert_close(mod(x)[0], sinusoidal_encoding(6, 8))
    assert not list(mod.parameters())
    with pytest.raises(ValueError, match="12 exceeds max_len=10"):
        mod(torch.zeros(1, 12, 8))


def test_learned_positions_are_trainable_and_bounded():
    mod = LearnedPositionalEmbedding(5, 4)
    assert sum(p.numel() for p in mod.parameters()) == 20
    out = mod(torch.zeros(2, 3, 4))
    torch.testing.assert_close(out[1], mod.embedding.weight[:3])
    with pytest.raises(ValueError, match="max_len=5"):
        mod(torch.zeros(1, 6, 4))


def test_rotary_is_relative_and_norm_preserving():
    rope = RotaryEmbedding(8)
    g = torch.Generator().manual_seed(0)
    q, k = torch.randn(1, 8, generator=g), torch.randn(1, 8, generator=g)
    scores = [(rope.rotate(q, p) * rope.rotate(k, p - 4)).sum().item() for p in (4, 9, 100)]
    assert max(scores) - min(scores) < 1e-4
    x = torch.randn(2, 3, 10, 8, generator=g)
    torch.testing.assert_close(rope.rotate(x).norm(dim=-1), x.norm(dim=-1))
    torch.testing.assert_close(rope.rotate(x[..., :1, :]), x[..., :1, :])  # position 0: identity
    qr, kr = rope(x, x)
    assert qr.shape == x.shape and kr.shape == x.shape


def test_rotary_errors():
    with pytest.raises(ValueError, match="even head_dim"):
        RotaryEmbedding(7)
    with pytest.raises(ValueError, match="head_dim 8"):
        RotaryEmbedding(8).rotate(torch.randn(3, 6))
