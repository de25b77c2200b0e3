"""Checks tests/training/model_steps_parity_main.cpp's runs against PyTorch: a tiny Llama
(torch_llama.py) and a tiny Mamba (torch_mamba.py), HF semantics, three steps of the causal-LM
loss, clip_grad_norm_ and torch.optim.AdamW (no decay on 1-D parameters) under a warm-up + cosine
schedule.

Every step is checked from our own state (the parameters the step started from), in three parts,
each against a bound from its own arithmetic (tolerances.py, docs/testing.md):
  1. loss and gradients: torch's forward and backward at our parameters; normalised error per
     tensor within twice gamma(n) for the longest accumulation chain n of this model;
  2. clipping: our norm against the f64 norm of our gradients; our clipped gradients against
     gradient * max_norm / (norm + 1e-6);
  3. the AdamW update: torch.optim.AdamW (its moments fed our clipped gradients since step 0) from
     our parameters, against our parameters after the step, per element within AdamWBound.
The learning rate of each step is compared too. Free-running both sides for three steps and
comparing the final weights would not be a test of either: AdamW divides by sqrt(v) + eps, so a
parameter whose gradient is near zero turns a last-bit difference in that gradient into up to
lr / eps (here 3e5) times as much, and which bit differs depends on the CPU's GEMM kernel.

Usage: python3 torch_model_steps.py RUN.json  (exit 1 on any mismatch).
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tolerances import AdamWBound, check_steps, gamma, mamba_depth, transformer_depth  # noqa: E402
from torch_llama import Llama  # noqa: E402
from torch_mamba import Mamba, dims  # noqa: E402

torch.set_num_threads(2)
BASE_LR, BETAS, EPS, DECAY, MAX_NORM = 3e-3, (0.9, 0.95), 1e-8, 0.1, 0.5
failures = []


def cosine_lr(base, step, warmup, total):
    if step < warmup:
        return base * step / max(1, warmup)
    progress = min((step - warmup) / max(1, total - warmup), 1.0)
    return base * 0.5 * (1 + math.cos(math.pi * progress))


def depth(run):
    cfg = run["config"]
    B, T = run["shape"]
    L, D, V = cfg["num_hidden_layers"], cfg["hidden_size"], cfg["vocab_size"]
    if run["name"] == "mamba":
        d = dims(cfg)
        return mamba_depth(L, D, d["I"], d["N"], d["K"], d["R"], T, V, B)
    Dh = cfg.get("head_dim") or D // cfg["num_attention_heads"]
    return transformer_depth(L, D, cfg["intermediate_size"], Dh, T, V, B)


def replay(run):
    name = run["name"]
    shapes = {n: v["shape"] for n, v in run["init"].items()}
    params = {n: torch.zeros(s, dtype=torch.float32, requires_grad=True) for n, s in shapes.items()}
    cfg = run["config"]
    B, T = run["shape"]
    ids = torch.tensor(run["ids"]).reshape(B, T)
    labels = torch.tensor(run["labels"]).reshape(B, T)
    if name == "mamba":
        model = Mamba(cfg, params)
        forward = lambda: model.forward(ids, None)[0]  # noqa: E731
    else:
        model = Llama(cfg, params)
        mask = torch.ones(B, T, dtype=torch.int64)
        pos = torch.arange(T).expand(B, T)
        forward = lambda: model.forward(ids, mask, pos)[0]  # noqa: E731

    def loss_fn():
        logits = forward()
        V = logits.shape[-1]
        return F.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1),
                               ignore_index=-100)

    decay = [p for p in params.values() if p.dim() > 1]
    no_decay = [p for p in params.values() if p.dim() <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": DECAY},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=BASE_LR, betas=BETAS, eps=EPS)
    bounds = {n: AdamWBound(math.prod(s), BETAS[0], BETAS[1], EPS) for n, s in shapes.items()}
    # Forward and backward: two implementations of a chain of depth(run) roundings.
    grad_tol = 2 * gamma(depth(run))
    worst = check_steps(name, run, params, loss_fn, opt, bounds, grad_tol, MAX_NORM,
                        lambda step: cosine_lr(BASE_LR, step + 1, 1, 4), failures)
    print(f"{name}: {len(params)} parameters, losses {[round(s['loss'], 5) for s in run['steps']]}, "
          f"worst gradient error {worst['grad']:.3g} (bound {grad_tol:.3g}), "
          f"worst AdamW difference {worst['update']:.3g} of its bound")


def main():
    with open(sys.argv[1]) as f:
        runs = json.load(f)
    for run in runs:
        replay(run)
    for f in failures[:30]:
        print("MISMATCH", f)
    if failures:
        print(f"FAILED: {len(failures)} mismatches")
        sys.exit(1)
    print("model training steps: every step agrees with PyTorch")


if __name__ == "__main__":
    main()
