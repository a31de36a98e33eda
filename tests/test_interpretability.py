import math
import shutil

import matplotlib.pyplot as plt
import pytest
import torch

from course_utils import exercises as ex
from course_utils.data import bbc_news, read_class_folders, wikipedia_articles
from course_utils.fairness import weat
from course_utils.interpret import (attention_rollout, gradient_x_input, log_odds, occlusion,
                                    previous_token_scores, rank_correlation, rank_correlations,
                                    top1_agreement)
from course_utils.models import TransformerClassifier
from course_utils.pretrained import (attention_maps, load_minilm, load_pretrained, minilm_path,
                                     sentence_embeddings)
from course_utils.tasks import NEGATIVE, POSITIVE, signal_word_task
from course_utils.viewer import AttentionViewer, interactive_frontend


@pytest.fixture(scope="module")
def minilm():
    return load_minilm()


def test_minilm_loads_offline_with_attention(minilm, monkeypatch):
    model, tok = minilm
    a = attention_maps(model, tok, "The cat sat on the mat.")
    assert a.tokens[0] == "[CLS]" and a.tokens[-1] == "[SEP]"
    assert a.weights.shape == (6, 12, len(a.tokens), len(a.tokens))
    torch.testing.assert_close(a.weights.sum(-1), torch.ones(6, 12, len(a.tokens)), atol=1e-5, rtol=0)
    e = sentence_embeddings(model, tok, ["a dog", "a puppy", "stock markets fell"])
    torch.testing.assert_close(e.norm(dim=-1), torch.ones(3))
    assert e[0] @ e[1] > e[0] @ e[2]


