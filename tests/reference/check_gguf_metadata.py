#!/usr/bin/env python3
"""Lazarus's GGUF reading against Hugging Face's @huggingface/gguf (npm; its own parser, not written
here): `lazarus info --model FILE.gguf --json` must report, for every file, the same version, key
and tensor counts and data-section offset, every metadata key in file order with the same value
type (and array element type) and the same value (64-bit integers exactly, floats bit for bit:
both sides print the f32 / f64 they read as the shortest decimal that round-trips), and every
tensor info with the same name, dims (ggml order), ggml type id and offset, and the same parameter
count (its computeParametersCount).

Files: written here with the independent gguf_writer.py — one holding a key of every value type
with edge values (u64 max, i64 min, an f32 subnormal, an f64 1e-300, non-ASCII strings, empty and
nested arrays) and tensors of nine types at alignment 64; a tiny Llama in the q4_0 mix, a tiny
Mamba and a tiny Qwen2 in q8_0 (what check_llama_cpp_gguf*.py write, with their tiny
SentencePiece vocabulary) — plus every .gguf under tests/data and fuzz/corpus/gguf that Lazarus
accepts. For the model files, the family Lazarus maps them to and its summary's parameter count.

Usage: check_gguf_metadata.py --lazarus-cli BINARY [WORKDIR] [--dumper hf_gguf_dump.mjs]
Needs tests/reference/node_modules with @huggingface/gguf (package.json), /usr/bin/python3 with
torch and numpy. Exits 1 on a mismatch.
"""
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import gguf_writer as G  # noqa: E402

TYPE_IDS = {"u8": 0, "i8": 1, "u16": 2, "i16": 3, "u32": 4, "i32": 5, "f32": 6, "bool": 7,
            "string": 8, "array": 9, "u64": 10, "i64": 11, "f64": 12}


def every_type_file(path):
    V, VT = G.Value, G.VT
    w = G.GGUFWriter(alignment=64)
    w.add("general.architecture", "test")
    kv = {
        "t.u8": V(VT.UINT8, 255), "t.i8": V(VT.INT8, -128), "t.u16": V(VT.UINT16, 65535),
        "t.i16": V(VT.INT16, -32768), "t.u32": V(VT.UINT32, 2**32 - 1), "t.i32": V(VT.INT32, -2**31),
        "t.u64": V(VT.UINT64, 2**64 - 1), "t.i64": V(VT.INT64, -2**63),
        "t.f32": V(VT.FLOAT32, 0.1), "t.f32_subnormal": V(VT.FLOAT32, float(np.float32(1e-45))),
        "t.f64": V(VT.FLOAT64, 1e-300), "t.bool": V(VT.BOOL, True), "t.false": V(VT.BOOL, False),
        "t.str": V(VT.STRING, "h\u00e9llo \u2581 \u4e16\u754c \U0001f600"), "t.empty_str": V(VT.STRING, ""),
        "t.arr_u8": V(VT.ARRAY, [0, 7, 255], elem=VT.UINT8),
        "t.arr_i16": V(VT.ARRAY, [-1, 2], elem=VT.INT16),
        "t.arr_u64": V(VT.ARRAY, [2**63 + 1, 0], elem=VT.UINT64),
        "t.arr_i64": V(VT.ARRAY, [-2**62, 5], elem=VT.INT64),
        "t.arr_f32": V(VT.ARRAY, [0.5, -1e-3, 3.25], elem=VT.FLOAT32),
        "t.arr_f64": V(VT.ARRAY, [0.1, -2.5e100], elem=VT.FLOAT64),
        "t.arr_bool": V(VT.ARRAY, [True, False, True], elem=VT.BOOL),
        "t.arr_str": V(VT.ARRAY, ["a", "", "\u00fc\u2581"], elem=VT.STRING),
        "t.arr_empty": V(VT.ARRAY, [], elem=VT.INT32),
        "t.arr_nested": V(VT.ARRAY, [V(VT.ARRAY, [1, 2], elem=VT.UINT16), V(VT.ARRAY, ["x"], elem=VT.STRING)],
                          elem=VT.ARRAY),
    }
    for k, v in kv.items():
        w.add(k, v)
    x = np.random.default_rng(3).standard_normal((4, 256)).astype(np.float32)
    for t in ("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q5_K", "Q6_K"):
        w.add_tensor(f"x.{t}", x, t)
    w.add_tensor("scalar_like", np.ones((3,), np.float32), "F32")
    w.write(path)


