import pytest
import torch

from course_utils.attention import scaled_dot_product_attention
from course_utils.efficient import (LinformerSelfAttention, block_sparse_attention,
                                    block_sparse_mask, linformer_attention,
                                    sliding_window_attention, sliding_window_mask)
from course_utils.timing import peak_memory


def _qkv(*shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g, dtype=torch.float64) for _ in range(3))


@pytest.mark.parametrize("n,window,chunk", [(37, 3, None), (64, 0, 8), (50, 7, 5), (16, 40, None)])
def test_sliding_window_equals_masked_full_attention(n, window, chunk):
    q, k, v = _qkv(2, 3, n, 8)
    ours = sliding_window_attention(q, k, v, window, chunk=chunk)
    ref = scaled_dot_product_attention(q, k, v, sliding_window_mask(n, window))[0]
    assert ours.shape == (2, 3, n, 8)
    torch.testing.assert_close(ours, ref, atol=1e-10, rtol=0)


def test_sliding_window_covering_everything_is_full_attention():
    q, k, v = _qkv(1, 20, 4)
    torch.testing.assert_close(sliding_window_attention(q, k, v, window=19),
                               scaled_dot_product_attention(q, k, v)[0], atol=1e-10, rtol=0)


def test_sliding_window_with_global_tokens():
    q, k, v = _qkv(2, 45, 6)
    glob = [0, 17, 44]
    ours = sliding_window_attention(q, k, v, 4, global_tokens=glob, chunk=8)
    ref = scaled_dot_product_attention(q, k, v, sliding_window_mask(45, 4, glob))[0]
    torch.testing.assert_close(ours, ref, atol=1e-10, rtol=0)
    with pytest.raises(ValueError, match=r"\[0, 45\)"):
        sliding_window_attention(q, k, v, 4, global_tokens=[45])


def test_sliding_window_memory_grows_linearly():
    d, w = 32, 16
    mem = []
    for n in (1024, 4096):
        q = torch.randn(1, n, d)
        mem.append(peak_memory(lambda: sliding_window_attention(q, q, q, w, slab=0)))
    assert 3 < mem[1] / mem[0] < 5.5            # 4x n -> about 4x memory (full attention: 16x)
    full = peak_memory(lambda: scaled_dot_product_attention(q, q, q)[0])
    assert full > 10 * mem[1]
    # in slabs, only the output grows with n: at most linear
    slabbed = [peak_memory(lambda: sliding_window_attention(q, q, q, w, slab=512))
               for q in (torch.randn(1, n, d) for n in (1024, 4096))]
    assert slabbed[1] / slabbed[0] < 4.5


@pytest.mark.parametrize("n,window,slab", [(100, 5, 32), (100, 40, 16), (64, 3, 64), (65, 0, 8)])
def test_sliding_window_in_slabs_equals_one_pass(n, window, slab):
    q, k, v = _qkv(2, n, 8)
    torch.testing.assert_close(sliding_window_attention(q, k, v, window, slab=slab),
                               sliding_window_attention(q, k, v, window, slab=0),
                               atol=1e-12, rtol=0)
    torch.testing.assert_close(sliding_window_attention(q, k, v, window, slab=slab),
                               scaled_dot_product_attention(q, k, v,
                                                            sliding_window_mask(n, window))[0],
                               atol=1e-10, rtol=0)


def test_sliding_window_errors():
    q, k, v = _qkv(1, 10, 4)
    with pytest.raises(ValueError, match="window"):
        sliding_window_attention(q, k, v, -1)
    with pytest.raises(ValueError, match=r"same n"):
        sliding_window_attention(q, k[:, :5], v, 2)


@pytest.mark.parametrize("random_blocks", [0, 2])
def test_block_sparse_equals_masked_full_attention(random_blocks):
    q, k, v = _qkv(2, 48, 8)
    ours = block_sparse_attention(q, k, v, 6, random_blocks=random_blocks, seed=3)
    mask = block_sparse_mask(48, 6, random_blocks=random_blocks, seed=3)
    torch.testing.assert_close(ours, scaled_dot_product_attention(q, k, v, mask)[0], atol=1e-10, rtol=0)


def test_block_sparse_with_every_block_is_full_attention_and_mask_shape():
    q, k, v = _qkv(1, 32, 4)
    ours = block_sparse_attention(q, k, v, 8, window_blocks=4)
    torch.testing.assert_close(ours, scaled_dot_product_attention(q, k, v)[0], atol=1e-10, rtol=0)
    m = block_sparse_mask(32, 8, window_blocks=0, global_blocks=1, random_blocks=0)
    assert m[:8].all() and m[:, :8].all() and not m[8:16, 16:].any()
    with pytest.raises(ValueError, match="multiple"):
        block_sparse_mask(30, 8)


