#!/usr/bin/env python3
"""PyTorch reference for MambaForCausalLM, written to the semantics of Hugging Face transformers'
modeling_mamba.py / configuration_mamba.py (the slow path, MambaMixer.slow_forward; our own code,
transformers is not needed).

Usage: torch_mamba.py CASES_DIR
Each case directory (written by mamba_parity_main) holds config.json (HF form), manifest.json and
tensors.bin. The script derives every parameter's name and shape from config.json alone and checks
them against the weights written; rebuilds the model, loads the weights, runs forward with labels and
backward, and compares logits, every hidden state (kept positions only), the loss and every
parameter's gradient. CASES_DIR/presets.json lists preset configs with the parameter count Lazarus
computes; each is recomputed here from the shapes. Exits 1 on any mismatch."""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tolerances import max_depth, mamba_depth  # noqa: E402

torch.set_num_threads(2)
# max |ours - torch| / max(1, max |torch|): the probabilistic bound of two f32 implementations
# (tolerances.py) for chains of up to max_depth(1e-4) = 7036 roundings; run_case checks the
# case's model is within it (the test models' chains are 1,000-3,000 long).
NORMALISED_TOL = 1e-4

ACT = {"silu": F.silu, "swish": F.silu, "gelu": F.gelu, "relu": F.relu, "tanh": torch.tanh,
       "gelu_tanh": lambda x: F.gelu(x, approximate="tanh")}


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


def dims(cfg):
    D = cfg["hidden_size"]
    rank = cfg.get("time_step_rank", "auto")
    return dict(D=D, I=int(cfg.get("expand", 2) * D), N=cfg.get("state_size", 16),
                K=cfg.get("conv_kernel", 4),
                R=math.ceil(D / 16) if rank == "auto" else rank, V=cfg["vocab_size"])


def expected_shapes(cfg):
    """Every parameter of HF MambaForCausalLM for this config: name -> shape."""
    d = dims(cfg)
    D, I, N, K, R, V = d["D"], d["I"], d["N"], d["K"], d["R"], d["V"]
    bias, conv_bias = cfg.get("use_bias", True), cfg.get("use_conv_bias", True)
    s = {"backbone.embeddings.weight": (V, D), "backbone.norm_f.weight": (D,)}
    for l in range(cfg["num_hidden_layers"]):
        p = f"backbone.layers.{l}."
        s[p + "norm.weight"] = (D,)
        s[p + "mixer.in_proj.weight"] = (2 * I, D)
        if bias:
            s[p + "mixer.in_proj.bias"] = (2 * I,)
        s[p + "mixer.conv1d.weight"] = (I, 1, K)
        if conv_bias:
            s[p + "mixer.conv1d.bias"] = (I,)
        s[p + "mixer.x_proj.weight"] = (R + 2 * N, I)
        s[p + "mixer.dt_proj.weight"] = (I, R)
        s[p + "mixer.dt_proj.bias"] = (I,)
        s[p + "mixer.A_log"] = (I, N)
        s[p + "mixer.D"] = (I,)
        s[p + "mixer.out_proj.weight"] = (D, I)
        if bias:
            s[p + "mixer.out_proj.bias"] = (D,)
    if not cfg.get("tie_word_embeddings", True):
        s["lm_head.weight"] = (V, D)
    return s


class Mamba:
    def __init__(self, cfg, params):
        self.cfg, self.p = cfg, params
        self.d = dims(cfg)
        self.eps = cfg.get("layer_norm_epsilon", 1e-5)
        self.act = ACT[cfg.get("hidden_act", "silu")]

    def lin(self, x, name):
        return F.linear(x, self.p[name + ".weight"], self.p.get(name + ".bias"))

    def rms(self, x, name):  # MambaRMSNorm
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.p[name + ".weight"] * xf.to(x.dtype)

    def mixer(self, x, pre, attention_mask):
        B, T, _ = x.shape
        I, N, K, R = self.d["I"], self.d["N"], self.d["K"], self.d["R"]
        projected = self.lin(x, pre + "in_proj").transpose(1, 2)          # (B, 2I, T)
        hs, gate = projected.chunk(2, dim=1)
        if attention_mask is not None:
            hs = hs * attention_mask.unsqueeze(1)
        conv = F.conv1d(hs, self.p[pre + "conv1d.weight"], self.p.get(pre + "conv1d.bias"),
                        padding=K - 1, groups=I)
        hs = self.act(conv[..., :T])                                        # (B, I, T)
        if attention_mask is not None:
            hs = hs * attention_mask.unsqueeze(1)
        ssm_params = self.lin(hs.transpose(1, 2), pre + "x_proj")          # (B, T, R + 2N)
        time_step, Bm, Cm = torch.split(ssm_params, [R, N, N], dim=-1)
        dt = F.softplus(self.lin(time_step, pre + "dt_proj")).transpose(1, 2)  # (B, I, T)
        A = -torch.exp(self.p[pre + "A_log"].float())                       # (I, N)
        dA = torch.exp(A[None, :, None, :] * dt[:, :, :, None])             # (B, I, T, N)
        dBu = dt[:, :, :, None] * Bm[:, None, :, :].float() * hs[:, :, :, None].float()
        state = torch.zeros(B, I, N)
        ys = []
        for i in range(T):
            state = dA[:, :, i, :] * state + dBu[:, :, i, :]
            ys.append(torch.matmul(state, Cm[:, i, :].unsqueeze(-1))[:, :, 0])
        y = torch.stack(ys, dim=-1)                                          # (B, I, T)
        y = y + hs * self.p[pre + "D"][None, :, None]
        y = y * self.act(gate)
        return self.lin(y.transpose(1, 2), pre + "out_proj")               # (B, T, D)

    def forward(self, ids, attention_mask):
        h = F.embedding(ids, self.p["backbone.embeddings.weight"])
        hidden = []
        for l in range(self.cfg["num_hidden_layers"]):
            pre = f"backbone.layers.{l}."
            residual = h
            h = residual + self.mixer(self.rms(h, pre + "norm"), pre + "mixer.", attention_mask)
            hidden.append(h)
        h = self.rms(h, "backbone.norm_f")
        hidden.append(h)
        tied = self.cfg.get("tie_word_embeddings", True)
        head = self.p["backbone.embeddings.weight"] if tied else self.p["lm_head.weight"]
        return F.linear(h, head), hidden


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


