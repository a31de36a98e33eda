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


KINDS = {"full": dict(attention="full"), "sliding": dict(attention="sliding", window=3),
         "sliding, no global": dict(attention="sliding", window=3, global_cls=False),
         "linformer": dict(attention="linformer", proj=6)}


def _padded(rows=4, real=30, pads=10, vocab=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(1, vocab, (rows, real + pads), generator=g)
    x[:, real:] = 0
    x[0, real:] = torch.randint(1, vocab, (pads,), generator=g)   # one row without padding
    return x


@pytest.mark.parametrize("name", [*KINDS, "block_sparse"])
@pytest.mark.parametrize("pretrained", [False, True])
def test_padding_cannot_change_the_logits(name, pretrained):
    kw = KINDS.get(name, dict(attention="block_sparse", block=8))
    emb = torch.randn(20, 12) if pretrained else None
    torch.manual_seed(0)
    model = LongSequenceClassifier(20, 3, 40, d_model=16, num_heads=2, num_layers=2,
                                   pretrained_embeddings=emb, **kw)
    x = _padded()
    before = model(x)
    table = model.embed.weight if not pretrained else model.embed[0].weight
    with torch.no_grad():
        table[0] = 5.0                              # whatever vector the padding embeds to
    torch.testing.assert_close(model(x), before, atol=1e-5, rtol=0)
    # pad_id=None reads the padding like any token: then it does change the logits (except where
    # the CLS cannot reach it: a window without a global token sees only layers × w tokens)
    model.pad_id = None
    if name != "sliding, no global":
        assert (model(x)[1:] - before[1:]).abs().max() > 1e-3


@pytest.mark.parametrize("name", list(KINDS))
def test_appending_pads_gives_the_logits_of_the_shorter_input(name):
    torch.manual_seed(1)
    long = LongSequenceClassifier(20, 3, 40, d_model=16, num_heads=2, num_layers=2, **KINDS[name])
    short = LongSequenceClassifier(20, 3, 30, d_model=16, num_heads=2, num_layers=2, **KINDS[name])
    state = long.state_dict()                       # positions (and Linformer's E, F) cut to 31
    short.load_state_dict({k: (v[:, :31] if k == "pos" or k.endswith((".E", ".F")) else v)
                           for k, v in state.items()})
    x = _padded()
    torch.testing.assert_close(long(x[1:]), short(x[1:, :30]), atol=1e-5, rtol=0)
    # a row's logits do not depend on the padding of the other rows in its batch
    torch.testing.assert_close(long(x)[1:], long(x[1:]), atol=1e-5, rtol=0)
    torch.testing.assert_close(long(x)[:1], long(x[:1]), atol=1e-5, rtol=0)


def test_early_stopping_reads_the_validation_split_never_the_test_set():
    xtr, ytr, xte, yte = _data()
    kw = dict(num_classes=2, steps=40, batch_size=8, seed=0, d_model=16, eval_every=5, target=0.9,
              val_x=xtr[:16], val_y=ytr[:16])
    a = train_long_classifiers({"full": dict(attention="full")}, xtr, ytr, xte, yte, **kw)["full"]
    b = train_long_classifiers({"full": dict(attention="full")}, xtr, ytr, xte, 1 - yte, **kw)["full"]
    assert a["steps"] == b["steps"] < 40 and a["val_accuracy"] >= 0.9     # stopped on validation
    assert a["accuracy"] + b["accuracy"] == pytest.approx(1.0)             # test read once, after
    with pytest.raises(ValueError, match="validation"):
        train_long_classifiers({"full": {}}, xtr, ytr, xte, yte, num_classes=2, steps=1,
                               batch_size=8, seed=0, target=0.9)
    with pytest.raises(ValueError, match="both"):
        train_long_classifiers({"full": {}}, xtr, ytr, xte, yte, num_classes=2, steps=1,
                               batch_size=8, seed=0, val_x=xtr)


def test_verbose_false_prints_no_result_line(capsys):
    xtr, ytr, xte, yte = _data()
    kw = dict(num_classes=2, steps=2, batch_size=8, seed=0, desc="quietrun", d_model=16)
    train_long_classifiers({"full": dict(attention="full")}, xtr, ytr, xte, yte, **kw)
    assert "quietrun | full" in capsys.readouterr().out
    train_long_classifiers({"full": dict(attention="full")}, xtr, ytr, xte, yte, verbose=False, **kw)
    assert "quietrun | full" not in capsys.readouterr().out
