"""LIME, SHAP and integrated gradients through course_utils.explainers, and ERASER's scores,
on a model whose answer is known: the positive logit fires when token 5 is present."""
import pytest
import torch

from course_utils import explainers as E
from course_utils.interpret import log_odds


class OneWordModel(torch.nn.Module):
    """Logits (B, 2) from tokens (B, T): class 1 iff token 5 is present; pads (0) ignored.
    Built from an embedding so that gradients reach the token embeddings."""
    pad_id = 0

    def __init__(self, vocab: int = 20):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, 1)
        with torch.no_grad():
            self.embed.weight.zero_()
            self.embed.weight[5] = 1.0

    def forward(self, tokens, presence=None):
        hit = self.embed(tokens).squeeze(-1)                  # 1 per copy of token 5
        hit = (hit if presence is None else hit * presence).sum(1)
        return torch.stack([-4 * hit, 4 * hit], 1)


TOKENS = torch.tensor([[7, 8, 9, 5, 10, 11, 12, 13],
                       [5, 8, 9, 6, 10, 11, 0, 0],            # padded
                       [7, 8, 9, 6, 10, 11, 12, 5]])
DECIDING = torch.tensor([3, 0, 7])


def test_ids_round_trip_and_errors():
    text = E.ids_to_text(TOKENS[1])
    assert text == "5 8 9 6 10 11 0 0"
    assert torch.equal(E.text_to_ids([text], 8), TOKENS[1:2])
    assert E.text_to_ids(["5 8"], 4).tolist() == [[5, 8, 0, 0]]
    with pytest.raises(ValueError, match="more than length"):
        E.text_to_ids(["1 2 3"], 2)
    with pytest.raises(ValueError, match="token ids"):
        E.text_to_ids(["a b"], 4)


@pytest.mark.parametrize("explain", [
    lambda m, x: E.lime_scores(m, x, num_samples=200, seed=1),
    lambda m, x: E.shap_scores(m, x, max_evals=100, seed=1),
    lambda m, x: E.integrated_gradients(m, x, steps=8),
], ids=["lime", "shap", "ig"])
def test_each_library_finds_the_deciding_token(explain):
    model = OneWordModel()
    scores = explain(model, TOKENS)
    assert scores.shape == TOKENS.shape and scores.dtype == torch.float32
    assert torch.equal(scores.argmax(1), DECIDING)
    assert (scores[1, 6:] == 0).all()                        # padding scores 0


def test_random_scores_are_seeded_and_skip_padding():
    a, b = E.random_scores(TOKENS, seed=3), E.random_scores(TOKENS, seed=3)
    assert torch.equal(a, b) and (a[1, 6:] == 0).all() and (a[0] > 0).all()


def test_comprehensiveness_and_sufficiency_separate_right_from_wrong():
    model = OneWordModel()
    right = torch.zeros(TOKENS.shape)
    right[torch.arange(3), DECIDING] = 1.0
    wrong = -right                                            # the deciding token ranked last
    p = torch.sigmoid(torch.tensor(8.0)).item()              # target-class probability with token 5
    comp_right = E.comprehensiveness(model, TOKENS, right, fractions=(0.1,))
    assert torch.allclose(comp_right, torch.full((3,), p - 0.5), atol=1e-5)
    assert torch.allclose(E.comprehensiveness(model, TOKENS, wrong, fractions=(0.1,)), torch.zeros(3), atol=1e-6)
    assert torch.allclose(E.sufficiency(model, TOKENS, right, fractions=(0.1,)), torch.zeros(3), atol=1e-6)
    assert (E.sufficiency(model, TOKENS, wrong, fractions=(0.1,)) > 0.4).all()


