#!/usr/bin/env python3
"""`lazarus convert` checked against llama.cpp itself (node-llama-cpp 3.21.1's build) and the
independent writer gguf_writer.py:

 1. Tiny random Llama HF folders (check_llama_cpp_gguf.make_folder) with a SentencePiece-style
    tokenizer.json (gguf_writer.tiny_llama_vocab's pieces, byte fallback, no merges) are converted
    by `lazarus convert FOLDER --to gguf --type T`: f32, f16, q8_0, q4_K_M, q4_K_S with rows of
    256 / 512; f16 and q4_0 on a tied model with rows of 64 / 128; q4_K_M, q4_K_S, q5_K_M on an
    8-layer model (steps 2 and 3 only: the layer rule of the mixes).
 2. Structure: the same tensor names, order, shapes and ggml types as gguf_writer.py's conversion
    of the same folder to the same mix (its llama-quantize rule: output q6_K, use_more_bits
    attn_v / ffn_down in q6_K, ...); the same llama.* / general.file_type metadata; the tokenizer
    keys llama.cpp needs (model "llama", tokens, token types, bos / eos).
 3. Bytes: every f32 / f16 tensor equals gguf_writer's (Q / K permutation included); every
    quantized tensor equals what llama.cpp's own quantize_row_<type>_ref (libggml-base.so, via
    ctypes) makes of the f32 tensor, bit for bit.
 4. Behaviour: check_llama_cpp_gguf.check_file on each file: llama.cpp (node-llama-cpp) against
    torch on the file's weights, and Lazarus (gguf_parity_main) on the same file: its greedy tokens
    equal llama.cpp's and its logits are as close to llama.cpp's as that script's derived
    tolerances allow (f16: both held to their torch references, as there).
 5. Round trip: the f32 and f16 files -> `lazarus convert FILE --to hf` -> a folder whose weights
    are the original folder's (f32: bit for bit; f16: the f16-rounded originals) under the original
    names (the permutation undone), and Lazarus on that folder gives the same logits and greedy
    tokens as on the GGUF (f32: identical; f16: the folder holds the f16 values, Lazarus widens
    them to f32, within NORMALISED_TOL).
 6. Refusals: an unknown --type, a quantized GGUF --to hf, a non-Llama folder: nonzero exit with a
    message naming the problem.

Usage: check_llama_cpp_convert.py WORKDIR --lazarus-cli BINARY --lazarus PARITY_BINARY
Exits 1 on a mismatch.
"""
import ctypes
import json
import os
import shutil
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import check_llama_cpp_gguf as C  # noqa: E402
import gguf_writer as G  # noqa: E402
from torch_llama import NORMALISED_TOL  # noqa: E402

# (name, seed, config, mixes, evaluate): evaluate = run llama.cpp and Lazarus on each file (the
# tolerances of check_llama_cpp_gguf hold for its 2-layer models: deeper random models amplify
# activation-rounding near-ties past them); the 8-layer model checks structure and bytes only.
CASES = [
    ("conv_h256", 303, dict(vocab_size=300, hidden_size=256, intermediate_size=512, num_attention_heads=4,
                            num_key_value_heads=2, max_position_embeddings=256),
     ["f32", "f16", "q8_0", "q4_K_M", "q4_K_S"], True),
    # tied embeddings, rows of 64 / 128: the tied token_embd takes the output rule (q8_0 under q4_0)
    ("conv_h64_tied", 404, dict(vocab_size=96, hidden_size=64, intermediate_size=128, num_attention_heads=4,
                                num_key_value_heads=1, tie_word_embeddings=True, max_position_embeddings=256),
     ["f16", "q4_0"], True),
    # 8 layers: the _M mixes widen attn_v / ffn_down of layers 0, 3, 6, 7; q4_K_S attn_v 0..3 and
    # ffn_down 0 (q5_K)
    ("conv_h256_l8", 505, dict(vocab_size=300, hidden_size=256, intermediate_size=512, num_attention_heads=4,
                               num_key_value_heads=2, num_hidden_layers=8, max_position_embeddings=256),
     ["q4_K_M", "q4_K_S", "q5_K_M"], False),
]
WRITER_MIX = {"q4_K_M": "q4_k_m", "q4_K_S": "q4_k_s", "q5_K_M": "q5_k_m", "q6_K": "q6_k"}
LIB_QUANT = {G.GT.Q8_0: "q8_0", G.GT.Q4_0: "q4_0", G.GT.Q4_1: "q4_1", G.GT.Q4_K: "q4_K", G.GT.Q5_K: "q5_K",
             G.GT.Q6_K: "q6_K"}


