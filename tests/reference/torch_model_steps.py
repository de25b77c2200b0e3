"""Replays tests/training/model_steps_parity_main.cpp's runs in PyTorch and compares: a tiny Llama
(torch_llama.py) and a tiny Mamba (torch_mamba.py), HF semantics, three steps of the causal-LM
loss, clip_grad_norm_ and torch.optim.AdamW (no decay on 1-D parameters) under a warm-up + cosine
schedule. Checks the first step's gradients, each step's loss, gradient norm and learning rate,
and every parameter after the three steps.

Usage: python3 torch_model_steps.py RUN.json  (exit 1 on any mismatch). f32 math: 1e-4 relative
plus 1e-5 absolute after three steps (Adam divides by sqrt(v), which magnifies rounding in tiny
gradients).
"""
import json
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_llama import Llama  # noqa: E402
from torch_mamba import Mamba  # noqa: E402

torch.set_num_threads(2)
RTOL, ATOL = 1e-4, 1e-5
failures = []


def close(name, got, want):
    got = torch.tensor(got, dtype=torch.float64).flatten()
    want = want.detach().to(torch.float64).flatten()
    if got.shape != want.shape:
        failures.append(f"{name}: {tuple(got.shape)} values vs {tuple(want.shape)}")
        return 0.0
    err = (got - want).abs()
    bad = err > ATOL + RTOL * want.abs()
    if bad.any():
        failures.append(f"{name}: max abs err {err.max().item():.3g}")
    return err.max().item() if err.numel() else 0.0


def cosine_lr(base, step, warmup, total):
    if step < warmup:
        return base * step / max(1, warmup)
    progress = min((step - warmup) / max(1, total - warmup), 1.0)
    return base * 0.5 * (1 + math.cos(math.pi * progress))


def replay(run):
    params = {n: torch.tensor(v["values"], dtype=torch.float32).reshape(v["shape"]).requires_grad_()
              for n, v in run["init"].items()}
    cfg = run["config"]
    B, T = run["shape"]
    ids = torch.tensor(run["ids"]).reshape(B, T)
    labels = torch.tensor(run["labels"]).reshape(B, T)
    if run["name"] == "mamba":
        model = Mamba(cfg, params)
        forward = lambda: model.forward(ids, None)[0]  # noqa: E731
    else:
        model = Llama(cfg, params)
        mask = torch.ones(B, T, dtype=torch.int64)
        pos = torch.arange(T).expand(B, T)
        forward = lambda: model.forward(ids, mask, pos)[0]  # noqa: E731
    decay = [p for p in params.values() if p.dim() > 1]
    no_decay = [p for p in params.values() if p.dim() <= 1]
    base = 3e-3
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=base, betas=(0.9, 0.95), eps=1e-8)
    worst = 0.0
    for step in range(3):
        lr = cosine_lr(base, step + 1, 1, 4)
        for g in opt.param_groups:
            g["lr"] = lr
        logits = forward()
        V = logits.shape[-1]
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1),
                               ignore_index=-100)
        opt.zero_grad()
        loss.backward()
        if step == 0:
            for n, p in params.items():
                worst = max(worst, close(f"{run['name']} grad {n}", run["grad"][n], p.grad))
        norm = torch.nn.utils.clip_grad_norm_(list(params.values()), 0.5)
        opt.step()
        close(f"{run['name']} loss step {step}", [run["loss"][step]], loss)
        close(f"{run['name']} grad norm step {step}", [run["norm"][step]], norm)
        close(f"{run['name']} lr step {step}", [run["lr"][step]], torch.tensor(lr))
    for n, p in params.items():
        worst = max(worst, close(f"{run['name']} final {n}", run["final"][n], p))
    print(f"{run['name']}: {len(params)} parameters, losses {[round(x, 5) for x in run['loss']]}, "
          f"worst abs error {worst:.3g}")


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
    print("model training steps: all values agree with PyTorch")


if __name__ == "__main__":
    main()
