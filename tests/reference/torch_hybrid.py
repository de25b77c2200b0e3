#!/usr/bin/env python3
"""PyTorch reference for Lazarus hybrid backbones: the same math composed from the Llama attention
(modeling_llama.py semantics, as in torch_llama.py), the Mamba mixer (modeling_mamba.py slow path,
as in torch_mamba.py) and the hybrid combinations (add / concat / gate), laid out per layer from the
Lazarus model config alone (layout alternating / interleaved / parallel + block_overrides).

Usage: torch_hybrid.py CASES_DIR
Each case directory (written by hybrid_parity_main) holds model_config.json (the Lazarus
{"backbone": ..., "head": ...} form), manifest.json and tensors.bin. The script derives every
parameter name and shape from the config, rebuilds the model, loads the weights, runs forward with
labels and backward, and compares logits, every hidden state (kept positions only), the loss and
every parameter's gradient. Exits 1 on any mismatch."""
import math
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_llama  # noqa: E402
import torch_mamba  # noqa: E402

torch.set_num_threads(2)
ACT = torch_mamba.ACT


def block_for(bb, i):
    o = bb.get("block_overrides") or {}
    if str(i) in o:
        return o[str(i)]
    sec, layout, ratio = bb.get("secondary_block"), bb.get("layout", "none"), bb.get("layout_ratio", 1)
    if sec is not None:
        if layout == "alternating" and i % 2 == 1:
            return sec
        if layout == "interleaved" and i % (ratio + 1) == ratio:
            return sec
    return bb["block"]


def ssm_dims(ssm, D):
    I = ssm.get("intermediate_size") or ssm.get("expand", 2) * D
    R = ssm.get("time_step_rank") or math.ceil(D / 16)
    return dict(D=D, I=I, N=ssm.get("state_size", 16), K=ssm.get("conv_kernel", 4), R=R)


def expected_shapes(cfg):
    bb = cfg["backbone"]
    D, V = bb["hidden_size"], bb["embedding"]["vocab_size"]
    s = {"model.embed_tokens.weight": (V, D), "model.norm.weight": (D,)}
    for l in range(bb["num_layers"]):
        b, p = block_for(bb, l), f"model.layers.{l}."
        kind = b.get("type", "transformer")
        if kind in ("transformer", "hybrid"):
            a = b["attention"]
            H, Hkv = a["num_attention_heads"], a["num_key_value_heads"]
            Dh = a.get("head_dim") or D // H
            s[p + "input_layernorm.weight"] = (D,)
            s[p + "post_attention_layernorm.weight"] = (D,)
            for n, rows in (("q", H * Dh), ("k", Hkv * Dh), ("v", Hkv * Dh)):
                s[p + f"self_attn.{n}_proj.weight"] = (rows, D)
            s[p + "self_attn.o_proj.weight"] = (D, H * Dh)
            I = b["ffn"]["intermediate_size"]
            if b["ffn"].get("type", "swiglu") != "mlp":
                s[p + "mlp.gate_proj.weight"] = (I, D)
            s[p + "mlp.up_proj.weight"] = (I, D)
            s[p + "mlp.down_proj.weight"] = (D, I)
        if kind in ("mamba", "hybrid"):
            d = ssm_dims(b["ssm"], D)
            m = p + "mixer."
            if kind == "mamba":
                s[p + "norm.weight"] = (D,)
            s[m + "in_proj.weight"] = (2 * d["I"], D)
            if b["ssm"].get("use_bias", False):
                s[m + "in_proj.bias"] = (2 * d["I"],)
                s[m + "out_proj.bias"] = (D,)
            s[m + "conv1d.weight"] = (d["I"], 1, d["K"])
            if b["ssm"].get("use_conv_bias", True):
                s[m + "conv1d.bias"] = (d["I"],)
            s[m + "x_proj.weight"] = (d["R"] + 2 * d["N"], d["I"])
            s[m + "dt_proj.weight"] = (d["I"], d["R"])
            s[m + "dt_proj.bias"] = (d["I"],)
            s[m + "A_log"] = (d["I"], d["N"])
            s[m + "D"] = (d["I"],)
            s[m + "out_proj.weight"] = (D, d["I"])
        if kind == "hybrid" and b.get("combine") == "concat":
            s[p + "mix_proj.weight"] = (D, 2 * D)
        if kind == "hybrid" and b.get("combine") == "gate":
            s[p + "mix_gate.weight"] = (D, D)
            s[p + "mix_gate.bias"] = (D,)
    if not cfg.get("head", {}).get("tie_word_embeddings", False):
        s["lm_head.weight"] = (V, D)
    return s