def write_tokenizer(folder, n_vocab):
    """tokenizer.json / tokenizer_config.json of a SentencePiece-style BPE with gguf_writer's tiny
    vocabulary (ids are all the checks use; its pieces let node-llama-cpp's load probe tokenize).
    <s> and </s> are added (special) tokens; <unk> is the model's unk_token only, so it stays
    UNKNOWN as in gguf_writer's vocabulary (an added <unk> would be CONTROL, as
    convert_hf_to_gguf makes it)."""
    tokens, types = G.tiny_llama_vocab(n_vocab)
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, t in enumerate(tokens) if types[i] == 3]
    tok = {"version": "1.0", "added_tokens": added,
           "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "\u2581"},
                                                              {"type": "Replace", "pattern": {"String": " "},
                                                               "content": "\u2581"}]},
           "pre_tokenizer": None, "post_processor": None,
           "decoder": {"type": "Sequence", "decoders": [
               {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
               {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
           "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": True, "byte_fallback": True,
                     "vocab": {t: i for i, t in enumerate(tokens)}, "merges": []}}
    json.dump(tok, open(os.path.join(folder, "tokenizer.json"), "w"), ensure_ascii=False)
    json.dump({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "add_bos_token": False,
               "add_eos_token": False}, open(os.path.join(folder, "tokenizer_config.json"), "w"))


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)


def plain_value(v):
    if isinstance(v, G.Value):
        return (v.vtype, v.elem, [plain_value(i) for i in v.value] if v.vtype == G.VT.ARRAY else v.value)
    return v


def check_structure(name, mix, ours_path, ref_path, f32_ref, lib, failures):
    """Names, order, shapes, types and metadata against gguf_writer's file; bytes against it
    (floats) or against libggml-base's quantize_row_*_ref of the f32 tensor (blocks)."""
    ours, ref = G.GGUFFile(ours_path), G.GGUFFile(ref_path)
    if list(ours.tensors) != list(ref.tensors):
        failures.append(f"{name} {mix}: tensor names/order {list(ours.tensors)[:6]}... differ from "
                        f"gguf_writer's {list(ref.tensors)[:6]}...")
        return
    nq = 0
    for t in ours.tensors:
        (otype, oshape, ob), (rtype, rshape, rb) = ours.tensors[t], ref.tensors[t]
        if tuple(oshape) != tuple(rshape) or otype != rtype:
            failures.append(f"{name} {mix} {t}: {G.GT.NAMES.get(otype, otype)} {oshape}, gguf_writer "
                            f"(llama.cpp's rule) says {G.GT.NAMES.get(rtype, rtype)} {rshape}")
            continue
        if otype in LIB_QUANT:
            x = np.ascontiguousarray(f32_ref.tensor(t), np.float32).reshape(-1)
            buf = ctypes.create_string_buffer(len(ob))
            getattr(lib, f"quantize_row_{LIB_QUANT[otype]}_ref")(x.ctypes.data_as(ctypes.c_void_p), buf,
                                                               ctypes.c_int64(x.size))
            if buf.raw != ob:
                diff = sum(a != b for a, b in zip(ob, buf.raw))
                failures.append(f"{name} {mix} {t}: {diff} of {len(ob)} bytes differ from llama.cpp's "
                                f"quantize_row_{LIB_QUANT[otype]}_ref")
            nq += 1
        elif ob != rb:
            failures.append(f"{name} {mix} {t}: {G.GT.NAMES[otype]} bytes differ from gguf_writer's")
    keys = [k for k in ref.kv if k.startswith("llama.") or k in ("general.architecture", "general.file_type",
                                                                 "general.quantization_version")]
    for k in keys:
        if plain_value(ours.kv.get(k)) != plain_value(ref.kv.get(k)):
            failures.append(f"{name} {mix}: metadata {k} = {ours.kv.get(k)}, gguf_writer wrote {ref.kv.get(k)}")
    # (unknown_token_id: the converter takes special ids from the added tokens, and <unk> is not
    # one here; llama.cpp's SentencePiece default is id 0, as gguf_writer's.)
    for k in ("tokenizer.ggml.tokens", "tokenizer.ggml.token_type", "tokenizer.ggml.bos_token_id",
              "tokenizer.ggml.eos_token_id"):
        if k not in ours.kv or plain_value(ours.kv[k])[2] != plain_value(ref.kv[k])[2]:
            failures.append(f"{name} {mix}: {k} differs from the tiny vocabulary's")
    if ours.alignment != 32:
        failures.append(f"{name} {mix}: alignment {ours.alignment}")
    print(f"{name} {mix:7s}: names, shapes, types, metadata as gguf_writer (llama.cpp's rule); "
          f"{nq} quantized tensors bit-equal to libggml-base's quantize_row_*_ref")


def check_round_trip(name, mix, cfg, folder, gguf, workdir, cli, lazarus, prompts, failures):
    out = os.path.join(workdir, f"{name}-{mix}-hf")
    shutil.rmtree(out, ignore_errors=True)
    p = run([cli, "convert", gguf, "--to", "hf", "-o", out])
    if p.returncode != 0:
        failures.append(f"{name} {mix} --to hf: exit {p.returncode}: {p.stderr[-800:]}")
        return
    _, orig = G.read_hf_folder(folder)
    _, back = G.read_hf_folder(out)
    tied = cfg.get("tie_word_embeddings", False)
    want_names = {k for k in orig if not (tied and k == "lm_head.weight")}
    if set(back) != want_names:
        failures.append(f"{name} {mix} --to hf: tensor names {sorted(set(back) ^ want_names)} differ")
        return
    for k in want_names:
        a = np.asarray(orig[k], np.float32)
        want = a if (mix == "f32" or a.ndim < 2) else a.astype(np.float16).astype(np.float32)
        got = np.asarray(back[k], np.float32)
        if got.shape != want.shape or not np.array_equal(got.view(np.uint32), want.view(np.uint32)):
            failures.append(f"{name} {mix} --to hf: {k} differs from the original"
                            f"{'' if mix == 'f32' else ' rounded to f16'}")
    a = C.run_lazarus(lazarus, gguf, prompts, C.STEPS)
    b = C.run_lazarus(lazarus, out, prompts, C.STEPS)
    dist = max(C.centred_distance(x, y) for x, y in zip(a["results"], b["results"]))
    raw = max(max(abs(u - v) for u, v in zip(x["logits"], y["logits"])) for x, y in zip(a["results"], b["results"]))
    same = all(x["greedy"] == y["greedy"] for x, y in zip(a["results"], b["results"]))
    # f32: the same weights and the same kernels: identical. f16: the GGUF's matrices stay f16 in
    # Lazarus (its f16 kernels), the folder's are widened to f32: two f32 computations of the same
    # values, NORMALISED_TOL as for any two f32 implementations.
    tol = 0.0 if mix == "f32" else NORMALISED_TOL
    if not dist <= tol or not same:
        failures.append(f"{name} {mix}: Lazarus on the GGUF -> HF folder differs from Lazarus on the GGUF: "
                        f"{dist:.2e} (tolerance {tol}), greedy {'equal' if same else 'DIFFERENT'}")
    tok = os.path.exists(os.path.join(out, "tokenizer.json"))
    print(f"{name} {mix:7s} -> hf: weights {'bit-equal to the original' if mix == 'f32' else 'the f16-rounded originals'}; "
          f"Lazarus logits vs on the GGUF: max |diff| {raw:.2e} (normalised {dist:.2e}), greedy "
          f"{'equal' if same else 'DIFFERENT'}; tokenizer.json {'written' if tok else 'MISSING'}")
    if not tok:
        failures.append(f"{name} {mix} --to hf: no tokenizer.json")


def check_refusals(workdir, cli, folder, qfile, failures):
    cases = [
        ([cli, "convert", folder, "--to", "gguf", "--type", "q3_K_M", "-o", os.path.join(workdir, "x.gguf")], "q3_K_M"),
        ([cli, "convert", qfile, "--to", "hf", "-o", os.path.join(workdir, "x-hf")], "q4_0"),
    ]
    bad = os.path.join(workdir, "not_llama")
    os.makedirs(bad, exist_ok=True)
    json.dump({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}, open(os.path.join(bad, "config.json"), "w"))
    cases.append(([cli, "convert", bad, "--to", "gguf", "-o", os.path.join(workdir, "y.gguf")], "gpt2"))
    for cmd, word in cases:
        p = run(cmd)
        if p.returncode == 0 or word not in p.stderr:
            failures.append(f"{' '.join(cmd[1:])}: exit {p.returncode}, stderr {p.stderr[-300:]!r} (want an error naming {word})")
    if os.path.exists(os.path.join(workdir, "x.gguf")):
        failures.append("a refused conversion left its output file")
    print(f"refusals: {len(cases)} bad conversions exit nonzero naming the problem")


def main():
    args = sys.argv[1:]
    opt = {}
    for flag in ("--lazarus", "--lazarus-cli"):
        if flag not in args or args.index(flag) + 1 >= len(args):
            print(__doc__)
            return 2
        i = args.index(flag)
        opt[flag] = args[i + 1]
        del args[i:i + 2]
    if len(args) != 1:
        print(__doc__)
        return 2
    workdir = args[0]
    os.makedirs(workdir, exist_ok=True)
    lazarus, cli = opt["--lazarus"], opt["--lazarus-cli"]
    lib = ctypes.CDLL(os.path.join(C.LIBDIR, "libggml-base.so"))
    failures = []
    rng = np.random.default_rng(7)
    qfile = None
    for name, seed, kw, mixes, evaluate in CASES:
        folder = os.path.join(workdir, name)
        shutil.rmtree(folder, ignore_errors=True)
        cfg = C.make_folder(folder, seed, **kw)
        write_tokenizer(folder, cfg["vocab_size"])
        V = cfg["vocab_size"]
        prompts = [[int(t) for t in rng.integers(3, V, size=n)] for n in (1, 4, 6, 9, 13)]
        f32_ref_path = os.path.join(workdir, f"{name}-ref-f32.gguf")
        G.llama_from_hf_folder(folder, f32_ref_path, "f32")
        f32_ref = G.GGUFFile(f32_ref_path)
        for mix in mixes:
            path = os.path.join(workdir, f"{name}-{mix}.gguf")
            p = run([cli, "convert", folder, "--to", "gguf", "--type", mix, "-o", path])
            if p.returncode != 0:
                failures.append(f"{name}: lazarus convert --type {mix}: exit {p.returncode}: {p.stderr[-1500:]}")
                continue
            ref_path = os.path.join(workdir, f"{name}-ref-{mix}.gguf")
            G.llama_from_hf_folder(folder, ref_path, WRITER_MIX.get(mix, mix))
            check_structure(name, mix, path, ref_path, f32_ref, lib, failures)
            if not evaluate:
                continue
            types = {n: t[0] for n, t in G.GGUFFile(path).tensors.items()}
            C.check_file(name, cfg, folder, mix, path, types, prompts, failures, lazarus, None, load_time=False,
                         default_context=False)
            if mix in ("f32", "f16"):
                check_round_trip(name, mix, cfg, folder, path, workdir, cli, lazarus, prompts, failures)
            if mix == "q4_0":
                qfile = path
        if qfile:
            check_refusals(workdir, cli, folder, qfile, failures)
            qfile = None
    for f in failures:
        print("MISMATCH", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
