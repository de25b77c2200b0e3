"""Tolerances from the floating-point arithmetic, shared by the PyTorch parity scripts.

docs/testing.md ("How tolerances are chosen") explains each one. Notation: u is the unit roundoff
of a dtype (f32: 2^-24); a sum of n terms, or any chain of n roundings, computed in any order, is
off by at most gamma(n) = n u / (1 - n u) times the sum of the magnitudes it went through (Higham,
"Accuracy and Stability of Numerical Algorithms", 2nd ed., section 3.1). Two implementations that
each meet that bound differ by at most twice it.
"""
import math

import torch

U = {"f64": 2.0 ** -53, "f32": 2.0 ** -24, "f16": 2.0 ** -11, "bf16": 2.0 ** -8}


def gamma(n, u=U["f32"]):
    """Higham's gamma_n: the relative error bound of n roundings of unit roundoff u."""
    if not n * u < 1:
        raise ValueError(f"gamma({n}) with u {u}: n u >= 1, no bound")
    return n * u / (1 - n * u)


# The probabilistic bound's lambda (Higham and Mary, "A New Approach to Probabilistic Rounding
# Error Analysis", SIAM J. Sci. Comput. 41(5), 2019, theorem 2.4): with rounding errors independent
# and of mean zero, n roundings stay within lambda sqrt(n) u except with probability at most
# 2 exp(-lambda^2 / 2) per chain (4e-22 at lambda = 10). Used where the worst case gamma(n),
# which assumes every rounding errs the same way, is far from any real run: whole models and the
# op-level parity table, on random inputs.
LAMBDA = 10.0


def probabilistic(n, u=U["f32"], impls=2):
    """lambda sqrt(n) u for each of `impls` implementations of a chain of n roundings."""
    return impls * LAMBDA * math.sqrt(n) * u


def max_depth(tol, u=U["f32"], impls=2):
    """The longest chain of roundings whose probabilistic bound stays within tol."""
    return int((tol / (impls * LAMBDA * u)) ** 2)


# A half-precision op (bf16, f16): ours computes in f32 and rounds the result once (within u of
# it); torch's native half kernels also round intermediates: up to 3 in a forward (a blocked
# accumulation, exp then a sum) and up to 7 in a backward (each node of the chain rule in half,
# and the forward values it reuses). Each rounding is within u of the element, so within u of the
# tensor's largest value: normalised, (1 + 3) u forward and (1 + 7) u for gradients.
HALF_FORWARD_ROUNDINGS, HALF_BACKWARD_ROUNDINGS = 1 + 3, 1 + 7


def half_tolerances(dtype):
    """(forward, gradient) normalised tolerances for an op computed in bf16 or f16."""
    return (HALF_FORWARD_ROUNDINGS * U[dtype], HALF_BACKWARD_ROUNDINGS * U[dtype])


def normalised_error(got, ref):
    """max |got - ref| / max |ref| over a tensor (0 for empty or all-zero references). Judging each
    element against the tensor's scale keeps an element that came out near zero by cancellation
    from being held to a relative bound it cannot meet."""
    got = torch.as_tensor(got, dtype=torch.float64).flatten()
    ref = torch.as_tensor(ref, dtype=torch.float64).flatten()
    if got.numel() == 0:
        return 0.0
    diff = (got - ref).abs().max().item()
    scale = ref.abs().max().item()
    return diff / scale if scale > 0 else diff


# A vectorised exp/log counts as EXP roundings and sigmoid-based functions (SiLU, softplus) as
# SIGMOID: the accuracy tests/backend/test_kernels.cpp holds every kernel variant to (4e-7 and
# 2e-6 relative, against u = 6e-8).
EXP, SIGMOID = 7, 34


def transformer_depth(L, D, I, Dh, T, V, B, qk_norm=False):
    """Roundings along the longest accumulation chain of a causal-LM loss and its gradients, per
    layer: the norm's sum of squares (D), q/k/v (D), a per-head q/k norm's sum of squares (Dh,
    with qk_norm: Qwen3), scores (Dh), softmax (its exp) and P V (2 T), o_proj (D), gate/up (D) and
    SiLU, down (I); then the final norm and head (2 D) and the cross-entropy's sum (V) with its
    exp and log. The backward pass runs the chain again, and a weight gradient sums over B T
    tokens."""
    per_head = 2 * Dh if qk_norm else Dh
    forward = L * (4 * D + per_head + 2 * T + EXP + SIGMOID + I) + 2 * D + V + 2 * EXP
    return 2 * forward + B * T