def test_the_online_loading_path_on_a_local_copy(tmp_path, monkeypatch):
    """load_pretrained is what Colab calls with a hub name; here it gets a local folder of the
    same layout, with the hub forbidden."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    copy = tmp_path / "all-MiniLM-L6-v2"
    shutil.copytree(minilm_path(), copy)
    model, tok = load_pretrained(copy)
    assert model.config.num_hidden_layers == 6 and not model.training
    with pytest.raises(Exception):
        load_pretrained("no-such-user/no-such-model")       # offline: no silent download


def test_attention_maps_needs_eager_weights(minilm):
    model, tok = minilm

    class NoWeights:
        def __call__(self, **kw):
            return type("Out", (), {"attentions": (None,)})()

    with pytest.raises(RuntimeError, match="eager"):
        attention_maps(NoWeights(), tok, "hello")


def test_rollout_properties():
    eye = [torch.eye(4).expand(2, 4, 4)] * 3
    torch.testing.assert_close(attention_rollout(eye), torch.eye(4))
    g = torch.Generator().manual_seed(0)
    layers = [torch.softmax(torch.randn(2, 5, 5, generator=g), -1) for _ in range(3)]
    r = attention_rollout(layers)
    torch.testing.assert_close(r.sum(-1), torch.ones(5))
    raw = attention_rollout(layers, residual=False)
    torch.testing.assert_close(raw, layers[2].mean(0) @ layers[1].mean(0) @ layers[0].mean(0))
    with pytest.raises(ValueError, match=r"\(H, T, T\)"):
        attention_rollout([torch.rand(5, 5)])


def test_explanations_find_the_deciding_token_of_a_trained_model():
    from course_utils.training import accuracy, batches, train

    torch.manual_seed(0)
    task, pos = signal_word_task(1500, 100, seed=0, seq_len=8)
    model = TransformerClassifier(len(task.vocab), 2, d_model=64, num_heads=4, num_layers=2,
                                  pooling="cls", max_len=9)
    hist = train(model, batches(task.train_x, task.train_y, batch_size=64), steps=600, lr=3e-3,
                 eval_fn=lambda: accuracy(model, task.test_x, task.test_y), eval_every=25,
                 target=0.99, progress=False)
    assert hist.final_metric >= 0.99
    occ = occlusion(model, task.test_x)
    assert occ.shape == (100, 8) and top1_agreement(occ, pos) > 0.8
    gxi = gradient_x_input(model, task.test_x)
    assert gxi.shape == (100, 8) and all(p.grad is None for p in model.parameters())
    assert rank_correlation(torch.tensor([1, 2, 3.0]), torch.tensor([10, 20, 30.0])) == pytest.approx(1)
    with pytest.raises(ValueError, match="differ in length"):
        rank_correlation(torch.zeros(3), torch.zeros(4))


def test_weights_override_changes_attention():
    torch.manual_seed(0)
    model = TransformerClassifier(10, 2, d_model=8, num_heads=2, num_layers=1).eval()
    x = torch.randint(1, 10, (3, 6))
    base = model(x)
    model.encoder.layers[0].attn.weights_override = lambda w: torch.ones_like(w) / w.shape[-1]
    flat = model(x)
    assert torch.allclose(model.attention_weights[0], torch.full((3, 2, 6, 6), 1 / 6))
    assert not torch.allclose(base, flat)


def test_weat_detects_a_planted_association_and_not_noise():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(8, 16, generator=g), torch.randn(8, 16, generator=g)
    x = a + 0.3 * torch.randn(8, 16, generator=g)       # X built from A
    y = b + 0.3 * torch.randn(8, 16, generator=g)
    planted = weat(x, y, a, b, permutations=2000)
    assert planted.effect_size > 0.8 and planted.p_value < 0.01
    noise = weat(torch.randn(8, 16, generator=g), torch.randn(8, 16, generator=g), a, b, permutations=2000)
    assert noise.p_value > 0.01
    with pytest.raises(ValueError, match="same size"):
        weat(x[:3], y, a, b)


def test_viewer_widget_state_changes_the_figure():
    weights = torch.softmax(torch.randn(2, 3, 4, 4), -1)
    calls = []

    def attend(text):
        calls.append(text)
        return text.split(), weights[:, :, :len(text.split()), :len(text.split())]

    v = AttentionViewer(attend, "a b c d")
    before = v.matrix().copy()
    v.layer.value, v.head.value = 1, 2
    after = v.matrix()
    assert not (before == after).all()
    torch.testing.assert_close(torch.tensor(after), weights[1, 2])
    v.head.value = "mean"
    torch.testing.assert_close(torch.tensor(v.matrix()), weights[1].mean(0))
    v.text.value = "x y z"
    assert calls[-1] == "x y z" and v.tokens == ["x", "y", "z"] and v.matrix().shape == (3, 3)
    fig = v.show(static=True)
    img = fig.axes[0].images[0].get_array()
    assert img.shape == (3, 3) and torch.allclose(torch.tensor(img.data), torch.tensor(v.matrix()))
    plt.close("all")


def test_static_when_no_frontend(monkeypatch):
    monkeypatch.setenv("CI", "true")
    assert interactive_frontend() is False


def test_data_loaders(tmp_path):
    news = bbc_news()
    assert len(news) == 2225 and news.classes == ["business", "entertainment", "politics", "sports", "tech"]
    assert sorted(set(news.labels)) == [0, 1, 2, 3, 4]
    wiki = wikipedia_articles()
    assert len(wiki) > 90 and sum(map(len, wiki)) > 2_000_000 and "'''" not in wiki[0]
    (tmp_path / "b").mkdir(); (tmp_path / "a").mkdir()
    (tmp_path / "b" / "1.txt").write_text("bee"); (tmp_path / "a" / "1.txt").write_text("ant")
    local = read_class_folders(tmp_path)
    assert local.classes == ["a", "b"] and local.texts == ["ant", "bee"] and local.labels == [0, 1]
    with pytest.raises(FileNotFoundError):
        read_class_folders(tmp_path / "a")


def test_exercise_checks_07():
    assert ex.check_rollout(attention_rollout)
    assert not ex.check_rollout(lambda layers: torch.eye(5))
    assert ex.check_weat_effect(lambda x, y: ((x.mean() - y.mean()) / torch.cat([x, y]).std()).item())
    assert not ex.check_weat_effect(lambda x, y: (x.mean() - y.mean()).item())


def test_rank_correlations_match_scipy_row_by_row():
    from scipy.stats import spearmanr

    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(5, 9, generator=g), torch.rand(5, 9, generator=g)
    a[0, :3] = 0.5                                             # ties
    rows = rank_correlations(a, b)
    assert rows.shape == (5,)
    for i in range(5):
        assert rows[i].item() == pytest.approx(spearmanr(a[i], b[i]).statistic, abs=1e-9)
    assert torch.isnan(rank_correlations(torch.ones(1, 4), torch.rand(1, 4)))[0]
    with pytest.raises(ValueError, match=r"\(5, 9\) and \(5, 8\)"):
        rank_correlations(a, b[:, :8])


def test_gradient_x_input_before_a_layernorm_is_zero_and_after_it_is_not():
    """BERT's embedding LayerNorm is scale-invariant, so at its input s = word + position + type
    ∂logit/∂s · s = 0 for every token, and the word embedding's score is minus the position and
    type part: the old hook point measured nothing about the word. The default (the LayerNorm's
    output) does not vanish, and the toy TransformerClassifier's score is well defined."""
    from course_utils.pretrained import BertClassifier, BertEncoder

    torch.manual_seed(0)
    bert = BertClassifier(BertEncoder(vocab_size=30, d_model=16, num_heads=2, num_layers=2, d_ff=32,
                                      max_len=8), 3).eval()
    for p in bert.parameters():                      # BERT's N(0, 0.02) start is nearly linear
        torch.nn.init.normal_(p, std=0.5)
    x = torch.randint(1, 30, (4, 8))
    before_norm = gradient_x_input(bert, x, at=bert.encoder.norm, at_input=True)
    word = gradient_x_input(bert, x, at=bert.encoder.word)
    after_norm = gradient_x_input(bert, x)           # the default for BERT
    scale = after_norm.abs().max()
    assert before_norm.abs().max() < 1e-4 * scale and word.abs().max() > 0.1 * scale
    assert after_norm.sum(1).abs().min() > 1e-3 * scale and torch.isfinite(after_norm).all()
    toy = TransformerClassifier(30, 2, d_model=16, num_heads=2, num_layers=2, pooling="cls", max_len=9).eval()
    x[1, 6:] = 0
    toy_scores = gradient_x_input(toy, x)
    assert toy_scores.shape == (4, 8) and torch.isfinite(toy_scores).all() and (toy_scores[1, 6:] == 0).all()
    assert toy_scores.abs().sum() > 0
    with pytest.raises(ValueError, match="one vector per token"):
        gradient_x_input(bert, x, at=bert.head)


