"""Exercise checks for notebook 11."""
from __future__ import annotations

from typing import Callable

import torch

from ._common import (_close, _diagnosis, _gap, _not_attempted, _rounding_note, _shape_problem,
                      _verdict, exercise_check)

__all__ = ['check_state_bytes', 'check_linear_attention_recurrence', 'check_retention_recurrence']


def _state_mistakes(kind: str) -> list[tuple[Callable[[int, int, int], float], str]]:
    """Plausible wrong byte counts for ``kind`` as functions of (length, d, layers), each with
    the clause that names its mistake."""
    if kind == "lstm":
        return [(lambda n, d, L: d * L * 4, "one vector per layer: an LSTM layer keeps two, its "
                                            "hidden state and its cell state"),
                (lambda n, d, L: 2 * d * L, "numbers, not bytes: how many bytes does a float32 "
                                            "take?"),
                (lambda n, d, L: 2 * d * L * 8, "8 bytes per number is float64; the state here "
                                                "is float32"),
                (lambda n, d, L: 2 * d * 4, "every layer keeps its own state"),
                (lambda n, d, L: 2 * n * d * L * 4, "an LSTM's state does not grow with the "
                                                    "length: it is overwritten at every step"),
                (lambda n, d, L: n * d * L * 4, "an LSTM's state does not grow with the length: "
                                                "it is overwritten at every step")]
    return [(lambda n, d, L: n * d * L * 4, "keys only: the cache holds a key and a value for "
                                            "every past token"),
            (lambda n, d, L: 2 * d * L * 4, "one token's worth: the cache keeps the keys and "
                                            "values of every past token"),
            (lambda n, d, L: 2 * (n + 1) * d * L * 4, "that counts length + 1 tokens: after "
                                                      "`length` tokens the cache holds exactly "
                                                      "those"),
            (lambda n, d, L: 2 * n * d * L, "numbers, not bytes: how many bytes does a float32 "
                                            "take?"),
            (lambda n, d, L: 2 * n * d * L * 8, "8 bytes per number is float64; the cache here "
                                                "is float32"),
            (lambda n, d, L: 2 * n * d * 4, "every layer keeps its own keys and values")]


@exercise_check
def check_state_bytes(fn: Callable[[str, int, int, int], int] | None) -> bool:
    """Exercise: ``fn(kind, length, d_model, num_layers)`` returns the bytes (float32) a model
    must keep to generate the next token after ``length`` tokens: ``kind="lstm"`` (h and c per
    layer) or ``kind="transformer"`` (keys and values of every past token, per layer)."""
    if _not_attempted(fn, "write `state_bytes(kind, length, d_model, num_layers)`"):
        return False
    cases = {"lstm": [(10, 64, 1), (1000, 32, 3), (7, 768, 12)],
             "transformer": [(10, 64, 1), (500, 32, 4), (1024, 768, 12)]}
    for kind, sizes in cases.items():
        got = [fn(kind, n, d, L) for n, d, L in sizes]
        for (n, d, L), value in zip(sizes, got):
            truth = 2 * d * L * 4 if kind == "lstm" else 2 * n * d * L * 4
            if value == truth:
                continue
            hint = next((say for wrong, say in _state_mistakes(kind)
                         if all(g == wrong(*size) for g, size in zip(got, sizes))), None)
            hint = hint or ("per layer, an LSTM keeps its hidden and cell states whatever the "
                            "length" if kind == "lstm" else
                            "per layer, the cache keeps what attention reads for every past token")
            off = "too many" if value > truth else "too few"
            return _verdict(False, "", f"state_bytes({kind!r}, {n}, {d}, {L}) = {value}: {off}; "
                                       f"{hint}" + ("" if hint.endswith("?") else "."))
    return _verdict(True, "Right: the recurrence carries a constant state; the KV cache grows "
                          "with every token.", "")


