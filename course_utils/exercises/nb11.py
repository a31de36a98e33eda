"""Exercise checks for notebook 11."""
from __future__ import annotations

from typing import Callable

import torch

from ._common import _not_attempted, _verdict, exercise_check

__all__ = ['check_state_bytes', 'check_linear_attention_recurrence']


@exercise_check
def check_state_bytes(fn: Callable[[str, int, int, int], int] | None) -> bool:
    """Exercise: ``fn(kind, length, d_model, num_layers)`` returns the bytes (float32) a model
    must keep to generate the next token after ``length`` tokens: ``kind="lstm"`` (h and c per
    layer) or ``kind="transformer"`` (keys and values of every past token, per layer)."""
    if _not_attempted(fn, "write `state_bytes(kind, length, d_model, num_layers)`"):
        return False
    for kind, length, d, layers in [("lstm", 10, 64, 1), ("lstm", 1000, 32, 3),
                                    ("transformer", 10, 64, 1), ("transformer", 500, 32, 4)]:
        truth = (2 * d * layers * 4 if kind == "lstm" else 2 * length * d * layers * 4)
        got = fn(kind, length, d, layers)
        if got != truth:
            hint = ("An LSTM keeps h and c, whatever the length." if kind == "lstm" else
                    "A key and a value (each d_model floats) for every past token and layer.")
            return _verdict(False, "", f"state_bytes({kind!r}, {length}, {d}, {layers}) = {got} "
                                       f"is not right. {hint} float32 is 4 bytes.")
    return _verdict(True, "Right: the recurrence carries a constant state; the KV cache grows "
                          "with every token.", "")


@exercise_check
def check_linear_attention_recurrence(fn: Callable | None) -> bool:
    """Exercise: ``fn(q, k, v)`` computes causal linear attention (feature map φ(x) = elu(x)+1)
    as a recurrence over t with a (d, d_v) state S and a (d,) normaliser z, for ``(T, d)``
    inputs; it must equal the parallel (masked-matrix) form."""
    if _not_attempted(fn, "write `linear_attention_recurrent(q, k, v)`"):
        return False
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(12, 4, generator=g, dtype=torch.float64) for _ in range(3))
    phi = lambda x: torch.nn.functional.elu(x) + 1
    scores = (phi(q) @ phi(k).T).tril()
    truth = scores @ v / scores.sum(-1, keepdim=True)
    got = fn(q, k, v)
    if tuple(got.shape) != tuple(truth.shape):
        return _verdict(False, "", f"shape {tuple(got.shape)}, expected {tuple(truth.shape)}")
    err = float((got - truth).abs().max())
    return _verdict(err < 1e-9, "Equal to the parallel form: the same layer, trained in parallel "
                                "and run as an RNN.",
                    f"differs from the parallel form by {err:.3g}. Reread the recurrence in "
                    "section 5: what S and z add at step t, and whether y_t reads them before "
                    "or after that update (the causal form includes token t itself).")
