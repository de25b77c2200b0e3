#!/usr/bin/env python3
"""PyTorch reference for Lazarus recurrent backbones: token embedding, then per layer
h = h + rnn(rms_norm(h)) with rnn one of torch.nn.LSTM / torch.nn.GRU (PyTorch's own cells, our
weights copied into them) or minGRU written in torch to Feng et al. 2024 ("Were RNNs All We
Needed?", sequential mode: h_t = (1 - z_t) * h_{t-1} + z_t * h~_t, z_t = sigmoid(Linear_z(x_t)),
h~_t = Linear_h(x_t)), an out_proj Linear(H, D) when the state width H differs from D, then a
final RMSNorm and the LM head.

Padding semantics under test: a padded row must compute what the row alone computes. The
reference therefore runs every row ALONE on its kept tokens (no masking code at all) and compares
kept positions only.

Usage: torch_recurrent.py CASES_DIR (written by recurrent_parity_main). Compares logits, every
hidden state, the loss and every parameter's gradient; exits 1 on any mismatch."""
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_mamba  # noqa: E402  (load_tensors, compare)

torch.set_num_threads(2)


def block_for(bb, i):
    o = bb.get("block_overrides") or {}
    return o.get(str(i), bb["block"])


def rec_dims(b, D):
    r = b["recurrent"]
    return r.get("type", "lstm"), r.get("hidden_size") or D, r.get("bias", True)


def expected_shapes(cfg):
    bb = cfg["backbone"]
    D, V = bb["hidden_size"], bb["embedding"]["vocab_size"]
    s = {"model.embed_tokens.weight": (V, D), "model.norm.weight": (D,)}
    for l in range(bb["num_layers"]):
        kind, H, bias = rec_dims(block_for(bb, l), D)
        p = f"model.layers.{l}."
        s[p + "norm.weight"] = (D,)
        if kind in ("lstm", "gru"):
            G = (4 if kind == "lstm" else 3) * H
            s[p + "rnn.weight_ih"], s[p + "rnn.weight_hh"] = (G, D), (G, H)
            if bias:
                s[p + "rnn.bias_ih"], s[p + "rnn.bias_hh"] = (G,), (G,)
        else:
            for n in ("linear_z", "linear_h"):
                s[p + f"rnn.{n}.weight"] = (H, D)
                if bias:
                    s[p + f"rnn.{n}.bias"] = (H,)
        if H != D:
            s[p + "rnn.out_proj.weight"] = (D, H)
    if not cfg.get("head", {}).get("tie_word_embeddings", False):
        s["lm_head.weight"] = (V, D)
    return s


class Recurrent:
    def __init__(self, cfg, t):
        """Builds torch.nn.LSTM / GRU modules holding our weights; self.params maps every Lazarus
        parameter name to the leaf tensor whose .grad is compared (for LSTM / GRU the module's own
        parameters)."""
        self.cfg, self.bb = cfg, cfg["backbone"]
        self.D = self.bb["hidden_size"]
        self.params, self.rnns = {}, {}
        for k, v in t.items():
            if k.startswith("param."):
                self.params[k[len("param."):]] = v.clone().requires_grad_(True)
        for l in range(self.bb["num_layers"]):
            kind, H, bias = rec_dims(block_for(self.bb, l), self.D)
            if kind not in ("lstm", "gru"):
                continue
            p = f"model.layers.{l}.rnn."
            cls = torch.nn.LSTM if kind == "lstm" else torch.nn.GRU
            m = cls(self.D, H, num_layers=1, bias=bias, batch_first=True)
            with torch.no_grad():
                for ours, theirs in (("weight_ih", "weight_ih_l0"), ("weight_hh", "weight_hh_l0"),
                                     ("bias_ih", "bias_ih_l0"), ("bias_hh", "bias_hh_l0")):
                    if p + ours in self.params:
                        getattr(m, theirs).copy_(self.params[p + ours])
                        self.params[p + ours] = getattr(m, theirs)
            self.rnns[l] = m

    def rms(self, x, name, eps):
        return self.params[name + ".weight"] * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))

    def lin(self, x, name):
        return F.linear(x, self.params[name + ".weight"], self.params.get(name + ".bias"))

    def mingru(self, x, pre):
        z = torch.sigmoid(self.lin(x, pre + "linear_z"))
        ht = self.lin(x, pre + "linear_h")
        h = torch.zeros(x.shape[0], z.shape[-1])
        out = []
        for t in range(x.shape[1]):
            h = (1 - z[:, t]) * h + z[:, t] * ht[:, t]
            out.append(h)
        return torch.stack(out, 1)

    def forward(self, ids):
        """ids (B, T), no padding -> logits (B, T, V), hidden states (L + 1 entries)."""
        h = F.embedding(ids, self.params["model.embed_tokens.weight"])
        hidden = []
        for l in range(self.bb["num_layers"]):
            hidden.append(h)
            b, p = block_for(self.bb, l), f"model.layers.{l}."
            kind, H, _ = rec_dims(b, self.D)
            n = self.rms(h, p + "norm", b.get("norm", {}).get("eps", 1e-6))
            y = self.rnns[l](n)[0] if l in self.rnns else self.mingru(n, p + "rnn.")
            if H != self.D:
                y = self.lin(y, p + "rnn.out_proj")
            h = h + y
        h = self.rms(h, "model.norm", self.bb.get("final_norm", {}).get("eps", 1e-6))
        hidden.append(h)
        tied = self.cfg.get("head", {}).get("tie_word_embeddings", False)
        head = self.params["model.embed_tokens.weight"] if tied else self.params["lm_head.weight"]
        return F.linear(h, head), hidden


def run_case(case_dir):
    cfg = json.load(open(os.path.join(case_dir, "model_config.json")))
    t = torch_mamba.load_tensors(case_dir)
    model = Recurrent(cfg, t)
    failures = []
    want = expected_shapes(cfg)
    got = {k: tuple(v.shape) for k, v in model.params.items()}
    for k in sorted(set(got) | set(want)):
        if got.get(k) != want.get(k):
            failures.append(f"parameter {k}: ours {got.get(k)} vs reference {want.get(k)}")
    ids, mask, labels = t["input_ids"], t["attention_mask"], t["labels"]
    B, T = ids.shape
    V = cfg["backbone"]["embedding"]["vocab_size"]
    logits = torch.zeros(B, T, V)
    hidden = None
    for b in range(B):
        keep = mask[b].nonzero().flatten()
        lg, hs = model.forward(ids[b:b + 1, keep])
        logits = logits.index_put((torch.tensor([b]), keep), lg[0])
        if hidden is None:
            hidden = [torch.zeros(B, T, x.shape[-1]) for x in hs]
        hidden = [H.index_put((torch.tensor([b]), keep), x[0]) for H, x in zip(hidden, hs)]
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1), ignore_index=-100)
    loss.backward()
    keep = mask.bool()
    worst = torch_mamba.compare_outputs(t, logits, hidden, [("loss", loss)], model.params, failures, keep)
    return failures, worst, f"loss {loss.item():.6f}"


def main():
    rc = torch_mamba.run_cases(run_case, sys.argv)
    if rc == 2:
        print(__doc__)
    return rc


if __name__ == "__main__":
    sys.exit(main())
