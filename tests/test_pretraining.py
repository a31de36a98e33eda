"""course_utils.pretraining: character corpus, BERT masking, masked language model."""
import pytest
import torch
import torch.nn.functional as F

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
    with pytest.raises(ValueError, match="longer"):
        random_windows(torch.arange(5), 2, 10)


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
