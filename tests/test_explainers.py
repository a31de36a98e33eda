"""LIME, SHAP and integrated gradients through course_utils.explainers, and ERASER's scores,
on a model whose answer is known: the positive logit fires when token 5 is present."""
import pytest
import torch

from course_utils import explainers as E


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

    def forward(self, tokens):
        hit = self.embed(tokens).squeeze(-1).sum(1)          # 1 per copy of token 5
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
    """Completeness: attributions sum to logit(input) − logit(baseline); Captum's delta measures
    the gap, which is tiny for this model (linear in the embedding)."""
    scores, delta = E.integrated_gradients(OneWordModel(), TOKENS, steps=8, return_delta=True)
    assert delta.shape == (3,) and delta.abs().max() < 1e-4
    assert torch.allclose(scores.sum(1), torch.full((3,), 4.0), atol=1e-4)   # logit 4·hit, baseline 0
