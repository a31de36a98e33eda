"""Notebooks 10 and 11: efficient-attention models, long-range tasks, seq2seq, time budgets."""
import pytest
import torch

from course_utils.attention import scaled_dot_product_attention
from course_utils.efficient import (EfficientSelfAttention, LongSequenceClassifier,
                                    block_sparse_attention, block_sparse_mask, block_sparse_tiles,
                                    linformer_attention)
from course_utils.models import TransformerClassifier
from course_utils.seq2seq import (LSTMSeq2Seq, TransformerSeq2Seq, exact_match, greedy_decode,
                                  number_translation, number_words, seq2seq_loss)
from course_utils.tasks import first_token_recall, needle_task
from course_utils.timing import peak_memory
from course_utils.training import batches, train


def test_block_tiles_cost_no_n_squared_and_global_rows_are_dense():
    tiles = block_sparse_tiles(8, window_blocks=1, global_blocks=1, random_blocks=0)
    assert tiles.shape == (8, 8) and bool(tiles[0].all()) and bool(tiles[:, 0].all())
    assert int(tiles[5].sum()) == 4                    # blocks 4, 5, 6 and the global block 0
    with pytest.raises(ValueError, match="non-negative"):
        block_sparse_tiles(4, window_blocks=-1)


def test_block_sparse_memory_grows_linearly():
    mem = []
    for n in (1024, 4096):
        q = torch.randn(1, 1, n, 32)
        mem.append(peak_memory(lambda: block_sparse_attention(q, q, q, 64)))
    assert mem[1] / mem[0] < 5.5                       # 4x n; full attention would be 16x


def test_linformer_memory_grows_linearly():
    mem = []
    for n in (1024, 4096):
        q = torch.randn(1, 1, n, 32)
        E = torch.randn(64, n) / n ** 0.5
        mem.append(peak_memory(lambda: linformer_attention(q, q, q, E, E)))
    assert mem[1] / mem[0] < 5.5


def test_block_sparse_with_several_global_blocks_equals_mask():
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 96, 8, generator=g, dtype=torch.float64) for _ in range(3))
    ours = block_sparse_attention(q, k, v, 16, global_blocks=2, random_blocks=1, seed=3)
    ref = scaled_dot_product_attention(q, k, v, block_sparse_mask(96, 16, global_blocks=2,
                                                                  random_blocks=1, seed=3))[0]
    torch.testing.assert_close(ours, ref, atol=1e-10, rtol=0)
    with pytest.raises(ValueError, match="multiple of block"):
        block_sparse_attention(q[:, :90], k[:, :90], v[:, :90], 16)


@pytest.mark.parametrize("kind", ["full", "sliding", "block_sparse", "linformer"])
def test_efficient_self_attention_shapes_and_errors(kind):
    attn = EfficientSelfAttention(16, 2, kind, 64, window=4, block=16, proj=8)
    x = torch.randn(3, 64, 16)
    assert attn(x).shape == (3, 64, 16)
    with pytest.raises(ValueError, match="n=64"):
        attn(torch.randn(3, 32, 16))


def test_efficient_self_attention_rejects_bad_configuration():
    with pytest.raises(ValueError, match="kind"):
        EfficientSelfAttention(16, 2, "dense", 64)
    with pytest.raises(ValueError, match="divisible"):
        EfficientSelfAttention(15, 2, "full", 64)
    with pytest.raises(ValueError, match="multiple of block"):
        EfficientSelfAttention(16, 2, "block_sparse", 60, block=16)


def test_one_layer_sliding_with_global_cls_equals_full_model():
    torch.manual_seed(0)
    full = LongSequenceClassifier(20, 3, 40, "full", d_model=16, num_heads=2)
    sliding = LongSequenceClassifier(20, 3, 40, "sliding", d_model=16, num_heads=2, window=2)
    sliding.load_state_dict(full.state_dict())
    x = torch.randint(0, 20, (4, 40))
    torch.testing.assert_close(sliding(x), full(x), atol=1e-5, rtol=0)
    # without the global token, the CLS sees only its window: tokens beyond it change nothing
    local = LongSequenceClassifier(20, 3, 40, "sliding", d_model=16, num_heads=2, window=2,
                                   global_cls=False)
    local.load_state_dict(full.state_dict())
    x2 = x.clone()
    x2[:, 10:] = (x2[:, 10:] + 1) % 20
    torch.testing.assert_close(local(x2), local(x), atol=1e-6, rtol=0)