def model_files(workdir):
    """A tiny Llama (q4_0 mix), Mamba and Qwen2 (q8_0), as the llama.cpp parity scripts write them:
    {path: the family Lazarus must map it to}."""
    import check_llama_cpp_gguf as CL
    import check_llama_cpp_gguf_archs as CM
    out = {}
    folder = os.path.join(workdir, "llama")
    CL.make_folder(folder, 11, vocab_size=300, hidden_size=64, intermediate_size=128, num_attention_heads=4,
                   num_key_value_heads=2, max_position_embeddings=128)
    path = os.path.join(workdir, "llama-q4_0.gguf")
    G.llama_from_hf_folder(folder, path, "q4_0")
    out[path] = "llama"
    folder = os.path.join(workdir, "mamba")
    CM.make_folder(folder, 12, vocab_size=96, hidden_size=64, intermediate_size=128, state_size=16,
                   num_hidden_layers=2, time_step_rank="auto", tie_word_embeddings=True)
    path = os.path.join(workdir, "mamba-q8_0.gguf")
    G.mamba_from_hf_folder(folder, path, "q8_0")
    out[path] = "mamba"
    folder = os.path.join(workdir, "qwen2")
    CM.make_qwen2_folder(folder, 13, vocab_size=128, hidden_size=64, intermediate_size=128,
                         num_attention_heads=4, num_key_value_heads=2)
    path = os.path.join(workdir, "qwen2-q8_0.gguf")
    G.qwen2_from_hf_folder(folder, path, "q8_0")
    out[path] = "qwen"
    return out


def js(v):
    """@huggingface/gguf's value with its BigInts ({"bigint": "..."}) as Python ints."""
    if isinstance(v, dict) and set(v) == {"bigint"}:
        return int(v["bigint"])
    if isinstance(v, list):
        return [js(i) for i in v]
    return v


def laz(v):
    """Lazarus's value: nested arrays ({"type": "array", "element_type", "value"}) to plain lists."""
    if isinstance(v, dict) and "value" in v:
        return laz(v["value"])
    if isinstance(v, list):
        return [laz(i) for i in v]
    return v


