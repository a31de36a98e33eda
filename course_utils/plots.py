"""One plotting style for the course (seaborn's whitegrid look), heatmaps of attention (seaborn)
and training curves.

seaborn is imported only when a heatmap is drawn: importing it pulls in ``scipy.stats``, about
2.4 s on a 2-core CPU, which notebooks without a heatmap need not pay. ``set_style`` sets the
same rcParams as ``sns.set_theme(style="whitegrid", context="notebook", palette="colorblind")``
(tested against seaborn itself).
"""
from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from cycler import cycler

from .training import History

__all__ = ["set_style", "heatmap", "attention_grid", "training_curves", "log_ticks",
           "plain_log_labels"]


# seaborn 0.13's whitegrid style, notebook context and colorblind palette, as rcParams.
_COLORBLIND = ["#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc", "#ca9161", "#fbafe4",
               "#949494", "#ece133", "#56b4e9"]
SEABORN_THEME = {
    "figure.facecolor": "white", "axes.labelcolor": ".15", "xtick.direction": "out",
    "ytick.direction": "out", "xtick.color": ".15", "ytick.color": ".15", "axes.axisbelow": True,
    "grid.linestyle": "-", "text.color": ".15", "font.family": ["sans-serif"],
    "font.sans-serif": ["Arial", "DejaVu Sans", "Liberation Sans", "Bitstream Vera Sans",
                        "sans-serif"],
    "lines.solid_capstyle": "round", "patch.edgecolor": "w", "patch.force_edgecolor": True,
    "xtick.top": False, "ytick.right": False, "axes.grid": True, "axes.facecolor": "white",
    "axes.edgecolor": ".8", "grid.color": ".8", "axes.spines.left": True,
    "axes.spines.bottom": True, "axes.spines.right": True, "axes.spines.top": True,
    "xtick.bottom": False, "ytick.left": False, "axes.linewidth": 1.25, "grid.linewidth": 1,
    "lines.linewidth": 1.5, "lines.markersize": 6, "patch.linewidth": 1,
    "xtick.major.width": 1.25, "ytick.major.width": 1.25, "xtick.minor.width": 1,
    "ytick.minor.width": 1, "xtick.major.size": 6, "ytick.major.size": 6, "xtick.minor.size": 4,
    "ytick.minor.size": 4, "font.size": 12, "axes.labelsize": 12, "axes.titlesize": 12,
    "xtick.labelsize": 11, "ytick.labelsize": 11, "legend.fontsize": 11,
    "legend.title_fontsize": 12, "axes.prop_cycle": cycler(color=_COLORBLIND),
}


def set_style() -> None:
    """The course's look: seaborn whitegrid, readable fonts, figures small enough for a report."""
    plt.rcParams.update(SEABORN_THEME)
    plt.rcParams.update({"figure.dpi": 90, "figure.figsize": (6.4, 4.0),
                         "axes.titleweight": "bold", "figure.autolayout": False})


def _np(x) -> np.ndarray:
    return x.detach().cpu().float().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def _ticks(labels):
    if labels is None:
        return "auto"
    return False if labels is False else list(labels)


def heatmap(matrix, *, xlabels: Sequence[str] | bool | None = None,
            ylabels: Sequence[str] | bool | None = None, title: str = "", ax=None,
            annot: bool | None = None, cmap: str = "viridis", vmin=None, vmax=None,
            xlabel: str = "", ylabel: str = "", cbar: bool = True):
    """Draw a 2-D matrix ``(rows, cols)`` as a heatmap; annotates values when it is small.

    ``xlabels``/``ylabels``: tick labels, None for automatic ticks, False for none.
    """
    m = _np(matrix)
    if m.ndim != 2:
        raise ValueError(f"heatmap needs a 2-D matrix, got shape {m.shape}")
    if ax is None:
        _, ax = plt.subplots(figsize=(min(10, 1 + 0.5 * m.shape[1]), min(8, 1 + 0.45 * m.shape[0])))
    if annot is None:
        annot = m.size <= 64
    import seaborn as sns        # late: see the module docstring

    sns.heatmap(m, ax=ax, cmap=cmap, vmin=vmin, vmax=vmax, annot=annot, fmt=".2f",
                xticklabels=_ticks(xlabels), yticklabels=_ticks(ylabels),
                square=m.shape[0] == m.shape[1] and m.shape[0] <= 40, cbar=cbar,
                annot_kws={"fontsize": 9})
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    return ax