def test_linformer_limit_and_module():
    q, k, v = _qkv(2, 12, 5)
    eye = torch.eye(12, dtype=torch.float64)
    torch.testing.assert_close(linformer_attention(q, k, v, eye, eye),
                               scaled_dot_product_attention(q, k, v)[0], atol=1e-12, rtol=0)
    assert linformer_attention(q, k, v, eye[:4], eye[:4]).shape == (2, 12, 5)
    with pytest.raises(ValueError, match=r"\(proj, n=12\)"):
        linformer_attention(q, k, v, eye[:4, :10], eye[:4, :10])
    layer = LinformerSelfAttention(16, 4, seq_len=20, proj=6)
    assert layer(torch.randn(3, 20, 16)).shape == (3, 20, 16)
    with pytest.raises(ValueError, match="n=20"):
        layer(torch.randn(3, 21, 16))


def test_sliding_window_on_2d_inputs_and_gradcheck():
    q, k, v = _qkv(9, 4)
    ref = scaled_dot_product_attention(q, k, v, sliding_window_mask(9, 2))[0]
    torch.testing.assert_close(sliding_window_attention(q, k, v, 2, chunk=4), ref, atol=1e-10, rtol=0)
    q, k, v = (t[:6, :3].clone().requires_grad_(True) for t in (q, k, v))
    assert torch.autograd.gradcheck(lambda a, b, c: sliding_window_attention(a, b, c, 1, chunk=4), (q, k, v))


def test_gradients_are_finite_and_equal_to_masked_full_attention_with_globals():
    q, k, v = (t.requires_grad_(True) for t in _qkv(1, 11, 3, seed=4))
    out = sliding_window_attention(q, k, v, 2, global_tokens=[0, 6], chunk=4)
    ref = scaled_dot_product_attention(q, k, v, sliding_window_mask(11, 2, [0, 6]))[0]
    g = torch.randn(out.shape, dtype=torch.float64)
    ours = torch.autograd.grad((out * g).sum(), (q, k, v))
    theirs = torch.autograd.grad((ref * g).sum(), (q, k, v))
    for a, b in zip(ours, theirs):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b, atol=1e-10, rtol=0)


def _pad_mask(n, seed=0, lead=(2, 1)):
    """(*lead, n) booleans, False on about a third of the keys (padding), position 0 kept."""
    g = torch.Generator().manual_seed(seed)
    keep = torch.rand(*lead, n, generator=g) > 0.35
    keep[..., 0] = True
    return keep


@pytest.mark.parametrize("n,window,glob,slab", [(37, 3, None, 2048), (45, 4, [0, 17], 2048),
                                                 (64, 5, None, 16), (20, 30, [0], 2048)])
def test_key_mask_equals_masked_full_attention(n, window, glob, slab):
    q, k, v = _qkv(2, 3, n, 8)
    keep = _pad_mask(n)
    ours = sliding_window_attention(q, k, v, window, global_tokens=glob, slab=slab, key_mask=keep)
    # the definition: the window pattern, minus padding keys, except each query reads itself
    mask = sliding_window_mask(n, window, glob) & (keep[..., None, :] | torch.eye(n, dtype=torch.bool))
    ref = scaled_dot_product_attention(q, k, v, mask)[0]
    torch.testing.assert_close(ours, ref, atol=1e-10, rtol=0)
    # padding's content is never read by another position
    k2, v2 = k.clone(), v.clone()
    k2[~keep.expand(2, 3, n)], v2[~keep.expand(2, 3, n)] = 7.0, -7.0
    again = sliding_window_attention(q, k2, v2, window, global_tokens=glob, slab=slab, key_mask=keep)
    real = keep.expand(2, 3, n)
    torch.testing.assert_close(again[real], ours[real], atol=1e-10, rtol=0)


@pytest.mark.parametrize("random_blocks,global_blocks", [(1, 1), (0, 1), (1, 0)])
def test_block_sparse_key_mask_equals_masked_full_attention(random_blocks, global_blocks):
    n, b = 48, 8
    q, k, v = _qkv(2, 3, n, 8)
    keep = _pad_mask(n, seed=1)
    kw = dict(random_blocks=random_blocks, global_blocks=global_blocks, seed=2)
    ours = block_sparse_attention(q, k, v, b, key_mask=keep, slab=16, **kw)
    mask = block_sparse_mask(n, b, **kw) & (keep[..., None, :] | torch.eye(n, dtype=torch.bool))
    torch.testing.assert_close(ours, scaled_dot_product_attention(q, k, v, mask)[0], atol=1e-10, rtol=0)


def test_linformer_key_mask_zeroes_padding_before_the_projection():
    q, k, v = _qkv(2, 12, 4)
    keep = _pad_mask(12, lead=(2,))
    E = torch.randn(5, 12, dtype=torch.float64)
    ours = linformer_attention(q, k, v, E, E, key_mask=keep)
    z = keep[..., None].double()
    torch.testing.assert_close(ours, linformer_attention(q, k * z, v * z, E, E), atol=1e-12, rtol=0)
    assert (ours - linformer_attention(q, k, v, E, E)).abs().max() > 1e-3   # the mask matters
    with pytest.raises(ValueError, match="key_mask"):
        linformer_attention(q, k, v, E, E, key_mask=keep[..., :11])
    with pytest.raises(ValueError, match="key_mask"):
        sliding_window_attention(q, k, v, 2, key_mask=keep[..., :11])