def compare_outputs(t, logits, hidden, losses, params, failures, keep, logit_keep="keep"):
    """The checks every model parity script makes: logits (rows in `logit_keep`: default `keep`;
    None = all),
    every hidden state (rows in `keep`), each (name, value) in `losses` against t["out.<name>"],
    and every parameter's gradient. Returns the worst normalised error."""
    worst = compare("logits", t["out.logits"], logits, failures, keep if isinstance(logit_keep, str) else logit_keep)
    n_hidden = len([k for k in t if k.startswith("out.hidden_states.")])
    if n_hidden != len(hidden):
        failures.append(f"hidden_states: {n_hidden} entries vs torch {len(hidden)}")
    for i in range(min(n_hidden, len(hidden))):
        worst = max(worst, compare(f"hidden_states[{i}]", t[f"out.hidden_states.{i}"], hidden[i], failures, keep))
    for name, value in losses:
        worst = max(worst, compare(name, t["out." + name], value.reshape(1), failures))
    for name, p in params.items():
        if p.grad is None or f"grad.{name}" not in t:
            failures.append(f"grad {name}: missing on one side")
            continue
        worst = max(worst, compare(f"grad {name}", t[f"grad.{name}"], p.grad, failures))
    return worst


def run_cases(run_case, argv):
    """main() of a parity script: run_case(case_dir) -> (failures, worst, summary) for every case
    folder under argv[1]; prints one line per case and its first failures; 1 if any failed."""
    if len(argv) != 2:
        return 2
    root = argv[1]
    cases = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if not cases:
        print("no cases found", file=sys.stderr)
        return 1
    bad = 0
    for c in cases:
        failures, worst, summary = run_case(os.path.join(root, c))
        print(f"{c}: {'OK' if not failures else 'MISMATCH'} ({summary}, worst normalised error {worst:.2e})")
        for f in failures[:20]:
            print("   ", f)
        bad += bool(failures)
    return 1 if bad else 0


def run_case(case_dir):
    cfg = json.load(open(os.path.join(case_dir, "config.json")))
    t = load_tensors(case_dir)
    params = {k[len("param."):]: v.clone().requires_grad_(True) for k, v in t.items() if k.startswith("param.")}
    failures = []
    want = expected_shapes(cfg)
    got = {k: tuple(v.shape) for k, v in params.items()}
    if got != want:
        for k in sorted(set(got) | set(want)):
            if got.get(k) != want.get(k):
                failures.append(f"parameter {k}: ours {got.get(k)} vs HF {want.get(k)}")
    ids, mask, labels = t["input_ids"], t["attention_mask"], t["labels"]
    B, T = ids.shape
    d = dims(cfg)
    depth = mamba_depth(cfg["num_hidden_layers"], d["D"], d["I"], d["N"], d["K"], d["R"], T, d["V"], B)
    if depth > max_depth(NORMALISED_TOL):
        raise SystemExit(f"{case_dir}: a chain of {depth} roundings is past what the tolerance "
                         f"{NORMALISED_TOL} covers ({max_depth(NORMALISED_TOL)}): a smaller model")
    padded = bool((mask == 0).any())
    model = Mamba(cfg, params)
    logits, hidden = model.forward(ids, mask if padded else None)
    shift_logits = logits[:, :-1].float().reshape(-1, logits.shape[-1])
    shift_labels = labels[:, 1:].reshape(-1)
    loss = F.cross_entropy(shift_logits, shift_labels, ignore_index=-100)
    loss.backward()

    keep = mask.bool()
    worst = compare("logits", t["out.logits"], logits, failures, keep)
    n_hidden = len([k for k in t if k.startswith("out.hidden_states.")])
    if n_hidden != len(hidden):
        failures.append(f"hidden_states: {n_hidden} entries vs torch {len(hidden)}")
    for i in range(min(n_hidden, len(hidden))):
        worst = max(worst, compare(f"hidden_states[{i}]", t[f"out.hidden_states.{i}"], hidden[i], failures, keep))
    worst = max(worst, compare("loss", t["out.loss"], loss.reshape(1), failures))
    for name, p in params.items():
        if p.grad is None:
            failures.append(f"grad {name}: torch has no gradient")
            continue
        if f"grad.{name}" not in t:
            failures.append(f"grad {name}: missing from ours")
            continue
        worst = max(worst, compare(f"grad {name}", t[f"grad.{name}"], p.grad, failures))
    return failures, worst, loss.item()


def check_presets(root):
    path = os.path.join(root, "presets.json")
    if not os.path.exists(path):
        return ["presets.json missing"]
    failures = []
    for p in json.load(open(path)):
        n = sum(math.prod(s) for s in expected_shapes(p["config"]).values())
        status = "OK" if n == p["num_parameters"] else "MISMATCH"
        print(f"preset {p['name']}: {p['num_parameters']:,} parameters (torch-side count {n:,}) {status}")
        if n != p["num_parameters"]:
            failures.append(f"preset {p['name']}: ours {p['num_parameters']} vs {n}")
    return failures


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
    pf = check_presets(root)
    for f in pf:
        print("   ", f)
    bad += bool(pf)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
