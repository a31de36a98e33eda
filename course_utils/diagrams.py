"""Architecture figures drawn with matplotlib, in the spirit of Vaswani et al. (2017), Figure 1.

Each function draws boxes and arrows on ``ax`` (a new figure when None) and returns the axes;
every label is a text artist of the axes (``[t.get_text() for t in ax.texts]``), which is what
the tests read. The figures follow the package's models, not the paper: pre-LN blocks
(``x + f(LN(x))``) and a final LayerNorm after the last block.

* :func:`draw_encoder_classifier`: ``course_utils.models.TransformerClassifier``
  (embedding, sinusoidal positions, N pre-LN encoder blocks, final LayerNorm, mean pooling,
  linear head), the model of notebook 01;
* :func:`draw_encoder_decoder`: ``course_utils.seq2seq.TransformerSeq2Seq`` (encoder on the
  source, decoder with causal self-attention and cross-attention to the encoder's output), the
  translation model of notebook 11 (drawn there with ``scale_embeddings=True``, the "×√d" its
  code applies; notebook 01 draws it with the default, plain embeddings, as its own code has).
"""
from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

__all__ = ["draw_encoder_classifier", "draw_encoder_decoder", "draw_llama_decoder"]

COLORS = {"embed": "#f6d5d5", "attn": "#f9e3b4", "ff": "#cfe6f7", "norm": "#e6e6e6",
          "head": "#d7ecd2", "io": "white", "block": "#f4f4f4"}
BOX_W, BOX_H, STEP = 3.1, 0.5, 0.85
CHANGED = "#c0392b"     # edge of a box (kind ending in "*") that a Llama-style block changes from 01's


def _axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=size)
    elif not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes or None, got {type(ax).__name__}")
    ax.set_axis_off()
    ax.set_aspect("equal")
    return ax


def _box(ax: Axes, x: float, y: float, text: str, kind: str, w: float = BOX_W,
         fontsize: float = 8.5) -> None:
    """A rounded box centred at (x, y); a ``kind`` ending in "*" is drawn with a thick
    :data:`CHANGED` edge (a part the Llama-style block changes)."""
    changed = kind.endswith("*")
    ax.add_patch(FancyBboxPatch((x - w / 2, y - BOX_H / 2), w, BOX_H,
                                boxstyle="round,pad=0.02,rounding_size=0.12", lw=2.4 if changed else 1.0,
                                ec=CHANGED if changed else "black", fc=COLORS[kind.rstrip("*")]))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], **kw) -> None:
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=9, lw=1.0,
                                 color="black", shrinkA=0, shrinkB=0, **kw))


def _plus(ax: Axes, x: float, y: float) -> None:
    ax.add_patch(plt.Circle((x, y), 0.13, fc="white", ec="black", lw=1.0))
    ax.text(x, y, "+", ha="center", va="center", fontsize=9)


def _stack(ax: Axes, x: float, y: float, items: list[tuple[str, str]], fontsize: float = 8.5) -> float:
    """Draw ``items`` (label, kind) upwards from y with arrows between them; return the top y.
    A label "+" is a residual sum: its skip arrow starts below the previous LayerNorm."""
    prev_top, skip_from = y - STEP / 2, None
    for label, kind in items:
        if label == "+":
            _arrow(ax, (x, prev_top), (x, y - 0.13))
            _plus(ax, x, y)
            # the residual: from just below the sub-layer's LayerNorm, around it, into the sum
            sx = x - BOX_W / 2 - 0.35
            ax.plot([x, sx, sx], [skip_from, skip_from, y], color="black", lw=1.0)
            _arrow(ax, (sx, y), (x - 0.13, y))
            prev_top = y + 0.13
        else:
            if kind.rstrip("*") == "norm":  # a residual branches off just below each LayerNorm
                skip_from = y - STEP / 2 + 0.08
            _arrow(ax, (x, prev_top), (x, y - BOX_H / 2))
            _box(ax, x, y, label, kind, fontsize=fontsize)
            prev_top = y + BOX_H / 2
        y += STEP
    return prev_top


def _block_frame(ax: Axes, x: float, y0: float, y1: float, label: str) -> None:
    ax.add_patch(FancyBboxPatch((x - BOX_W / 2 - 0.6, y0), BOX_W + 1.2, y1 - y0,
                                boxstyle="round,pad=0.02,rounding_size=0.2", lw=1.0,
                                ec="gray", fc=COLORS["block"], zorder=0))
    ax.text(x + BOX_W / 2 + 0.7, (y0 + y1) / 2, label, ha="left", va="center", fontsize=9)