def mamba_depth(L, D, I, S, K, R, T, V, B):
    """As transformer_depth for a Mamba stack: per layer the norm (D), in_proj (D), the causal conv
    (K taps) and SiLU, x_proj (I), dt_proj (R) and softplus, the scan (T steps of a product, a
    sum and an exp: 3 T; then C h over S), the gate's SiLU, out_proj (I)."""
    forward = L * (2 * D + K + 2 * I + R + 3 * T + S + 3 * SIGMOID + EXP) + 2 * D + V + 2 * EXP
    return 2 * forward + B * T


class AdamWBound:
    """The largest difference two correct f32 AdamW implementations can show after one step from
    the same parameters, gradients and (per implementation) moments, per element.

    One step per element: p (1 - lr wd); m = b1 m + (1 - b1) g (its error is bounded by the sum of
    magnitudes it accumulates, tracked here as m_abs); v = b2 v + (1 - b2) g^2 (no cancellation:
    relative error); p - (lr / c1) m / (sqrt(v) / sqrt(c2) + eps). After t steps the moments carry
    at most 4 t + 6 roundings relative to m_abs and v, and the update divides m_abs by
    sqrt(v_hat) + eps: an element whose gradients are near zero (v_hat ~ eps^2) turns last-bit
    differences in m into lr / eps times as much in the parameter, and the bound says so. Comparing
    parameters after several free-running steps instead would compound that amplification: hence
    the parity scripts start every step from our own parameters."""

    def __init__(self, numel, beta1, beta2, eps):
        self.m_abs = torch.zeros(numel, dtype=torch.float64)
        self.v = torch.zeros(numel, dtype=torch.float64)
        self.t = 0
        self.beta1, self.beta2, self.eps = beta1, beta2, eps

    def step(self, grad, p_before, p_after, lr):
        g = torch.as_tensor(grad, dtype=torch.float64)
        self.t += 1
        self.m_abs = self.beta1 * self.m_abs + (1 - self.beta1) * g.abs()
        self.v = self.beta2 * self.v + (1 - self.beta2) * g * g
        c1 = 1 - self.beta1 ** self.t
        c2 = 1 - self.beta2 ** self.t
        a = self.m_abs / c1 / ((self.v / c2).sqrt() + self.eps)
        p0 = torch.as_tensor(p_before, dtype=torch.float64).abs()
        p1 = torch.as_tensor(p_after, dtype=torch.float64).abs()
        u = U["f32"]
        # Per implementation: the decay factor's and the product's roundings (2 u |p0|), the final
        # subtraction's (u |p1|), and the update's.
        return 2 * (2 * u * p0 + u * p1 + lr * gamma(4 * self.t + 6) * a)


class SGDBound:
    """As AdamWBound for torch.optim.SGD with momentum (and Nesterov): g + wd p, the buffer
    b = mu b + g (its magnitudes tracked as b_abs), p - lr (g + mu b) or p - lr b. Linear in the
    gradient: nothing is amplified."""

    def __init__(self, numel, momentum, weight_decay):
        self.b_abs = torch.zeros(numel, dtype=torch.float64)
        self.t = 0
        self.mu, self.wd = momentum, weight_decay

    def step(self, grad, p_before, p_after, lr):
        self.t += 1
        p0 = torch.as_tensor(p_before, dtype=torch.float64).abs()
        p1 = torch.as_tensor(p_after, dtype=torch.float64).abs()
        g = torch.as_tensor(grad, dtype=torch.float64).abs() + self.wd * p0
        self.b_abs = self.mu * self.b_abs + g
        u = U["f32"]
        return 2 * (u * (p0 + p1) + lr * gamma(3 * self.t + 6) * (g + self.mu * self.b_abs))