def test_long_sequence_classifier_inputs_and_pretrained_embeddings():
    emb = torch.randn(30, 12)
    model = LongSequenceClassifier(30, 2, 32, "block_sparse", d_model=16, num_heads=2, block=8,
                                   pretrained_embeddings=emb)
    assert model(torch.randint(0, 30, (2, 32))).shape == (2, 2)
    assert not model.embed[0].weight.requires_grad      # frozen word vectors
    with pytest.raises(ValueError, match="seq_len=32"):
        model(torch.randint(0, 30, (2, 31)))
    with pytest.raises(ValueError, match=r"\[0, 30\)"):
        model(torch.full((2, 32), 30))
    with pytest.raises(ValueError, match="rows"):
        LongSequenceClassifier(31, 2, 32, pretrained_embeddings=emb)


def test_needle_task_puts_the_evidence_past_the_cut():
    task = needle_task(50, 10, seed=0, seq_len=64, after=32, num_classes=4, copies=3)
    x = torch.cat([task.train_x, task.test_x]); y = torch.cat([task.train_y, task.test_y])
    needles = (x >= 1) & (x <= 4)
    assert bool((needles[:, :32] == 0).all())            # nothing before the cut
    assert bool((needles.sum(1) == 3).all())
    assert bool((x[needles].view(-1, 3) == (y + 1)[:, None]).all())
    again = needle_task(50, 10, seed=0, seq_len=64, after=32, num_classes=4, copies=3)
    assert torch.equal(again.train_x, task.train_x)
    with pytest.raises(ValueError, match="copies"):
        needle_task(5, 5, seed=0, seq_len=10, after=8, copies=3)


def test_first_token_recall_labels():
    task = first_token_recall(20, 5, seed=1, distractors=7, num_values=4)
    assert task.train_x.shape == (20, 8)
    assert torch.equal(task.train_y, task.train_x[:, 0] - 1)
    assert int(task.train_x.min()) >= 1 and int(task.train_x.max()) <= 4
    with pytest.raises(ValueError):
        first_token_recall(5, 5, seed=0, distractors=-1)


def test_number_words_and_translation_data():
    assert number_words(91, "fr") == ["quatre", "-", "vingt", "-", "onze"]
    assert number_words(1021, "en") == ["one", "thousand", "and", "twenty", "-", "one"]
    data = number_translation(40, 10, seed=0, max_number=99)
    assert not set(data.train_numbers) & set(data.test_numbers)
    row = data.test_tgt[0]
    assert row[0] == 1 and 2 in row.tolist()            # <bos> … <eos>
    words = [w for w in data.tgt_vocab.decode(row) if w not in ("<bos>", "<eos>")]
    assert words == number_words(data.test_numbers[0], "fr")
    with pytest.raises(ValueError, match="only 100 exist"):
        number_translation(90, 20, seed=0, max_number=99)


def test_translation_validation_split_is_carved_from_training():
    data = number_translation(40, 10, seed=0, max_number=99)
    split = data.with_validation(8)
    assert split.val_numbers == data.train_numbers[:8] and split.train_numbers == data.train_numbers[8:]
    assert split.train_src.shape[0] == len(split.train_numbers) == 32
    assert torch.equal(split.val_tgt, data.train_tgt[:8]) and torch.equal(split.test_src, data.test_src)
    assert not set(split.val_numbers) & (set(split.train_numbers) | set(split.test_numbers))
    for bad in (0, 40, 2.5, True):
        with pytest.raises(ValueError, match="size must be an integer"):
            data.with_validation(bad)
    with pytest.raises(ValueError, match="already has a validation split"):
        split.with_validation(4)