def attention_grid(weights, tokens: Sequence[str] | None = None, *, title: str = "",
                   layer_names: Sequence[str] | None = None, size: float = 2.4, colorbar: bool = False):
    """Every layer and head: ``weights`` is a list over layers of ``(H, T, S)`` tensors (or one
    ``(L, H, T, S)`` tensor). Rows are layers, columns heads; queries down, keys across.
    ``colorbar=True`` adds a colour bar for the weight and the axis titles "query" and "key"."""
    layers = [_np(w) for w in weights]
    if any(w.ndim != 3 for w in layers):
        raise ValueError(f"each layer's weights must be (H, T, S); got {[w.shape for w in layers]}")
    L, H = len(layers), layers[0].shape[0]
    fig, axes = plt.subplots(L, H, figsize=(size * H + 0.5, size * L + 0.6), squeeze=False)
    for li, w in enumerate(layers):
        for h in range(H):
            ax = axes[li, h]
            im = ax.imshow(w[h], cmap="viridis", vmin=0, vmax=1)
            ax.grid(False)
            if tokens is not None:     # words on the outer panels only: the grid shares them
                fs = max(6.0, min(9.0, 60 * size / len(tokens)))     # 9 pt where the panel has room
                ax.set_xticks(range(len(tokens)), tokens if li == L - 1 else [], rotation=90, fontsize=fs)
                ax.set_yticks(range(len(tokens)), tokens if h == 0 else [], fontsize=fs)
            else:
                ax.set_xticks([]), ax.set_yticks([])
            if li == 0:
                ax.set_title(f"head {h}", fontsize=9)
            if h == 0:
                ax.set_ylabel(layer_names[li] if layer_names else f"layer {li}")
    fig.suptitle(title)
    if colorbar:
        fig.supxlabel("key (attended to)", fontsize=10)
        fig.supylabel("query (attending)", fontsize=10)
    if tokens is None:        # no labels to make room for: fixed spacing (tight_layout costs ~1 s on 72 panels)
        fig.subplots_adjust(left=(0.75 if colorbar else 0.4) / fig.get_figwidth(), right=0.99,
                            bottom=0.45 / fig.get_figheight() if colorbar else 0.02,
                            top=1 - 0.6 / fig.get_figheight(), wspace=0.08, hspace=0.08)
    else:
        fig.tight_layout()
    if colorbar:              # after the layout: the bar takes its room from the panels
        fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.8, pad=0.02, label="attention weight")
    return fig


def training_curves(histories: Mapping[str, History], *, metric_name: str = "accuracy",
                    title: str = ""):
    """Loss (log scale) and the evaluation metric against steps, one line per run."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.6))
    for name, h in histories.items():
        k = max(1, len(h.losses) // 100)  # smooth: mean over windows of k steps
        loss = np.convolve(h.losses, np.ones(k) / k, mode="valid")
        a1.plot(h.steps[k - 1:], loss, label=name)
        if h.eval_steps:
            a2.plot(h.eval_steps, h.eval_metrics, marker="o", ms=3, label=name)
    a1.set(yscale="log", xlabel="step", ylabel="training loss", title="loss")
    a2.set(xlabel="step", ylabel=metric_name, title=metric_name)
    a2.legend(fontsize=9)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def log_ticks(ax, values: Sequence[float], axis: str = "x") -> None:
    """On a log axis, put ticks exactly at ``values`` with plain labels (no crowded minor ones)."""
    from matplotlib.ticker import FixedLocator, NullLocator

    target = ax.xaxis if axis == "x" else ax.yaxis
    vals = sorted(values)
    # drop a tick that would crowd the next one (closer than a factor 1.6 on the log axis)
    values = [v for i, v in enumerate(vals) if i == len(vals) - 1 or vals[i + 1] / v >= 1.6]
    target.set_major_locator(FixedLocator(values))
    target.set_minor_locator(NullLocator())
    labels = [f"{v:g}" if v < 1e4 else f"{v / 1000:.0f}k" for v in values]
    (ax.set_xticklabels if axis == "x" else ax.set_yticklabels)(labels)


def plain_log_labels(ax, axis: str = "y") -> None:
    """Label a log axis with plain numbers (2.5, 3, 4) instead of ``2.5×10⁰``, minor ticks too."""
    from matplotlib.ticker import FuncFormatter

    plain = FuncFormatter(lambda v, _pos: f"{v:g}")
    target = ax.yaxis if axis == "y" else ax.xaxis
    target.set_major_formatter(plain)
    target.set_minor_formatter(plain)