def test_bad_inputs_name_the_fault():
    model = OneWordModel()
    with pytest.raises(ValueError, match=r"\(B, T\) long tensor"):
        E.integrated_gradients(model, TOKENS.float())
    with pytest.raises(ValueError, match=r"scores \(3, 4\) must match tokens \(3, 8\)"):
        E.comprehensiveness(model, TOKENS, torch.zeros(3, 4))
    with pytest.raises(ValueError, match="fractions"):
        E.sufficiency(model, TOKENS, torch.zeros(3, 8), fractions=(0.0,))
    with pytest.raises(ValueError, match="num_samples"):
        E.lime_scores(model, TOKENS, num_samples=1)
    with pytest.raises(ValueError, match="NaN"):
        E.comprehensiveness(model, TOKENS, torch.full((3, 8), float("nan")))
    with pytest.raises(ValueError, match="fixed must be a bool tensor shaped like tokens"):
        E.random_scores(TOKENS, fixed=torch.zeros(3, 2, dtype=torch.bool))


@pytest.mark.parametrize("explain", [
    lambda m, x, f: E.lime_scores(m, x, num_samples=100, seed=2, fixed=f),
    lambda m, x, f: E.shap_scores(m, x, max_evals=60, seed=2, fixed=f),
    lambda m, x, f: E.integrated_gradients(m, x, steps=4, fixed=f),
    lambda m, x, f: E.random_scores(x, seed=2, fixed=f),
], ids=["lime", "shap", "ig", "random"])
def test_fixed_tokens_score_zero_and_stay(explain):
    """A fixed token (BERT's [CLS] and [SEP]) is never removed: row 1's deciding token, fixed,
    keeps the prediction in every sample, so nothing else matters; row 0's is found as before."""
    model = OneWordModel()
    fixed = torch.zeros(TOKENS.shape, dtype=torch.bool)
    fixed[1, 0] = True
    scores = explain(model, TOKENS, fixed)
    assert scores[1, 0] == 0 and (scores[1, 6:] == 0).all()
    if explain.__code__.co_names[-1] != "random_scores":
        assert scores.argmax(1)[0] == DECIDING[0]
        assert scores[1].abs().max() < 1e-3                    # nothing left that changes the output
    comp = E.comprehensiveness(model, TOKENS, torch.rand(TOKENS.shape), fractions=(1.0,), fixed=fixed)
    assert comp[1].abs() < 1e-6 and comp[0] > 0.4             # all free tokens removed: row 1 keeps token 5


def test_integrated_gradients_completeness_delta_is_small():
    """Completeness: attributions sum to F(input) − F(every scored token removed); the delta
    measures the gap, which is tiny for this model (linear in the presence gate). F is the
    predicted class's log-odds by default (here the margin 8·hit), its raw logit on request (4·hit)."""
    scores, (delta, change) = E.integrated_gradients(OneWordModel(), TOKENS, steps=8, ramp=0, return_delta=True)
    assert delta.shape == change.shape == (3,) and delta.abs().max() < 1e-4
    assert torch.allclose(change, torch.full((3,), 8.0), atol=1e-4)          # log-odds: 4·hit − (−4·hit)
    assert torch.allclose(scores.sum(1), change + delta, atol=1e-5)
    logit = E.integrated_gradients(OneWordModel(), TOKENS, steps=8, ramp=0, output="logit", return_delta=True)[1][1]
    assert torch.allclose(logit, torch.full((3,), 4.0), atol=1e-4)           # logit 4·hit, removed 0
    with pytest.raises(ValueError, match="output must be one of"):
        E.integrated_gradients(OneWordModel(), TOKENS, output="probability")


def _tiny_classifiers():
    from course_utils.models import TransformerClassifier
    from course_utils.pretrained import BertClassifier, BertEncoder

    torch.manual_seed(0)
    toy = TransformerClassifier(20, 2, d_model=16, num_heads=2, num_layers=2, pooling="cls", max_len=9).eval()
    mean = TransformerClassifier(20, 3, d_model=16, num_heads=2, num_layers=2, max_len=8).eval()
    bert = BertClassifier(BertEncoder(vocab_size=20, d_model=16, num_heads=2, num_layers=2, d_ff=32,
                                      max_len=8), 3).eval()
    for p in bert.parameters():                              # BERT's N(0, 0.02) start is nearly linear
        torch.nn.init.normal_(p, std=0.5)
    return toy, mean, bert