@pytest.mark.parametrize("arch", ["transformer", "lstm"])
def test_seq2seq_models_learn_to_copy_and_decode(arch):
    torch.manual_seed(0)
    V = 8
    src = torch.randint(3, V, (256, 5))
    src[:, -1] = 2                                       # <eos>
    tgt = torch.cat([torch.ones(256, 1, dtype=torch.long), src], 1)
    model = (TransformerSeq2Seq(V, V, d_model=32, num_heads=2, num_layers=1) if arch == "transformer"
             else LSTMSeq2Seq(V, V, d_model=32, hidden=32))
    assert model(src[:2], tgt[:2, :-1]).shape == (2, 5, V)
    before = seq2seq_loss(model, src, tgt).item()
    train(model, batches(src, tgt, batch_size=32, generator=torch.Generator().manual_seed(0)),
          steps=300, lr=1e-2, model_loss=seq2seq_loss, progress=False)
    assert seq2seq_loss(model, src, tgt).item() < before / 4
    assert exact_match(model, src, tgt) > 0.8
    out = greedy_decode(model, src[:3], 6)
    assert out.shape[0] == 3 and bool((out[:, 0] == 1).all())


@pytest.mark.parametrize("d_model", [16, 64, 256])
def test_seq2seq_token_embeddings_do_not_drown_the_positions(d_model):
    # at initialisation, the scaled token vectors (embedding × √d) and the sinusoidal positions
    # they are added to have RMS within 2x of each other (N(0, 1) × √d would give √d / 0.71)
    torch.manual_seed(0)
    model = TransformerSeq2Seq(500, 600, d_model=d_model, num_heads=4, num_layers=1)
    rms = lambda t: float(t.pow(2).mean().sqrt())
    positions = rms(model.pos.pe)
    for embed in (model.src_embed, model.tgt_embed):
        assert float(embed.weight[0].abs().max()) == 0.0                # <pad> embeds to zero
        ratio = rms(embed.weight[1:] * model.scale) / positions
        assert 0.5 <= ratio <= 2.0, (d_model, ratio)


def test_lstm_seq2seq_forget_bias():
    model = LSTMSeq2Seq(10, 12, d_model=8, hidden=6, forget_bias=1.0)
    params = dict(model.named_parameters())
    for ih in ("encoder.bias_ih_l0", "encoder.bias_ih_l0_reverse", "cell.bias_ih"):   # both directions
        total = params[ih] + params[ih.replace("_ih", "_hh")]
        assert torch.equal(total[6:12], torch.ones(6))                  # gate order i, f, g, o
        assert not torch.equal(total[:6], torch.zeros(6))               # the other gates untouched


def test_attention_weights_are_exposed_for_alignment_plots():
    tf = TransformerSeq2Seq(10, 12, d_model=16, num_heads=2, num_layers=2)
    src, tgt = torch.randint(3, 10, (2, 6)), torch.randint(3, 12, (2, 4))
    src[1, 4:] = 0                                       # padding is never attended
    tf(src, tgt)
    w = tf.cross_attention[-1]
    assert w.shape == (2, 2, 4, 6) and float(w[1, :, :, 4:].abs().max()) == 0.0
    lstm = LSTMSeq2Seq(10, 12, d_model=16, hidden=16)
    lstm(src, tgt)
    assert lstm.attention.shape == (2, 4, 6) and float(lstm.attention[1, :, 4:].abs().max()) == 0.0
    torch.testing.assert_close(lstm.attention.sum(-1), torch.ones(2, 4))


