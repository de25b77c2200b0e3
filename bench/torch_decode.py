#!/usr/bin/env python3
"""PyTorch peer of bench/decode_bench.cpp: the same model folder (default: the shipped
fortunes-llama-4m), the same prompt (ids (7 i + 3) mod V), greedy decoding with a preallocated KV
cache, in plain PyTorch with Hugging Face Llama semantics (tests/reference/torch_llama.py's rope
and rotate_half; GQA keys repeated as transformers' repeat_kv does). Prints one JSON line: the best
round's prefill and decode tokens/s and the greedy tokens. Run through bench/decode_compare.py,
which sets OPENBLAS_CORETYPE / OMP_WAIT_POLICY before torch starts."""
import argparse
import json
import os
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "reference"))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import torch_llama  # noqa: E402


def read_safetensors(path):
    """name -> tensor (f32/bf16/f16) of a .safetensors file (8-byte header length, JSON, data)."""
    blob = open(path, "rb").read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    dtypes = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}
    out = {}
    for name, m in header.items():
        if name == "__metadata__":
            continue
        a, b = m["data_offsets"]
        raw = bytearray(blob[8 + n + a:8 + n + b])
        t = torch.frombuffer(raw, dtype=dtypes[m["dtype"]]) if raw else torch.empty(0)
        out[name] = t.reshape(m["shape"]).float()
    return out


class CachedLlama:
    def __init__(self, cfg, p, max_len):
        self.cfg, self.p = cfg, p
        self.H = cfg["num_attention_heads"]
        self.Hkv = cfg.get("num_key_value_heads") or self.H
        self.D = cfg["hidden_size"]
        self.Dh = cfg.get("head_dim") or self.D // self.H
        self.eps = cfg["rms_norm_eps"]
        self.L = cfg["num_hidden_layers"]
        inv_freq, self.att_scale = torch_llama.rope_inv_freq(cfg, self.Dh, max_len)
        freqs = torch.arange(max_len).float()[:, None] * inv_freq[None, :].float()
        emb = torch.cat((freqs, freqs), dim=-1)
        self.cos, self.sin = emb.cos() * self.att_scale, emb.sin() * self.att_scale  # (max_len, Dh)
        self.k = [torch.zeros(1, self.Hkv, max_len, self.Dh) for _ in range(self.L)]
        self.v = [torch.zeros(1, self.Hkv, max_len, self.Dh) for _ in range(self.L)]
        self.head = p["lm_head.weight"] if "lm_head.weight" in p else p["model.embed_tokens.weight"]
        self.len = 0

    def rms(self, x, name):
        return self.p[name + ".weight"] * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    def lin(self, x, name):
        return F.linear(x, self.p[name + ".weight"])

    def step(self, ids):
        """ids (1, T): runs them after the cached positions; returns the last position's logits."""
        T, past = ids.shape[1], self.len
        h = F.embedding(ids, self.p["model.embed_tokens.weight"])
        cos, sin = self.cos[past:past + T], self.sin[past:past + T]
        rep = self.H // self.Hkv
        mask = None
        if T > 1:
            i = torch.arange(T)[:, None] + past
            j = torch.arange(past + T)[None, :]
            mask = torch.zeros(T, past + T).masked_fill(j > i, float("-inf"))
        for l in range(self.L):
            pre = f"model.layers.{l}."
            x = self.rms(h, pre + "input_layernorm")
            q = self.lin(x, pre + "self_attn.q_proj").view(1, T, self.H, self.Dh).transpose(1, 2)
            k = self.lin(x, pre + "self_attn.k_proj").view(1, T, self.Hkv, self.Dh).transpose(1, 2)
            v = self.lin(x, pre + "self_attn.v_proj").view(1, T, self.Hkv, self.Dh).transpose(1, 2)
            q = q * cos + torch_llama.rotate_half(q) * sin
            k = k * cos + torch_llama.rotate_half(k) * sin
            self.k[l][:, :, past:past + T] = k
            self.v[l][:, :, past:past + T] = v
            ka, va = self.k[l][:, :, :past + T], self.v[l][:, :, :past + T]
            if rep > 1:  # transformers' repeat_kv
                ka = ka[:, :, None].expand(1, self.Hkv, rep, past + T, self.Dh).reshape(1, self.H, past + T, self.Dh)
                va = va[:, :, None].expand(1, self.Hkv, rep, past + T, self.Dh).reshape(1, self.H, past + T, self.Dh)
            w = (q @ ka.transpose(2, 3)) * self.Dh ** -0.5
            if mask is not None:
                w = w + mask
            a = (torch.softmax(w, dim=-1) @ va).transpose(1, 2).reshape(1, T, self.H * self.Dh)
            h = h + self.lin(a, pre + "self_attn.o_proj")
            x = self.rms(h, pre + "post_attention_layernorm")
            h = h + self.lin(F.silu(self.lin(x, pre + "mlp.gate_proj")) * self.lin(x, pre + "mlp.up_proj"),
                             pre + "mlp.down_proj")
        self.len += T
        h = self.rms(h[:, -1:], "model.norm")
        return F.linear(h, self.head)[0, -1]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.join(HERE, "..", "assets", "models", "fortunes-llama-4m"))
    ap.add_argument("--prompt-len", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    cfg = json.load(open(os.path.join(a.model, "config.json")))
    if cfg.get("model_type") not in ("llama", "mistral") or cfg.get("hidden_act", "silu") != "silu":
        sys.exit(f"torch_decode.py: {a.model} is not a SiLU Llama")
    if cfg.get("attention_bias") or cfg.get("mlp_bias"):
        sys.exit(f"torch_decode.py: {a.model} has biases; this peer has none")
    p = read_safetensors(os.path.join(a.model, "model.safetensors"))
    V = cfg["vocab_size"]
    prompt = torch.tensor([[(7 * i + 3) % V for i in range(a.prompt_len)]])
    best_pre, best_dec, tokens = 1e30, 1e30, []
    with torch.inference_mode():
        for r in range(a.rounds + 1):  # round 0 warms up
            m = CachedLlama(cfg, p, a.prompt_len + a.new_tokens)
            t0 = time.perf_counter()
            nxt = int(torch.argmax(m.step(prompt)))
            toks = [nxt]
            t1 = time.perf_counter()
            for _ in range(a.new_tokens - 1):
                nxt = int(torch.argmax(m.step(torch.tensor([[nxt]]))))
                toks.append(nxt)
            t2 = time.perf_counter()
            if r == 0:
                continue
            best_pre, best_dec, tokens = min(best_pre, t1 - t0), min(best_dec, t2 - t1), toks
    print(json.dumps({"impl": "torch " + torch.__version__, "threads": a.threads,
                      "prompt_tokens": a.prompt_len, "new_tokens": a.new_tokens,
                      "prefill_tokens_per_s": round(a.prompt_len / best_pre, 1),
                      "decode_tokens_per_s": round((a.new_tokens - 1) / best_dec, 1), "tokens": tokens}))


if __name__ == "__main__":
    main()
