#!/usr/bin/env python3
"""Recomputes each corpus config's parameter count from its layout, independently of Lazarus
(the module shapes of transformers' modeling_llama / modeling_mistral / modeling_qwen2 /
modeling_qwen3 / modeling_mixtral / modeling_mamba), and compares it with expected.json (the published counts).
Run: python3 count_params.py   (exit 1 on a mismatch)."""
import json, os, sys

here = os.path.dirname(os.path.abspath(__file__))

def dense(c):
    t = c["model_type"]
    D, V, L, I = c["hidden_size"], c["vocab_size"], c["num_hidden_layers"], c["intermediate_size"]
    H = c["num_attention_heads"]
    KV = c.get("num_key_value_heads") or H
    Dh = c.get("head_dim") or D // H
    qkv_bias = t == "qwen2" or c.get("attention_bias", False)  # Qwen2: q/k/v biases, no o bias
    o_bias = t != "qwen2" and c.get("attention_bias", False)
    attn = D * H * Dh + 2 * D * KV * Dh + H * Dh * D
    attn += (H * Dh + 2 * KV * Dh if qkv_bias else 0) + (D if o_bias else 0)
    if t == "qwen3":
        attn += 2 * Dh  # q_norm, k_norm over head_dim
    mlp = 3 * D * I + ((2 * I + D) if c.get("mlp_bias", False) else 0)
    if t == "mixtral":  # block_sparse_moe: the router (no bias) and num_local_experts experts
        E = c["num_local_experts"]
        mlp = D * E + E * 3 * D * I
    layer = attn + mlp + 2 * D  # input_layernorm, post_attention_layernorm
    head = 0 if c.get("tie_word_embeddings", t in ("qwen2", "qwen3")) else V * D
    return V * D + L * layer + D + head

def mamba(c):
    D, V, L, N, K = c["hidden_size"], c["vocab_size"], c["num_hidden_layers"], c["state_size"], c["conv_kernel"]
    E = c["expand"] * D
    R = c["time_step_rank"]
    b = c.get("use_bias", False)
    layer = (D * 2 * E + (2 * E if b else 0)        # in_proj
             + E * K + (E if c.get("use_conv_bias", True) else 0)  # depthwise conv1d
             + E * (R + 2 * N)                      # x_proj (no bias)
             + R * E + E                            # dt_proj (bias)
             + E * N + E                            # A_log, D
             + E * D + (D if b else 0)              # out_proj
             + D)                                   # norm
    head = 0 if c.get("tie_word_embeddings", True) else V * D
    return V * D + L * layer + D + head

expected = json.load(open(os.path.join(here, "expected.json")))
bad = 0
for name, e in expected.items():
    c = json.load(open(os.path.join(here, name)))
    n = mamba(c) if c["model_type"] == "mamba" else dense(c)
    ok = n == e["params"]
    bad += not ok
    print(f"{'ok ' if ok else 'BAD'} {name:45s} computed {n:>14,}  expected {e['params']:>14,}")
sys.exit(1 if bad else 0)
