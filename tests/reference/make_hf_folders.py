#!/usr/bin/env python3
"""Writes tiny Llama-family models as Hugging Face model folders, from PyTorch, with our own
safetensors writer (json + raw bytes, as the format specifies; the safetensors package is not
needed): config.json, weights, generation_config.json and a real tokenizer (Mistral's
tokenizer.json, vocabulary 32000, with the Mistral-instruct tokenizer_config.json).

Usage: make_hf_folders.py OUT_DIR TESTS_DATA_DIR
Cases (one folder each under OUT_DIR/folders):
  llama_bf16_sharded  Llama with GQA, llama3 rope scaling, untied head; bf16 weights in two shards
                      with model.safetensors.index.json
  mistral_tied_f32    Mistral with a sliding window and tied embeddings; one f32 model.safetensors
                      without lm_head.weight (as transformers writes tied models)
  mamba_f32           MambaForCausalLM (HF names backbone.*, tied head), f32, one file
  qwen2_tied_f32      Qwen2.5-style (model_type qwen2, keys as the Hub's Qwen2.5 config.json: q/k/v
                      biases, use_sliding_window false, tied head), f32, with the Qwen tokenizer
                      and chat template
  qwen3_bf16          Qwen3-style (q/k norms, head_dim 32 != hidden / heads, untied head), bf16
  mixtral_f32         Mixtral (block_sparse_moe: 4 experts, top 2; HF expert names w1 / w2 / w3), f32;
                      the router weights spread wide so no routing is a near-tie
  fortunes_llama_4m   the model Lazarus ships (assets/models/fortunes-llama-4m: trained, so greedy
                      decoding is a real check), copied as it is
"""
import json
import math
import os
import shutil
import struct
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
torch.set_num_threads(2)

DTYPE_NAMES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16"}


def tensor_bytes(t):
    t = t.contiguous()
    if t.dtype in (torch.bfloat16, torch.float16):
        return t.view(torch.int16).numpy().tobytes()
    return t.numpy().tobytes()


