"""train_long_classifiers (notebook 10): one model per attention variant, same data and seed."""
import pytest
import torch

from course_utils.efficient import LongSequenceClassifier, train_long_classifiers


def _data(n=24, rows=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(3, 10, (rows, n), generator=g)
    y = torch.randint(0, 2, (rows,), generator=g)
    x[:, 1] = 1 + y                      # the label sits right next to the CLS: easy for every variant
    return x[:48], y[:48], x[48:], y[48:]


def test_trains_each_variant_and_truncates():
    xtr, ytr, xte, yte = _data()
    variants = {"full": dict(attention="full"), "sliding": dict(attention="sliding"),
                "cut": dict(attention="full", cut=8)}
    res = train_long_classifiers(variants, xtr, ytr, xte, yte, num_classes=2, steps=3, batch_size=8,
                                 seed=0, desc="test", d_model=16, num_heads=2, num_layers=2, window=2)
    assert list(res) == list(variants)
    for r in res.values():
        assert 0.0 <= r["accuracy"] <= 1.0 and 1 <= r["steps"] <= 3
        assert isinstance(r["model"], LongSequenceClassifier)
    assert res["cut"]["model"].seq_len == 8 and res["full"]["model"].seq_len == 24
    assert len(res["full"]["model"].layers) == 2
    assert res["full"]["model"].vocab_size == int(max(xtr.max(), xte.max())) + 1


def test_same_seed_same_result():
    xtr, ytr, xte, yte = _data()
    run = lambda: train_long_classifiers({"full": dict(attention="full")}, xtr, ytr, xte, yte,
                                         num_classes=2, steps=4, batch_size=8, seed=3, d_model=16)
    a, b = run(), run()
    for pa, pb in zip(a["full"]["model"].parameters(), b["full"]["model"].parameters()):
        torch.testing.assert_close(pa, pb)


def test_bad_inputs():
    xtr, ytr, xte, yte = _data()
    kw = dict(num_classes=2, steps=1, batch_size=8, seed=0)
    with pytest.raises(ValueError, match="one length"):
        train_long_classifiers({"full": {}}, xtr, ytr, xte[:, :10], yte, **kw)
    with pytest.raises(ValueError, match="one label per row"):
        train_long_classifiers({"full": {}}, xtr, ytr[:5], xte, yte, **kw)
    with pytest.raises(ValueError, match="cut=0"):
        train_long_classifiers({"c": dict(cut=0)}, xtr, ytr, xte, yte, **kw)


def test_eval_batch_size_does_not_change_the_accuracy():
    xtr, ytr, xte, yte = _data()
    run = lambda bs: train_long_classifiers({"full": dict(attention="full")}, xtr, ytr, xte, yte,
                                            num_classes=2, steps=2, batch_size=8, seed=1, d_model=16,
                                            eval_batch_size=bs)["full"]["accuracy"]
    assert run(1) == run(5) == run(1024)
    with pytest.raises(ValueError, match="eval_batch_size"):
        run(0)