def check_steps(name, run, params, loss_fn, opt, bounds, grad_tol, max_norm, lr_fn, failures):
    """Checks a C++ training run step by step from its own state (see torch_model_steps.py):
    run["steps"][k] holds the parameters step k started from, its loss, gradients before and after
    clipping, norm and learning rate; run["final"] the parameters after the last step. params are
    torch leaves loss_fn() reads, opt a torch optimizer over them, bounds an AdamWBound or SGDBound
    per parameter. Appends to failures; returns the worst gradient error and the worst update
    difference as a fraction of its bound."""
    worst = {"grad": 0.0, "update": 0.0}
    states = run["steps"] + [{"params": run["final"]}]

    def as_param(values, p):
        return torch.tensor(values, dtype=torch.float32).reshape(p.shape)

    for step, s in enumerate(run["steps"]):
        with torch.no_grad():
            for n, p in params.items():
                p.copy_(as_param(s["params"][n], p))
        lr = lr_fn(step)
        if abs(s["lr"] - lr) > 4 * U["f64"] * lr:
            failures.append(f"{name} step {step}: lr {s['lr']} vs {lr}")
        for g in opt.param_groups:
            g["lr"] = lr
        # 1. Loss and gradients at our parameters.
        loss = loss_fn()
        opt.zero_grad()
        loss.backward()
        e = abs(s["loss"] - loss.item()) / abs(loss.item())
        if not e <= grad_tol:
            failures.append(f"{name} step {step}: loss {s['loss']} vs {loss.item()} "
                            f"(relative error {e:.3g} > {grad_tol:.3g})")
        for n, p in params.items():
            e = normalised_error(s["grad"][n], p.grad)
            worst["grad"] = max(worst["grad"], e)
            if not e <= grad_tol:
                failures.append(f"{name} step {step} grad {n}: normalised error {e:.3g} > "
                                f"{grad_tol:.3g}")
        # 2. Clipping: our norm (summed in f64) against the f64 norm of our own gradients; then
        # each clipped gradient is one f32 product (and the coefficient's rounding).
        ours = {n: torch.tensor(s["grad"][n], dtype=torch.float64) for n in params}
        count = sum(g.numel() for g in ours.values())
        norm = math.sqrt(sum((g * g).sum().item() for g in ours.values()))
        if not abs(s["norm"] - norm) <= 2 * gamma(count + 1, U["f64"]) * norm:
            failures.append(f"{name} step {step}: grad norm {s['norm']} vs {norm}")
        coef = min(1.0, max_norm / (s["norm"] + 1e-6))
        for n, g in ours.items():
            want = g * coef
            got = torch.tensor(s["clipped_grad"][n], dtype=torch.float64)
            if not ((got - want).abs() <= 2 * U["f32"] * want.abs()).all():
                failures.append(f"{name} step {step} clipped grad {n}: not grad * {coef:.9g}")
        # 3. The optimizer from our parameters with our clipped gradients (its state fed ours
        # since the first step).
        with torch.no_grad():
            for n, p in params.items():
                p.grad = as_param(s["clipped_grad"][n], p)
        opt.step()
        for n, p in params.items():
            got = torch.tensor(states[step + 1]["params"][n], dtype=torch.float64)
            tol = bounds[n].step(s["clipped_grad"][n], s["params"][n], got, lr)
            err = (got - p.detach().double().flatten()).abs()
            worst["update"] = max(worst["update"], (err / tol.clamp(min=1e-300)).max().item())
            if not (err <= tol).all():
                i = int((err - tol).argmax())
                failures.append(f"{name} step {step} update {n}[{i}]: ours {got[i].item():.9g} "
                                f"vs torch {p.flatten()[i].item():.9g}, bound {tol[i].item():.3g}")
    return worst


def check_greedy(logits_fn, prompt, ours, delta):
    """Checks our greedy continuation against a reference without asking two implementations to
    break near-ties the same way: at each step (from our own tokens so far) our token's reference
    logit must be within delta of the reference's maximum, where delta bounds the two
    implementations' difference on the logits (twice the logits' tolerance). Where the reference's
    top two are further apart than delta, that means our token is its argmax. logits_fn(seq)
    returns the reference's last-position logits (1-D). Returns None, or what differs."""
    seq = list(prompt)
    for i, tok in enumerate(ours):
        logits = logits_fn(seq).double()
        best = int(logits.argmax())
        if not logits[tok] >= logits[best] - delta:
            return (f"greedy token {i}: ours {tok} (reference logit {logits[tok].item():.6g}) but the "
                    f"reference's argmax is {best} ({logits[best].item():.6g}), beyond {delta:.3g}")
        seq.append(tok)
    return None