def write_safetensors(path, tensors):
    header, blobs, at = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        t = tensors[name]
        b = tensor_bytes(t)
        header[name] = {"dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [at, at + len(b)]}
        blobs.append(b)
        at += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def llama_weights(cfg, gen):
    D, V, L, I = cfg["hidden_size"], cfg["vocab_size"], cfg["num_hidden_layers"], cfg["intermediate_size"]
    H, Hkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    Dh = cfg.get("head_dim") or D // H

    def rnd(*shape, std=0.3):
        return torch.randn(*shape, generator=gen) * std

    def norm(n):
        return 1.0 + 0.1 * torch.randn(n, generator=gen)

    qwen2, qwen3 = cfg["model_type"] == "qwen2", cfg["model_type"] == "qwen3"
    if qwen3:
        Dh = cfg.get("head_dim") or 128
    w = {"model.embed_tokens.weight": rnd(V, D, std=1.0), "model.norm.weight": norm(D)}
    for l in range(L):
        p = f"model.layers.{l}."
        w[p + "input_layernorm.weight"] = norm(D)
        w[p + "post_attention_layernorm.weight"] = norm(D)
        w[p + "self_attn.q_proj.weight"] = rnd(H * Dh, D)
        w[p + "self_attn.k_proj.weight"] = rnd(Hkv * Dh, D)
        w[p + "self_attn.v_proj.weight"] = rnd(Hkv * Dh, D)
        w[p + "self_attn.o_proj.weight"] = rnd(D, H * Dh)
        if cfg["model_type"] == "mixtral":
            moe = p + "block_sparse_moe."
            w[moe + "gate.weight"] = rnd(cfg["num_local_experts"], D, std=2.0)
            for e in range(cfg["num_local_experts"]):
                w[moe + f"experts.{e}.w1.weight"] = rnd(I, D)
                w[moe + f"experts.{e}.w3.weight"] = rnd(I, D)
                w[moe + f"experts.{e}.w2.weight"] = rnd(D, I)
        else:
            w[p + "mlp.gate_proj.weight"] = rnd(I, D)
            w[p + "mlp.up_proj.weight"] = rnd(I, D)
            w[p + "mlp.down_proj.weight"] = rnd(D, I)
        if qwen2 or cfg.get("attention_bias"):  # Qwen2: q/k/v biases always, o_proj never
            for n, width in (("q", H * Dh), ("k", Hkv * Dh), ("v", Hkv * Dh)):
                w[p + f"self_attn.{n}_proj.bias"] = rnd(width)
            if not qwen2:
                w[p + "self_attn.o_proj.bias"] = rnd(D)
        if qwen3:
            w[p + "self_attn.q_norm.weight"] = norm(Dh)
            w[p + "self_attn.k_norm.weight"] = norm(Dh)
    if not cfg["tie_word_embeddings"]:
        w["lm_head.weight"] = rnd(V, D, std=0.3)
    return w


def mamba_weights(cfg, gen):
    """HF MambaForCausalLM parameters (names and shapes from torch_mamba.expected_shapes)."""
    from torch_mamba import expected_shapes
    out = {}
    for name, shape in expected_shapes(cfg).items():
        if name.endswith("A_log"):
            I, N = shape
            out[name] = torch.log(torch.arange(1, N + 1, dtype=torch.float32)).repeat(I, 1)
        elif name.endswith("mixer.D"):
            out[name] = torch.ones(shape) + 0.1 * torch.randn(*shape, generator=gen)
        elif name.endswith("dt_proj.bias"):  # softplus^-1 of a time step in [0.001, 0.1]
            dt = torch.exp(torch.rand(*shape, generator=gen) * (math.log(0.1) - math.log(0.001))
                           + math.log(0.001))
            out[name] = dt + torch.log(-torch.expm1(-dt))
        elif "norm" in name:
            out[name] = 1.0 + 0.1 * torch.randn(*shape, generator=gen)
        elif name == "backbone.embeddings.weight":
            out[name] = torch.randn(*shape, generator=gen)
        else:
            out[name] = torch.randn(*shape, generator=gen) * 0.3
    return out


def mamba_config():
    return {
        "architectures": ["MambaForCausalLM"], "model_type": "mamba", "vocab_size": 32000,
        "hidden_size": 64, "state_size": 16, "num_hidden_layers": 2, "layer_norm_epsilon": 1e-5,
        "expand": 2, "intermediate_size": 128, "conv_kernel": 4, "use_bias": False,
        "use_conv_bias": True, "hidden_act": "silu", "time_step_rank": "auto",
        "residual_in_fp32": True, "tie_word_embeddings": True, "initializer_range": 0.1,
        "time_step_scale": 1.0, "time_step_min": 0.001, "time_step_max": 0.1,
        "time_step_init_scheme": "random", "time_step_floor": 1e-4,
        "rescale_prenorm_residual": False, "bos_token_id": 1, "eos_token_id": 2,
        "pad_token_id": 0, "use_cache": True, "transformers_version": "4.45.0",
        "torch_dtype": "float32",
    }


def base_config(**kw):
    cfg = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 32000,
        "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "hidden_act": "silu",
        "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "rope_scaling": None, "attention_bias": False, "mlp_bias": False,
        "attention_dropout": 0.0, "tie_word_embeddings": False, "initializer_range": 0.02,
        "bos_token_id": 1, "eos_token_id": 2, "pretraining_tp": 1, "use_cache": True,
        "transformers_version": "4.45.0", "torch_dtype": "float32",
    }
    cfg.update(kw)
    return cfg


def qwen_config(model_type, **kw):
    """The keys the Hub's Qwen2.5-0.5B (qwen2) / Qwen3-0.6B (qwen3) config.json files carry, at a
    tiny size."""
    cfg = {
        "architectures": ["Qwen2ForCausalLM" if model_type == "qwen2" else "Qwen3ForCausalLM"],
        "attention_dropout": 0.0, "bos_token_id": 151643, "eos_token_id": 151643,
        "hidden_act": "silu", "hidden_size": 64, "initializer_range": 0.02,
        "intermediate_size": 128, "max_position_embeddings": 128, "max_window_layers": 2,
        "model_type": model_type, "num_attention_heads": 4, "num_hidden_layers": 2,
        "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
        "sliding_window": 128, "tie_word_embeddings": True, "torch_dtype": "float32",
        "transformers_version": "4.40.1", "use_cache": True, "use_sliding_window": False,
        "vocab_size": 151936,
    }
    if model_type == "qwen3":
        cfg.update(attention_bias=False, head_dim=32, rope_scaling=None, sliding_window=None,
                   eos_token_id=151645, transformers_version="4.51.0")
    cfg.update(kw)
    return cfg


