#!/usr/bin/env python3
"""PyTorch reference for Lazarus mixture-of-experts FFNs in a Llama-style transformer: attention,
norms and the dense path as in torch_hybrid.py (modeling_llama.py semantics); the sparse FFN as
Hugging Face's MixtralSparseMoeBlock (router `gate`, softmax over all experts in f32, top-k,
renormalised to sum 1 when norm_topk_prob, each selected expert's output weighted and summed), and
the auxiliary loss as HF's load_balancing_loss_func (router logits of every layer concatenated,
masked by the attention mask) added to the loss with router_aux_loss_coef, as
MixtralForCausalLM does. Written from those semantics, not copied.

Usage: torch_moe.py CASES_DIR (written by moe_parity_main). Compares logits, every hidden state
(kept positions), each MoE layer's router logits, the auxiliary loss, the total loss and every
parameter's gradient; exits 1 on any mismatch.

Routing is top-k, discontinuous at a near-tie: where a token's k-th and (k+1)-th router logits are
closer than the two implementations' difference on them, each may pick a different expert and
everything after differs. So the reference checks our choice instead of making its own: every
expert we picked must be, by the reference's router logits, within delta of every expert we did
not (where the reference's k-th and (k+1)-th are further apart than delta that means the same
choice), and then it routes as we did."""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_hybrid  # noqa: E402
import torch_mamba  # noqa: E402
from tolerances import EXP, gamma  # noqa: E402

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


def routing_delta(ref_logits, E):
    """How far apart, by the reference's router logits, two experts can be for ours to rank them
    the other way: our router logits are within tol = NORMALISED_TOL max(1, max |ref|) of the
    reference's (checked in run_case, as every output); we rank by f32 softmax probabilities,
    whose roundings (exp, the sum over E, the division and subtraction of the max) are relative,
    at most gamma(EXP + E + 2) each, i.e. that much in log space. If we pick e over j:
    ref_e >= ours_e - tol >= ours_j - 2 gamma - tol >= ref_j - 2 tol - 2 gamma."""
    tol = torch_mamba.NORMALISED_TOL * max(1.0, ref_logits.abs().max().item()) if ref_logits.numel() else 0.0
    return 2 * tol + 2 * gamma(EXP + E + 2)


class MoEModel(torch_hybrid.Hybrid):
    def __init__(self, cfg, params, ours_order, keep):
        super().__init__(cfg, params)
        self.router_logits = []
        self.selected = []  # the experts each MoE layer routed each token to (ours)
        self.ours_order = ours_order  # per MoE layer, our ranking of the experts (N, E)
        self.keep = keep  # (N,) the positions whose outputs are compared (not padding)
        self.routing_failures = []

    def ffn(self, x, pre, f):
        E = f.get("num_experts", 0)
        if not E:
            return super().ffn(x, pre, f)
        B, T, D = x.shape
        k = f.get("num_experts_per_tok", 2)
        h = x.reshape(-1, D)
        logits = F.linear(h, self.p[pre + "gate.weight"])
        layer = len(self.router_logits)
        self.router_logits.append(logits)
        probs = torch.softmax(logits, dim=1, dtype=torch.float)
        sel = self.ours_order[layer][:, :k]
        self.check_routing(layer, logits.detach(), sel, E)
        self.selected.append(sel)
        w = probs.gather(1, sel)
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

    def check_routing(self, layer, logits, sel, E):
        """Our choice at each kept token is a top k of the reference's router logits up to delta
        (routing_delta): min over our experts >= max over the others - delta."""
        ref = logits[self.keep].double()
        ours = sel[self.keep]
        if ref.numel() == 0 or ours.shape[1] == E:
            return
        delta = routing_delta(logits[self.keep], E)
        picked = torch.zeros_like(ref, dtype=torch.bool).scatter_(1, ours, True)
        low = ref.masked_fill(~picked, math.inf).min(1).values
        high = ref.masked_fill(picked, -math.inf).max(1).values
        bad = (low < high - delta).nonzero().flatten()
        for n in bad[:5].tolist():
            self.routing_failures.append(
                f"router {layer} kept token {n}: ours {ours[n].tolist()} (reference logits "
                f"{[round(v, 6) for v in ref[n].tolist()]}), beyond delta {delta:.3g}")


def load_balancing_loss(router_logits, selected, E, k, attention_mask):
    """HF's load_balancing_loss_func, counting the experts each token was routed to (`selected`,
    per layer: ours, checked by MoEModel.check_routing) rather than re-taking the top k."""
    logits = torch.cat(router_logits, dim=0)
    w = torch.softmax(logits, dim=-1)
    sel = torch.cat(selected, dim=0)
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
    keep = mask.bool()
    n_routers = len([k for k in t if k.startswith("out.router_order.")])
    order = [t[f"out.router_order.{i}"] for i in range(n_routers)]
    model = MoEModel(cfg, params, order, keep.reshape(-1))
    logits, hidden = model.forward(ids, mask, padded)
    if len(model.router_logits) != n_routers:
        failures.append(f"router logits: {n_routers} MoE layers vs reference {len(model.router_logits)}")
    for i in range(min(n_routers, len(model.router_logits))):
        torch_mamba.compare(f"router_logits[{i}]", t[f"out.router_logits.{i}"], model.router_logits[i], failures,
                            keep.reshape(-1))
    failures += model.routing_failures
    ce = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1),
                         ignore_index=-100)
    moe = [torch_hybrid.block_for(cfg["backbone"], l)["ffn"] for l in range(cfg["backbone"]["num_layers"])]
    moe = [f for f in moe if f.get("num_experts", 0)]
    f0 = moe[0]
    aux = load_balancing_loss(model.router_logits, model.selected, f0["num_experts"],
                              f0.get("num_experts_per_tok", 2), mask if padded else None)
    loss = ce + f0.get("router_aux_loss_coef", 0.01) * aux
    loss.backward()
    worst = torch_mamba.compare_outputs(t, logits, hidden, [("aux_loss", aux), ("loss", loss)], params, failures, keep)
    return failures, worst, f"loss {loss.item():.6f}, aux {aux.item():.6f}"


def main():
    rc = torch_mamba.run_cases(run_case, sys.argv)
    if rc == 2:
        print(__doc__)
    return rc


if __name__ == "__main__":
    sys.exit(main())
