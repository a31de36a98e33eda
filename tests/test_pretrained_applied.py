"""Notebook 01, section 5: sentence embeddings cut to ``max_length`` word pieces; and the KV-cache
exercise's check (taken out of 01 in issue 20, kept for the KV cache on SmolLM2 in notebook 05)."""
import pytest
import torch

from course_utils import exercises as ex
from course_utils.pretrained import load_minilm, sentence_embeddings

LONG = " ".join(["The committee said the new budget would not be approved before the election."] * 20)
SHORT = "Markets rose in London."


@pytest.fixture(scope="module")
def minilm():
    return load_minilm()


def test_max_length_defaults_to_128_and_cuts_long_texts_only(minilm):
    model, tok = minilm
    default = sentence_embeddings(model, tok, [LONG, SHORT])
    assert torch.allclose(default, sentence_embeddings(model, tok, [LONG, SHORT], max_length=128), atol=1e-6)
    cut = sentence_embeddings(model, tok, [LONG, SHORT], max_length=16)
    assert cut.shape == default.shape == (2, 384)
    assert torch.allclose(cut.norm(dim=1), torch.ones(2), atol=1e-5)
    assert not torch.allclose(cut[0], default[0], atol=1e-3)      # the long text was cut earlier
    # the short text (fewer than 16 word pieces) is whole either way; padding does not change it
    assert len(tok(SHORT).input_ids) < 16
    assert torch.allclose(cut[1], default[1], atol=1e-5)


def test_max_length_equals_embedding_the_first_word_pieces(minilm):
    model, tok = minilm
    pieces = tok(LONG, add_special_tokens=False).input_ids[:14]   # 14 + [CLS] + [SEP] = 16
    prefix = tok.decode(pieces)
    a = sentence_embeddings(model, tok, [LONG], max_length=16)
    b = sentence_embeddings(model, tok, [prefix])
    assert torch.allclose(a, b, atol=1e-5)


def test_max_length_too_small_is_refused(minilm):
    model, tok = minilm
    with pytest.raises(ValueError, match="max_length"):
        sentence_embeddings(model, tok, [SHORT], max_length=1)


def test_kv_cache_bytes_check(capsys):
    per_token = 2 * 30 * 3 * 64 * 4
    assert ex.check_kv_cache_bytes(lambda t: per_token * t)
    assert not ex.check_kv_cache_bytes(None)
    assert not ex.check_kv_cache_bytes(lambda t: 3 * per_token * t)          # all 9 query heads
    out = capsys.readouterr().out
    assert "key-value heads" in out and f"{per_token}" not in out.split("✘")[-1]
    assert not ex.check_kv_cache_bytes(lambda t: per_token * t // 2)         # keys only
    assert "two tensors" in capsys.readouterr().out
    assert not ex.check_kv_cache_bytes(lambda t: "many")                     # an error is a ✘, not a crash
