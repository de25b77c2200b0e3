#!/usr/bin/env python3
"""PyTorch peer of bench/train_bench.cpp: the same Llama (tests/reference/torch_llama.py, HF
semantics), the same batch, loss, backward, clip_grad_norm_ and torch.optim.AdamW step; prints one
JSON line (median step time, tokens/s, peak RSS). Run through bench/train_compare.py, which sets
OPENBLAS_CORETYPE / OMP_WAIT_POLICY before torch starts."""
import argparse
import json
import os
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "reference"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import torch_llama  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    cfg = {"vocab_size": 4096, "hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 4,
           "num_attention_heads": 8, "num_key_value_heads": 8, "max_position_embeddings": 512,
           "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": False}
    D, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    shapes = {"model.embed_tokens.weight": (V, D), "model.norm.weight": (D,), "lm_head.weight": (V, D)}
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        for n in ("q_proj", "k_proj", "v_proj", "o_proj"):
            shapes[p + f"self_attn.{n}.weight"] = (D, D)
        shapes[p + "mlp.gate_proj.weight"] = (I, D)
        shapes[p + "mlp.up_proj.weight"] = (I, D)
        shapes[p + "mlp.down_proj.weight"] = (D, I)
        shapes[p + "input_layernorm.weight"] = (D,)
        shapes[p + "post_attention_layernorm.weight"] = (D,)
    params = {n: (torch.ones(s) if len(s) == 1 else torch.randn(s) * 0.02).requires_grad_(True)
              for n, s in shapes.items()}
    decay = [p for p in params.values() if p.dim() > 1]
    no_decay = [p for p in params.values() if p.dim() <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}], lr=1e-4)
    model = torch_llama.Llama(cfg, params)
    B, T = a.batch, a.seq
    mask = torch.ones(B, T, dtype=torch.int64)
    pos = torch.arange(T)[None].expand(B, T)
    times, loss = [], None
    for s in range(a.warmup + a.steps):
        ids = torch.randint(0, V, (B, T))
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        logits, _ = model.forward(ids, mask, pos)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, V).float(), ids[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(params.values()), 1.0)
        opt.step()
        dt = time.perf_counter() - t0
        if s >= a.warmup:
            times.append(dt)
    med = statistics.median(times)
    print(json.dumps({"impl": "torch " + torch.__version__, "params": sum(p.numel() for p in params.values()),
                      "batch": B, "seq": T, "threads": a.threads, "median_step_s": round(med, 6),
                      "tokens_per_s": round(B * T / med, 1),
                      "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                      "loss": round(loss.item(), 4)}))


if __name__ == "__main__":
    main()