def test_log_odds_follows_the_decision_not_a_shared_shift():
    z = torch.tensor([[2.0, 0.0], [1.0, 1.0]])
    torch.testing.assert_close(log_odds(z), torch.tensor([[2.0, -2.0], [0.0, 0.0]]))   # two classes: the margin
    z3 = torch.tensor([[3.0, 0.0, -1.0], [40.0, 0.0, 0.0]])
    p = z3.softmax(-1)
    torch.testing.assert_close(log_odds(z3)[0], (p / (1 - p)).log()[0])
    assert log_odds(z3)[1, 0] == pytest.approx(40 - math.log(2))                       # no saturation at p ≈ 1
    torch.testing.assert_close(log_odds(z3 + 7.0), log_odds(z3))
    with pytest.raises(ValueError, match=r"\(B, C\) with C >= 2"):
        log_odds(torch.zeros(3))


def test_gradient_x_input_on_log_odds_ignores_what_every_class_shares():
    """Filler tokens add the same amount to both logits: the raw logit credits them, the log-odds
    (the default) gives them nothing, and the deciding token keeps its score."""
    class Shared(torch.nn.Module):
        pad_id = 0

        def __init__(self):
            super().__init__()
            self.embed = torch.nn.Embedding(10, 1)
            with torch.no_grad():
                self.embed.weight.fill_(1.0)
                self.embed.weight[5] = 3.0                     # the deciding token

        def forward(self, tokens):
            e = self.embed(tokens).squeeze(-1)                 # (B, T)
            common = e.masked_fill(tokens == 5, 0).sum(1)       # every filler raises both logits
            hit = e.masked_fill(tokens != 5, 0).sum(1)
            return torch.stack([common, common + hit], 1)

    x = torch.tensor([[1, 2, 5, 3], [4, 5, 6, 0]])
    raw, odds = gradient_x_input(Shared(), x, output="logit"), gradient_x_input(Shared(), x)
    assert raw[0, 0] == pytest.approx(1.0) and odds[0, 0] == pytest.approx(0.0)
    assert odds[0, 2] == pytest.approx(3.0) and odds.argmax(1).tolist() == [2, 1] and odds[1, 3] == 0
    with pytest.raises(ValueError, match="output must be one of"):
        gradient_x_input(Shared(), x, output="prob")


