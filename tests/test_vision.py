"""course_utils.vision: patch embedding, ViT, CNN, the digits loader."""
import pytest
import torch

from course_utils.models import count_parameters
from course_utils.training import accuracy, batches, train
from course_utils.vision import (PatchEmbedding, SmallCNN, VisionTransformer, digits,
                                 fit_early_stopped)


def test_digits_load_offline():
    x, y = digits()
    assert x.shape == (1797, 1, 8, 8) and y.shape == (1797,)
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    assert sorted(set(y.tolist())) == list(range(10))


def test_patch_embedding_equals_a_strided_convolution():
    torch.manual_seed(0)
    pe = PatchEmbedding(8, 2, 3, 5)
    conv = torch.nn.Conv2d(3, 5, kernel_size=2, stride=2)
    with torch.no_grad():
        conv.weight.copy_(pe.proj.weight.view(5, 3, 2, 2))
        conv.bias.copy_(pe.proj.bias)
    x = torch.randn(4, 3, 8, 8)
    ref = conv(x).flatten(2).transpose(1, 2)                      # (B, 16, 5), row-major patches
    torch.testing.assert_close(pe(x), ref, atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="multiple of patch"):
        PatchEmbedding(8, 3, 1, 4)
    with pytest.raises(ValueError, match=r"\(B, 3, 8, 8\)"):
        pe(torch.randn(4, 1, 8, 8))


def test_vit_and_cnn_shapes_and_sizes():
    vit = VisionTransformer(8, 2, 1, 10, d_model=32, num_heads=4, num_layers=2)
    cnn = SmallCNN(8, 1, 10, width=16)
    x = torch.rand(3, 1, 8, 8)
    assert vit(x).shape == (3, 10) and cnn(x).shape == (3, 10)
    assert count_parameters(vit) > 0 and count_parameters(cnn) > 0
    with pytest.raises(ValueError, match="even"):
        SmallCNN(7)


@pytest.mark.parametrize("model_cls", [VisionTransformer, SmallCNN])
def test_both_models_learn_digits(model_cls):
    torch.manual_seed(0)
    x, y = digits()
    model = model_cls()
    train(model, batches(x[:1200], y[:1200], batch_size=64,
                         generator=torch.Generator().manual_seed(0)),
          steps=400, lr=3e-3, progress=False)
    assert accuracy(model, x[1200:], y[1200:]) > 0.8


def test_early_stopping_keeps_the_best_weights_and_stops_when_patience_runs_out():
    x, y = digits()
    train_data, val = (x[:40], y[:40]), (x[1000:1200], y[1000:1200])
    torch.manual_seed(0)
    model = SmallCNN(width=4)
    stop = fit_early_stopped(model, train_data, val, max_steps=3000, eval_every=10, patience=3,
                             batch_size=16, lr=3e-3, seed=0)
    # 40 images are memorised long before 3,000 steps: validation accuracy stalls, training stops
    assert not stop.capped and stop.steps < 3000
    assert stop.best_step <= stop.steps - 3 * 10          # three evaluations without a rise
    assert accuracy(model, *val) == stop.val_accuracy > 0.3   # the kept weights are the best ones
    capped = fit_early_stopped(SmallCNN(width=4), train_data, val, max_steps=20, eval_every=10,
                               patience=5, batch_size=16, lr=3e-3)
    assert capped.capped and capped.steps == 20


def test_early_stopping_check_trains_on_but_keeps_the_stop_at_patience():
    x, y = digits()
    train_data, val = (x[:40], y[:40]), (x[1000:1200], y[1000:1200])
    kw = dict(max_steps=3000, eval_every=10, patience=3, batch_size=16, lr=3e-3, seed=0)
    torch.manual_seed(0)
    plain = fit_early_stopped(SmallCNN(width=4), train_data, val, **kw)
    torch.manual_seed(0)
    model = SmallCNN(width=4)
    checked = fit_early_stopped(model, train_data, val, check=4, **kw)
    assert plain.checked_accuracy is None and len(plain.history) == plain.steps // 10
    # the same run up to the stop: same kept step, stop and accuracy; four more evaluations recorded
    assert (checked.best_step, checked.steps, checked.val_accuracy) == (plain.best_step, plain.steps,
                                                                         plain.val_accuracy)
    assert checked.history[:len(plain.history)] == plain.history
    assert len(checked.history) == len(plain.history) + 4
    assert checked.checked_accuracy == max(checked.history[-4:])
    assert accuracy(model, *val) == checked.val_accuracy     # the check's weights are not kept
    assert max(checked.history[:len(plain.history)]) == checked.val_accuracy


def test_early_stopping_rejects_bad_input():
    x, y = digits()
    with pytest.raises(ValueError, match="patience"):
        fit_early_stopped(SmallCNN(width=4), (x[:8], y[:8]), (x[8:16], y[8:16]), max_steps=5,
                          eval_every=1, patience=0, batch_size=4, lr=1e-3)
    with pytest.raises(ValueError, match="matching"):
        fit_early_stopped(SmallCNN(width=4), (x[:8], y[:7]), (x[8:16], y[8:16]), max_steps=5,
                          eval_every=1, patience=1, batch_size=4, lr=1e-3)


def test_exercise_check_patchify():
    from course_utils import exercises as ex

    def patchify(x, p):
        B, C, H, W = x.shape
        return (x.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 1, 3, 5)
                .reshape(B, (H // p) * (W // p), C * p * p))

    def channels_last(x, p):
        B, C, H, W = x.shape
        return (x.reshape(B, C, H // p, p, W // p, p).permute(0, 2, 4, 3, 5, 1)
                .reshape(B, (H // p) * (W // p), C * p * p))

    assert not ex.check_patchify(None)
    assert ex.check_patchify(patchify)
    assert not ex.check_patchify(channels_last)
    assert not ex.check_patchify(lambda x, p: x.flatten(1))
