#!/usr/bin/env python3
r"""Decode tokens/s: Lazarus vs PyTorch on the same model folder (default: the shipped
fortunes-llama-4m), prompt and length, same thread count, greedy with a KV cache. Runs the two
alternately (--rounds times each, so machine load hits both alike), keeps each side's best,
prints prefill and decode tokens/s, the ratios, and whether the greedy tokens agree.

  cmake -S . -B build -DLAZARUS_BUILD_BENCH=ON && cmake --build build --target decode_bench
  /usr/bin/python3 bench/decode_compare.py [--binary build/bench/decode_bench] [--threads 2]
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def run(cmd, env):
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.path.join(HERE, "..", "build", "bench", "decode_bench"))
    ap.add_argument("--model", default=os.path.join(HERE, "..", "assets", "models", "fortunes-llama-4m"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prompt-len", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=200)
    ap.add_argument("--reps", type=int, default=3, help="generations per process (best kept)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--wait-policy", default="PASSIVE", help="OMP_WAIT_POLICY for both sides")
    a = ap.parse_args()
    env = dict(os.environ, OPENBLAS_CORETYPE="SkylakeX", OMP_WAIT_POLICY=a.wait_policy,
               OMP_NUM_THREADS=str(a.threads), LAZARUS_NUM_THREADS=str(a.threads))
    common = ["--model", a.model, "--prompt-len", str(a.prompt_len), "--new-tokens", str(a.new_tokens),
              "--rounds", str(a.reps), "--threads", str(a.threads)]
    best = {}
    for _ in range(a.rounds):
        for name, cmd in (("lazarus", [a.binary] + common),
                          ("torch", ["/usr/bin/python3", os.path.join(HERE, "torch_decode.py")] + common)):
            r = run(cmd, env)
            b = best.setdefault(name, r)
            for k in ("prefill_tokens_per_s", "decode_tokens_per_s"):
                b[k] = max(b[k], r[k])
    ours, torch = best["lazarus"], best["torch"]
    same = ours["tokens"] == torch["tokens"]
    first = next((i for i, (x, y) in enumerate(zip(ours["tokens"], torch["tokens"])) if x != y), None)
    print(f"model: {os.path.basename(os.path.normpath(a.model))}, prompt {a.prompt_len} tokens, "
          f"{a.new_tokens} new (greedy), {a.threads} threads, OMP_WAIT_POLICY={a.wait_policy}, "
          f"best of {a.rounds} rounds x {a.reps}")
    print("| impl | prefill tokens/s | decode tokens/s |")
    print("|---|---|---|")
    for r in (ours, torch):
        print(f"| {r['impl']} | {r['prefill_tokens_per_s']:,.0f} | {r['decode_tokens_per_s']:,.0f} |")
    print(f"ratio (ours / torch tokens/s): prefill {ours['prefill_tokens_per_s'] / torch['prefill_tokens_per_s']:.2f}, "
          f"decode {ours['decode_tokens_per_s'] / torch['decode_tokens_per_s']:.2f}")
    print("greedy tokens: " + ("identical" if same else f"differ from position {first}"))
    print(f"load average: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
