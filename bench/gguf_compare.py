#!/usr/bin/env python3
"""Lazarus against llama.cpp on the same GGUF files: prefill and decode throughput, peak RSS, and
a memory-bandwidth ceiling for decode.

What it does:
 1. Builds a random-weight Llama in Hugging Face layout (config.json + safetensors, f32, weights
    ~ N(0, 0.02^2), norms 1) for a shape (--shape smollm2-135m: vocab 49152, hidden 576, inter
    1536, 30 layers, 9 heads / 3 KV heads, tied embeddings, rope_theta 1e5; or tinyllama-1.1b:
    vocab 32000, hidden 2048, inter 5632, 22 layers, 32 / 4 heads, untied, rope_theta 1e4) in
    --workdir/SHAPE/hf, and writes GGUF files for the --types with tests/reference/gguf_writer.py
    (llama_from_hf_folder: convert_hf_to_gguf / llama-quantize semantics, its own tiny
    SentencePiece-style vocabulary: <unk> <s> </s>, the 256 byte tokens <0x00>..<0xFF>, "\u2581",
    single characters and filler tokens <tN> up to the vocab size; node-llama-cpp's load-time
    tokenizer probe tokenizes with byte fallback). Everything is reused when already there.
    K-quant mixes (q4_k_m, q5_k_m, q6_k) need rows of a multiple of 256: smollm2's hidden 576 is
    not one (llama.cpp would fall back to Q5_0 / Q5_1, which gguf_writer does not write: it
    raises), so those mixes are skipped for smollm2 with a note; tinyllama (2048 / 5632) has them.
 2. Per round (--rounds, default 3), per file, interleaved, one fresh process each:
      Lazarus   bench/decode_bench --model FILE --prompt-len 512 --new-tokens 2 --rounds 1   (prefill)
      llama.cpp bench/llama_cpp_bench.mjs (node-llama-cpp 3.21.1, prebuilt CPU build): prefill 512
                tokens, then a 128-token prompt and 128 greedy tokens (decode)
      Lazarus   bench/decode_bench --model FILE --prompt-len 128 --new-tokens 128 --rounds 1  (decode)
    decode_bench warms up with one untimed round in each process; llama_cpp_bench.mjs does the
    same. Prompt ids are decode_bench's: (7 i + 3) mod vocab. Prefill = prompt forward + the
    first (greedy) sample; decode = the 127 later steps (forward + greedy sample each), as
    lazarus::generation::generate counts them. Each side keeps its best round.
 3. Peak RSS of every child (/usr/bin/time -f %M: the child's own ru_maxrss; the weights are
    file-mapped on both sides, so RSS counts the pages of the file that were touched; node's
    own heap, ~50 MiB, is in llama.cpp's number). The decode ceiling: bytes read per decoded token (every weight matrix
    once: for a tied model the embedding is the head and is read whole; an untied embedding
    is one row) over a STREAM-style read bandwidth measured here (a C++ OpenMP sum over a 1 GiB
    float array with --threads threads, best of 10 passes; numpy if no compiler).

Usage:
  bench/gguf_compare.py [--shape smollm2-135m|tinyllama-1.1b] [--types f32,q8_0,q4_0]
      [--rounds 3] [--threads 2] [--prefill-len 512] [--decode-prompt 128] [--new-tokens 128]
      [--workdir /tmp/lazarus_gguf_bench] [--decode-bench build/bench/decode_bench]
      [--llama-api low|high] [--flash-attention auto|on|off] [--json OUT.json] [--build-only]
Types: f32 f16 bf16 q8_0 q4_0 q4_1 q4_k_m q5_k_m q6_k (gguf_writer's mixes).
Needs /usr/bin/python3 with numpy and torch, node, tests/reference/node_modules, g++ (optional).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
REF = os.path.join(ROOT, "tests", "reference")
sys.path.insert(0, REF)
import gguf_writer as G  # noqa: E402

SHAPES = {
    "smollm2-135m": dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                         num_attention_heads=9, num_key_value_heads=3, tie_word_embeddings=True,
                         rope_theta=100000.0, max_position_embeddings=8192, bos_token_id=1, eos_token_id=2),
    "tinyllama-1.1b": dict(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                           num_attention_heads=32, num_key_value_heads=4, tie_word_embeddings=False,
                           rope_theta=10000.0, max_position_embeddings=2048, bos_token_id=1, eos_token_id=2),
}
WEIGHT_STD = 0.02
SHARD_BYTES = 1 << 30


# ---------------------------------------------------------------- 1. models

def hf_config(shape):
    from make_hf_folders import base_config
    return base_config(**SHAPES[shape])


def build_hf_folder(shape, folder, seed=1234):
    """A random Llama HF folder for the shape (f32 safetensors, shards of <= 1 GiB)."""
    import torch
    from make_hf_folders import write_safetensors
    cfg = hf_config(shape)
    done = os.path.join(folder, ".complete")
    if os.path.exists(done) and json.load(open(done)) == {"cfg": cfg, "std": WEIGHT_STD, "seed": seed}:
        return cfg
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    rng = np.random.default_rng(seed)
    D, V, L, I = cfg["hidden_size"], cfg["vocab_size"], cfg["num_hidden_layers"], cfg["intermediate_size"]
    H, Hkv = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    Dh = D // H

    def rnd(*shape):
        return torch.from_numpy(rng.standard_normal(shape, dtype=np.float32) * np.float32(WEIGHT_STD))

    names = [("model.embed_tokens.weight", (V, D))]
    for l in range(L):
        p = f"model.layers.{l}."
        names += [(p + "input_layernorm.weight", None), (p + "post_attention_layernorm.weight", None),
                  (p + "self_attn.q_proj.weight", (H * Dh, D)), (p + "self_attn.k_proj.weight", (Hkv * Dh, D)),
                  (p + "self_attn.v_proj.weight", (Hkv * Dh, D)), (p + "self_attn.o_proj.weight", (D, H * Dh)),
                  (p + "mlp.gate_proj.weight", (I, D)), (p + "mlp.up_proj.weight", (I, D)),
                  (p + "mlp.down_proj.weight", (D, I))]
    names.append(("model.norm.weight", None))
    if not cfg["tie_word_embeddings"]:
        names.append(("lm_head.weight", (V, D)))
    shards, cur, size = [], {}, 0
    for n, s in names:
        t = torch.ones(D) if s is None else rnd(*s)
        if cur and size + t.numel() * 4 > SHARD_BYTES:
            shards.append(cur)
            cur, size = {}, 0
        cur[n] = t
        size += t.numel() * 4
    shards.append(cur)
    if len(shards) == 1:
        write_safetensors(os.path.join(folder, "model.safetensors"), shards[0])
    else:
        weight_map = {}
        for i, sh in enumerate(shards):
            fn = f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors"
            write_safetensors(os.path.join(folder, fn), sh)
            weight_map.update({n: fn for n in sh})
        json.dump({"metadata": {}, "weight_map": weight_map},
                  open(os.path.join(folder, "model.safetensors.index.json"), "w"), indent=1)
    json.dump(cfg, open(os.path.join(folder, "config.json"), "w"), indent=2)
    json.dump({"cfg": cfg, "std": WEIGHT_STD, "seed": seed}, open(done, "w"))
    return cfg


def build_gguf(folder, path, mix):
    """gguf_writer.llama_from_hf_folder to path (atomically); (path, None) or (None, why skipped)."""
    if os.path.exists(path):
        return path, None
    tmp = path + ".tmp"
    try:
        G.llama_from_hf_folder(folder, tmp, mix)
    except ValueError as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        return None, str(e)
    os.replace(tmp, path)
    return path, None


def gguf_infos(path):
    """{name: (ggml type, numpy shape, bytes)} from the header only (no tensor data read)."""
    with open(path, "rb") as f:
        head = f.read(64 << 20)  # the metadata (a 49152-token vocabulary is ~1 MiB) and tensor infos
    c = G._Cursor(head)
    c.p = 4
    _, n_t, n_kv = c.take("<IQQ")
    for _ in range(n_kv):
        c.string()
        c.value(c.take("<I"))
    out = {}
    for _ in range(n_t):
        name = c.string()
        nd = c.take("<I")
        ne = [c.take("<Q") for _ in range(nd)]
        t, _off = c.take("<IQ")
        out[name] = (t, tuple(reversed(ne)), G.row_bytes(t, ne[0]) * int(np.prod(ne[1:], dtype=np.int64)))
    return out


def bytes_per_decoded_token(cfg, infos):
    """Bytes of weights one decode step reads: every tensor once, except an untied token_embd
    (one row of it is gathered)."""
    total = 0
    for name, (t, shape, nbytes) in infos.items():
        if name == "token_embd.weight" and not cfg["tie_word_embeddings"]:
            total += nbytes // shape[0]
        else:
            total += nbytes
    return total


def kv_bytes_per_token_read(cfg, context, bytes_per_elem):
    """K and V cache bytes one decode step reads at a given context length."""
    Dh = cfg["hidden_size"] // cfg["num_attention_heads"]
    return 2 * cfg["num_hidden_layers"] * cfg["num_key_value_heads"] * Dh * context * bytes_per_elem


def type_summary(infos):
    """'Q4_0 x210, Q6_K x1, F32 x61'-style count of the tensor types in a file."""
    counts = {}
    for _, (t, _, _) in infos.items():
        counts[G.GT.NAMES[t]] = counts.get(G.GT.NAMES[t], 0) + 1
    return ", ".join(f"{k} x{v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


# ---------------------------------------------------------------- 2. bandwidth

STREAM_SRC = r"""
// STREAM-style read bandwidth: sum of a 1 GiB float array, OpenMP threads, best of N passes.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <omp.h>
#include <sys/mman.h>
int main(int argc, char** argv) {
  const size_t n = (size_t(1) << 30) / sizeof(float);
  const int passes = argc > 1 ? std::atoi(argv[1]) : 10;
  float* a = static_cast<float*>(std::aligned_alloc(size_t(2) << 20, n * sizeof(float)));
  madvise(a, n * sizeof(float), MADV_HUGEPAGE);  // fewer TLB misses: the best the memory does
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; ++i) a[i] = float(i & 1023) * 1e-3f;  // first touch by the reading thread
  double best = 1e30, sink = 0;
  for (int p = 0; p < passes; ++p) {
    const auto t0 = std::chrono::steady_clock::now();
    double total = 0;
#pragma omp parallel reduction(+ : total)
    {
      float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp for schedule(static) nowait
      for (size_t i = 0; i < n; i += 64) {
        for (int j = 0; j < 16; ++j) {
          s0 += a[i + j];
          s1 += a[i + 16 + j];
          s2 += a[i + 32 + j];
          s3 += a[i + 48 + j];
        }
      }
      total += double(s0) + s1 + s2 + s3;
    }
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s < best) best = s;
    sink += total;
  }
  std::printf("{\"threads\": %d, \"bytes\": %zu, \"best_s\": %.6f, \"gb_per_s\": %.3f, \"sink\": %g}\n",
              omp_get_max_threads(), n * sizeof(float), best, double(n * sizeof(float)) / best / 1e9, sink);
  std::free(a);
  return 0;
}
"""


def measure_bandwidth(workdir, threads):
    """(GB/s, how): the C++ loop if g++ builds it, else numpy (np.add.reduce in `threads` Python
    threads over halves of the array; numpy releases the GIL in the reduction)."""
    exe = os.path.join(workdir, "stream_read")
    src = os.path.join(workdir, "stream_read.cpp")
    try:
        stale = not (os.path.exists(exe) and os.path.exists(src) and open(src).read() == STREAM_SRC)
        if stale:
            open(src, "w").write(STREAM_SRC)
            subprocess.run(["g++", "-O3", "-march=native", "-ffast-math", "-fopenmp", src, "-o", exe],
                           check=True, capture_output=True, text=True)
        env = dict(os.environ, OMP_NUM_THREADS=str(threads), OMP_PROC_BIND="true")
        out = json.loads(subprocess.run([exe, "10"], check=True, capture_output=True, text=True, env=env).stdout)
        return out["gb_per_s"], (f"C++ OpenMP sum over a 1 GiB float32 array (transparent huge pages), {threads} "
                                 "threads, best of 10 passes (g++ -O3 -march=native -ffast-math), best of one "
                                 "such probe before each round")
    except (OSError, subprocess.CalledProcessError, ValueError) as e:
        print(f"(C++ bandwidth probe failed: {e}; using numpy)", file=sys.stderr)
    import threading
    a = np.ones((1 << 30) // 4, np.float32)
    parts = np.array_split(a, threads)
    best = 1e30
    for _ in range(5):
        ts = [threading.Thread(target=np.add.reduce, args=(p,)) for p in parts]
        t0 = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        best = min(best, time.perf_counter() - t0)
    return a.nbytes / best / 1e9, (f"numpy np.add.reduce over a 1 GiB float32 array in {threads} threads, best "
                                   "of 5, best of one such probe before each round")


# ---------------------------------------------------------------- 3. runs

def cpu_jiffies():
    """(total, busy) jiffies of all CPUs from /proc/stat (busy: everything but idle and iowait)."""
    v = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    return sum(v), sum(v) - v[3] - v[4]


def run_child(cmd, env=None, timeout=900):
    """Runs cmd; returns (returncode, stdout, stderr, peak RSS MiB, wall s, others' busy cores
    during the run). The peak RSS is /usr/bin/time's %M (the child's own ru_maxrss): os.wait4 on
    a child of this process would report at least this Python process's RSS, which Linux carries
    over fork + exec into the child's maxrss. Others' load = the machine's busy CPU time during
    the run (/proc/stat) less the child's own user + system time (/usr/bin/time %U %S), per
    second of wall time."""
    timer = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err, \
            tempfile.NamedTemporaryFile("r", suffix=".rss") as rssf:
        full = [timer, "-f", "%M %U %S", "-o", rssf.name] + cmd if timer else cmd
        tot0, busy0 = cpu_jiffies()
        t0 = time.perf_counter()
        p = subprocess.Popen(full, stdout=out, stderr=err, env=env, text=True, start_new_session=True)
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, 9)  # its own process group: /usr/bin/time and the benchmark
            p.wait()
            p.returncode = -9
        wall = time.perf_counter() - t0
        tot1, busy1 = cpu_jiffies()
        out.seek(0)
        err.seek(0)
        rss, others = float("nan"), float("nan")
        if timer:
            fields = open(rssf.name).read().split()
            if len(fields) >= 3 and fields[-3].isdigit():
                rss = int(fields[-3]) / 1024.0
                busy_s = (busy1 - busy0) / max(1, tot1 - tot0) * (os.cpu_count() or 1) * wall
                others = max(0.0, (busy_s - float(fields[-2]) - float(fields[-1])) / wall)
        return p.returncode, out.read(), err.read(), rss, wall, others


def busy_cores(interval=1.0):
    """CPU cores busy over `interval` seconds, from /proc/stat (this script idles meanwhile: it is
    others' load)."""
    def sample():
        v = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
        return sum(v), v[3] + v[4]
    t0, i0 = sample()
    time.sleep(interval)
    t1, i1 = sample()
    return (os.cpu_count() or 1) * (1 - (i1 - i0) / max(1, t1 - t0))


def wait_quiet(max_wait, threshold=0.3):
    """Waits (up to max_wait s) until others use less than `threshold` cores; returns the busy
    cores seen last."""
    deadline = time.monotonic() + max_wait
    busy = busy_cores()
    while busy > threshold and time.monotonic() < deadline:
        busy = busy_cores()
    return busy


def last_json_line(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError("no JSON line in the output")


def run_lazarus(binary, gguf, prompt_len, new_tokens, threads, args):
    others = wait_quiet(args.quiet_wait)
    cmd = [binary, "--model", gguf, "--prompt-len", str(prompt_len), "--new-tokens", str(new_tokens),
           "--rounds", "1", "--threads", str(threads)]
    return finish(cmd, run_child(cmd, timeout=args.timeout), others)


def finish(cmd, child, others_before):
    rc, out, err, rss, wall, others = child
    if rc != 0:
        print(f"FAILED ({rc}, after {wall:.0f} s{', timed out' if rc == -9 else ''}): {' '.join(cmd)}\n{err[-1500:]}",
              file=sys.stderr)
        r = {"failed": rc}
    else:
        r = last_json_line(out)
    r.update(peak_rss_mib=rss, wall_s=wall, others_busy_cores_before=others_before, others_busy_cores=others)
    return r


def run_llama_cpp(gguf, args):
    cmd = ["node", os.path.join(HERE, "llama_cpp_bench.mjs"), "--model", gguf,
           "--prefill-len", str(args.prefill_len), "--decode-prompt", str(args.decode_prompt),
           "--new-tokens", str(args.new_tokens), "--threads", str(args.threads), "--rounds", "1",
           "--api", args.llama_api, "--flash-attention", args.flash_attention]
    env = dict(os.environ, NODE_LLAMA_CPP_SKIP_DOWNLOAD="true")
    others = wait_quiet(args.quiet_wait)
    return finish(cmd, run_child(cmd, env=env, timeout=args.timeout), others)


def best(rows, key):
    """(best value, that run) over the runs."""
    runs = [r for r in rows if r.get(key)]
    if not runs:
        return float("nan"), {}
    r = max(runs, key=lambda r: r[key])
    return r[key], r


def agree_prefix(a, b):
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", default="smollm2-135m", choices=sorted(SHAPES))
    ap.add_argument("--types", default="f32,q8_0,q4_0")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--prefill-len", type=int, default=512)
    ap.add_argument("--decode-prompt", type=int, default=128)
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--workdir", default="/tmp/lazarus_gguf_bench")
    ap.add_argument("--decode-bench", default=os.path.join(ROOT, "build", "bench", "decode_bench"))
    ap.add_argument("--llama-api", default="low", choices=["low", "high"],
                    help="llama_cpp_bench.mjs --api: low = the addon's batch/decode/sample calls "
                         "(what LlamaContextSequence.evaluate runs underneath), high = sequence.evaluate")
    ap.add_argument("--flash-attention", default="auto", choices=["auto", "on", "off"])
    ap.add_argument("--quiet-wait", type=float, default=20,
                    help="before each run, wait up to this many seconds for others' CPU use to drop below 0.3 cores")
    ap.add_argument("--timeout", type=float, help="seconds before a run is killed (counted as failed; default 180 "
                    "for smollm2-135m, 600 for tinyllama-1.1b: several times a quiet run, room for a loaded one)")
    ap.add_argument("--max-others", type=float, default=0.3,
                    help="a run during which other processes used more cores than this is repeated (--retries)")
    ap.add_argument("--retries", type=int, default=2)
    ap.add_argument("--json", help="also write every round's results here")
    ap.add_argument("--build-only", action="store_true", help="only write the HF folder and the GGUFs")
    args = ap.parse_args()
    if args.timeout is None:
        args.timeout = {"smollm2-135m": 180, "tinyllama-1.1b": 600}[args.shape]

    shape_dir = os.path.join(args.workdir, args.shape)
    os.makedirs(shape_dir, exist_ok=True)
    t0 = time.perf_counter()
    cfg = build_hf_folder(args.shape, os.path.join(shape_dir, "hf"))
    print(f"[{time.perf_counter() - t0:.0f}s] HF folder {shape_dir}/hf ready", file=sys.stderr)
    files, skipped = [], []
    for mix in [m.strip() for m in args.types.split(",") if m.strip()]:
        if mix == "f32" and args.shape == "tinyllama-1.1b":
            print("note: tinyllama-1.1b f32 is a 4.4 GB file; building it as asked", file=sys.stderr)
        path, why = build_gguf(os.path.join(shape_dir, "hf"), os.path.join(shape_dir, f"{mix.replace(':', '-')}.gguf"), mix)
        if path is None:
            skipped.append((mix, why))
            print(f"skip {mix}: {why}", file=sys.stderr)
        else:
            files.append((mix, path))
            print(f"[{time.perf_counter() - t0:.0f}s] {path} ({os.path.getsize(path) / 2**20:.0f} MiB)", file=sys.stderr)
    if args.build_only:
        return 0

    # A private copy of the binary: a rebuild in the shared build folder cannot swap it mid-run.
    binary = os.path.join(args.workdir, "decode_bench")
    if (not os.path.exists(binary) or os.path.getmtime(binary) < os.path.getmtime(args.decode_bench)
            or os.path.getsize(binary) != os.path.getsize(args.decode_bench)):
        shutil.copy2(args.decode_bench, binary)

    results = {mix: {"lazarus_prefill": [], "lazarus_decode": [], "llama_cpp": []} for mix, _ in files}
    bws = []
    for r in range(args.rounds):
        wait_quiet(args.quiet_wait)
        bw, bw_how = measure_bandwidth(args.workdir, args.threads)
        bws.append(bw)
        print(f"read bandwidth: {bw:.1f} GB/s", file=sys.stderr)
        for mix, path in files:
            res = results[mix]
            for key, run in (("lazarus_prefill", lambda: run_lazarus(binary, path, args.prefill_len, 2, args.threads, args)),
                             ("llama_cpp", lambda: run_llama_cpp(path, args)),
                             ("lazarus_decode", lambda: run_lazarus(binary, path, args.decode_prompt, args.new_tokens,
                                                                    args.threads, args))):
                for attempt in range(args.retries + 1):
                    out = run()
                    out["attempt"] = attempt
                    res[key].append(out)
                    if "failed" not in out and not out["others_busy_cores"] > args.max_others:
                        break
                    print(f"  {key} {mix}: others used {out['others_busy_cores']:.1f} cores during the run"
                          f"{' (failed)' if 'failed' in out else ''}"
                          f"{'; again' if attempt < args.retries else ''}", file=sys.stderr)
            lp, lc, ld = res["lazarus_prefill"][-1], res["llama_cpp"][-1], res["lazarus_decode"][-1]
            nan = float("nan")
            print(f"[{time.perf_counter() - t0:.0f}s] round {r + 1} {mix}: prefill {lp.get('prefill_tokens_per_s', nan):.1f} "
                  f"vs {lc.get('prefill_tokens_per_s', nan):.1f}, decode {ld.get('decode_tokens_per_s', nan):.1f} vs "
                  f"{lc.get('decode_tokens_per_s', nan):.1f} tok/s (others' load during each: "
                  f"{lp['others_busy_cores']:.1f} / {lc['others_busy_cores']:.1f} / "
                  f"{ld['others_busy_cores']:.1f} cores)", file=sys.stderr)

    bw = max(bws)
    build = next((r for res in results.values() for r in res["llama_cpp"] if "failed" not in r), {})
    print(f"\n{args.shape} (random weights, std {WEIGHT_STD}), {args.threads} threads; prefill {args.prefill_len} "
          f"tokens; decode {args.new_tokens - 1} steps after a {args.decode_prompt}-token prompt (+1 token sampled "
          f"from the prompt); best of {args.rounds} interleaved rounds, one process per measurement")
    if build:
        ctxi = build.get("context", {})
        print(f"llama.cpp {build.get('llama_cpp', {}).get('release')} via node-llama-cpp {build.get('node_llama_cpp')} "
              f"(CPU variant {','.join(build.get('cpu_variant', []))}), api {build.get('api')}, batch "
              f"{ctxi.get('batch_size')}, flash attention {ctxi.get('flash_attention')}, KV cache "
              f"{ctxi.get('kv_cache_type')}, mmap on")
    print(f"read bandwidth {bw:.1f} GB/s ({bw_how}; per round: {', '.join(f'{b:.1f}' for b in bws)})")
    loads = [r["others_busy_cores"] for res in results.values() for k in ("lazarus_prefill", "lazarus_decode", "llama_cpp")
             for r in res[k]]
    if loads:
        print(f"others' load during the runs: {min(loads):.1f} .. {max(loads):.1f} busy cores of {os.cpu_count()} "
              f"({sum(x > 0.3 for x in loads)} of {len(loads)} runs above 0.3; with {args.threads} threads on "
              f"{os.cpu_count()} cores any other load stalls every barrier)")
    hdr = ("type", "Laz prefill", "l.cpp prefill", "ratio", "Laz decode", "l.cpp decode", "ratio",
           "MB/token", "ceiling tok/s", "Laz %", "l.cpp %", "Laz RSS MiB (decode run)", "l.cpp RSS MiB", "greedy =")
    rows = []
    for mix, path in files:
        res = results[mix]
        infos = gguf_infos(path)
        wbytes = bytes_per_decoded_token(cfg, infos)
        ceiling = bw * 1e9 / wbytes
        (lp, lpr), (cp, cpr) = best(res["lazarus_prefill"], "prefill_tokens_per_s"), best(res["llama_cpp"], "prefill_tokens_per_s")
        (ld, ldr), (cd, cdr) = best(res["lazarus_decode"], "decode_tokens_per_s"), best(res["llama_cpp"], "decode_tokens_per_s")
        noise = [x.get("others_busy_cores", float("nan")) for x in (lpr, cpr, ldr, cdr)]
        ok = lambda rs: [r for r in rs if "failed" not in r]  # noqa: E731
        lrss = max([r["peak_rss_mib"] for r in ok(res["lazarus_prefill"] + res["lazarus_decode"])] or [float("nan")])
        lrss_d = max([r["peak_rss_mib"] for r in ok(res["lazarus_decode"])] or [float("nan")])
        crss = max([r["peak_rss_mib"] for r in ok(res["llama_cpp"])] or [float("nan")])
        lt = (ok(res["lazarus_decode"]) or [{}])[-1].get("tokens", [])
        ct = (ok(res["llama_cpp"]) or [{}])[-1].get("greedy", [])
        rows.append((mix, f"{lp:.1f}", f"{cp:.1f}", f"{lp / cp:.2f}", f"{ld:.1f}", f"{cd:.1f}", f"{ld / cd:.2f}",
                     f"{wbytes / 1e6:.1f}", f"{ceiling:.1f}", f"{100 * ld / ceiling:.0f}%", f"{100 * cd / ceiling:.0f}%",
                     f"{lrss:.0f} ({lrss_d:.0f})", f"{crss:.0f}",
                     f"{agree_prefix(lt, ct)}/{min(len(lt), len(ct))} ({len(set(ct))} distinct)"))
        res["summary"] = dict(zip(hdr, rows[-1]), tensor_types=type_summary(infos), weight_bytes=wbytes,
                              others_load_during_best=noise)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(hdr)]
    print(" | ".join(h.ljust(w) for h, w in zip(hdr, widths)))
    print("-|-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(v.ljust(w) for v, w in zip(r, widths)))
    for mix, path in files:
        n = results[mix]["summary"]["others_load_during_best"]
        print(f"  {mix}: {results[mix]['summary']['tensor_types']}; others' load during the best runs (Laz prefill, "
              f"l.cpp prefill, Laz decode, l.cpp decode): {' / '.join(f'{x:.1f}' for x in n)} cores")
    kv = kv_bytes_per_token_read(cfg, args.decode_prompt + args.new_tokens // 2, 2)
    print(f"(prefill / decode in tokens/s; ratio = Lazarus / llama.cpp; MB/token = weight bytes one decode step "
          f"reads; ceiling = bandwidth / that; the f16 KV cache adds ~{kv / 1e6:.1f} MB/token at the mean decode "
          f"context; greedy = = leading tokens of the {args.new_tokens} decoded that agree, and how many distinct tokens "
          f"llama.cpp decoded: a random model soon repeats itself)")
    implied = max([float(r[4]) * results[r[0]]["summary"]["weight_bytes"] / 1e9 for r in rows] +
                  [float(r[5]) * results[r[0]]["summary"]["weight_bytes"] / 1e9 for r in rows] + [0.0])
    if implied > bw:
        print(f"note: the fastest decode streams {implied:.1f} GB/s of weights, more than the probe's {bw:.1f} GB/s: "
              f"the probe underestimates the memory (others' memory traffic during it?); the ceilings are low by "
              f"at least {implied / bw:.2f}x")
    for mix, why in skipped:
        print(f"skipped {mix}: {why}")
    if args.json:
        json.dump({"shape": args.shape, "bandwidth_gb_s": bw, "bandwidth_per_round": bws, "bandwidth_how": bw_how,
                   "threads": args.threads, "results": results},
                  open(args.json, "w"), indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