@exercise_check
def check_linear_attention_recurrence(fn: Callable | None) -> bool:
    """Exercise: ``fn(q, k, v)`` computes causal linear attention (feature map φ(x) = elu(x)+1)
    as a recurrence over t with a (d, d_v) state S and a (d,) normaliser z, for ``(T, d)``
    inputs; it must equal the parallel (masked-matrix) form (float32 work passes)."""
    if _not_attempted(fn, "write `linear_attention_recurrent(q, k, v)`"):
        return False
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(12, 4, generator=g, dtype=torch.float64) for _ in range(3))
    phi = lambda x: torch.nn.functional.elu(x) + 1
    scores = (phi(q) @ phi(k).T).tril()
    truth = scores @ v / scores.sum(-1, keepdim=True)
    got = fn(q.clone(), k.clone(), v.clone())
    problem = _shape_problem(got, truth, "linear_attention_recurrent(q, k, v)")
    if problem:
        return _verdict(False, "", problem)
    gap = _gap(got, truth)
    return _verdict(_close(got, truth), "Equal to the parallel form: the same layer, trained in "
                                        "parallel and run as an RNN.",
                    f"differs from the parallel form by {gap:.3g}. " + (_rounding_note(got, gap) or
                    "Reread the recurrence in section 5: what S and z add at step t, and whether "
                    "y_t reads them before or after that update (the causal form includes token t "
                    "itself)."))


def _retention(q, k, v, gamma: float, *, decay: str = "before", read: str = "after"):
    """Retention as a recurrence in float64, or a plausible wrong version: ``decay`` "before"
    (right: S = γS + k_t v_t), "after" (S = γ(S + k_t v_t)) or "none"; ``read`` "after" (right:
    y_t reads S once token t is in) or "before"."""
    q, k, v = q.double(), k.double(), v.double()
    S = torch.zeros(q.shape[1], v.shape[1], dtype=torch.float64)
    out = []
    for t in range(q.shape[0]):
        if read == "before":
            out.append(q[t] @ S)
        kv = torch.outer(k[t], v[t])
        S = {"before": gamma * S + kv, "after": gamma * (S + kv), "none": S + kv}[decay]
        if read == "after":
            out.append(q[t] @ S)
    return torch.stack(out)


_RETENTION_MISTAKES = [
    (dict(decay="after"), "every token carries one factor of γ too many, its own step included: "
                          "D gives token t the weight γ⁰ = 1 at its own step"),
    (dict(read="before"), "y_t misses token t itself (D_tt = γ⁰ = 1): read the state after token "
                          "t is in"),
    (dict(decay="after", read="before"), "y_t misses token t itself, and the older tokens carry "
                                         "one factor of γ too many"),
    (dict(decay="none"), "older tokens do not fade: your state never multiplies by γ"),
]


@exercise_check
def check_retention_recurrence(fn: Callable | None) -> bool:
    """Exercise: ``fn(q, k, v, gamma)`` computes RetNet-style retention (linear attention with
    no feature map, no normaliser, and a decay ``0 < gamma <= 1``) one token at a time with a
    ``(d, d_v)`` state, for ``(T, d)`` queries and keys and ``(T, d_v)`` values. It must equal
    the parallel form ``(q @ k.T * D) @ v`` with the causal decay mask ``D[t, s] = gamma**(t - s)``
    for ``s <= t`` and 0 above the diagonal; the output has shape ``(T, d_v)``. The inputs are
    float64; an answer computed in float32 passes (to float32 rounding)."""
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
        got = fn(q.clone(), k.clone(), v.clone(), gamma)
        problem = _shape_problem(got, truth, f"retention_recurrent(q, k, v, gamma={gamma})")
        if problem:
            return _verdict(False, "", problem)
        if _close(got, truth):
            continue
        gap = _gap(got, truth)
        hint = _diagnosis(got, gap, _RETENTION_MISTAKES,
                          lambda **w: _retention(q, k, v, gamma, **w)) or (
            "Read the mask D: which weight does token t get at its own step, and which one step "
            "later? A state updated once per step must give both, and y_t must read it after "
            "token t is in.")
        return _verdict(False, "", f"with gamma={gamma}, differs from the parallel form by "
                                   f"{gap:.3g}: {hint}")
    return _verdict(True, "Equal to the parallel form for every γ: a decaying state, trained "
                          "in parallel and run as an RNN.", "")
