#!/usr/bin/env python3
"""PyTorch reference for Llama-family models, written to the semantics of Hugging Face
transformers' modeling_llama.py / modeling_rope_utils.py (our own code; transformers is not needed),
and of the Qwen family as transformers 4.57 writes it (configuration_qwen2.py / modeling_qwen2.py,
configuration_qwen3.py / modeling_qwen3.py): model_type "qwen2" has q/k/v biases and no o_proj
bias; "qwen3" has per-head RMSNorm of q and k (q_norm / k_norm over head_dim, before RoPE),
head_dim 128 unless given, and biases only with attention_bias; both use a sliding window only
with use_sliding_window, on the layers layer_types marks sliding (by default the layers from
max_window_layers on). model_type "mixtral" (configuration_mixtral.py / modeling_mixtral.py, 4.57):
the FFN is MixtralSparseMoeBlock (router `gate` without bias, softmax in f32 over every expert, the
top num_experts_per_tok renormalised to sum 1, each chosen expert w2(silu(w1 x) * w3 x) weighted
and summed); `min_router_gap` records the smallest gap between a token's k-th and (k+1)-th router
logit (and `max_router_abs` their scale), so a test can tell where routing is a near-tie.

Usage: torch_llama.py CASES_DIR
Each case directory (written by llama_parity_main) holds config.json (HF form), manifest.json and
tensors.bin. The script rebuilds the model, loads the weights, runs forward with labels and backward,
and compares logits, every hidden state (kept positions only), the loss and every parameter's
gradient. Exits 1 on any mismatch."""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tolerances import max_depth, transformer_depth  # noqa: E402

torch.set_num_threads(2)
# max |ours - torch| / max(1, max |torch|): the probabilistic bound of two f32 implementations
# (tolerances.py) for chains of up to max_depth(1e-4) = 7036 roundings; run_case checks the
# case's model is within it (the test models' chains are 1,000-3,000 long).
NORMALISED_TOL = 1e-4


def load_tensors(case_dir):
    manifest = json.load(open(os.path.join(case_dir, "manifest.json")))
    blob = open(os.path.join(case_dir, "tensors.bin"), "rb").read()
    out = {}
    for name, m in manifest.items():
        raw = blob[m["offset"]:m["offset"] + m["nbytes"]]
        dtype = torch.int64 if m["dtype"] == "i64" else torch.float32
        t = torch.frombuffer(bytearray(raw), dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(m["shape"]).clone()
    return out


# ---- rotary frequencies (modeling_rope_utils.py semantics) ----

def base_inv_freq(base, dim):
    return 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))


