"""The architecture figures draw without error and name the parts of the models they show."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from course_utils.diagrams import draw_encoder_classifier, draw_encoder_decoder  # noqa: E402


def _labels(ax):
    return [t.get_text() for t in ax.texts]


def test_encoder_classifier_draws_every_part_of_the_classifier():
    ax = draw_encoder_classifier()
    labels = _labels(ax)
    for part in ("token embedding", "positions (sin/cos)", "multi-head self-attention",
                 "feed-forward", "LayerNorm (final)", "linear head", "class logits (B, C)"):
        assert part in labels, part
    assert labels.count("LayerNorm") == 2 and labels.count("+") == 3   # 2 residuals + positions
    assert any(t.startswith("pooling") for t in labels)
    plt.close(ax.figure)


def test_encoder_decoder_draws_cross_attention_and_causal_self_attention():
    fig, ax = plt.subplots()
    assert draw_encoder_decoder(ax) is ax
    labels = _labels(ax)
    for part in ("masked self-attention", "cross-attention", "multi-head self-attention",
                 "memory (B, S, d)", "target ids, shifted right (B, T)", "keys, values"):
        assert part in labels, part
    assert labels.count("LayerNorm") == 2 + 3          # encoder block 2, decoder block 3
    plt.close(fig)


def test_encoder_decoder_draws_the_embedding_scale_only_when_asked():
    plain, scaled = _labels(draw_encoder_decoder()), _labels(draw_encoder_decoder(scale_embeddings=True))
    assert {"source embedding", "target embedding"} <= set(plain) and not any("√d" in t for t in plain)
    assert {"source embedding ×√d", "target embedding ×√d"} <= set(scaled)
    with pytest.raises(TypeError, match="scale_embeddings"):
        draw_encoder_decoder(scale_embeddings="yes")
    plt.close("all")


def test_bad_axes_is_a_clear_error():
    with pytest.raises(TypeError, match="matplotlib Axes"):
        draw_encoder_classifier(ax="not axes")


def _count(module, kind):
    return sum(isinstance(m, kind) for m in module.modules())


def test_figures_have_as_many_norms_and_attentions_as_the_one_layer_models():
    from torch import nn

    from course_utils.attention import MultiHeadAttention
    from course_utils.models import FeedForward, TransformerClassifier
    from course_utils.seq2seq import TransformerSeq2Seq

    for draw, model in ((draw_encoder_classifier, TransformerClassifier(20, 2, num_layers=1)),
                        (draw_encoder_decoder, TransformerSeq2Seq(20, 20, num_layers=1))):
        labels = _labels(draw())
        norms = sum(t.startswith("LayerNorm") for t in labels)
        attentions = sum(t.endswith("attention") for t in labels)
        assert norms == _count(model, nn.LayerNorm), draw.__name__
        assert attentions == _count(model, MultiHeadAttention), draw.__name__
        assert labels.count("feed-forward") == _count(model, FeedForward), draw.__name__
        plt.close("all")


def test_llama_decoder_draws_the_parts_of_the_course_decoder():
    from course_utils.diagrams import draw_llama_decoder
    from course_utils.models import GroupedQueryAttention, LlamaDecoder, RMSNorm, SwiGLU

    fig, ax = plt.subplots()
    assert draw_llama_decoder(ax) is ax
    labels = _labels(ax)
    for part in ("token ids (B, T)", "grouped-query attention", "SwiGLU feed-forward", "RMSNorm (final)",
                 "linear head (tied)", "next-token logits (B, T, V)", "same matrix"):
        assert part in labels, part
    assert not any(t.startswith("LayerNorm") or "sin/cos" in t for t in labels)   # no LayerNorm, no position table
    model = LlamaDecoder(20, 8, num_layers=1, num_heads=2, num_kv_heads=1, d_ff=16)
    assert sum(t.startswith("RMSNorm") for t in labels) == _count(model, RMSNorm)
    assert labels.count("grouped-query attention") == _count(model, GroupedQueryAttention)
    assert labels.count("SwiGLU feed-forward") == _count(model, SwiGLU)
    assert labels.count("+") == 2 and any("rotary" in t for t in labels)
    # the parts changed from 01's block have the thick red edge, and only they: 3 RMSNorms, attention,
    # SwiGLU and the tied head (6 boxes), not the embedding
    from matplotlib.colors import to_rgba
    from matplotlib.patches import FancyBboxPatch
    from course_utils.diagrams import CHANGED
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    changed = [p for p in boxes if p.get_edgecolor() == to_rgba(CHANGED)]
    assert len(changed) == 6 and all(p.get_linewidth() > 2 for p in changed)
    assert len(boxes) - len(changed) == 2                  # the embedding and the block's frame
    assert all(t.get_fontsize() >= 10 for t in ax.texts)   # readable at notebook width
    plt.close(fig)