def _embedded_input(ax: Axes, x: float, y: float, inputs: str, embed: str,
                    positions: str = "positions (sin/cos)") -> None:
    """Input ids at ``y``, their embedding one step up, positions added one step above that."""
    ax.text(x, y, inputs, ha="center", va="center", fontsize=8.5)
    _arrow(ax, (x, y + 0.15), (x, y + STEP - BOX_H / 2))
    _box(ax, x, y + STEP, embed, "embed")
    _arrow(ax, (x, y + STEP + BOX_H / 2), (x, y + 2 * STEP - 0.13))
    _plus(ax, x, y + 2 * STEP)
    ax.text(x + 0.25, y + 2 * STEP, positions, ha="left", va="center", fontsize=9)


def _encoder_column(ax: Axes, x: float, y: float, inputs: str, embed: str,
                    attention: str = "multi-head self-attention") -> float:
    """Inputs, embedding, positions, one framed pre-LN encoder block; returns the top y."""
    _embedded_input(ax, x, y, inputs, embed)
    y_block = y + 3 * STEP
    top = _stack_from(ax, x, y + 2 * STEP + 0.13, y_block,
                      [("LayerNorm", "norm"), (attention, "attn"), ("+", ""),
                       ("LayerNorm", "norm"), ("feed-forward", "ff"), ("+", "")])
    return top


def _stack_from(ax: Axes, x: float, below: float, y: float, items: list[tuple[str, str]],
                fontsize: float = 8.5) -> float:
    """Like :func:`_stack`, first joining ``below`` (the top of what is under it) to the stack."""
    _arrow(ax, (x, below), (x, y - STEP / 2))
    return _stack(ax, x, y, items, fontsize)


def draw_encoder_classifier(ax: Axes | None = None, num_layers: str = "N×",
                            pooling: str = "mean over tokens") -> Axes:
    """Draw ``TransformerClassifier``: token ids (B, T) → embedding → + positions → N pre-LN
    encoder blocks (LayerNorm → multi-head self-attention → + residual; LayerNorm →
    feed-forward → + residual) → final LayerNorm → pooling (B, d_model) → linear head → class
    logits (B, C). Returns the axes."""
    ax = _axes(ax, (4.6, 8.2))
    x = 0.0
    y_in = 0.0
    block_y0 = y_in + 2 * STEP + 0.3
    top = _encoder_column(ax, x, y_in, "token ids (B, T)", "token embedding")
    _block_frame(ax, x, block_y0, top + 0.15, f"{num_layers}\nencoder\nblock")
    y = top + STEP
    top = _stack_from(ax, x, top, y, [("LayerNorm (final)", "norm"),
                                     (f"pooling: {pooling}", "head"),
                                     ("linear head", "head")])
    _arrow(ax, (x, top), (x, top + 0.4))
    ax.text(x, top + 0.6, "class logits (B, C)", ha="center", va="center", fontsize=8.5)
    ax.set_xlim(-2.9, 3.6)
    ax.set_ylim(-0.5, top + 0.9)
    ax.set_title("Encoder classifier (pre-LN)", fontsize=10)
    return ax


def draw_encoder_decoder(ax: Axes | None = None, num_layers: str = "N×",
                         scale_embeddings: bool = False) -> Axes:
    """Draw an encoder-decoder transformer: on the left the encoder (source ids → embedding →
    + positions → N pre-LN encoder blocks → final LayerNorm = memory), on the right the decoder
    (target ids shifted right → embedding → + positions → N pre-LN decoder blocks with
    masked (causal) self-attention, cross-attention to the memory and feed-forward → final
    LayerNorm → linear → next-token logits). ``scale_embeddings=True`` labels both embeddings
    "×√d", as ``course_utils.seq2seq.TransformerSeq2Seq`` computes them (embeddings of scale
    d^-½ times √d); the default draws plain embeddings, as notebook 01's code computes them.
    Returns the axes."""
    if not isinstance(scale_embeddings, bool):
        raise TypeError(f"scale_embeddings must be True or False, got {scale_embeddings!r}")
    scaled = " ×√d" if scale_embeddings else ""
    ax = _axes(ax, (8.4, 9.6))
    xe, xd = 0.0, 5.9
    enc_top = _encoder_column(ax, xe, 0.0, "source ids (B, S)", f"source embedding{scaled}")
    _block_frame(ax, xe, 2 * STEP + 0.3, enc_top + 0.15, f"{num_layers}\nencoder")
    y_mem = enc_top + STEP
    mem_top = _stack_from(ax, xe, enc_top, y_mem, [("LayerNorm (final)", "norm")])
    ax.text(xe, mem_top + 0.3, "memory (B, S, d)", ha="center", va="center", fontsize=8.5)

    _embedded_input(ax, xd, 0.0, "target ids, shifted right (B, T)", f"target embedding{scaled}",
                    positions="positions")
    items = [("LayerNorm", "norm"), ("masked self-attention", "attn"), ("+", ""),
             ("LayerNorm", "norm"), ("cross-attention", "attn"), ("+", ""),
             ("LayerNorm", "norm"), ("feed-forward", "ff"), ("+", "")]
    y0 = 3 * STEP
    dec_top = _stack_from(ax, xd, 2 * STEP + 0.13, y0, items)
    _block_frame(ax, xd, 2 * STEP + 0.3, dec_top + 0.15, f"{num_layers}\ndecoder")
    # memory feeds the keys and values of every decoder block's cross-attention
    y_cross = y0 + 4 * STEP
    _arrow(ax, (xe + 1.0, mem_top + 0.45), (xd - BOX_W / 2, y_cross),
           connectionstyle="arc3,rad=-0.25")
    ax.text((xe + xd) / 2 + 0.2, y_cross + 1.2, "keys, values", ha="center", fontsize=9,
            style="italic")
    top = _stack_from(ax, xd, dec_top, dec_top + STEP, [("LayerNorm (final)", "norm"),
                                                         ("linear", "head")])
    _arrow(ax, (xd, top), (xd, top + 0.4))
    ax.text(xd, top + 0.6, "next-token logits (B, T, V)", ha="center", va="center", fontsize=8.5)
    ax.set_xlim(-2.9, 9.6)
    ax.set_ylim(-0.5, top + 0.9)
    ax.set_title("Encoder-decoder transformer (pre-LN)", fontsize=10)
    return ax


