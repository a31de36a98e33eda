import pytest
import torch
from torch import nn

from course_utils.models import (BagOfWordsClassifier, FeedForward, RNNClassifier,
                                 TransformerBlock, TransformerClassifier, TransformerEncoder,
                                 count_parameters, parameter_breakdown, set_forget_bias,
                                 to_torch_encoder_layer)


@pytest.mark.parametrize("norm_first", [True, False])
@pytest.mark.parametrize("activation", ["gelu", "relu"])
def test_block_equals_torch_encoder_layer(norm_first, activation):
    torch.manual_seed(0)
    block = TransformerBlock(16, 4, 32, norm_first=norm_first, activation=activation).eval()
    ref = to_torch_encoder_layer(block).eval()
    x = torch.randn(2, 7, 16)
    keep = torch.ones(2, 7, dtype=torch.bool)
    keep[1, 5:] = False
    with torch.no_grad():
        ours = block(x, mask=keep[:, None, :])
        theirs = ref(x, src_key_padding_mask=~keep)
    torch.testing.assert_close(ours[keep], theirs[keep], atol=1e-5, rtol=1e-5)


def test_block_parameter_count_formula():
    d, ff = 32, 80
    assert count_parameters(TransformerBlock(d, 4, ff)) == 4 * (d * d + d) + 2 * d * ff + ff + d + 4 * d


def test_block_without_residual_differs_and_has_no_twin():
    torch.manual_seed(0)
    a = TransformerBlock(8, 2)
    b = TransformerBlock(8, 2, residual=False)
    b.load_state_dict(a.state_dict())
    x = torch.randn(1, 4, 8)
    assert not torch.allclose(a(x), b(x))
    with pytest.raises(ValueError, match="residual"):
        to_torch_encoder_layer(b)


def test_encoder_keeps_weights_per_layer_and_final_norm():
    enc = TransformerEncoder(3, 8, 2)
    out = enc(torch.randn(2, 5, 8))
    assert out.shape == (2, 5, 8)
    assert [w.shape for w in enc.attention_weights] == [(2, 2, 5, 5)] * 3
    assert isinstance(enc.final_norm, nn.LayerNorm)
    assert isinstance(TransformerEncoder(1, 8, 2, norm_first=False).final_norm, nn.Identity)
    with pytest.raises(ValueError):
        TransformerEncoder(0, 8, 2)


def test_feed_forward_shape_and_activation_error():
    assert FeedForward(8, 16)(torch.randn(3, 4, 8)).shape == (3, 4, 8)
    with pytest.raises(ValueError, match="tanh"):
        FeedForward(8, 16, activation="tanh")


@pytest.mark.parametrize("positional", ["sinusoidal", "learned", "rotary", "none"])
def test_classifier_ignores_padding(positional):
    torch.manual_seed(0)
    model = TransformerClassifier(20, 3, d_model=16, num_heads=2, num_layers=2, positional=positional).eval()
    ids = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0]])
    more_pad = torch.cat([ids, torch.zeros(2, 3, dtype=torch.long)], 1)
    with torch.no_grad():
        torch.testing.assert_close(model(ids), model(more_pad), atol=1e-5, rtol=1e-5)
    assert model(ids).shape == (2, 3)


def test_classifier_without_positions_is_order_blind_and_with_positions_is_not():
    torch.manual_seed(0)
    ids = torch.randint(1, 20, (4, 9))
    perm = torch.randperm(9)
    blind = TransformerClassifier(20, 2, d_model=16, num_heads=2, positional="none").eval()
    seeing = TransformerClassifier(20, 2, d_model=16, num_heads=2, positional="rotary").eval()
    with torch.no_grad():
        torch.testing.assert_close(blind(ids), blind(ids[:, perm]), atol=1e-5, rtol=1e-5)
        assert (seeing(ids) - seeing(ids[:, perm])).abs().max() > 1e-4


def test_classifier_input_errors():
    model = TransformerClassifier(10, 2, d_model=8, num_heads=2)
    with pytest.raises(ValueError, match=r"\[0, 10\).*max 12"):
        model(torch.tensor([[1, 12]]))
    with pytest.raises(ValueError, match=r"\(B, T\) integer"):
        model(torch.randn(2, 3))
    with pytest.raises(ValueError, match="positional"):
        TransformerClassifier(10, 2, positional="alibi")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_rnn_classifier_reads_last_real_token(cell):
    torch.manual_seed(0)
    model = RNNClassifier(20, 2, d_model=8, hidden_size=12, cell=cell).eval()
    ids = torch.tensor([[3, 4, 5, 0, 0]])
    with torch.no_grad():
        torch.testing.assert_close(model(ids), model(ids[:, :3]))
        assert not torch.allclose(model(ids), model(torch.tensor([[3, 4, 6]])))
    with pytest.raises(ValueError, match="rnn"):
        RNNClassifier(20, 2, cell="rnn")