def test_presence_zero_removes_a_token_exactly_as_padding_does():
    fixed = torch.zeros(TOKENS.shape, dtype=torch.bool)
    fixed[:, 0] = True                                       # a mean-pooled model needs one key left
    gone = torch.zeros(TOKENS.shape, dtype=torch.bool)
    gone[:, [2, 4]] = True
    with torch.no_grad():
        for model in _tiny_classifiers():
            g = torch.ones(TOKENS.shape).masked_fill(gone, 0.0)
            torch.testing.assert_close(model(TOKENS, presence=g), model(TOKENS.masked_fill(gone, 0)))
            torch.testing.assert_close(model(TOKENS, presence=torch.ones(TOKENS.shape)), model(TOKENS))
            half = model(TOKENS, presence=torch.full(TOKENS.shape, 0.5).masked_fill(fixed, 1.0))
            assert not torch.allclose(half, model(TOKENS))   # a gate in between changes the output
    toy = _tiny_classifiers()[0]
    with pytest.raises(ValueError, match="presence must be a float tensor shaped like tokens"):
        toy(TOKENS, presence=torch.ones(3, 4))
    with pytest.raises(ValueError, match="presence removes every key"):
        _tiny_classifiers()[1](TOKENS, presence=torch.zeros(TOKENS.shape))


@pytest.mark.parametrize("which", [0, 1, 2], ids=["toy-cls", "toy-mean", "bert"])
def test_integrated_gradients_completeness_within_5_percent(which):
    """On small transformers IG over presence adds up to F(x) − F(x, scored tokens removed):
    the error is under 5 % of that change, with the default path speed, in 16 steps."""
    model = _tiny_classifiers()[which]
    fixed = torch.zeros(TOKENS.shape, dtype=torch.bool)
    fixed[:, 0] = which > 0                                  # the mean-pooled models keep one token ([CLS])
    scores, (delta, change) = E.integrated_gradients(model, TOKENS, steps=16, fixed=fixed, return_delta=True)
    with torch.no_grad():
        target = model(TOKENS).argmax(-1)
        removed = TOKENS.masked_fill((TOKENS != 0) & ~fixed, 0)
        expected = (log_odds(model(TOKENS)) - log_odds(model(removed))).gather(1, target[:, None]).squeeze(1)
    torch.testing.assert_close(change, expected, atol=1e-5, rtol=1e-4)
    assert (delta.abs() / change.abs()).max() < 0.05
    assert (scores[fixed] == 0).all() and (scores[1, 6:] == 0).all()


class _Switch(torch.nn.Module):
    """A toy classifier whose logit jumps by ``height`` where log(total presence) crosses
    ``-at``, over a stretch of about 1 / ``sharpness``."""
    pad_id = 0

    def __init__(self, height, sharpness, at, eps):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))
        self.height, self.sharpness, self.at, self.eps = height, sharpness, at, eps

    def forward(self, tokens, presence=None):
        g = torch.ones(tokens.shape) if presence is None else presence
        total = (g * (tokens != 0)).sum(1)                      # how much of the sequence is present
        logit = self.height * torch.sigmoid(self.sharpness * (torch.log(total + self.eps) + self.at)) * self.w
        return torch.stack([-logit, logit], 1)


def test_integrated_gradients_scans_for_a_sharp_switch():
    """A model whose logit jumps by 8 over a short stretch of log presence (as a trained
    classifier's decision can): evenly spaced steps miss the jump and the scores do not add up;
    with the scan (the default) they add up within 5 %."""
    switch = _Switch(8, 5, 9.3, 1e-12)
    even = E.integrated_gradients(switch, TOKENS, steps=16, scan=0, return_delta=True)[1]
    scanned = E.integrated_gradients(switch, TOKENS, steps=16, return_delta=True)[1]
    assert (even[0].abs() / even[1].abs()).max() > 0.2
    assert (scanned[0].abs() / scanned[1].abs()).max() < 0.05


