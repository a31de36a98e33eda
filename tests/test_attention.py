import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_utils.attention import (MultiHeadAttention, causal_mask, padding_mask,
                                    scaled_dot_product_attention)


def test_sdpa_matches_pytorch_without_mask():
    g = torch.Generator().manual_seed(0)
    q, k, v = torch.randn(2, 3, 5, 8, generator=g), torch.randn(2, 3, 7, 8, generator=g), torch.randn(2, 3, 7, 4, generator=g)
    out, w = scaled_dot_product_attention(q, k, v)
    assert out.shape == (2, 3, 5, 4) and w.shape == (2, 3, 5, 7)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 3, 5))


def test_sdpa_matches_pytorch_with_broadcast_mask():
    g = torch.Generator().manual_seed(1)
    q, k, v = torch.randn(2, 6, 8, generator=g), torch.randn(2, 6, 8, generator=g), torch.randn(2, 6, 8, generator=g)
    mask = causal_mask(6)  # (T, S) broadcasts over the batch
    out, w = scaled_dot_product_attention(q, k, v, mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask), atol=1e-5, rtol=1e-5)
    assert torch.all(w[:, ~mask] == 0)


def test_sdpa_is_softmax_of_scaled_scores():
    q, k, v = torch.randn(4, 3), torch.randn(5, 3), torch.randn(5, 2)
    _, w = scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(w, torch.softmax(q @ k.T / math.sqrt(3), -1))


def test_sdpa_gradcheck_float64():
    q, k, v = (torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True) for _ in range(3))
    mask = causal_mask(4)
    assert torch.autograd.gradcheck(lambda a, b, c: scaled_dot_product_attention(a, b, c, mask)[0], (q, k, v))


@pytest.mark.parametrize("q,k,v,match", [
    ((2, 5, 8), (2, 5, 7), (2, 5, 7), r"q \(2, 5, 8\), k \(2, 5, 7\)"),
    ((2, 5, 8), (2, 6, 8), (2, 5, 8), r"k \(2, 6, 8\), v \(2, 5, 8\)"),
    ((8,), (5, 8), (5, 8), "at least 2 dims"),
])
def test_sdpa_shape_errors_name_the_shapes(q, k, v, match):
    with pytest.raises(ValueError, match=match):
        scaled_dot_product_attention(torch.randn(q), torch.randn(k), torch.randn(v))


def test_sdpa_rejects_float_mask_and_wrong_shape_and_empty_rows():
    q = torch.randn(3, 4)
    with pytest.raises(TypeError, match="boolean"):
        scaled_dot_product_attention(q, q, q, mask=torch.ones(3, 3))
    with pytest.raises(ValueError, match=r"\(4, 4\) does not broadcast .* \(3, 3\)"):
        scaled_dot_product_attention(q, q, q, mask=torch.ones(4, 4, dtype=torch.bool))
    empty = torch.ones(3, 3, dtype=torch.bool)
    empty[2] = False
    with pytest.raises(ValueError, match="no key to attend"):
        scaled_dot_product_attention(q, q, q, mask=empty)


def test_causal_mask():
    m = causal_mask(4)
    assert m.dtype == torch.bool and m.shape == (4, 4)
    assert torch.equal(m, torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool))
    with pytest.raises(ValueError):
        causal_mask(0)


def test_padding_mask():
    ids = torch.tensor([[3, 4, 0], [5, 0, 0]])
    m = padding_mask(ids)
    assert m.shape == (2, 1, 3)
    assert torch.equal(m[:, 0], torch.tensor([[True, True, False], [True, False, False]]))
    with pytest.raises(ValueError, match=r"\(B, S\)"):
        padding_mask(torch.zeros(3, dtype=torch.long))


def _copy_to_torch(mha):
    ref = nn.MultiheadAttention(mha.d_model, mha.num_heads, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([mha.q_proj.weight, mha.k_proj.weight, mha.v_proj.weight]))
        ref.in_proj_bias.copy_(torch.cat([mha.q_proj.bias, mha.k_proj.bias, mha.v_proj.bias]))
        ref.out_proj.load_state_dict(mha.out_proj.state_dict())
    return ref


def test_mha_contract_and_equal_to_pytorch():
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4)
    for name in ("q_proj", "k_proj", "v_proj", "out_proj"):
        assert isinstance(getattr(mha, name), nn.Linear)
    q, kv = torch.randn(3, 5, 16), torch.randn(3, 7, 16)
    out = mha(q, kv, kv)
    assert out.shape == (3, 5, 16)
    assert mha.attention_weights.shape == (3, 4, 5, 7)
    ref = _copy_to_torch(mha)
    ref_out, ref_w = ref(q, kv, kv, average_attn_weights=False)
    torch.testing.assert_close(out, ref_out, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(mha.attention_weights, ref_w, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("shape", [(5, 5), (2, 5, 5), (2, 1, 5), (2, 4, 5, 5)])
def test_mha_masks_of_every_documented_shape(shape):
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 4)
    x = torch.randn(2, 5, 8)
    mask = torch.rand(shape) > 0.4
    mask[..., 0] = True
    out = mha(x, x, x, mask=mask)
    full = mask
    if mask.dim() == 3:
        full = mask.unsqueeze(1)
    assert torch.all(mha.attention_weights[~full.expand(2, 4, 5, 5)] == 0)
    fused = mha(x, x, x, mask=mask, need_weights=False)
    assert mha.attention_weights is None
    torch.testing.assert_close(out, fused, atol=1e-5, rtol=1e-5)


def test_mha_padding_mask_equals_pytorch_key_padding_mask():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2)
    ids = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]])
    x = torch.randn(2, 4, 8)
    out = mha(x, x, x, mask=padding_mask(ids))
    ref, _ = _copy_to_torch(mha)(x, x, x, key_padding_mask=ids == 0)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)


def test_mha_divisibility_error_names_both_numbers():
    with pytest.raises(ValueError, match=r"d_model=10.*num_heads=3"):
        MultiHeadAttention(10, 3)


def test_mha_input_shape_errors():
    mha = MultiHeadAttention(8, 2)
    with pytest.raises(ValueError, match=r"d_model=8.*\(2, 5, 6\)"):
        mha(torch.randn(2, 5, 6), torch.randn(2, 5, 8), torch.randn(2, 5, 8))
    with pytest.raises(ValueError, match="disagree"):
        mha(torch.randn(2, 5, 8), torch.randn(2, 5, 8), torch.randn(2, 4, 8))


def test_mha_gradcheck_float64():
    torch.manual_seed(0)
    mha = MultiHeadAttention(6, 2).double()
    x = torch.randn(1, 3, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: mha(t, t, t, mask=causal_mask(3)), (x,))
