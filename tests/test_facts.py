"""Notebook 01's likelihood test: the facts file, and candidate answers scored in packed rows equal
each prompt + answer scored alone (on a tiny random Llama; SmolLM2 itself in test_smollm2.py)."""
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from course_utils.interpret import per_token_loss
from course_utils.pretrained import answer_log_likelihoods, load_facts

FACTS = Path(__file__).resolve().parents[1] / "course_utils" / "facts.json"


class ByteTokenizer:
    """Each character is a token (id = its code point mod 250, + 1); no special tokens."""

    def __call__(self, text, add_special_tokens=True):
        return SimpleNamespace(input_ids=[1 + ord(ch) % 250 for ch in text])


@pytest.fixture(scope="module")
def tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=256, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    return LlamaForCausalLM(config).eval()


def alone(model, tok, prompt, answer):
    p, a = tok(prompt).input_ids, tok(answer).input_ids
    ids = torch.tensor([p + a])
    with torch.no_grad():
        return -per_token_loss(model(ids).logits, ids)[0, len(p) - 1:].sum().item()


def test_packed_rows_equal_each_answer_scored_alone(tiny_llama):
    tok = ByteTokenizer()
    prompts = ["The capital of France is", "Gold is", "x"]
    answers = [[" Paris", " Rome", " Oslo"], [" Au", " Ag", " Fe"], ["yz", "q", "longer answer"]]
    expected = torch.tensor([[alone(tiny_llama, tok, p, a) for a in A] for p, A in zip(prompts, answers)])
    for max_tokens in (256, 30, 1):          # one row; several rows; one prompt per row
        got = answer_log_likelihoods(tiny_llama, tok, prompts, answers, max_tokens=max_tokens)
        assert got.shape == (3, 3)
        assert torch.allclose(got, expected, atol=1e-4), (max_tokens, got - expected)
    # a different answer changes only its own entry: the answers do not see one another
    answers[0][1] = " Lima"
    changed = answer_log_likelihoods(tiny_llama, tok, prompts, answers)
    assert torch.allclose(changed[0, [0, 2]], expected[0, [0, 2]], atol=1e-4)
    assert not torch.isclose(changed[0, 1], expected[0, 1], atol=1e-3)


def test_a_repeated_prompt_is_fed_once_and_scores_as_alone(tiny_llama, monkeypatch):
    """A prompt given twice (a subject-free baseline) with other answers: one block, fed once, whose
    entries still equal each prompt + answer scored alone; answers that share tokens across the
    repeats share their prefixes."""
    tok = ByteTokenizer()
    prompts = ["This was", "Gold is", "This was", "This was"]
    answers = [[" Paris", " Rome"], [" Au", " Ag"], [" Oslo", " Rome"], [" Paris", " Lima"]]
    expected = torch.tensor([[alone(tiny_llama, tok, p, a) for a in A] for p, A in zip(prompts, answers)])
    fed = []
    decoder = tiny_llama.get_decoder()
    original = decoder.forward
    monkeypatch.setattr(decoder, "forward", lambda **kw: fed.append(kw["input_ids"].shape[1]) or original(**kw))
    got = answer_log_likelihoods(tiny_llama, tok, prompts, answers)
    assert torch.allclose(got, expected, atol=1e-4), got - expected
    prefixes = lambda rows: {a[:j] for A in rows for a in A for j in range(1, len(a))}   # noqa: E731
    fed_alone = len("This was") + len(prefixes(answers[0::2] + answers[3:])) + len("Gold is") + len(prefixes(answers[1:2]))
    assert fed == [fed_alone]           # one row: "This was" once, with the distinct prefixes of its answers


def test_bad_arguments_are_named(tiny_llama):
    tok = ByteTokenizer()
    with pytest.raises(ValueError, match="one list of answers per prompt"):
        answer_log_likelihoods(tiny_llama, tok, ["a", "b"], [[" x"]])
    with pytest.raises(ValueError, match="same number K"):
        answer_log_likelihoods(tiny_llama, tok, ["a", "b"], [[" x", " y"], [" z"]])
    with pytest.raises(ValueError, match="empty"):
        answer_log_likelihoods(tiny_llama, tok, ["a"], [[""]])


def test_facts_file_is_well_formed():
    facts = load_facts()
    assert facts == json.loads(FACTS.read_text(encoding="utf-8"))["facts"]
    assert len(facts) >= 30
    counts = {}
    for f in facts:
        counts[f["category"]] = counts.get(f["category"], 0) + 1
        candidates = [f["answer"], *f["distractors"]]
        assert len(f["distractors"]) == 4 and len(set(candidates)) == 5, f
        assert all(c.startswith(" ") and c.strip() for c in candidates), f
        assert f["subject_free"] and f["subject_free"] != f["prompt"], f
    prior = {f["category"]: f["subject_free"] for f in facts}     # one subject-free prompt per category
    assert all(f["subject_free"] == prior[f["category"]] for f in facts) and len(set(prior.values())) == 4
    assert counts == {"capital": 10, "symbol": 10, "author": 10, "year": 10}


def test_malformed_facts_are_refused(tmp_path):
    bad = tmp_path / "facts.json"
    good = {"category": "c", "prompt": "p", "answer": " a", "distractors": [" c", " b"], "tokens": 1,
            "subject_free": "q"}
    for fact in ({**good, "distractors": [" a", " b"]}, {k: v for k, v in good.items() if k != "subject_free"}):
        bad.write_text(json.dumps({"facts": [fact]}))
        with pytest.raises(ValueError, match="malformed"):
            load_facts(bad)
    bad.write_text(json.dumps({"facts": [good]}))
    assert load_facts(bad) == [good]