def test_rnn_classifier_forget_bias():
    torch.manual_seed(0)
    default = RNNClassifier(20, 2, hidden_size=12, num_layers=2)
    torch.manual_seed(0)
    model = RNNClassifier(20, 2, hidden_size=12, num_layers=2, forget_bias=1.0)
    for layer in range(2):
        ih, hh = (getattr(model.rnn, f"bias_{k}_l{layer}") for k in ("ih", "hh"))
        torch.testing.assert_close(ih[12:24] + hh[12:24], torch.ones(12))       # forget slice
        ref = getattr(default.rnn, f"bias_ih_l{layer}")
        torch.testing.assert_close(ih[:12], ref[:12])                           # the rest as before
        torch.testing.assert_close(ih[24:], ref[24:])
    with pytest.raises(ValueError, match="forget_bias"):
        RNNClassifier(20, 2, cell="gru", forget_bias=1.0)
    with pytest.raises(TypeError, match="nn.LSTM"):
        set_forget_bias(nn.GRU(4, 4), 1.0)


def test_bag_of_words_is_order_blind():
    torch.manual_seed(0)
    model = BagOfWordsClassifier(20, 2, d_model=8)
    ids = torch.tensor([[3, 4, 5, 0]])
    torch.testing.assert_close(model(ids), model(torch.tensor([[5, 3, 4]])))


def test_parameter_breakdown_sums_to_total():
    model = TransformerClassifier(30, 2, d_model=16, num_heads=2, positional="learned", max_len=10)
    parts = parameter_breakdown(model)
    assert parts["embed"] == 30 * 16 and parts["pos"] == 10 * 16 and parts["head"] == 16 * 2 + 2
    assert sum(parts.values()) == count_parameters(model)
    frozen = nn.Linear(3, 3)
    frozen.weight.requires_grad_(False)
    assert count_parameters(frozen) == 3 and count_parameters(frozen, trainable_only=False) == 12


def test_masked_mean_ignores_padding_and_names_bad_shapes():
    from course_utils.models import masked_mean

    h = torch.arange(12.0).reshape(1, 4, 3).repeat(2, 1, 1)            # (2, 4, 3)
    keep = torch.tensor([[True, True, False, False], [False, False, False, False]])
    out = masked_mean(h, keep)
    torch.testing.assert_close(out[0], h[0, :2].mean(0))
    torch.testing.assert_close(out[1], torch.zeros(3))                   # nothing kept: zeros, no NaN
    with pytest.raises(ValueError, match="does not match"):
        masked_mean(h, keep[:, :3])


def test_classifier_last_pooling_and_no_residual():
    torch.manual_seed(0)
    m = TransformerClassifier(12, 3, d_model=16, num_heads=2, pooling="last", positional="none")
    x = torch.randint(1, 12, (2, 6))
    x[1, 4:] = 0
    out = m(x)
    # the last real token decides: changing an earlier token changes it only through attention,
    # changing padding changes nothing
    x2 = x.clone(); x2[1, 5] = 0
    torch.testing.assert_close(m(x2), out)
    nores = TransformerClassifier(12, 3, d_model=16, num_heads=2, residual=False)
    assert all(not layer.residual for layer in nores.encoder.layers)
    with pytest.raises(ValueError, match="pooling"):
        TransformerClassifier(12, 3, pooling="max")


def test_exercise_checks_08():
    from course_utils import exercises as ex

    assert not ex.check_stack_parameters(None)
    assert ex.check_stack_parameters(lambda L, d, V: V * d + L * (12 * d * d + 13 * d) + 2 * d + d * V + V)
    assert not ex.check_stack_parameters(lambda L, d, V: L * 12 * d * d)

    def pre(block, x):
        h = block.norm1(x)
        x = x + block.attn(h, h, h)
        return x + block.ff(block.norm2(x))

    def post(block, x):
        x = block.norm1(x + block.attn(x, x, x))
        return block.norm2(x + block.ff(x))
    assert ex.check_pre_ln_block(pre)
    assert not ex.check_pre_ln_block(post)
