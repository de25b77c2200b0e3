"""The PyTorch side of bench/compare.py: the same ops on the same shapes as bench/bench_ops.cpp.

Cases are named like the C++ benchmarks ("op/shape"), so one name builds both. PyTorch gets its best
settings: set_num_threads(threads), inference mode, and for f32 GEMMs OpenBLAS told its core type
(OPENBLAS_CORETYPE=SkylakeX) with passive OpenMP waiting; configure() must run before torch is
imported. Ops torch has no fused kernel for in 1.13 are composed as the reference code composes
them (HF Llama's RMSNorm and rotate_half rope; attention as matmul-mask-softmax-matmul).

Standalone: python3 bench/torch_ops.py [--threads 2] [names...] prints torch's medians.
"""

import os
import statistics
import sys
import time


def configure(threads):
    """Environment for torch's best f32 run; call before `import torch`."""
    os.environ.setdefault("OPENBLAS_CORETYPE", "SkylakeX")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ["OMP_NUM_THREADS"] = str(threads)
    os.environ["OPENBLAS_NUM_THREADS"] = str(threads)


_torch = None


def torch_module(threads):
    global _torch
    if _torch is None:
        configure(threads)
        import torch

        torch.set_num_threads(threads)
        _torch = torch
    return _torch


def blas_info(threads):
    torch = torch_module(threads)
    cfg = torch.__config__.show()
    blas = cfg.split("BLAS_INFO=")[1].split(",")[0] if "BLAS_INFO=" in cfg else "?"
    return {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "BLAS_INFO": blas,
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
    }


def _dims(shape):
    return [int(v) for v in shape.split("x")]


def make_case(name, threads):
    """A zero-argument callable running `name`'s op in torch, or None when torch has no peer."""
    torch = torch_module(threads)
    F = torch.nn.functional
    op, shape = name.split("/", 1)
    g = torch.Generator().manual_seed(0)

    def randn(*s):
        return torch.randn(*s, generator=g, dtype=torch.float32)

    if op == "matmul":
        M, K, N = _dims(shape)
        a, b = randn(M, K), randn(K, N)
        return lambda: torch.matmul(a, b)
    if op == "linear":
        M, K, N = _dims(shape)
        x, w = randn(M, K), randn(N, K)
        return lambda: F.linear(x, w)
    if op == "softmax":
        R, N = _dims(shape)
        x = randn(R, N)
        return lambda: torch.softmax(x, -1)
    if op == "rms_norm":
        R, N = _dims(shape)
        x, w = randn(R, N), randn(N)
        eps = 1e-6

        def rms_norm():  # transformers LlamaRMSNorm.forward (f32 input: the casts are no-ops)
            variance = x.pow(2).mean(-1, keepdim=True)
            return w * (x * torch.rsqrt(variance + eps))

        return rms_norm
    if op == "layer_norm":
        R, N = _dims(shape)
        x, w, b = randn(R, N), randn(N), randn(N)
        return lambda: F.layer_norm(x, (N,), w, b, 1e-5)
    if op == "rope":
        B, H, T, D = _dims(shape)
        x = randn(B, H, T, D)
        inv = 1.0 / (10000.0 ** (torch.arange(0, D, 2, dtype=torch.float32) / D))
        freqs = torch.outer(torch.arange(T, dtype=torch.float32), inv)
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()

        def rotate_half(t):  # transformers.models.llama.modeling_llama.rotate_half
            t1, t2 = t[..., : t.shape[-1] // 2], t[..., t.shape[-1] // 2 :]
            return torch.cat((-t2, t1), dim=-1)

        return lambda: (x * cos) + (rotate_half(x) * sin)
    if op == "attention_causal":
        B, H, T, D = _dims(shape)
        q, k, v = randn(B, H, T, D), randn(B, H, T, D), randn(B, H, T, D)
        scale = D ** -0.5
        future = torch.ones(T, T, dtype=torch.bool).triu(1)

        def attention():  # composed, with the cheap choices: scale on q, in-place mask and softmax
            s = torch.matmul(q * scale, k.transpose(-1, -2))
            s.masked_fill_(future, float("-inf"))
            return torch.matmul(torch.softmax(s, -1), v)

        return attention
    if op == "attention_causal_train":
        B, H, T, D = _dims(shape)
        q, k, v = (randn(B, H, T, D).requires_grad_() for _ in range(3))
        g = randn(B, H, T, D)
        scale = D ** -0.5
        future = torch.ones(T, T, dtype=torch.bool).triu(1)

        def attention_train():  # the same composition, forward and backward; fresh gradients
            for t in (q, k, v):
                t.grad = None
            s = torch.matmul(q * scale, k.transpose(-1, -2))
            s = s.masked_fill(future, float("-inf"))
            torch.matmul(torch.softmax(s, -1), v).backward(g)

        attention_train.needs_grad = True
        return attention_train
    return None


def time_case(fn, reps, min_time):
    """Median seconds per call over `reps` repetitions of >= min_time each (after a warm-up)."""
    torch = _torch
    with torch.enable_grad() if getattr(fn, "needs_grad", False) else torch.inference_mode():
        fn()
        t0 = time.perf_counter()
        fn()
        one = max(time.perf_counter() - t0, 1e-7)
        iters = max(1, int(min_time / one))
        per = []
        for _ in range(reps):
            t0 = time.perf_counter()
            for _ in range(iters):
                fn()
            per.append((time.perf_counter() - t0) / iters)
    return statistics.median(per), per


DEFAULT_CASES = [
    "matmul/512x2048x2048",
    "linear/512x2048x2048",
    "linear/1x2048x5632",
    "softmax/4096x1024",
    "softmax/64x32000",
    "rms_norm/512x2048",
    "layer_norm/512x2048",
    "rope/1x16x2048x128",
    "attention_causal/1x16x2048x64",
    "attention_causal_train/1x16x1024x64",
]


def main(argv):
    threads = 2
    if "--threads" in argv:
        i = argv.index("--threads")
        threads = int(argv[i + 1])
        del argv[i : i + 2]
    names = argv or DEFAULT_CASES
    print(blas_info(threads))
    for n in names:
        fn = make_case(n, threads)
        if fn is None:
            print(f"{n:40s} (no torch peer)")
            continue
        med, _ = time_case(fn, 5, 0.2)
        print(f"{n:40s} {med * 1e3:10.3f} ms")


if __name__ == "__main__":
    main(sys.argv[1:])