def test_train_stops_at_the_time_budget():
    model = torch.nn.Linear(4, 2)
    x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))

    def slow_loss(m, a, b):          # 20 ms of this process's CPU: what the budget counts
        import time
        t0 = time.process_time()
        while time.process_time() - t0 < 0.02:
            pass
        return torch.nn.functional.cross_entropy(m(a), b)
    hist = train(model, batches(x, y, batch_size=8), steps=10_000, max_seconds=0.2,
                 model_loss=slow_loss, eval_fn=lambda: 0.5, eval_every=1000, progress=False)
    assert hist.stopped_at_time and 5 <= hist.num_steps <= 15
    assert hist.eval_steps == [hist.num_steps]           # evaluated once, at the stop
    with pytest.raises(ValueError, match="max_seconds"):
        train(model, batches(x, y, batch_size=8), steps=5, max_seconds=0)


def test_transformer_classifier_fused_path_equals_stored_weights_path():
    torch.manual_seed(0)
    a = TransformerClassifier(20, 3, d_model=16, num_heads=2, num_layers=2)
    b = TransformerClassifier(20, 3, d_model=16, num_heads=2, num_layers=2, store_attention=False)
    b.load_state_dict(a.state_dict())
    x = torch.randint(1, 20, (4, 9))
    x[0, 6:] = 0                                         # one padded row: the masked fused path
    torch.testing.assert_close(b(x), a(x), atol=1e-5, rtol=0)
    torch.testing.assert_close(b(x[1:]), a(x[1:]), atol=1e-5, rtol=0)   # no padding: no mask
    assert b.attention_weights == [None, None]


def test_minilm_weights_and_fast_tokenizer_read_the_wheel_directly():
    from course_utils.pretrained import minilm_fast_tokenizer, minilm_weights

    w = minilm_weights("embeddings.word_embeddings.weight",
                       "encoder.layer.0.attention.self.query.weight")
    assert w["embeddings.word_embeddings.weight"].shape == (30522, 384)
    assert w["encoder.layer.0.attention.self.query.weight"].shape == (384, 384)
    with pytest.raises(KeyError, match="not in MiniLM"):
        minilm_weights("no.such.tensor")
    tok = minilm_fast_tokenizer(8)
    enc = tok.encode("Attention is all you need", add_special_tokens=False)
    assert enc.tokens[:5] == ["attention", "is", "all", "you", "need"]
    assert len(enc.ids) == 8 and enc.ids[5:] == [0, 0, 0]          # padded with [PAD]
    assert len(minilm_fast_tokenizer().encode("word " * 600).ids) > 512   # no truncation


def test_exercise_checks_10_and_11(capsys):
    import torch.nn.functional as F

    from course_utils import exercises as ex

    assert not ex.check_band_flops(None)
    assert not ex.check_band_flops(lambda n, d, w: 4 * n * (2 * w + 1) * d)   # ignores the ends
    assert ex.check_band_flops(lambda n, d, w: 4 * d * (n * (2 * min(w, n - 1) + 1)
                                                        - min(w, n - 1) * (min(w, n - 1) + 1)))
    assert not ex.check_linformer(lambda q, k, v, E, F_: torch.softmax(q @ k.T, -1) @ v)
    assert ex.check_linformer(lambda q, k, v, E, F_: torch.softmax(
        q @ (E @ k).T / q.shape[-1] ** 0.5, -1) @ (F_ @ v))
    assert not ex.check_state_bytes(lambda kind, n, d, layers: 2 * n * d * layers * 4)
    assert ex.check_state_bytes(lambda kind, n, d, layers:
                                (2 * d if kind == "lstm" else 2 * n * d) * layers * 4)

    from recurrences import linear_attention_recurrent
    assert ex.check_linear_attention_recurrence(linear_attention_recurrent)
    assert not ex.check_linear_attention_recurrence(lambda q, k, v: v)


@pytest.mark.parametrize("slab", [16, 48, 0])
def test_block_sparse_in_slabs_equals_one_pass(slab):
    g = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(2, 128, 8, generator=g, dtype=torch.float64) for _ in range(3))
    ref = scaled_dot_product_attention(q, k, v, block_sparse_mask(128, 16, seed=1))[0]
    torch.testing.assert_close(block_sparse_attention(q, k, v, 16, seed=1, slab=slab), ref,
                               atol=1e-10, rtol=0)
