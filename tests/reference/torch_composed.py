#!/usr/bin/env python3
"""PyTorch reference for generic Lazarus models built from a Lazarus model config: any backbone
(transformer, mamba, hybrid), any position embedding (rope, learned, sinusoidal, alibi, none), any
norm (rms_norm, gemma_rms_norm, layer_norm) and any head (lm; classifier / regression with pooling
last / first / mean / max over non-padding tokens, or none = per token). Built on the compositions
of torch_hybrid.py (Llama attention, HF Mamba mixer, hybrid merges); what this file adds is written
from the papers: GPT-2's learned absolute positions, the sinusoidal table of "Attention Is All You
Need" (3.5), ALiBi (Press et al. 2022: bias m_h * (j - i) with HF build_alibi_tensor's slopes for
any head count), Gemma's RMSNorm (x / rms(x) * (1 + w) in f32), and the heads and losses
(F.cross_entropy with ignore_index, F.mse_loss).

Usage: torch_composed.py CASES_DIR
Each case directory holds model_config.json (the Lazarus {"backbone", "head"} form), optionally
case.json ({"model": "causal_lm" | "sequence_classifier" | "token_classifier"}), manifest.json and
tensors.bin. The script derives every parameter name and shape from the config, rebuilds the model,
loads the weights, runs forward with labels and backward, and compares logits, every hidden state
(kept positions only), the loss and every parameter's gradient. Exits 1 on any mismatch."""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_hybrid  # noqa: E402
import torch_llama  # noqa: E402
import torch_mamba  # noqa: E402

torch.set_num_threads(2)
block_for = torch_hybrid.block_for


def alibi_slopes(n):
    """ALiBi slopes: geometric from 2^(-8/n) for a power of two n; otherwise those of the closest
    lower power of two p followed by the odd-indexed slopes of 2p (HF build_alibi_tensor)."""
    p = 2 ** math.floor(math.log2(n))
    base = 2.0 ** (-(2.0 ** -(math.log2(p) - 3)))
    slopes = [base ** k for k in range(1, p + 1)]
    if p != n:
        extra = 2.0 ** (-(2.0 ** -(math.log2(2 * p) - 3)))
        slopes += [extra ** k for k in range(1, 1 + 2 * min(p, n - p), 2)]
    return torch.tensor(slopes, dtype=torch.float32)


