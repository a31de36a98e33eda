"""Exercise checks for notebook 11."""
from __future__ import annotations

from typing import Callable

import torch

from ._common import _not_attempted, _verdict, exercise_check

__all__ = ['check_state_bytes', 'check_linear_attention_recurrence', 'check_retention_recurrence']


@exercise_check
def check_state_bytes(fn: Callable[[str, int, int, int], int] | None) -> bool:
    """Exercise: ``fn(kind, length, d_model, num_layers)`` returns the bytes (float32) a model
    must keep to generate the next token after ``length`` tokens: ``kind="lstm"`` (h and c per
    layer) or ``kind="transformer"`` (keys and values of every past token, per layer)."""
    if _not_attempted(fn, "write `state_bytes(kind, length, d_model, num_layers)`"):
        return False
    for kind, length, d, layers in [("lstm", 10, 64, 1), ("lstm", 1000, 32, 3), ("lstm", 7, 768, 12),
                                    ("transformer", 10, 64, 1), ("transformer", 500, 32, 4),
                                    ("transformer", 1024, 768, 12)]:
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


@exercise_check
def check_retention_recurrence(fn: Callable | None) -> bool:
    """Exercise: ``fn(q, k, v, gamma)`` computes RetNet-style retention (linear attention with
    no feature map, no normaliser, and a decay ``0 < gamma <= 1``) one token at a time with a
    ``(d, d_v)`` state, for ``(T, d)`` queries and keys and ``(T, d_v)`` values. It must equal
    the parallel form ``(q @ k.T * D) @ v`` with the causal decay mask ``D[t, s] = gamma**(t - s)``
    for ``s <= t`` and 0 above the diagonal; the output has shape ``(T, d_v)``."""
    if _not_attempted(fn, "write `retention_recurrent(q, k, v, gamma)`"):
        return False
    g = torch.Generator().manual_seed(0)
    q, k = (torch.randn(12, 4, generator=g, dtype=torch.float64) for _ in range(2))
    v = torch.randn(12, 3, generator=g, dtype=torch.float64)
    t = torch.arange(12, dtype=torch.float64)
    for gamma in (0.9, 0.5, 1.0):
        ages = t[:, None] - t[None, :]
        mask = torch.where(ages >= 0, gamma ** ages.clamp(min=0), torch.zeros(()))
        truth = (q @ k.T * mask) @ v
        got = fn(q, k, v, gamma)
        if tuple(got.shape) != tuple(truth.shape):
            return _verdict(False, "", f"shape {tuple(got.shape)} for gamma={gamma}, expected "
                                       f"{tuple(truth.shape)}")
        err = float((got - truth).abs().max())
        if not err < 1e-9:
            return _verdict(False, "", f"with gamma={gamma}, differs from the parallel form by "
                                       f"{err:.3g}. Read the mask D: which weight does token t get "
                                       "at its own step, and which one step later? A state "
                                       "updated once per step must give both, and y_t must read it "
                                       "after token t is in.")
    return _verdict(True, "Equal to the parallel form for every γ: a decaying state, trained "
                          "in parallel and run as an RNN.", "")