def test_signal_word_task_with_a_none_label():
    task, pos = signal_word_task(600, 300, seed=1, seq_len=8, none_share=1 / 3)
    assert task.classes == ["negative", "positive", "none"]
    sentiment = torch.tensor(task.vocab.encode(POSITIVE + NEGATIVE))
    counts = torch.isin(task.test_x, sentiment).sum(1)
    none = task.test_y == 2
    assert (counts[none] == 0).all() and (counts[~none] == 1).all() and (pos[none] == -1).all()
    assert 0.25 < none.float().mean() < 0.42
    rows = (~none).nonzero().squeeze(1)
    words = task.test_x[rows, pos[rows]]
    assert torch.equal(torch.isin(words, torch.tensor(task.vocab.encode(POSITIVE))).long(), task.test_y[rows])
    two, _ = signal_word_task(600, 300, seed=1, seq_len=8)
    assert two.classes == ["negative", "positive"] and set(two.train_y.tolist()) == {0, 1}
    with pytest.raises(ValueError, match="none_share"):
        signal_word_task(10, 10, seed=0, none_share=1.0)


def test_viewer_figure_is_a_plain_output_that_a_saved_notebook_keeps(monkeypatch):
    """The live viewer shows its figure through a display handle (kept in a saved notebook), not
    inside an Output widget (lost on reopening: 'model not found'); a new head updates it."""
    import IPython.display

    shown, updates = [], []

    class Handle:
        def update(self, obj):
            updates.append(obj)

    def fake_display(obj, display_id=False):
        shown.append(obj)
        return Handle() if display_id else None

    monkeypatch.setattr(IPython.display, "display", fake_display)
    weights = torch.softmax(torch.randn(2, 3, 4, 4), -1)
    v = AttentionViewer(lambda text: (text.split(), weights), "a b c d")
    v.head.value = 1                    # a selection before show(): nothing drawn yet
    assert shown == []
    fig = v.show(static=True)           # the static figure is returned once, not displayed too
    assert shown == [] and fig.axes[0].get_title() == "layer 0, head 1"
    v.head.value = 0
    v.show(static=False)
    controls, figure = shown
    assert type(controls).__name__ == "VBox" and type(figure).__name__ == "Figure"
    assert "Output" not in [type(c).__name__ for c in controls.children]
    assert figure.axes[0].images[0].colorbar is not None           # a colour bar gives the values
    v.head.value = 2
    assert len(updates) == 1 and updates[0].axes[0].get_title() == "layer 0, head 2"
    assert len(shown) == 2


def test_previous_token_scores_find_the_planted_head_and_reject_bad_shapes():
    T = 7
    a = torch.full((2, 3, 4, T, T), 1.0 / T)                       # (B, L, H, T, T): an even spread
    q = torch.arange(1, T)
    a[:, 2, 1] = 0.0
    a[:, 2, 1, q, q - 1] = 1.0                                     # layer 2, head 1: a previous-token head
    scores = previous_token_scores(list(a.unbind(1)))              # per-layer list, as hooks collect it
    assert scores.shape == (3, 4)
    assert scores[2, 1] == 1.0 and torch.allclose(scores[0, 0], torch.tensor(1.0 / T))
    assert torch.equal(previous_token_scores(a), scores)
    with pytest.raises(ValueError, match="T >= 3"):
        previous_token_scores(torch.ones(1, 1, 1, 2, 2))