def sinusoidal(pos, dim):
    """PE[p, 2i] = sin(p / 10000^(2i/d)), PE[p, 2i+1] = cos(p / 10000^(2i/d)) (float64 -> f32)."""
    k = torch.arange(dim, dtype=torch.float64)
    inv = 10000.0 ** (-(2 * (k // 2)) / dim)
    ang = pos.double()[..., None] * inv
    return torch.where(k % 2 == 0, ang.sin(), ang.cos()).float()


def input_position(bb):
    blocks = [bb["block"]] + ([bb["secondary_block"]] if bb.get("secondary_block") else [])
    blocks += list((bb.get("block_overrides") or {}).values())
    for b in blocks:
        if b.get("type", "transformer") in ("transformer", "hybrid"):
            p = (b["attention"].get("position") or {}).get("type", "rope")
            if p in ("learned", "sinusoidal"):
                return p
    return "none"


def prefix(bb):
    return "backbone" if bb.get("type", "transformer") == "mamba" else "model"


def rename(name, bb):
    """torch_hybrid's model.* names -> the backbone's checkpoint names (mamba: HF Mamba's)."""
    if prefix(bb) == "model":
        return name
    if name == "model.norm" or name.startswith("model.norm."):
        return "backbone.norm_f" + name[len("model.norm"):]
    return name.replace("model.embed_tokens", "backbone.embeddings").replace("model.layers.", "backbone.layers.")


def expected_shapes(cfg):
    bb, head = cfg["backbone"], cfg.get("head", {})
    D, V = bb["hidden_size"], bb["embedding"]["vocab_size"]
    s = {rename(k, bb): v for k, v in torch_hybrid.expected_shapes(
        dict(cfg, head={"tie_word_embeddings": True})).items()}
    if input_position(bb) == "learned":
        s["model.embed_positions.weight"] = (bb["embedding"].get("max_position_embeddings", 2048), D)
    htype = head.get("type", "lm")
    if htype == "lm":
        if not head.get("tie_word_embeddings", False):
            s["lm_head.weight"] = (V, D)
        if head.get("bias", False):
            s["lm_head.bias"] = (V,)
    else:
        out = head.get("num_labels", 2) if htype == "classifier" else head.get("num_outputs", 1)
        s["score.weight"] = (out, D)
        if head.get("bias", False):
            s["score.bias"] = (out,)
    return s


class Composed(torch_hybrid.Hybrid):
    def __init__(self, cfg, params):
        super().__init__(cfg, params)
        self.pre = prefix(self.bb)

    def name(self, n):
        return rename(n, self.bb)

    def norm(self, x, name, ncfg):
        kind, eps = ncfg.get("type", "rms_norm"), ncfg.get("eps", 1e-6)
        w = self.p[name + ".weight"]
        if kind == "layer_norm":
            return F.layer_norm(x, (x.shape[-1],), w, self.p.get(name + ".bias"), eps)
        xf = x.float()
        normed = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
        if kind == "gemma_rms_norm":
            return (normed * (1.0 + w.float())).type_as(x)
        return w * normed.type_as(x)

    def attention(self, x, pre, a, pos, mask4):
        B, T, _ = x.shape
        H, Hkv = a["num_attention_heads"], a["num_key_value_heads"]
        Dh = a.get("head_dim") or self.D // H
        kind = (a.get("position") or {}).get("type", "rope")
        q = self.lin(x, pre + "q_proj").view(B, T, H, Dh).transpose(1, 2)
        k = self.lin(x, pre + "k_proj").view(B, T, Hkv, Dh).transpose(1, 2)
        v = self.lin(x, pre + "v_proj").view(B, T, Hkv, Dh).transpose(1, 2)
        if kind == "rope":
            rope = a["position"].get("rope") or {}
            assert rope.get("scaling", "none") == "none"
            inv = torch_llama.base_inv_freq(rope.get("theta", 10000.0), Dh)
            freqs = (inv[None, :, None].float() @ pos[:, None, :].float()).transpose(1, 2)
            emb = torch.cat((freqs, freqs), -1)
            cos, sin = emb.cos()[:, None], emb.sin()[:, None]
            rh = torch_llama.rotate_half
            q, k = q * cos + rh(q) * sin, k * cos + rh(k) * sin
        k, v = k.repeat_interleave(H // Hkv, 1), v.repeat_interleave(H // Hkv, 1)
        scores = q @ k.transpose(2, 3) * Dh ** -0.5
        if kind == "alibi":
            # m_h * (j - i): keys in the past get -m_h * distance (positions count kept tokens).
            dist = (pos[:, None, :] - pos[:, :, None]).float()  # (B, Tq, Tk): j - i
            scores = scores + alibi_slopes(H)[None, :, None, None] * dist[:, None]
        i, j = torch.arange(T)[:, None], torch.arange(T)[None, :]
        allowed = j <= i
        if a.get("sliding_window"):
            allowed = allowed & (j > i - a["sliding_window"])
        scores = scores.masked_fill(~allowed[None, None], float("-inf")) + mask4
        w = torch.softmax(scores, dim=-1)
        return self.lin((w @ v).transpose(1, 2).reshape(B, T, H * Dh), pre + "o_proj")

    def backbone(self, ids, attention_mask, padded):
        B, T = ids.shape
        pos = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        keymask = attention_mask[:, None, None, :] != 0
        mask4 = torch.zeros(B, 1, 1, T).masked_fill(~keymask, torch.finfo(torch.float32).min)
        ssm_mask = attention_mask if padded else None
        h = F.embedding(ids, self.p[self.name("model.embed_tokens.weight")])
        ip = input_position(self.bb)
        if ip == "learned":
            h = h + F.embedding(pos, self.p["model.embed_positions.weight"])
        elif ip == "sinusoidal":
            h = h + sinusoidal(pos, self.D)
        mamba_stack = self.pre == "backbone"
        hidden = []
        for l in range(self.bb["num_layers"]):
            if not mamba_stack:
                hidden.append(h)
            b, p = block_for(self.bb, l), self.name(f"model.layers.{l}.")
            kind, ncfg = b.get("type", "transformer"), b.get("norm", {})
            if kind == "mamba":
                h = h + self.mixer(self.norm(h, p + "norm", ncfg), p + "mixer.", b["ssm"], ssm_mask)
            else:
                n = self.norm(h, p + "input_layernorm", ncfg)
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
                h = h + self.ffn(self.norm(h, p + "post_attention_layernorm", ncfg), p + "mlp.", b["ffn"])
            if mamba_stack:
                hidden.append(h)
        h = self.norm(h, self.name("model.norm"), self.bb.get("final_norm", {}))
        hidden.append(h)
        return h, hidden


def pool(h, mask, how):
    """(B, T, D) -> (B, D) over the kept tokens (mask 1)."""
    B, T, _ = h.shape
    idx = torch.arange(T)[None, :].expand(B, T)
    m = mask.bool()
    if how == "last":
        return h[torch.arange(B), torch.where(m, idx, -1).max(-1).values]
    if how == "first":
        return h[torch.arange(B), torch.where(m, idx, T).min(-1).values]
    if how == "mean":
        return (h * m[..., None]).sum(1) / m.sum(1, keepdim=True)
    if how == "max":
        return h.masked_fill(~m[..., None], float("-inf")).amax(1)
    raise ValueError(how)


def check_losses(t):
    """Each loss the driver computed on random inputs, against F.cross_entropy / F.mse_loss."""
    failures, worst = [], 0.0
    for name in sorted({k.rsplit(".", 1)[0] for k in t}):
        x = t[name + ".input"].clone().requires_grad_(True)
        labels = t[name + ".labels"]
        kind, _, arg = name.partition("_")
        if kind == "causal":
            eps = float(arg.split("ls")[1])
            V = x.shape[-1]
            loss = F.cross_entropy(x[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1),
                                   ignore_index=-100, label_smoothing=eps)
        elif kind in ("sequence", "token"):
            eps = float(arg[2:])
            C = x.shape[-1]
            loss = F.cross_entropy(x.reshape(-1, C), labels.reshape(-1), ignore_index=-100,
                                   label_smoothing=eps)
        else:
            loss = F.mse_loss(x, labels.reshape(x.shape))
        loss.backward()
        worst = max(worst, torch_mamba.compare(name + " loss", t[name + ".loss"], loss.reshape(1), failures))
        worst = max(worst, torch_mamba.compare(name + " grad", t[name + ".grad"], x.grad, failures))
    return failures, worst, "losses"


def run_case(case_dir):
    meta_path = os.path.join(case_dir, "case.json")
    meta = json.load(open(meta_path)) if os.path.exists(meta_path) else {}
    kind = meta.get("model", "causal_lm")
    t = torch_mamba.load_tensors(case_dir)
    if kind == "losses":
        return check_losses(t)
    cfg = json.load(open(os.path.join(case_dir, "model_config.json")))
    params = {k[len("param."):]: v.clone().requires_grad_(True) for k, v in t.items() if k.startswith("param.")}
    failures = []
    want, got = expected_shapes(cfg), {k: tuple(v.shape) for k, v in params.items()}
    for k in sorted(set(got) | set(want)):
        if got.get(k) != want.get(k):
            failures.append(f"parameter {k}: ours {got.get(k)} vs reference {want.get(k)}")
    ids, mask, labels = t["input_ids"], t["attention_mask"], t["labels"]
    padded = bool((mask == 0).any())
    model = Composed(cfg, params)
    h, hidden = model.backbone(ids, mask, padded)
    head = cfg.get("head", {})
    htype = head.get("type", "lm")
    keep = mask.bool()
    logit_keep = keep
    if htype == "lm":
        tied = head.get("tie_word_embeddings", False)
        W = params[model.name("model.embed_tokens.weight")] if tied else params["lm_head.weight"]
        logits = F.linear(h, W, params.get("lm_head.bias"))
        V = logits.shape[-1]
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1), ignore_index=-100)
    else:
        how = head.get("pooling", "last")
        feats = h if how == "none" else pool(h, mask, how)
        logits = F.linear(feats, params["score.weight"], params.get("score.bias"))
        if how != "none":
            logit_keep = None
        if htype == "classifier":
            C = logits.shape[-1]
            loss = F.cross_entropy(logits.reshape(-1, C), labels.reshape(-1), ignore_index=-100)
        else:
            # HF squeezes single-output regression: labels (B) against logits (B, 1).
            loss = F.mse_loss(logits.squeeze(-1) if logits.shape[-1] == 1 else logits, t["labels_float"])
    loss.backward()
    worst = torch_mamba.compare_outputs(t, logits, hidden, [("loss", loss)], params, failures, keep, logit_keep)
    return failures, worst, f"{kind}, loss {loss.item():.6f}"


def main():
    rc = torch_mamba.run_cases(run_case, sys.argv)
    if rc == 2:
        print(__doc__)
    return rc


if __name__ == "__main__":
    sys.exit(main())