def rope_inv_freq(cfg, dim, seq_len):
    """(inv_freq, attention_scaling) for the config's rope_scaling."""
    base = cfg["rope_theta"]
    rs = cfg.get("rope_scaling") or {}
    kind = rs.get("rope_type", rs.get("type", "default"))
    max_pos = cfg["max_position_embeddings"]
    if kind == "default":
        return base_inv_freq(base, dim), 1.0
    factor = rs["factor"]
    if kind == "linear":
        return base_inv_freq(base, dim) / factor, 1.0
    if kind == "dynamic":
        orig = rs.get("original_max_position_embeddings") or max_pos
        L = seq_len if seq_len > orig else orig
        base = base * ((factor * L / orig) - (factor - 1)) ** (dim / (dim - 2))
        return base_inv_freq(base, dim), 1.0
    if kind == "llama3":
        inv_freq = base_inv_freq(base, dim)
        low, high = rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        low_wl, high_wl = old / low, old / high
        wavelen = 2 * math.pi / inv_freq
        scaled = torch.where(wavelen > low_wl, inv_freq / factor, inv_freq)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < high_wl) * ~(wavelen > low_wl)
        return torch.where(medium, smoothed, scaled), 1.0
    if kind == "yarn":
        orig = rs.get("original_max_position_embeddings") or max_pos
        beta_fast, beta_slow = rs.get("beta_fast", 32), rs.get("beta_slow", 1)

        def get_mscale(scale, mscale=1.0):
            return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0

        if rs.get("attention_factor") is not None:
            att = rs["attention_factor"]
        elif rs.get("mscale") and rs.get("mscale_all_dim"):
            att = get_mscale(factor, rs["mscale"]) / get_mscale(factor, rs["mscale_all_dim"])
        else:
            att = get_mscale(factor)

        def corr_dim(rot):
            return (dim * math.log(orig / (rot * 2 * math.pi))) / (2 * math.log(base))

        lo = max(math.floor(corr_dim(beta_fast)), 0)
        hi = min(math.ceil(corr_dim(beta_slow)), dim - 1)
        if lo == hi:
            hi += 0.001
        ramp = torch.clamp((torch.arange(dim // 2, dtype=torch.float32) - lo) / (hi - lo), 0, 1)
        pos_freqs = base ** (torch.arange(0, dim, 2).float() / dim)
        extra, inter = 1.0 / pos_freqs, 1.0 / (factor * pos_freqs)
        ext_factor = 1 - ramp
        return inter * (1 - ext_factor) + extra * ext_factor, att
    raise ValueError(f"unknown rope type {kind}")


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


# ---- the model ----

class Llama:
    def __init__(self, cfg, params):
        self.cfg = cfg
        self.p = params
        self.H = cfg["num_attention_heads"]
        self.Hkv = cfg.get("num_key_value_heads") or self.H
        self.D = cfg["hidden_size"]
        self.Dh = cfg.get("head_dim") or self.D // self.H
        self.eps = cfg["rms_norm_eps"]
        mt = cfg.get("model_type", "llama")
        self.qwen3 = mt == "qwen3"
        self.moe = mt == "mixtral"
        self.min_router_gap, self.max_router_abs = math.inf, 0.0
        self.router_logits, self.selected = [], []  # per MoE layer, for the load-balancing loss
        if self.qwen3:
            self.Dh = cfg.get("head_dim") or 128
        L = cfg["num_hidden_layers"]
        if mt in ("qwen2", "qwen3"):
            sw = cfg.get("sliding_window", 4096) if cfg.get("use_sliding_window", False) else None
            types = cfg.get("layer_types") or [
                "sliding_attention" if sw is not None and i >= cfg.get("max_window_layers", 28)
                else "full_attention" for i in range(L)]
            self.windows = [sw if t == "sliding_attention" else None for t in types]
        else:
            self.windows = [cfg.get("sliding_window")] * L
        act = cfg.get("hidden_act", "silu")
        self.act = {"silu": F.silu, "gelu": F.gelu, "relu": F.relu,
                    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh")}[act]

    def lin(self, x, name):
        return F.linear(x, self.p[name + ".weight"], self.p.get(name + ".bias"))

    def rms(self, x, name):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.p[name + ".weight"] * xf.to(x.dtype)

    def sparse_moe(self, x, pre):
        B, T, D = x.shape
        x2 = x.reshape(-1, D)
        router = F.linear(x2, self.p[pre + "gate.weight"])
        k = self.cfg.get("num_experts_per_tok", 2)
        top = torch.topk(router.detach().float(), min(k + 1, router.shape[-1]), dim=-1).values
        self.max_router_abs = max(self.max_router_abs, router.detach().abs().max().item())
        if top.shape[-1] > k:
            self.min_router_gap = min(self.min_router_gap, (top[:, k - 1] - top[:, k]).min().item())
        probs = torch.softmax(router, dim=-1, dtype=torch.float32)
        w, sel = torch.topk(probs, k, dim=-1)
        self.router_logits.append(router)
        self.selected.append(sel)
        w = (w / w.sum(dim=-1, keepdim=True)).to(x.dtype)
        out = torch.zeros_like(x2)
        for e in range(router.shape[-1]):
            rows, slot = torch.where(sel == e)
            if rows.numel() == 0:
                continue
            xe, ep = x2[rows], f"{pre}experts.{e}."
            ye = self.lin(self.act(self.lin(xe, ep + "w1")) * self.lin(xe, ep + "w3"), ep + "w2")
            out = out.index_add(0, rows, ye * w[rows, slot, None])
        return out.view(B, T, D)

    def forward(self, ids, attention_mask, position_ids):
        B, T = ids.shape
        # HF LlamaModel: nn.Embedding(vocab, hidden, padding_idx=pad_token_id).
        h = F.embedding(ids, self.p["model.embed_tokens.weight"], padding_idx=self.cfg.get("pad_token_id"))
        seq_len = int(position_ids.max()) + 1
        inv_freq, att_scale = rope_inv_freq(self.cfg, self.Dh, seq_len)
        freqs = (inv_freq[None, :, None].float() @ position_ids[:, None, :].float()).transpose(1, 2)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = (emb.cos() * att_scale)[:, None], (emb.sin() * att_scale)[:, None]  # (B, 1, T, Dh)

        # 4-D additive mask per layer: causal, the layer's sliding window, padding keys.
        i = torch.arange(T)[:, None]
        j = torch.arange(T)[None, :]

        def make_mask(window):
            allowed = j <= i
            if window:
                allowed = allowed & (i - j < window)
            allowed = allowed[None, None] & (attention_mask[:, None, None, :] != 0)
            return torch.zeros(B, 1, T, T).masked_fill(~allowed, torch.finfo(torch.float32).min)

        hidden = []
        for l in range(self.cfg["num_hidden_layers"]):
            hidden.append(h)
            pre = f"model.layers.{l}."
            x = self.rms(h, pre + "input_layernorm")
            mask = make_mask(self.windows[l])
            q = self.lin(x, pre + "self_attn.q_proj").view(B, T, self.H, self.Dh)
            k = self.lin(x, pre + "self_attn.k_proj").view(B, T, self.Hkv, self.Dh)
            if self.qwen3:  # Qwen3Attention: q_norm / k_norm over head_dim, before RoPE
                q = self.rms(q, pre + "self_attn.q_norm")
                k = self.rms(k, pre + "self_attn.k_norm")
            q, k = q.transpose(1, 2), k.transpose(1, 2)
            v = self.lin(x, pre + "self_attn.v_proj").view(B, T, self.Hkv, self.Dh).transpose(1, 2)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            rep = self.H // self.Hkv
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
            w = q @ k.transpose(2, 3) * self.Dh ** -0.5 + mask
            w = torch.softmax(w, dim=-1, dtype=torch.float32).to(q.dtype)
            a = (w @ v).transpose(1, 2).reshape(B, T, self.H * self.Dh)
            h = h + self.lin(a, pre + "self_attn.o_proj")
            x = self.rms(h, pre + "post_attention_layernorm")
            if self.moe:
                h = h + self.sparse_moe(x, pre + "block_sparse_moe.")
                continue
            m = self.act(self.lin(x, pre + "mlp.gate_proj")) * self.lin(x, pre + "mlp.up_proj")
            h = h + self.lin(m, pre + "mlp.down_proj")
        h = self.rms(h, "model.norm")
        hidden.append(h)
        head = self.p["model.embed_tokens.weight"] if self.cfg.get("tie_word_embeddings") else self.p["lm_head.weight"]
        logits = F.linear(h, head)
        return logits, hidden


def compare(what, ours, ref, failures, keep=None):
    ours, ref = ours.detach().float(), ref.detach().float()
    if ours.shape != ref.shape:
        failures.append(f"{what}: shape {tuple(ours.shape)} vs torch {tuple(ref.shape)}")
        return 0.0
    if keep is not None:
        ours, ref = ours[keep], ref[keep]
    diff = (ours - ref).abs().max().item() if ours.numel() else 0.0
    err = diff / max(1.0, ref.abs().max().item() if ref.numel() else 0.0)
    if not err <= NORMALISED_TOL:
        failures.append(f"{what}: normalised error {err:.3e} (max abs diff {diff:.3e})")
    return err


def to_hf_name(cfg, name):
    """A Lazarus parameter name as the model's HF checkpoint spells it (Mixtral's FFN)."""
    if cfg.get("model_type") != "mixtral":
        return name
    for ours, hf in ((".mlp.", ".block_sparse_moe."), (".gate_proj.", ".w1."),
                     (".up_proj.", ".w3."), (".down_proj.", ".w2.")):
        name = name.replace(ours, hf)
    return name


def run_case(case_dir):
    cfg = json.load(open(os.path.join(case_dir, "config.json")))
    t = load_tensors(case_dir)
    params = {k[len("param."):]: v.clone().requires_grad_(True) for k, v in t.items() if k.startswith("param.")}
    # Lazarus names its MoE FFN as the generic one (mlp.gate, experts.K.gate_proj ...); the
    # reference reads HF's Mixtral names: the same tensors under both.
    hf_params = {to_hf_name(cfg, k): v for k, v in params.items()}
    ids, mask, labels = t["input_ids"], t["attention_mask"], t["labels"]
    B, T = ids.shape
    D = cfg["hidden_size"]
    depth = transformer_depth(cfg["num_hidden_layers"], D, cfg["intermediate_size"],
                              Llama(cfg, {}).Dh, T,
                              cfg["vocab_size"], B, qk_norm=cfg.get("model_type") == "qwen3")
    if depth > max_depth(NORMALISED_TOL):
        raise SystemExit(f"{case_dir}: a chain of {depth} roundings is past what the tolerance "
                         f"{NORMALISED_TOL} covers ({max_depth(NORMALISED_TOL)}): a smaller model")
    # Positions as HF generate derives them from the mask: kept tokens count from 0.
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    model = Llama(cfg, hf_params)
    logits, hidden = model.forward(ids, mask, position_ids)
    shift_logits = logits[:, :-1].float().reshape(-1, logits.shape[-1])
    shift_labels = labels[:, 1:].reshape(-1)
    loss = F.cross_entropy(shift_logits, shift_labels, ignore_index=-100)
    if model.moe:
        scale = max(1.0, model.max_router_abs)
        if not model.min_router_gap > 2 * NORMALISED_TOL * scale:
            raise SystemExit(f"{case_dir}: a routing near-tie (gap {model.min_router_gap:.2e}): "
                             "the case's routing is not comparable; change its seed")
        if cfg.get("output_router_logits"):  # MixtralForCausalLM: + coef x load_balancing_loss
            from torch_moe import load_balancing_loss
            aux = load_balancing_loss(model.router_logits, model.selected,
                                      cfg["num_local_experts"], cfg["num_experts_per_tok"], mask)
            loss = loss + cfg["router_aux_loss_coef"] * aux
    loss.backward()

    failures = []
    keep = mask.bool()  # padded positions compute nothing anyone reads
    worst = compare("logits", t["out.logits"], logits, failures, keep)
    n_hidden = len([k for k in t if k.startswith("out.hidden_states.")])
    if n_hidden != len(hidden):
        failures.append(f"hidden_states: {n_hidden} entries vs torch {len(hidden)}")
    for i in range(min(n_hidden, len(hidden))):
        worst = max(worst, compare(f"hidden_states[{i}]", t[f"out.hidden_states.{i}"], hidden[i], failures, keep))
    worst = max(worst, compare("loss", t["out.loss"], loss.reshape(1), failures))
    ours_names = {k[len("grad."):] for k in t if k.startswith("grad.")}
    if ours_names != set(params):
        failures.append(f"parameter names differ: {sorted(ours_names ^ set(params))}")
    for name, p in params.items():
        if p.grad is None:
            failures.append(f"grad {name}: torch has no gradient")
            continue
        if f"grad.{name}" in t:
            worst = max(worst, compare(f"grad {name}", t[f"grad.{name}"], p.grad, failures))
    # The same loss and gradients through the fused LM-head loss (when the driver wrote them).
    if "fused.loss" in t:
        worst = max(worst, compare("fused loss", t["fused.loss"], loss.reshape(1), failures))
        for name, p in params.items():
            if p.grad is None:
                continue
            if f"fused_grad.{name}" not in t:
                failures.append(f"fused_grad {name}: missing")
                continue
            worst = max(worst, compare(f"fused grad {name}", t[f"fused_grad.{name}"], p.grad, failures))
    return failures, worst, loss.item()


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    root = sys.argv[1]
    cases = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if not cases:
        print("no cases found", file=sys.stderr)
        return 1
    bad = 0
    for c in cases:
        failures, worst, loss = run_case(os.path.join(root, c))
        status = "OK" if not failures else "MISMATCH"
        print(f"{c}: {status} (loss {loss:.6f}, worst normalised error {worst:.2e})")
        for f in failures[:20]:
            print("   ", f)
        bad += bool(failures)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
