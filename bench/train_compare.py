#!/usr/bin/env python3
r"""Training tokens/s: Lazarus vs PyTorch on the same small Llama (~5.2 M parameters), batch and
sequence length, same thread count. Runs the two alternately (--rounds times each, so machine load
hits both alike), keeps each side's best median step, prints tokens/s, the ratio and peak RSS.

  cmake -S . -B build -DLAZARUS_BUILD_BENCH=ON && cmake --build build --target train_bench
  /usr/bin/python3 bench/train_compare.py [--binary build/bench/train_bench] [--threads 2]
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
    ap.add_argument("--binary", default=os.path.join(HERE, "..", "build", "bench", "train_bench"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2)
    a = ap.parse_args()
    env = dict(os.environ, OPENBLAS_CORETYPE="SkylakeX", OMP_WAIT_POLICY="PASSIVE",
               OMP_NUM_THREADS=str(a.threads), LAZARUS_NUM_THREADS=str(a.threads))
    common = ["--batch", str(a.batch), "--seq", str(a.seq), "--steps", str(a.steps),
              "--threads", str(a.threads)]
    best = {}
    for _ in range(a.rounds):
        for name, cmd in (("lazarus", [a.binary] + common),
                          ("torch", ["/usr/bin/python3", os.path.join(HERE, "torch_train.py")] + common)):
            r = run(cmd, env)
            if name not in best or r["median_step_s"] < best[name]["median_step_s"]:
                best[name] = r
    ours, torch = best["lazarus"], best["torch"]
    print(f"model: {ours['params']:,} parameters (torch {torch['params']:,}), batch {a.batch} x seq {a.seq}, "
          f"{a.threads} threads, {a.steps} timed steps, best of {a.rounds} rounds")
    print("| impl | step (median) | tokens/s | peak RSS |")
    print("|---|---|---|---|")
    for r in (ours, torch):
        print(f"| {r['impl']} | {r['median_step_s'] * 1e3:.1f} ms | {r['tokens_per_s']:,.0f} | {r['peak_rss_mb']:.0f} MB |")
    print(f"ratio (ours / torch tokens/s): {ours['tokens_per_s'] / torch['tokens_per_s']:.2f}")
    print(f"load average: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
