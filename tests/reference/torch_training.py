"""Checks tests/training/training_parity_main.cpp's runs against PyTorch: an MLP classifier
trained three steps with clipping and a warm-up + cosine schedule under AdamW and under SGD
(Nesterov momentum), checked step by step from our own state (tolerances.check_steps); the
causal-LM loss from logits and fused with the LM head.

Usage: python3 torch_training.py RUN.json  (exit 1 on any mismatch). Every bound comes from the
arithmetic (tolerances.py, docs/testing.md).
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tolerances import AdamWBound, SGDBound, check_steps, gamma, normalised_error  # noqa: E402

torch.set_num_threads(2)
failures = []
# The MLP (6 -> 16 -> LayerNorm -> GELU -> 5) on 8 rows: fc1 (6), the norm's two sums (2 x 16),
# GELU (8, its erf), fc2 (16), the cross-entropy (5 and its exp/log, 8); twice for backward, and
# the weight gradients sum over the 8 rows.
MLP_DEPTH = 2 * (6 + 2 * 16 + 8 + 16 + 5 + 8) + 8
# The causal-LM losses: (B, T, V) = (2, 5, 7) with hidden 4 for the fused head.
LM_DEPTH = 2 * (4 + 7 + 8) + 2 * 5


def check(name, got, want, depth):
    e = normalised_error(got, want.detach())
    tol = 2 * gamma(depth)
    print(f"  {name:<32} normalised error {e:.3g} (bound {tol:.3g})")
    if not e <= tol:
        failures.append(f"{name}: normalised error {e:.3g} > {tol:.3g}")


def cosine_lr(base, step, warmup, total):
    if step < warmup:
        return base * step / max(1, warmup)
    progress = min((step - warmup) / max(1, total - warmup), 1.0)
    return base * 0.5 * (1 + math.cos(math.pi * progress))


def replay(run):
    print(f"{run['optimizer']}:")
    init = run["init"]
    params = {n: torch.zeros(init[n]["shape"], requires_grad=True) for n in init}
    x = torch.tensor(run["x"], dtype=torch.float32).reshape(8, 6)
    y = torch.tensor(run["y"], dtype=torch.int64)

    def forward():
        h = F.linear(x, params["fc1.weight"], params["fc1.bias"])
        h = F.layer_norm(h, (16,), params["norm.weight"], params["norm.bias"], 1e-5)
        return F.linear(F.gelu(h), params["fc2.weight"], params["fc2.bias"])

    decay = [params[n] for n in init if params[n].dim() > 1]
    no_decay = [params[n] for n in init if params[n].dim() <= 1]
    base = 0.05
    if run["optimizer"] == "adamw":
        betas, eps = (0.9, 0.99), 1e-8
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=base, betas=betas, eps=eps)
        bounds = {n: AdamWBound(params[n].numel(), *betas, eps) for n in init}
    else:
        opt = torch.optim.SGD([{"params": decay, "weight_decay": 0.01},
                               {"params": no_decay, "weight_decay": 0.0}], lr=base, momentum=0.9, nesterov=True)
        bounds = {n: SGDBound(params[n].numel(), 0.9, 0.01 if params[n].dim() > 1 else 0.0) for n in init}

    def loss_fn():
        return F.cross_entropy(forward(), y, ignore_index=-100, label_smoothing=0.1)

    grad_tol = 2 * gamma(MLP_DEPTH)
    worst = check_steps(run["optimizer"], run, params, loss_fn, opt, bounds, grad_tol, 0.5,
                        lambda step: cosine_lr(base, step + 1, 1, 4), failures)
    print(f"  three steps: worst gradient error {worst['grad']:.3g} (bound {grad_tol:.3g}), "
          f"worst update difference {worst['update']:.3g} of its bound")
    lm = run["lm"]
    logits = torch.tensor(lm["logits"], dtype=torch.float32).reshape(2, 5, 7).requires_grad_()
    labels = torch.tensor(lm["labels"], dtype=torch.int64).reshape(2, 5)
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, 7), labels[:, 1:].reshape(-1), ignore_index=-100)
    loss.backward()
    check("causal_lm_loss", [lm["loss"]], loss, LM_DEPTH)
    check("causal_lm_loss grad", lm["grad"], logits.grad, LM_DEPTH)
    fh = run["lm_head"]
    hidden = torch.tensor(fh["hidden"], dtype=torch.float32).reshape(2, 5, 4).requires_grad_()
    w = torch.tensor(fh["weight"], dtype=torch.float32).reshape(7, 4).requires_grad_()
    b = torch.tensor(fh["bias"], dtype=torch.float32).requires_grad_()
    logits = F.linear(hidden, w, b)
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, 7), labels[:, 1:].reshape(-1), ignore_index=-100,
                           label_smoothing=0.1)
    loss.backward()
    check("causal_lm_head_loss", [fh["loss"]], loss, LM_DEPTH)
    check("causal_lm_head_loss grad hidden", fh["grad_hidden"], hidden.grad, LM_DEPTH)
    check("causal_lm_head_loss grad weight", fh["grad_weight"], w.grad, LM_DEPTH)
    check("causal_lm_head_loss grad bias", fh["grad_bias"], b.grad, LM_DEPTH)


def main():
    with open(sys.argv[1]) as f:
        runs = json.load(f)
    for run in runs:
        replay(run)
    if failures:
        for f in failures[:30]:
            print("MISMATCH", f)
        print(f"FAILED: {len(failures)} mismatches")
        sys.exit(1)
    print("training parity: all values agree with PyTorch")


if __name__ == "__main__":
    main()