def same(a, b):
    """Equal values, floats bit for bit (a bool is not the integer 1 here)."""
    if isinstance(a, list) or isinstance(b, list):
        return isinstance(a, list) and isinstance(b, list) and len(a) == len(b) and all(
            same(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def compare(path, ref, got, failures):
    name = os.path.basename(path)
    n0 = len(failures)

    def check(what, a, b):
        if not same(a, b):
            failures.append(f"{name}: {what}: @huggingface/gguf {str(a)[:200]}, Lazarus {str(b)[:200]}")

    check("version", ref["version"], got["version"])
    check("tensor_count", js(ref["tensor_count"]), len(got["tensors"]))
    check("kv_count", js(ref["kv_count"]), len(got["metadata"]))
    check("data offset", js(ref["tensor_data_offset"]), got["data_offset"])
    check("parameter count", js(ref["parameter_count"]), got["parameters"])
    check("keys in order", [m["key"] for m in ref["metadata"]], [m["key"] for m in got["metadata"]])
    lmeta = {m["key"]: m for m in got["metadata"]}
    for m in ref["metadata"]:
        g = lmeta.get(m["key"])
        if g is None:
            continue
        check(f"key '{m['key']}' type", m["type"], TYPE_IDS[g["type"]])
        if m["type"] == TYPE_IDS["array"]:
            check(f"key '{m['key']}' element type", m["subType"], TYPE_IDS[g["element_type"]])
        check(f"key '{m['key']}' value", js(m["value"]), laz(g["value"]))
    check("tensor names", [t["name"] for t in ref["tensors"]], [t["name"] for t in got["tensors"]])
    for t, g in zip(ref["tensors"], got["tensors"]):
        check(f"tensor '{t['name']}' n_dims", t["n_dims"], len(g["ne"]))
        check(f"tensor '{t['name']}' ne", js(t["ne"]), g["ne"])
        check(f"tensor '{t['name']}' type", t["type_id"], g["type_id"])
        check(f"tensor '{t['name']}' offset", js(t["offset"]), g["offset"])
    print(f"{name}: {len(ref['metadata'])} keys, {len(ref['tensors'])} tensors: "
          f"{'equal' if len(failures) == n0 else 'DIFFER'}")


def check_summary(cli, path, family, got, failures):
    """A model file's summary: the family it loads as, and (these models have no tensor the config
    does not count) the config's parameter count equal to the file's."""
    name = os.path.basename(path)
    if got.get("family") != family:
        failures.append(f"{name}: family {got.get('family')} ({got.get('config_error')}), expected {family}")
    p = subprocess.run([cli, "info", "--model", path], capture_output=True, text=True, timeout=120)
    want = f"parameters {got['parameters']:,} "
    if p.returncode != 0 or f"-> family {family}" not in p.stdout or want not in p.stdout:
        failures.append(f"{name}: `lazarus info --model` (exit {p.returncode}) lacks '-> family {family}' or "
                        f"'{want}': {p.stdout[-1500:]}{p.stderr[-500:]}")


def main():
    args = sys.argv[1:]
    opts = {}
    for flag in ("--lazarus-cli", "--dumper"):
        if flag in args:
            i = args.index(flag)
            if i + 1 >= len(args):
                print(__doc__)
                return 2
            opts[flag] = args[i + 1]
            del args[i:i + 2]
    if "--lazarus-cli" not in opts or len(args) > 1:
        print(__doc__)
        return 2
    cli = opts["--lazarus-cli"]
    dumper = opts.get("--dumper", os.path.join(HERE, "hf_gguf_dump.mjs"))
    own = not args
    workdir = tempfile.mkdtemp(prefix="gguf_metadata_") if own else args[0]
    os.makedirs(workdir, exist_ok=True)
    failures = []
    try:
        files = [os.path.join(workdir, "every_type.gguf")]
        every_type_file(files[0])
        families = model_files(workdir)
        files += list(families)
        for pattern in ("tests/data/**/*.gguf", "fuzz/corpus/gguf/*.gguf"):
            for f in sorted(glob.glob(os.path.join(ROOT, pattern), recursive=True)):
                p = subprocess.run([cli, "info", "--model", f, "--json"], capture_output=True, text=True, timeout=120)
                if p.returncode == 0:
                    files.append(f)
                else:
                    print(f"{os.path.relpath(f, ROOT)}: not a file Lazarus accepts, skipped ({p.stderr.strip()[:160]})")
        p = subprocess.run(["node", dumper] + files, capture_output=True, text=True, timeout=300,
                           cwd=os.path.dirname(os.path.abspath(dumper)))
        if p.returncode != 0:
            print(f"{dumper} failed ({p.returncode}): {p.stderr[-2000:]}", file=sys.stderr)
            return 1
        refs = json.loads(p.stdout)
        for f, ref in zip(files, refs):
            q = subprocess.run([cli, "info", "--model", f, "--json"], capture_output=True, text=True, timeout=120)
            if q.returncode != 0:
                failures.append(f"lazarus info --model {f} --json: exit {q.returncode}: {q.stderr[-1000:]}")
                continue
            got = json.loads(q.stdout)
            compare(f, ref, got, failures)
            if f in families:
                check_summary(cli, f, families[f], got, failures)
    finally:
        if own:
            shutil.rmtree(workdir, ignore_errors=True)
    for f in failures:
        print("MISMATCH", f)
    print(f"{len(files)} files compared with @huggingface/gguf")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