def write_folder(d, cfg, weights, shards, data_dir):
    os.makedirs(d, exist_ok=True)
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=2)
    qwen = cfg["model_type"].startswith("qwen")
    gen_cfg = ({"bos_token_id": 151643, "eos_token_id": [151645, 151643], "do_sample": True,
                "temperature": 0.6, "top_k": 20, "top_p": 0.95, "transformers_version": "4.51.0"}
               if qwen else {"bos_token_id": 1, "eos_token_id": [2], "transformers_version": "4.45.0"})
    json.dump(gen_cfg, open(os.path.join(d, "generation_config.json"), "w"), indent=2)
    if qwen:
        shutil.copy(os.path.join(data_dir, "tokenizers/qwen3/tokenizer.json"), d)
        shutil.copy(os.path.join(data_dir, "chat_templates/qwen3/tokenizer_config.json"), d)
    else:
        shutil.copy(os.path.join(data_dir, "tokenizers/mistral/tokenizer.json"), d)
        shutil.copy(os.path.join(data_dir, "chat_templates/mistral_instruct/tokenizer_config.json"), d)
    if shards == 1:
        write_safetensors(os.path.join(d, "model.safetensors"), weights)
        return
    names = sorted(weights)
    per = (len(names) + shards - 1) // shards
    weight_map, total = {}, 0
    for s in range(shards):
        part = {n: weights[n] for n in names[s * per:(s + 1) * per]}
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        write_safetensors(os.path.join(d, fname), part)
        for n, t in part.items():
            weight_map[n] = fname
            total += t.numel() * t.element_size()
    json.dump({"metadata": {"total_size": total}, "weight_map": weight_map},
              open(os.path.join(d, "model.safetensors.index.json"), "w"), indent=2)


def main():
    if len(sys.argv) != 3:
        print(__doc__)
        return 2
    out, data_dir = sys.argv[1], sys.argv[2]
    root = os.path.join(out, "folders")
    shutil.rmtree(root, ignore_errors=True)
    gen = torch.Generator().manual_seed(2024)

    cfg = base_config(
        rope_theta=500000.0, torch_dtype="bfloat16",
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 16})
    w = {k: v.to(torch.bfloat16) for k, v in llama_weights(cfg, gen).items()}
    write_folder(os.path.join(root, "llama_bf16_sharded"), cfg, w, 2, data_dir)

    cfg = base_config(architectures=["MistralForCausalLM"], model_type="mistral",
                      sliding_window=8, tie_word_embeddings=True, num_key_value_heads=1)
    write_folder(os.path.join(root, "mistral_tied_f32"), cfg, llama_weights(cfg, gen), 1, data_dir)

    cfg = mamba_config()
    write_folder(os.path.join(root, "mamba_f32"), cfg, mamba_weights(cfg, gen), 1, data_dir)

    cfg = qwen_config("qwen2")
    write_folder(os.path.join(root, "qwen2_tied_f32"), cfg, llama_weights(cfg, gen), 1, data_dir)

    cfg = qwen_config("qwen3", tie_word_embeddings=False, torch_dtype="bfloat16")
    w = {k: v.to(torch.bfloat16) for k, v in llama_weights(cfg, gen).items()}
    write_folder(os.path.join(root, "qwen3_bf16"), cfg, w, 1, data_dir)

    cfg = base_config(architectures=["MixtralForCausalLM"], model_type="mixtral",
                      num_local_experts=4, num_experts_per_tok=2, output_router_logits=False,
                      router_aux_loss_coef=0.02, router_jitter_noise=0.0, rope_theta=1000000.0)
    for k in ("attention_bias", "mlp_bias", "pretraining_tp"):
        del cfg[k]  # not MixtralConfig keys
    write_folder(os.path.join(root, "mixtral_f32"), cfg, llama_weights(cfg, gen), 1, data_dir)

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    shipped = os.path.join(repo, "assets", "models", "fortunes-llama-4m")
    dest = os.path.join(root, "fortunes_llama_4m")
    os.makedirs(dest)
    for f in ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(os.path.join(shipped, f), dest)
    print(f"wrote {sorted(os.listdir(root))} under {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
