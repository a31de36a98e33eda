"""An attention viewer that works offline: layer and head selectors and a sentence box
(ipywidgets) above a matplotlib figure (no JavaScript from a CDN, unlike bertviz). Where no live
front end is attached (CI, the course runner, ``COURSE_STATIC=1``) it draws one static figure.

The figure is an ordinary output updated through a display handle, not drawn inside a widget: a
saved notebook keeps the last figure, so a reader who reopens it without a kernel still sees one
(the selectors then read "model not found" until the cell runs again).
"""
from __future__ import annotations

import os
from typing import Callable

import matplotlib.pyplot as plt
import numpy as np
from torch import Tensor

__all__ = ["AttentionViewer", "interactive_frontend"]


def interactive_frontend() -> bool:
    """True inside a live Jupyter or Colab front end; False under CI, the runner or scripts."""
    if os.environ.get("COURSE_STATIC") == "1" or os.environ.get("CI") or \
            os.environ.get("COURSE_CLAIMS_FILE"):
        return False
    try:
        from IPython import get_ipython

        shell = get_ipython()
    except ImportError:
        return False
    return shell is not None and type(shell).__name__ in ("ZMQInteractiveShell", "Shell")


class AttentionViewer:
    """Browse attention by layer and head for any sentence.

    ``attend(text) -> (tokens, weights (L, H, T, T))`` computes the attention of one sentence
    (for instance ``lambda s: attention_maps(model, tokenizer, s)``). The widget state lives in
    ``layer``, ``head`` and ``text`` (ipywidgets); :meth:`matrix` is what is drawn.
    """

    def __init__(self, attend: Callable[[str], tuple[list[str], Tensor]], text: str):
        import ipywidgets as w

        self._attend = attend
        tokens, weights = attend(text)
        L, H = weights.shape[:2]
        self.layer = w.Dropdown(options=list(range(L)), value=0, description="layer")
        self.head = w.Dropdown(options=["mean"] + list(range(H)), value=0, description="head")
        self.text = w.Text(value=text, description="sentence", continuous_update=False,
                           layout=w.Layout(width="95%"))
        self.hint = w.HTML("<small>Pick a layer and head with the mouse (in JupyterLab the arrow "
                           "keys move between cells); the selectors need a running kernel.</small>")
        self._handle = None  # the figure's display handle, once shown
        self._live = False   # shown as widgets (show(static=False)): selections redraw
        self._tokens, self._weights = tokens, weights
        self.text.observe(self._on_text, names="value")
        for widget in (self.layer, self.head):
            widget.observe(lambda _change: self.redraw(), names="value")
        self.widget = w.VBox([self.text, w.HBox([self.layer, self.head]), self.hint])
        self.figure = None

    def _on_text(self, change) -> None:
        self._tokens, self._weights = self._attend(change["new"])
        self.redraw()

    @property
    def tokens(self) -> list[str]:
        return list(self._tokens)

    def matrix(self) -> np.ndarray:
        """The ``(T, T)`` weights currently selected."""
        w = self._weights[self.layer.value]
        w = w.mean(0) if self.head.value == "mean" else w[self.head.value]
        return w.detach().cpu().float().numpy()

    def draw(self):
        """Draw the current selection into a new matplotlib figure and return it."""
        m, toks = self.matrix(), self.tokens
        fig, ax = plt.subplots(figsize=(0.35 * len(toks) + 2.5, 0.35 * len(toks) + 1.5))
        image = ax.imshow(m, cmap="viridis", vmin=0, vmax=max(1e-9, float(m.max())))
        ax.set_xticks(range(len(toks)), toks, rotation=90, fontsize=9)
        ax.set_yticks(range(len(toks)), toks, fontsize=9)
        ax.grid(False)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="attention weight")
        ax.set(xlabel="key (attended to)", ylabel="query",
               title=f"layer {self.layer.value}, head {self.head.value}")
        fig.tight_layout()
        self.figure = fig
        return fig

    def redraw(self) -> None:
        """Draw the selection into the figure's output (shown below the selectors)."""
        from IPython.display import display

        if not self._live:  # not shown in a live front end: show() draws the static figure
            return
        fig = self.draw()
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)
        plt.close(fig)

    def show(self, static: bool | None = None):
        """Display the widgets in a live front end, else a static figure of the selection."""
        from IPython.display import display

        if static is None:
            static = not interactive_frontend()
        if static:
            return self.draw()
        display(self.widget)
        self._live = True
        self.redraw()
        return None