def draw_llama_decoder(ax: Axes | None = None, num_layers: str = "N×") -> Axes:
    """Draw ``course_utils.models.LlamaDecoder``: token ids (B, T) → token embedding (no position
    table) → N pre-LN decoder blocks (RMSNorm → causal grouped-query attention, rotary positions
    on queries and keys → + residual; RMSNorm → SwiGLU feed-forward → + residual) → final RMSNorm
    → linear head that reuses the embedding matrix (tied) → next-token logits (B, T, V).
    The parts that differ from 01's pre-LN encoder block (RMSNorm, rotary positions,
    grouped-query attention, SwiGLU, the tied head) have a thick :data:`CHANGED` edge or text.
    Text is at least 10.5 pt on a 6.4 × 8.4 inch figure. Returns the axes."""
    ax = _axes(ax, (6.4, 8.4))
    x, fs = 0.0, 10.5
    ax.text(x, 0.0, "token ids (B, T)", ha="center", va="center", fontsize=fs)
    _arrow(ax, (x, 0.15), (x, STEP - BOX_H / 2))
    _box(ax, x, STEP, "token embedding (V × d)", "embed", fontsize=fs)
    items = [("RMSNorm", "norm*"), ("grouped-query attention", "attn*"), ("+", ""),
             ("RMSNorm", "norm*"), ("SwiGLU feed-forward", "ff*"), ("+", "")]
    y_block = 2 * STEP + 0.2
    block_top = _stack_from(ax, x, STEP + BOX_H / 2, y_block, items, fs)
    _block_frame(ax, x, y_block - STEP / 2 + 0.05, block_top + 0.15, f"{num_layers}\ndecoder\nblock")
    ax.text(x + BOX_W / 2 + 0.7, y_block + STEP, "causal; rotary\npositions on\nq and k (03)", ha="left",
            va="center", fontsize=fs, style="italic", color=CHANGED)
    top = _stack_from(ax, x, block_top, block_top + STEP, [("RMSNorm (final)", "norm*"),
                                                           ("linear head (tied)", "head*")], fs)
    _arrow(ax, (x, top), (x, top + 0.4))
    ax.text(x, top + 0.6, "next-token logits (B, T, V)", ha="center", va="center", fontsize=fs)
    # tied weights: the head's matrix is the embedding's (one V × d matrix, used twice)
    xs, y_head = x - BOX_W / 2 - 0.95, top - BOX_H / 2
    ax.plot([x - BOX_W / 2, xs, xs], [STEP, STEP, y_head], color="gray", lw=1.0, ls="--")
    ax.add_patch(FancyArrowPatch((xs, y_head), (x - BOX_W / 2, y_head), arrowstyle="-|>", mutation_scale=9,
                                 lw=1.0, color="gray", ls="--", shrinkA=0, shrinkB=0))
    ax.text(xs - 0.12, (STEP + y_head) / 2, "same matrix", rotation=90, ha="right", va="center",
            fontsize=fs, color="dimgray")
    ax.text(x, -0.55, "thick red: changed from 01's block", ha="center", va="center", fontsize=fs,
            color=CHANGED)
    ax.set_xlim(-3.4, 4.4)
    ax.set_ylim(-0.85, top + 0.9)
    for t in ax.texts:                                   # the block's label and the sums too
        t.set_fontsize(max(t.get_fontsize(), fs))
    ax.set_title("Llama-style decoder (SmolLM2's), pre-LN", fontsize=12)
    return ax
