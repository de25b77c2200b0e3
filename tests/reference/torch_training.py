"""Replays tests/training/training_parity_main.cpp's runs in PyTorch and compares.

Usage: python3 torch_training.py RUN.json  (exit 1 on any mismatch). Tolerances: f32 math, so
losses and parameters agree to 1e-5 relative / 1e-6 absolute after three steps.
"""
import json
import math
import sys

import torch
import torch.nn.functional as F

torch.set_num_threads(2)
RTOL, ATOL = 1e-5, 1e-6
failures = []


def close(name, got, want):
    got = torch.tensor(got, dtype=torch.float64).flatten()
    want = want.detach().to(torch.float64).flatten()
    if got.shape != want.shape:
        failures.append(f"{name}: {tuple(got.shape)} values vs {tuple(want.shape)}")
        return
    err = (got - want).abs()
    bad = err > ATOL + RTOL * want.abs()
    status = "ok" if not bad.any() else "MISMATCH"
    print(f"  {name:<28} max abs err {err.max().item() if err.numel() else 0:.3g}  {status}")
    if bad.any():
        failures.append(name)


def cosine_lr(base, step, warmup, total):
    if step < warmup:
        return base * step / max(1, warmup)
    progress = min((step - warmup) / max(1, total - warmup), 1.0)
    return base * 0.5 * (1 + math.cos(math.pi * progress))


def replay(run):
    print(f"{run['optimizer']}:")
    init = run["init"]

    def p(name):
        return torch.tensor(init[name]["values"], dtype=torch.float32).reshape(init[name]["shape"]).requires_grad_()

    params = {n: p(n) for n in init}
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
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=base, betas=(0.9, 0.99), eps=1e-8)
    else:
        opt = torch.optim.SGD([{"params": decay, "weight_decay": 0.01},
                               {"params": no_decay, "weight_decay": 0.0}], lr=base, momentum=0.9, nesterov=True)
    for step in range(3):
        lr = cosine_lr(base, step + 1, 1, 4)
        for g in opt.param_groups:
            g["lr"] = lr
        loss = F.cross_entropy(forward(), y, ignore_index=-100, label_smoothing=0.1)
        opt.zero_grad()
        loss.backward()
        if step == 0:
            for n in init:
                close(f"grad {n}", run["grad"][n], params[n].grad)
        norm = torch.nn.utils.clip_grad_norm_(list(params.values()), 0.5)
        opt.step()
        close(f"loss step {step}", [run["loss"][step]], loss)
        close(f"grad norm step {step}", [run["norm"][step]], norm)
        close(f"lr step {step}", [run["lr"][step]], torch.tensor(lr))
    for n in init:
        close(f"final {n}", run["final"][n], params[n])
    lm = run["lm"]
    logits = torch.tensor(lm["logits"], dtype=torch.float32).reshape(2, 5, 7).requires_grad_()
    labels = torch.tensor(lm["labels"], dtype=torch.int64).reshape(2, 5)
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, 7), labels[:, 1:].reshape(-1), ignore_index=-100)
    loss.backward()
    close("causal_lm_loss", [lm["loss"]], loss)
    close("causal_lm_loss grad", lm["grad"], logits.grad)
    fh = run["lm_head"]
    hidden = torch.tensor(fh["hidden"], dtype=torch.float32).reshape(2, 5, 4).requires_grad_()
    w = torch.tensor(fh["weight"], dtype=torch.float32).reshape(7, 4).requires_grad_()
    b = torch.tensor(fh["bias"], dtype=torch.float32).requires_grad_()
    logits = F.linear(hidden, w, b)
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, 7), labels[:, 1:].reshape(-1), ignore_index=-100,
                           label_smoothing=0.1)
    loss.backward()
    close("causal_lm_head_loss", [fh["loss"]], loss)
    close("causal_lm_head_loss grad hidden", fh["grad_hidden"], hidden.grad)
    close("causal_lm_head_loss grad weight", fh["grad_weight"], w.grad)
    close("causal_lm_head_loss grad bias", fh["grad_bias"], b.grad)


def main():
    with open(sys.argv[1]) as f:
        runs = json.load(f)
    for run in runs:
        replay(run)
    if failures:
        print(f"FAILED: {len(failures)} mismatches: {failures}")
        sys.exit(1)
    print("training parity: all values agree with PyTorch")


if __name__ == "__main__":
    main()