def test_integrated_gradients_ramp_reaches_a_switch_near_zero_presence():
    """A trained classifier can give its deciding word an attention logit 20 or more above the
    rest, so the word still counts at presence e^-20 and F jumps between g = 0 and the first point
    of a ramp of 20: the scores miss the jump. The default ramp (40) starts below it."""
    early = _Switch(4, 3, 27, 1e-30)
    short = E.integrated_gradients(early, TOKENS, steps=16, ramp=20, return_delta=True)[1]
    default = E.integrated_gradients(early, TOKENS, steps=16, return_delta=True)[1]
    assert (short[0].abs() / short[1].abs()).min() > 0.5
    assert (default[0].abs() / default[1].abs()).max() < 0.05


def test_integrated_gradients_needs_a_presence_gate():
    class NoGate(torch.nn.Module):
        pad_id = 0

        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(20, 2)

        def forward(self, tokens):
            return self.embed(tokens).sum(1)

    with pytest.raises(ValueError, match="forward takes presence="):
        E.integrated_gradients(NoGate(), TOKENS)
    with pytest.raises(ValueError, match="ramp >= 0"):
        E.integrated_gradients(OneWordModel(), TOKENS, ramp=-1.0)


def test_paired_tests_holm_and_separated_pairs():
    g = torch.Generator().manual_seed(0)
    item = torch.randn(30, generator=g)                      # items differ far more than methods do
    scores = {"a": item + 0.5, "b": item + 0.5 + 0.01 * torch.randn(30, generator=g),
              "c": item + 0.01 * torch.randn(30, generator=g), "d": item + 0.02 * torch.randn(30, generator=g)}
    mean, se = E.paired_difference(scores["a"], scores["c"])
    assert mean == pytest.approx(0.5, abs=0.01) and se < 0.01          # unpaired s.e. would be ~0.26
    def as_sets(pairs):
        return {k: set(v) for k, v in pairs.items()}
    assert as_sets(E.separated_pairs(scores)) == {"a": {"c", "d"}, "b": {"c", "d"}}
    assert as_sets(E.separated_pairs(scores, higher_is_better=False)) == {"c": {"a", "b"}, "d": {"a", "b"}}
    assert E.separated_pairs({"a": item, "b": item}) == {}               # identical: never apart
    assert E.separated_pairs(scores, exclude=("a", "b")) == {}
    # a t-test, not "2 s.e.": with 10 items a gap of 2.1 s.e. is not significant (t_9 needs 2.26)
    d = torch.tensor([1.0, -1.0] * 5)
    x = d + 2.1 * d.std() / 10 ** 0.5
    assert 0.05 < E.paired_p_value(x, torch.zeros(10)) < 0.07
    # Holm: p = 0.01, 0.03, 0.04 → 0.01 ≤ 0.05/3 rejects, 0.03 > 0.05/2 stops
    assert E.holm({"x": 0.03, "y": 0.01, "z": 0.04}) == {"x": False, "y": True, "z": False}
    with pytest.raises(ValueError, match="alpha"):
        E.holm({"x": 0.1}, alpha=1.5)
    with pytest.raises(ValueError, match="N >= 2"):
        E.paired_difference(torch.zeros(3), torch.zeros(4))
    with pytest.raises(ValueError, match="at least two methods"):
        E.separated_pairs({"a": item})


def test_paired_table_gives_a_verdict_against_the_baseline():
    g = torch.Generator().manual_seed(1)
    item = torch.randn(20, generator=g)
    table = E.paired_table({"good": item + 0.3, "bad": item - 0.3, "same": item + 0.001 * torch.randn(20, generator=g),
                            "random": item})
    assert table["vs random"].tolist() == ["above", "below", "cannot tell", ""]
    assert table.loc["good", "minus random"] == pytest.approx(0.3) and table.loc["random", "± s.e."] == 0
    with pytest.raises(ValueError, match="baseline='none'"):
        E.paired_table({"a": item}, baseline="none")
