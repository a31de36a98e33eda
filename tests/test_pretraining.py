"""course_utils.pretraining: character corpus, BERT masking, masked language model."""
import collections
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats

from course_utils.pretraining import IGNORE, MaskedLM, char_corpus, mlm_mask, random_windows
from course_utils.training import train


def test_char_corpus_holds_out_whole_documents():
    texts = ["Hello world. " * 20, "abc abc " * 30, "zzz qqq " * 10]
    corpus = char_corpus(texts, val_fraction=0.34, min_count=5)
    assert corpus.itos[:3] == ["<pad>", "<unk>", "<mask>"]
    assert corpus.decode(corpus.train[:12]) == "hello world."
    assert set(corpus.val.tolist()) <= {1, corpus.stoi[" "]}   # z, q never seen in training
    with pytest.raises(ValueError, match="val_fraction"):
        char_corpus(texts, val_fraction=1.0)


def test_random_windows_are_shifted_by_one():
    data = torch.arange(100)
    x, y = random_windows(data, 8, 10, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (8, 10)
    assert torch.equal(y, x + 1)
    with pytest.raises(ValueError, match="at least length"):
        random_windows(torch.arange(5), 2, 10)
    with pytest.raises(ValueError, match="1-D"):
        random_windows(torch.arange(100).reshape(10, 10), 2, 3)


def _start_counts(n: int, length: int, batch_size: int, batches: int) -> torch.Tensor:
    """How often each start 0 … n - length - 1 was drawn, over batches of a fixed generator."""
    g = torch.Generator().manual_seed(0)
    starts = torch.cat([random_windows(torch.arange(n), batch_size, length, g)[0][:, 0]
                        for _ in range(batches)])
    return torch.bincount(starts, minlength=n - length)


def test_random_windows_draw_every_start_uniformly():
    counts = _start_counts(100, 7, 32, 1000)             # 93 valid starts, 32,000 draws
    assert len(counts) == 93                                    # no start past the last window
    assert int(counts.min()) > 0 and int(counts[92]) > 0       # the last window comes up too
    expected = 32_000 / 93
    chi_square = float(((counts.double() - expected) ** 2 / expected).sum())
    assert chi_square < stats.chi2.ppf(0.999, df=92), chi_square   # about 137; uniform: ~92 ± 14


def test_random_windows_accept_a_text_of_one_window():
    x, y = random_windows(torch.arange(8), 5, 7)           # length + 1 tokens: exactly one window
    assert torch.equal(x, torch.arange(7).expand(5, 7))
    assert torch.equal(y, torch.arange(1, 8).expand(5, 7))


def test_random_windows_name_a_bad_size():
    with pytest.raises(TypeError, match="length must be an integer"):
        random_windows(torch.arange(100), 4, 7.5)
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        random_windows(torch.arange(100), 0, 7)


def _get_batch(dataset: np.ndarray, batch_size: int, context_length: int, device: str):
    """An adapter in the shape of Stanford CS336's ``run_get_batch`` (assignment 1)."""
    x, y = random_windows(torch.from_numpy(dataset), batch_size, context_length)
    return x.to(device), y.to(device)


def test_random_windows_through_a_get_batch_adapter():
    # In the spirit of CS336's test_get_batch: right shapes, targets offset by one, starts that
    # cover exactly 0 … N - length - 1, and every start's count within 5 sigma of a binomial.
    dataset, context_length, batch_size, rounds = np.arange(0, 100), 7, 32, 1000
    torch.manual_seed(0)
    starts = collections.Counter()
    for _ in range(rounds):
        x, y = _get_batch(dataset, batch_size, context_length, "cpu")
        assert x.shape == y.shape == (batch_size, context_length)
        np.testing.assert_array_equal((x + 1).numpy(), y.numpy())
        starts.update(x[:, 0].tolist())
    possible = len(dataset) - context_length
    assert min(starts) == 0 and max(starts) == possible - 1 and len(starts) == possible
    draws, share = rounds * batch_size, 1 / possible
    sigma = math.sqrt(draws * share * (1 - share))
    for start, count in starts.items():
        assert abs(count - draws * share) < 5 * sigma, (start, count)


def test_mlm_mask_follows_bert_proportions():
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(3, 50, (400, 250), generator=g)
    tokens[:, -10:] = 0                                           # padding is never chosen
    inputs, targets = mlm_mask(tokens, mask_id=2, vocab_size=50, generator=g)
    chosen = targets != IGNORE
    assert not bool(chosen[:, -10:].any())
    rate = chosen.float().sum() / (tokens != 0).sum()
    assert abs(float(rate) - 0.15) < 0.005
    masked = (inputs == 2) & chosen
    kept = (inputs == tokens) & chosen
    assert abs(float(masked.sum() / chosen.sum()) - 0.8) < 0.01
    # a random replacement can hit the original id (1 in 47): "kept" is 10 % plus that share
    assert abs(float(kept.sum() / chosen.sum()) - (0.1 + 0.1 / 47)) < 0.01
    assert torch.equal(targets[chosen], tokens[chosen])
    assert torch.equal(inputs[~chosen], tokens[~chosen])
    with pytest.raises(ValueError, match="rate"):
        mlm_mask(tokens, mask_id=2, vocab_size=50, rate=0.0)


def test_masked_lm_learns_to_fill_in_from_context():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(3, 13, (512, 1), generator=g).repeat(1, 16)   # one symbol per row
    model = MaskedLM(13, d_model=32, num_heads=2, num_layers=2, max_len=16)

    def data():
        while True:
            idx = torch.randint(0, 512, (64,), generator=g)
            yield mlm_mask(tokens[idx], mask_id=2, vocab_size=13, generator=g)

    def loss(logits, targets):
        return F.cross_entropy(logits.reshape(-1, 13), targets.reshape(-1), ignore_index=IGNORE)
    hist = train(model, data(), steps=300, lr=3e-3, loss_fn=loss, progress=False)
    assert sum(hist.losses[-20:]) / 20 < 0.5 * sum(hist.losses[:20]) / 20
    with pytest.raises(ValueError, match="T <= 16"):
        model(torch.zeros(2, 17, dtype=torch.long))


def test_causal_lm_fused_path_equals_the_stored_weights_path():
    from course_utils.models import CausalLM

    torch.manual_seed(0)
    a = CausalLM(20, d_model=16, num_heads=2, num_layers=2, max_len=12)
    b = CausalLM(20, d_model=16, num_heads=2, num_layers=2, max_len=12, store_attention=False)
    b.load_state_dict(a.state_dict())
    x = torch.randint(0, 20, (3, 12))
    torch.testing.assert_close(b(x), a(x), atol=1e-5, rtol=0)
    assert all(block.attention_weights is None for block in b.blocks)


# ---- training language models (notebook 06) -----------------------------------------------------
from course_utils.models import CausalLM  # noqa: E402
from course_utils.pretraining import LMRun, evaluate_lm, lm_batch, lm_loss, train_lm  # noqa: E402


def test_char_corpus_seed_shuffles_documents_reproducibly():
    texts = ["ab " * (5 + 10 * i) for i in range(10)]            # documents of distinct lengths
    plain = char_corpus(texts, val_fraction=0.2, min_count=1)
    a = char_corpus(texts, val_fraction=0.2, min_count=1, seed=1)
    b = char_corpus(texts, val_fraction=0.2, min_count=1, seed=1)
    assert torch.equal(a.val, b.val) and torch.equal(a.train, b.train)
    assert plain.val.numel() == len("ab " * 85 + "\n" + "ab " * 95)   # the last two, unshuffled
    assert a.val.numel() != plain.val.numel()                    # seed 1 holds out two others
    assert a.train.numel() + a.val.numel() == plain.train.numel() + plain.val.numel()


def test_lm_batch_causal_and_masked():
    data = torch.arange(3, 103)
    g = torch.Generator().manual_seed(0)
    x, y = lm_batch(data, 4, 10, generator=g)
    assert x.shape == y.shape == (4, 10) and torch.equal(y, x + 1)
    x, y = lm_batch(data, 64, 10, objective="masked", vocab_size=103, generator=g)
    scored = y != IGNORE
    assert 0.05 < scored.float().mean() < 0.25
    assert bool((x[scored & (x != 2)] >= 3).all())                      # replacements are regular ids
    with pytest.raises(ValueError, match="objective"):
        lm_batch(data, 4, 10, objective="prefix")
    with pytest.raises(ValueError, match="vocab_size"):
        lm_batch(data, 4, 10, objective="masked")


def test_lm_loss_and_evaluate_name_their_errors():
    model = CausalLM(10, d_model=8, num_heads=2, num_layers=1, max_len=8)
    x = torch.randint(0, 10, (2, 8))
    with pytest.raises(ValueError, match="do not match"):
        lm_loss(model, x, x[:, :4])
    with pytest.raises(ValueError, match="no scored positions"):
        evaluate_lm(model, x, torch.full_like(x, IGNORE))
    loss, acc = evaluate_lm(model, x, x)
    assert loss > 0 and 0 <= acc <= 1


@pytest.mark.parametrize("objective", ["causal", "masked"])
def test_train_lm_learns_and_records_tokens_time_and_losses(objective):
    torch.manual_seed(0)
    text = torch.tensor(([3, 4, 5, 6, 7] * 400))                        # a periodic "language"
    cls = CausalLM if objective == "causal" else MaskedLM
    model = cls(8, d_model=16, num_heads=2, num_layers=1, max_len=16)
    run = train_lm(model, text[:1500], text[1500:], steps=150, batch_size=16, length=16,
                   objective=objective, lr=1e-2, eval_every=50, seed=0)
    assert isinstance(run, LMRun)
    assert run.steps == [0, 50, 100, 150]
    assert run.tokens == [s * 16 * 16 for s in run.steps]
    assert run.seconds[0] == 0.0 and run.seconds == sorted(run.seconds)
    assert run.val_loss[-1] < 0.5 * run.val_loss[0]
    assert run.val_accuracy[-1] > 0.8
    assert run.at_seconds(run.seconds[2]) == 2 and run.at_seconds(0.0) == 0
    assert run.at_flops(100 * 1000.0, 1000.0) == 2 and run.at_flops(49.0, 1.0) == 0
    with pytest.raises(ValueError, match="budget"):
        run.at_seconds(-1.0)


def test_masked_lm_uses_the_course_learned_positions():
    from course_utils.positional import LearnedPositionalEmbedding

    model = MaskedLM(10, d_model=8, num_heads=2, num_layers=1, max_len=12)
    assert isinstance(model.pos, LearnedPositionalEmbedding)
    assert float(model.pos.embedding.weight.detach().std()) > 0.5                 # N(0, 1): positions visible


# ---- MiniLM rebuilt from the course's blocks ------------------------------------------------------
def test_bert_encoder_with_minilm_weights_equals_hugging_face():
    from course_utils.pretrained import BertEncoder, load_minilm

    hf, tok = load_minilm()
    texts = ["The Bank of England raised interest rates.", "Short one.",
             "Attention is all you need, the 2017 paper said."]
    enc = tok(texts, return_tensors="pt", padding=True)
    ours = BertEncoder.from_minilm(6).eval()
    with torch.no_grad():
        ref = hf(**enc).last_hidden_state
        out = ours(enc["input_ids"], enc["attention_mask"])
    real = enc["attention_mask"].bool()
    assert (out - ref)[real].abs().max() < 1e-4
    two = BertEncoder.from_minilm(2)
    assert len(two.layers) == 2
    with pytest.raises(ValueError, match="6 layers"):
        BertEncoder.from_minilm(7)


def test_trimmed_vocabulary_changes_nothing_and_remap_checks_ids():
    from course_utils.pretrained import BertEncoder, remap_ids

    ids = torch.tensor([[101, 7592, 2088, 102], [101, 2088, 2088, 102]])
    keep = torch.unique(ids)
    full = BertEncoder.from_minilm(1).eval()
    small = BertEncoder.from_minilm(1, keep).eval()
    assert small.word.num_embeddings == 4
    with torch.no_grad():
        assert torch.equal(full(ids), small(remap_ids(ids, keep)))
    with pytest.raises(ValueError, match="not in keep_ids"):
        remap_ids(torch.tensor([[101, 999]]), keep)
    with pytest.raises(ValueError, match="sorted"):
        BertEncoder.from_minilm(1, torch.tensor([5, 3]))
    with pytest.raises(ValueError, match="token ids must lie"):
        small(torch.tensor([[0, 4]]))


def test_bert_classifier_ignores_padding_and_random_init_is_bert_like():
    from course_utils.pretrained import BertClassifier, BertEncoder

    torch.manual_seed(0)
    enc = BertEncoder(vocab_size=50, d_model=32, num_heads=4, num_layers=2, d_ff=64, max_len=16)
    assert abs(float(enc.layers[0].attn.q_proj.weight.detach().std()) - 0.02) < 0.005
    model = BertClassifier(enc, 3).eval()
    x = torch.tensor([[5, 6, 7, 8]])
    padded = torch.tensor([[5, 6, 7, 8, 0, 0, 0]])
    with torch.no_grad():
        torch.testing.assert_close(model(padded), model(x), atol=1e-5, rtol=0)


def test_exercise_check_compute_optimal():
    import math

    from course_utils import exercises as ex

    assert not ex.check_compute_optimal(None)
    assert ex.check_compute_optimal(lambda C: (math.sqrt(C / 120), 20 * math.sqrt(C / 120)))
    assert not ex.check_compute_optimal(lambda C: (math.sqrt(C / 6), math.sqrt(C / 6)))


# ---- scoring a masked LM by what it saw (notebook 09) ------------------------------------------
from torch import nn  # noqa: E402

from course_utils.pretraining import (CORRUPTIONS, MASK_ID, score_against_constant,  # noqa: E402
                                      score_by_corruption)


class _Copier(nn.Module):
    """Predicts, at every position, the token its input shows there (logits one-hot)."""

    def __init__(self, vocab):
        super().__init__()
        self.vocab, self.w = vocab, nn.Parameter(torch.zeros(1))

    def forward(self, tokens):
        return F.one_hot(tokens, self.vocab).float() + 0 * self.w


def test_score_by_corruption_splits_what_a_copier_gets_right():
    g = torch.Generator().manual_seed(0)
    tokens = torch.randint(3, 12, (64, 32), generator=g)
    tokens[:, ::4] = 3                                     # a most frequent token, a quarter of the text
    x, y = mlm_mask(tokens, mask_id=MASK_ID, vocab_size=12, generator=g)
    by_kind = score_by_corruption(_Copier(12), x, y, reference_id=3)
    assert list(by_kind) == list(CORRUPTIONS)
    assert sum(s.count for s in by_kind.values()) == int((y != IGNORE).sum())
    assert by_kind["<mask>"].accuracy == 0.0 and by_kind["unchanged"].accuracy == 1.0
    assert by_kind["random"].accuracy == 0.0               # the copier repeats the wrong token
    assert by_kind["<mask>"].guessed_reference == 0.0      # it guessed <mask>, never token 3
    where = (y != IGNORE) & (x == MASK_ID)
    assert by_kind["<mask>"].baseline == pytest.approx(float((y[where] == 3).float().mean()))
    assert by_kind["<mask>"].gain == pytest.approx(-by_kind["<mask>"].baseline)
    assert 0 < by_kind["<mask>"].gain_se < 0.1
    with pytest.raises(ValueError, match=r"\(W, T\)"):
        score_by_corruption(_Copier(12), x[0], y[0], reference_id=3)


def test_score_against_constant_scores_every_target_beside_the_guess():
    tokens = torch.tensor([[3, 4, 3, 5, 3, 6]])
    x, y = tokens[:, :-1], tokens[:, 1:]                   # next-token windows
    s = score_against_constant(_Copier(8), x, y, reference_id=3)
    assert (s.kind, s.count) == ("all", 5)
    assert s.accuracy == 0.0 and s.baseline == pytest.approx(2 / 5)   # copying never predicts the next
    assert s.guessed_reference == pytest.approx(3 / 5)
    with pytest.raises(ValueError, match="no scored positions"):
        score_against_constant(_Copier(8), x, torch.full_like(y, IGNORE), reference_id=3)


def test_train_lm_keeps_its_windows_and_scores_masks_apart():
    torch.manual_seed(0)
    text = torch.tensor(([3, 4, 5, 6, 7] * 200))
    model = MaskedLM(8, d_model=16, num_heads=2, num_layers=1, max_len=16)
    run = train_lm(model, text[:700], text[700:], steps=20, batch_size=8, length=16,
                   objective="masked", eval_every=10, eval_windows=32, seed=0)
    x, y = run.val_windows
    assert x.shape == y.shape == (32, 16) and len(run.val_mask_accuracy) == len(run.steps) == 3
    at_masks = torch.where(x == MASK_ID, y, torch.full_like(y, IGNORE))
    assert run.val_mask_accuracy[-1] == pytest.approx(evaluate_lm(model, x, at_masks)[1])
    assert run.val_mask_accuracy[-1] == pytest.approx(
        score_by_corruption(model, x, y, reference_id=3)["<mask>"].accuracy)
    causal = train_lm(CausalLM(8, d_model=16, num_heads=2, num_layers=1, max_len=16), text[:700],
                      text[700:], steps=2, batch_size=8, length=16, eval_every=1, eval_windows=4)
    assert causal.val_mask_accuracy == [] and causal.val_windows[0].shape == (4, 16)


def test_gain_se_is_clustered_by_window():
    # Whole windows right or wrong: the T positions of a window are one observation, not T.
    W, T = 40, 16
    tokens = torch.full((W, T), 4)
    x = tokens.clone()
    x[::2] = 5                                             # the copier is wrong on every other window
    s = score_against_constant(_Copier(8), x, tokens, reference_id=3)
    assert s.accuracy == pytest.approx(0.5) and s.baseline == 0.0
    per_window = torch.tensor([0.0, 1.0] * (W // 2), dtype=torch.double)   # window means
    expected = float(per_window.std() / math.sqrt(W))     # the cluster SE of W window means
    assert s.gain_se == pytest.approx(expected, rel=1e-6)
    naive = float(torch.tensor([0.0, 1.0] * (W * T // 2), dtype=torch.double).std() / math.sqrt(W * T))
    assert s.gain_se > 3 * naive                           # sqrt(T) = 4 times the per-character SE
