#!/usr/bin/env python3
"""PyTorch reference for Lazarus mixture-of-experts FFNs in a Llama-style transformer: attention,
norms and the dense path as in torch_hybrid.py (modeling_llama.py semantics); the sparse FFN as
Hugging Face's MixtralSparseMoeBlock (router `gate`, softmax over all experts in f32, top-k,
renormalised to sum 1 when norm_topk_prob, each selected expert's output weighted and summed), and
the auxiliary loss as HF's load_balancing_loss_func (router logits of every layer concatenated,
masked by the attention mask) added to the loss with router_aux_loss_coef, as
MixtralForCausalLM does. Written from those semantics, not copied.

Usage: torch_moe.py CASES_DIR (written by moe_parity_main). Compares logits, every hidden state
(kept positions), the auxiliary loss, the total loss and every parameter's gradient; exits 1 on
any mismatch."""
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_hybrid  # noqa: E402
import torch_mamba  # noqa: E402

torch.set_num_threads(2)


def expected_shapes(cfg):
    s = torch_hybrid.expected_shapes(cfg)
    bb = cfg["backbone"]
    D = bb["hidden_size"]
    for l in range(bb["num_layers"]):
        b = torch_hybrid.block_for(bb, l)
        f = b.get("ffn") or {}
        E = f.get("num_experts", 0)
        if not E:
            continue
        p = f"model.layers.{l}.mlp."
        for n in ("gate_proj", "up_proj", "down_proj"):
            s.pop(p + n + ".weight", None)
        I = f["intermediate_size"]
        s[p + "gate.weight"] = (E, D)
        for e in range(E):
            q = p + f"experts.{e}."
            if f.get("type", "swiglu") != "mlp":
                s[q + "gate_proj.weight"] = (I, D)
            s[q + "up_proj.weight"] = (I, D)
            s[q + "down_proj.weight"] = (D, I)
            if f.get("bias", False):
                if f.get("type", "swiglu") != "mlp":
                    s[q + "gate_proj.bias"] = (I,)
                s[q + "up_proj.bias"] = (I,)
                s[q + "down_proj.bias"] = (D,)
    return s


class MoEModel(torch_hybrid.Hybrid):
    def __init__(self, cfg, params):
        super().__init__(cfg, params)
        self.router_logits = []

    def ffn(self, x, pre, f):
        E = f.get("num_experts", 0)
        if not E:
            return super().ffn(x, pre, f)
        B, T, D = x.shape
        k = f.get("num_experts_per_tok", 2)
        h = x.reshape(-1, D)
        logits = F.linear(h, self.p[pre + "gate.weight"])
        self.router_logits.append(logits)
        w = torch.softmax(logits, dim=1, dtype=torch.float)
        w, sel = torch.topk(w, k, dim=-1)
        if f.get("norm_topk_prob", True):
            w = w / w.sum(dim=-1, keepdim=True)
        w = w.to(h.dtype)
        out = torch.zeros_like(h)
        one_hot = F.one_hot(sel, num_classes=E).permute(2, 1, 0)  # (E, k, N)
        dense = dict(f, num_experts=0)
        for e in range(E):
            slot, tok = torch.where(one_hot[e])
            if tok.numel() == 0:
                continue
            y = super().ffn(h[tok], pre + f"experts.{e}.", dense) * w[tok, slot, None]
            out = out.index_add(0, tok, y)
        return out.reshape(B, T, D)


def load_balancing_loss(router_logits, E, k, attention_mask):
    logits = torch.cat(router_logits, dim=0)
    w = torch.softmax(logits, dim=-1)
    _, sel = torch.topk(w, k, dim=-1)
    expert_mask = F.one_hot(sel, E)  # (rows, k, E)
    if attention_mask is None:
        tokens_per_expert = expert_mask.float().mean(0)
        prob_per_expert = w.mean(0)
    else:
        B, T = attention_mask.shape
        L = logits.shape[0] // (B * T)
        m = attention_mask[None, :, :, None, None].expand(L, B, T, k, E).reshape(-1, k, E).float()
        tokens_per_expert = (expert_mask.float() * m).sum(0) / m.sum(0)
        mr = attention_mask[None, :, :, None].expand(L, B, T, E).reshape(-1, E).float()
        prob_per_expert = (w * mr).sum(0) / mr.sum(0)
    return (tokens_per_expert * prob_per_expert.unsqueeze(0)).sum() * E


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
    model = MoEModel(cfg, params)
    logits, hidden = model.forward(ids, mask, padded)
    ce = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                         ignore_index=-100)
    moe = [torch_hybrid.block_for(cfg["backbone"], l)["ffn"] for l in range(cfg["backbone"]["num_layers"])]
    moe = [f for f in moe if f.get("num_experts", 0)]
    f0 = moe[0]
    aux = load_balancing_loss(model.router_logits, f0["num_experts"], f0.get("num_experts_per_tok", 2),
                              mask if padded else None)
    loss = ce + f0.get("router_aux_loss_coef", 0.01) * aux
    loss.backward()
    keep = mask.bool()
    worst = torch_mamba.compare_outputs(t, logits, hidden, [("aux_loss", aux), ("loss", loss)], params, failures, keep)
    return failures, worst, f"loss {loss.item():.6f}, aux {aux.item():.6f}"


def main():
    rc = torch_mamba.run_cases(run_case, sys.argv)
    if rc == 2:
        print(__doc__)
    return rc


if __name__ == "__main__":
    sys.exit(main())