class Hybrid:
    def __init__(self, cfg, params):
        self.cfg, self.bb, self.p = cfg, cfg["backbone"], params
        self.D = self.bb["hidden_size"]

    def rms(self, x, name, eps):
        xf = x.float()
        return self.p[name + ".weight"] * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps))

    def lin(self, x, name):
        return F.linear(x, self.p[name + ".weight"], self.p.get(name + ".bias"))

    def attention(self, x, pre, a, pos, mask4):
        B, T, _ = x.shape
        H, Hkv = a["num_attention_heads"], a["num_key_value_heads"]
        Dh = a.get("head_dim") or self.D // H
        rope = (a.get("position") or {}).get("rope") or {}
        assert rope.get("scaling", "none") == "none"
        theta = rope.get("theta", 10000.0)
        inv = torch_llama.base_inv_freq(theta, Dh)
        freqs = (inv[None, :, None].float() @ pos[:, None, :].float()).transpose(1, 2)
        emb = torch.cat((freqs, freqs), -1)
        cos, sin = emb.cos()[:, None], emb.sin()[:, None]
        q = self.lin(x, pre + "q_proj").view(B, T, H, Dh).transpose(1, 2)
        k = self.lin(x, pre + "k_proj").view(B, T, Hkv, Dh).transpose(1, 2)
        v = self.lin(x, pre + "v_proj").view(B, T, Hkv, Dh).transpose(1, 2)
        rh = torch_llama.rotate_half
        q, k = q * cos + rh(q) * sin, k * cos + rh(k) * sin
        k, v = k.repeat_interleave(H // Hkv, 1), v.repeat_interleave(H // Hkv, 1)
        w = torch.softmax(q @ k.transpose(2, 3) * Dh ** -0.5 + mask4, dim=-1)
        return self.lin((w @ v).transpose(1, 2).reshape(B, T, H * Dh), pre + "o_proj")

    def ffn(self, x, pre, f):
        act = ACT[f.get("activation", "silu")]
        if f.get("type", "swiglu") == "mlp":
            return self.lin(act(self.lin(x, pre + "up_proj")), pre + "down_proj")
        return self.lin(act(self.lin(x, pre + "gate_proj")) * self.lin(x, pre + "up_proj"), pre + "down_proj")

    def mixer(self, x, pre, ssm, mask):
        shim = torch_mamba.Mamba.__new__(torch_mamba.Mamba)
        shim.p, shim.d = self.p, ssm_dims(ssm, self.D)
        shim.act = ACT[ssm.get("activation", "silu")]
        return shim.mixer(x, pre, mask)

    def forward(self, ids, attention_mask, padded):
        B, T = ids.shape
        pos = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]
        allowed = (j <= i)[None, None] & (attention_mask[:, None, None, :] != 0)
        mask4 = torch.zeros(B, 1, T, T).masked_fill(~allowed, torch.finfo(torch.float32).min)
        ssm_mask = attention_mask if padded else None
        h = F.embedding(ids, self.p["model.embed_tokens.weight"])
        hidden = []
        for l in range(self.bb["num_layers"]):
            hidden.append(h)
            b, p = block_for(self.bb, l), f"model.layers.{l}."
            kind, eps = b.get("type", "transformer"), b.get("norm", {}).get("eps", 1e-6)
            if kind == "mamba":
                h = h + self.mixer(self.rms(h, p + "norm", eps), p + "mixer.", b["ssm"], ssm_mask)
                continue
            n = self.rms(h, p + "input_layernorm", eps)
            a = self.attention(n, p + "self_attn.", b["attention"], pos, mask4)
            if kind == "hybrid":
                s = self.mixer(n, p + "mixer.", b["ssm"], ssm_mask)
                c = b.get("combine", "add")
                if c == "add":
                    a = a + s
                elif c == "concat":
                    a = self.lin(torch.cat([a, s], -1), p + "mix_proj")
                else:
                    g = torch.sigmoid(self.lin(n, p + "mix_gate"))
                    a = g * a + (1 - g) * s
            h = h + a
            h = h + self.ffn(self.rms(h, p + "post_attention_layernorm", eps), p + "mlp.", b["ffn"])
        h = self.rms(h, "model.norm", self.bb.get("final_norm", {}).get("eps", 1e-6))
        hidden.append(h)
        tied = self.cfg.get("head", {}).get("tie_word_embeddings", False)
        head = self.p["model.embed_tokens.weight"] if tied else self.p["lm_head.weight"]
        return F.linear(h, head), hidden


def run_case(case_dir):
    cfg = json.load(open(os.path.join(case_dir, "model_config.json")))
    t = torch_mamba.load_tensors(case_dir)
    params = {k[len("param."):]: v.clone().requires_grad_(True) for k, v in t.items() if k.startswith("param.")}
    failures = []
    want, got = expected_shapes(cfg), {k: tuple(v.shape) for k, v in params.items()}
    for k in sorted(set(got) | set(want)):
        if got.get(k) != want.get(k):
            failures.append(f"parameter {k}: ours {got.get(k)} vs reference {want.get(k)}")
    ids, mask, labels = t["input_ids"], t["attention_mask"], t["labels"]
    padded = bool((mask == 0).any())
    logits, hidden = Hybrid(cfg, params).forward(ids, mask, padded)
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                           ignore_index=-100)
    loss.backward()
    keep = mask.bool()
    worst = torch_mamba.compare_outputs(t, logits, hidden, [("loss", loss)], params, failures, keep)
    return failures, worst, f"loss {loss.item():.6f}"


def main():
    rc = torch_mamba.run_cases(run_case, sys.argv)
    if rc == 2:
        print(__doc__)
    return rc


if __name__ == "__main__":
    sys.exit(main())
