"""Reference recurrences of notebook 11's exercises, shared by their checks' tests and by the
derivations' tests (one source): linear attention and RetNet-style retention run token by token.
``q``, ``k`` ``(T, d)``, ``v`` ``(T, d_v)`` -> ``(T, d_v)``."""
import torch
import torch.nn.functional as F


def linear_attention_recurrent(q, k, v):
    """S_t = S_{t−1} + φ(k_t)v_tᵀ, z_t = z_{t−1} + φ(k_t), y_t = φ(q_t)ᵀS_t / φ(q_t)ᵀz_t, φ = elu + 1."""
    phi = lambda x: F.elu(x) + 1                                  # noqa: E731
    S = torch.zeros(q.shape[1], v.shape[1], dtype=q.dtype)
    z = torch.zeros(q.shape[1], dtype=q.dtype)
    out = []
    for t in range(q.shape[0]):
        S, z = S + torch.outer(phi(k[t]), v[t]), z + phi(k[t])
        out.append(phi(q[t]) @ S / (phi(q[t]) @ z))
    return torch.stack(out)


def retention_recurrent(q, k, v, gamma):
    """S_t = γS_{t−1} + k_t v_tᵀ, y_t = q_tᵀS_t."""
    S = torch.zeros(q.shape[1], v.shape[1], dtype=q.dtype)
    out = []
    for t in range(q.shape[0]):
        S = gamma * S + torch.outer(k[t], v[t])
        out.append(q[t] @ S)
    return torch.stack(out)
