#!/usr/bin/env python3
"""End-to-end check of the GGUF reference chain against llama.cpp itself (node-llama-cpp 3.21.1's
prebuilt CPU build: llama.cpp v0.4.0, ggml 0.23.0):

 1. gguf_writer.py's quantizers and dequantizers against the ones llama.cpp ships: the bytes of
    quantize_row_{q8_0,q4_0,q4_1,q4_K,q5_K,q6_K}_ref and the floats of dequantize_row_* from the
    libggml-base.so of @node-llama-cpp/linux-x64 (ctypes), bit for bit, on random and edge-case
    data; fp16 / bf16 against ggml_fp32_to_fp16_row / ggml_fp32_to_bf16_row_ref; a GGUF with a
    metadata key of every value type read back equal.
 2. Tiny random Llama HF folders (make_hf_folders.py's helpers, torch), converted by
    gguf_writer.llama_from_hf_folder to each mix, evaluated by llama.cpp (llama_cpp_eval.mjs: last
    prompt position's log-probabilities -> logits up to a constant, and greedy tokens), compared
    with torch_llama.Llama (transformers' modeling_llama.py semantics) on the GGUF's dequantized
    weights:
      - "plain": torch in f32 on the dequantized weights;
      - "emulated": the same, with each linear layer's input rounded the way ggml's CPU matmul
        converts activations for the weight type (vec_dot_type: F16 -> fp16, BF16 -> bf16, Q8_0 /
        Q4_0 -> Q8_0 (x86 quantize_row_q8_0: id = 127/amax, ties to even), Q4_1 -> Q8_1 (the same
        values), K types -> Q8_K (quantize_row_q8_K_ref)); F32 weights keep f32 activations.
    The error is max |(l_cpp - max l_cpp) - (l_torch - max l_torch)| / max(1, max |l_torch|) at
    the last prompt position. F32 GGUFs must match plain torch within 1e-4 (two f32
    implementations, torch_llama.NORMALISED_TOL); the other mixes must match the emulated torch
    within EMULATED_TOL at the median prompt and within FLIP_TOL at every prompt (near-ties in
    ggml's activation rounding: see FLIP_TOL). The gap between plain and emulated torch is the part of llama.cpp's
    difference that its activation rounding accounts for. Greedy tokens must be the reference's
    (tolerances.check_greedy: argmax up to a near-tie within twice the per-prompt tolerance).
    The KV cache is f32 and flash attention off (llama_cpp_eval's defaults); an F32 run with
    llama.cpp's own defaults (f16 KV cache, flash attention auto) is reported, not checked.

With --lazarus BINARY (tests/io/gguf_parity_main), Lazarus loads every file alone and is checked
the same way against the same torch references (plain torch for bf16 / f16 weights, whose
activations it keeps in f32), its greedy tokens must equal llama.cpp's, and its logits must be as
close to llama.cpp's as llama.cpp's are to torch (except for bf16 / f16 weights: printed).

With --lazarus-cli BINARY, `lazarus generate --model FILE.gguf` must run on the q4_0 files with
nothing else (tokenizer from the file's metadata).

Usage: check_llama_cpp_gguf.py [WORKDIR] [--lazarus BINARY] [--lazarus-cli BINARY]  (default
WORKDIR: a temporary directory). Exits 1 on a mismatch.
Needs tests/reference/node_modules (scripts/install-deps.sh --test), /usr/bin/python3 with torch.
"""
import ctypes
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gguf_writer as G  # noqa: E402
from make_hf_folders import base_config, llama_weights, write_safetensors  # noqa: E402
from tolerances import check_greedy  # noqa: E402
from torch_llama import NORMALISED_TOL, Llama  # noqa: E402

torch.set_num_threads(2)
LIBDIR = os.path.join(HERE, "node_modules", "@node-llama-cpp", "linux-x64", "bins", "linux-x64")
# llama.cpp vs torch with ggml's activation rounding emulated: what is left is f32 noise plus the
# occasional activation that the two sides' f32 differences push across a rounding boundary
# (one quantum, amax/127 of its block for Q8 activations), propagated through the layers.
EMULATED_TOL = 2e-3
# Near-ties: ggml's activation roundings are discontinuous, and where an activation lies within
# llama.cpp's and torch's f32 differences (~1e-6 relative) of a rounding boundary the two round it
# differently. In these random models one such element moves the logits by ~1e-2 of their scale
# (Q8 quantum amax/127; f16/bf16 ulps are smaller but far more often at a near-tie). The retry
# flips the nearest ties one at a time; what two or more flips leave is bounded by FLIP_TOL per
# prompt (still far below a wrong block layout or scale, which is O(1)), while the median prompt
# must meet EMULATED_TOL (a systematic difference, e.g. an unemulated rounding, fails it).
FLIP_TOL = 5e-2
STEPS = 8
TIE_CANDIDATES = 12


# ---------------------------------------------------------------- 1. against libggml-base.so

def check_quantizers(failures):
    lib = ctypes.CDLL(os.path.join(LIBDIR, "libggml-base.so"))
    rng = np.random.default_rng(11)
    n = 256 * 48
    data = {
        "normal": rng.standard_normal(n) * 0.3,
        "heavy-tailed": rng.standard_normal(n) ** 3,
        "sparse": np.where(rng.random(n) < 0.4, 0, rng.standard_normal(n)),
        "positive": np.abs(rng.standard_normal(n)) + 1,
        "constant-and-zero": np.concatenate([np.zeros(n // 4), np.full(n // 4, 0.5),
                                             np.full(n // 4, -3.0), rng.standard_normal(n // 4)]),
        "tiny": rng.standard_normal(n) * 1e-6,
    }
    names = {G.GT.Q8_0: "q8_0", G.GT.Q4_0: "q4_0", G.GT.Q4_1: "q4_1", G.GT.Q4_K: "q4_K",
             G.GT.Q5_K: "q5_K", G.GT.Q6_K: "q6_K"}
    checked = 0
    for what, x in data.items():
        x = np.ascontiguousarray(x, np.float32)
        for t, nm in names.items():
            buf = ctypes.create_string_buffer(G.row_bytes(t, n))
            getattr(lib, f"quantize_row_{nm}_ref")(x.ctypes.data_as(ctypes.c_void_p), buf, ctypes.c_int64(n))
            ours = G.quantize(x, t)
            if ours != buf.raw:
                diff = sum(a != b for a, b in zip(ours, buf.raw))
                failures.append(f"quantize {nm} ({what}): {diff} bytes differ from llama.cpp's")
            y = np.zeros(n, np.float32)
            getattr(lib, f"dequantize_row_{nm}")(ctypes.c_char_p(buf.raw), y.ctypes.data_as(ctypes.c_void_p),
                                                  ctypes.c_int64(n))
            if not np.array_equal(y.view(np.uint32), G.dequantize(buf.raw, t, (n,)).view(np.uint32)):
                failures.append(f"dequantize {nm} ({what}): differs from llama.cpp's")
            checked += 1
        for fn, conv in (("ggml_fp32_to_fp16_row", G.f32_to_f16_bits),
                         ("ggml_fp32_to_bf16_row_ref", G.f32_to_bf16_bits)):
            out = np.zeros(n, np.uint16)
            getattr(lib, fn)(x.ctypes.data_as(ctypes.c_void_p), out.ctypes.data_as(ctypes.c_void_p), ctypes.c_int64(n))
            if not np.array_equal(out, conv(x)):
                failures.append(f"{fn} ({what}): differs")
    print(f"quantizers: {checked} quantize/dequantize pairs and the fp16/bf16 conversions checked "
          f"against llama.cpp's libggml-base.so")


def check_metadata_round_trip(workdir, failures):
    V, VT = G.Value, G.VT
    kv = {
        "t.u8": V(VT.UINT8, 250), "t.i8": V(VT.INT8, -7), "t.u16": V(VT.UINT16, 65000),
        "t.i16": V(VT.INT16, -30000), "t.u32": V(VT.UINT32, 4_000_000_000), "t.i32": V(VT.INT32, -5),
        "t.f32": V(VT.FLOAT32, 0.5), "t.bool": V(VT.BOOL, True), "t.str": V(VT.STRING, "h\u00e9llo \u2581"),
        "t.u64": V(VT.UINT64, 2**63 + 5), "t.i64": V(VT.INT64, -2**40), "t.f64": V(VT.FLOAT64, 1e-300),
        "t.arr_i32": V(VT.ARRAY, [1, -2, 3], elem=VT.INT32),
        "t.arr_str": V(VT.ARRAY, ["a", "", "\u00fc"], elem=VT.STRING),
        "t.arr_bool": V(VT.ARRAY, [True, False], elem=VT.BOOL),
        "t.arr_f64": V(VT.ARRAY, [0.25, -1.5], elem=VT.FLOAT64),
        "t.arr_empty": V(VT.ARRAY, [], elem=VT.UINT8),
        "t.arr_nested": V(VT.ARRAY, [V(VT.ARRAY, [1, 2], elem=VT.UINT16), V(VT.ARRAY, ["x"], elem=VT.STRING)],
                          elem=VT.ARRAY),
    }
    w = G.GGUFWriter(alignment=64)
    for k, v in kv.items():
        w.add(k, v)
    x = np.random.default_rng(3).standard_normal((4, 256)).astype(np.float32)
    for t in ("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q5_K", "Q6_K"):
        w.add_tensor(f"x.{t}", x, t)
    path = os.path.join(workdir, "metadata.gguf")
    w.write(path)
    g = G.GGUFFile(path)

    def plain(v):
        if isinstance(v, G.Value):
            return (v.vtype, v.elem, [plain(i) for i in v.value] if v.vtype == VT.ARRAY else v.value)
        return v
    for k, v in kv.items():
        if plain(g.kv.get(k)) != plain(v):
            failures.append(f"metadata {k}: wrote {plain(v)}, read {plain(g.kv.get(k))}")
    for t in ("F32", "F16", "BF16", "Q8_0", "Q4_0", "Q4_1", "Q4_K", "Q5_K", "Q6_K"):
        if not np.array_equal(g.tensor(f"x.{t}"), G.round_trip(x, t)):
            failures.append(f"tensor x.{t}: read back differs")
    if g.alignment != 64 or g.data_offset % 64:
        failures.append("alignment 64 not honoured")
    print(f"metadata: {len(kv)} keys of every value type and 9 tensor types read back")


# ---------------------------------------------------------------- 2. models

def make_folder(d, seed, gain_of=64, **kw):
    """make_hf_folders.llama_weights (std 0.3) with the layers' matrices scaled by
    sqrt(gain_of / fan_in): each matmul then amplifies as the 64-wide test models' do, so the
    random model stays as (un)chaotic at any width and one activation rounded the other way at a
    near-tie moves the logits by about as much."""
    cfg = base_config(**kw)
    gen = torch.Generator().manual_seed(seed)
    w = llama_weights(cfg, gen)
    for k, v in w.items():
        if k.startswith("model.layers.") and v.dim() == 2:
            w[k] = v * (gain_of / v.shape[1]) ** 0.5
    os.makedirs(d, exist_ok=True)
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=2)
    write_safetensors(os.path.join(d, "model.safetensors"), w)
    return cfg


def _nearest_with_alt(v):
    """round-half-even of float32 v, the other neighbouring integer, and v's distance to the
    rounding boundary between them (in quanta: 0 = a tie, 0.5 = exactly on an integer)."""
    q = np.rint(v)
    alt = q + np.where(v >= q, 1.0, -1.0)
    return q, alt, 0.5 - np.abs(v - q)


def q8_0_cpu(x):
    """x86 quantize_row_q8_0 / q8_1 (ggml-cpu/arch/x86/quants.c) and back: d = amax / 127,
    q = round-half-even(x * (127 / amax)), value fp16(d) * q. Returns (value, alternative value,
    distance to the rounding boundary, and for Q8_1 the error of its fp16 block sum
    s = fp16(d * sum q) against fp16(d) * sum q, per block)."""
    b = x.reshape(-1, 32)
    amax = np.abs(b).max(axis=1)
    d = (amax / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore"):
        idv = np.where(amax != 0, np.float32(127) / amax, np.float32(0)).astype(np.float32)
    q, alt, dist = _nearest_with_alt((b * idv[:, None]).astype(np.float32))
    dh = G._fp16_round(d)
    qsum = q.sum(axis=1)
    s_err = G._fp16_round((d * qsum.astype(np.float32)).astype(np.float32)).astype(np.float64) - dh.astype(np.float64) * qsum
    val = (q * dh[:, None]).astype(np.float32)
    return (val.reshape(x.shape), (alt * dh[:, None]).astype(np.float32).reshape(x.shape),
            dist.reshape(x.shape), s_err.reshape(x.shape[:-1] + (x.shape[-1] // 32,)))


def q8_K_ref(x):
    """quantize_row_q8_K_ref and back: iscale = -127 / (the signed value of largest magnitude),
    q = min(127, nearest_int(iscale * x)), value q / iscale."""
    b = x.reshape(-1, 256)
    mx = G._first_absmax(b)
    zero = mx == 0
    iscale = (np.float32(-127) / np.where(zero, np.float32(1), mx)).astype(np.float32)
    q, alt, dist = _nearest_with_alt((iscale[:, None] * b).astype(np.float32))
    q, alt = np.minimum(127, q), np.minimum(127, alt)
    d = np.where(zero, np.float32(0), (np.float32(1) / iscale).astype(np.float32))
    return ((q * d[:, None]).astype(np.float32).reshape(x.shape),
            (alt * d[:, None]).astype(np.float32).reshape(x.shape), dist.reshape(x.shape), None)


def float_round(x, t):
    """x rounded to fp16 / bf16 (nearest even), the other neighbour, and the distance to the tie."""
    if t == G.GT.F16:
        r = G._fp16_round(x)
        e = np.frexp(np.where(r == 0, np.float32(2.0 ** -14), np.abs(r)))[1]
        ulp = np.ldexp(np.float32(1), np.maximum(e, -13) - 11).astype(np.float32)
    else:
        r = G.bf16_bits_to_f32(G.f32_to_bf16_bits(x)).reshape(x.shape)
        e = np.frexp(np.where(r == 0, np.float32(2.0 ** -126), np.abs(r)))[1]
        ulp = np.ldexp(np.float32(1), e - 8).astype(np.float32)
    alt = (r + np.where(x >= r, ulp, -ulp)).astype(np.float32)
    return r, alt, 0.5 - np.abs(x - r) / ulp, None


def activation_round_trip(x, t):
    """What ggml's CPU mul_mat makes of the f32 input x (numpy, rows along the last axis) for a
    weight of ggml type t (its vec_dot_type): (value, alternative, distance to a tie, Q8_1 sum
    error or None); None for an f32 weight."""
    if t == G.GT.F32:
        return None
    if t in (G.GT.F16, G.GT.BF16):
        return float_round(x, t)
    if t in (G.GT.Q8_0, G.GT.Q4_0, G.GT.Q4_1):
        return q8_0_cpu(x)
    return q8_K_ref(x)


class EmulatedLlama(Llama):
    """torch_llama.Llama whose linear layers (and the head) see their input rounded as ggml's CPU
    matmul rounds it, for each weight's type. Q4_1 weights also get Q8_1's fp16 block-sum term
    (ggml_vec_dot_q4_1_q8_1 adds m * s with s = fp16(d * sum q)). It records the roundings
    nearest to a tie; `flip` = (call, flat index) rounds that one element the other way."""

    def __init__(self, cfg, params, act_types, q4_1_mins):
        super().__init__(cfg, params)
        self.act_types, self.q4_1_mins = act_types, q4_1_mins
        self.flip, self.calls, self.ties = None, 0, []

    def round_act(self, x, t):
        call = self.calls
        self.calls += 1
        a = x.detach().float().contiguous().numpy()
        rt = activation_round_trip(a, t)
        if rt is None:
            return x, None
        val, alt, dist, s_err = rt
        flat = dist.reshape(-1)
        for i in np.argsort(flat)[:4]:
            self.ties.append((float(flat[i]), call, int(i)))
        if self.flip is not None and self.flip[0] == call:
            val = val.copy()
            val.reshape(-1)[self.flip[1]] = alt.reshape(-1)[self.flip[1]]
        return torch.from_numpy(np.ascontiguousarray(val)), s_err

    def lin(self, x, name):
        wname = name + ".weight"
        t = self.act_types[wname]
        xr, s_err = self.round_act(x, t)
        y = F.linear(xr, self.p[wname], self.p.get(name + ".bias"))
        if t == G.GT.Q4_1:
            y = y + (torch.from_numpy(s_err) @ self.q4_1_mins[wname].double().T).float()
        return y


HF_OF_GGUF = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
              "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
              "ffn_down": "mlp.down_proj"}


class Reference:
    """torch on the GGUF's dequantized weights; emulate=True rounds activations as ggml does.
    logits(seq, flip=None) -> last-position logits (1-D float32); ties(seq) -> the activation
    roundings nearest to a tie in that forward, nearest first."""

    def __init__(self, cfg, params, types, emulate):
        self.cfg = cfg
        act = {}
        for gname, t in types.items():
            parts = gname.split(".")
            # the weights' types (a bias, f32, names the same projection: qwen2)
            if parts[0] == "blk" and parts[2] in HF_OF_GGUF and parts[3] == "weight":
                act[f"model.layers.{parts[1]}.{HF_OF_GGUF[parts[2]]}.weight"] = t if emulate else G.GT.F32
        tied = cfg.get("tie_word_embeddings")
        self.head_t = types["token_embd.weight" if tied else "output.weight"] if emulate else G.GT.F32
        tp = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in params.items()}
        # a Q4_1 block's smallest dequantized value is its m (the block minimum quantizes to 0)
        mins = {k: tp[k].reshape(tp[k].shape[0], -1, 32).amin(-1) for k, t in act.items() if t == G.GT.Q4_1}
        self.head = tp["model.embed_tokens.weight"] if tied else tp["lm_head.weight"]
        if self.head_t == G.GT.Q4_1:
            raise ValueError("a Q4_1 head is not emulated")
        self.model = EmulatedLlama(cfg, tp, act, mins)

    def logits(self, seq, flip=None):
        m = self.model
        m.flip, m.calls, m.ties = flip, 0, []
        ids = torch.tensor([seq])
        with torch.no_grad():
            _, hidden = m.forward(ids, torch.ones_like(ids), torch.arange(len(seq))[None])
            h, _ = m.round_act(hidden[-1][0, -1:], self.head_t)
            return F.linear(h, self.head)[0]

    def __call__(self, seq):
        return self.logits(seq)

    def ties(self, seq, n):
        self.logits(seq)
        return sorted(self.model.ties)[:n]


def run_llama_cpp(gguf, prompts, steps, kv="f32", fa="off"):
    req = json.dumps({"model": gguf, "prompts": prompts, "steps": steps, "kv": kv, "flash_attention": fa,
                      "threads": 2})
    env = dict(os.environ, NODE_LLAMA_CPP_SKIP_DOWNLOAD="true")
    p = subprocess.run(["node", os.path.join(HERE, "llama_cpp_eval.mjs"), "-"], input=req, text=True,
                       capture_output=True, cwd=HERE, env=env, timeout=600)
    if p.returncode != 0:
        raise RuntimeError(f"llama_cpp_eval.mjs failed on {gguf} ({p.returncode}): {p.stderr[-2000:]}")
    return json.loads(p.stdout)


def run_lazarus(binary, gguf, prompts, steps, quantize=None):
    """Lazarus on the GGUF file alone (tests/io/gguf_parity_main), or on an HF folder quantized at
    load time: per prompt, the last position's logits and the greedy tokens, in
    llama_cpp_eval.mjs's form (logits_minus_max)."""
    p = subprocess.run([binary, gguf] + ([quantize] if quantize else []),
                       input=json.dumps({"prompts": prompts, "steps": steps}), text=True,
                       capture_output=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError(f"{binary} failed on {gguf} ({p.returncode}): {p.stderr[-2000:]}")
    out = json.loads(p.stdout)
    for r in out["results"]:
        top = max(r["logits"])
        r["logits_minus_max"] = [v - top for v in r["logits"]]
    return out


def centred_distance(a, b):
    """max |(a - max a) - (b - max b)| / max(1, max |b|) between two implementations' results."""
    x = torch.tensor(a["logits_minus_max"], dtype=torch.float64)
    y = torch.tensor([v if v is not None else float("nan") for v in b["logits_minus_max"]], dtype=torch.float64)
    known = ~torch.isnan(y)
    return ((x - y).abs()[known]).max().item() / max(1.0, torch.tensor(a["logits"]).abs().max().item())


def logit_error(r, ref):
    """max |(cpp - max cpp) - (torch - max torch)| / max(1, max |torch|) over the ids llama.cpp gave
    a nonzero probability; and whether every id it gave zero is far below the max in torch."""
    ref = ref.double()
    centred = ref - ref.max()
    got = r["logits_minus_max"]
    known = torch.tensor([v is not None for v in got])
    cpp = torch.tensor([v if v is not None else 0.0 for v in got], dtype=torch.float64)
    err = ((cpp - centred).abs() * known).max().item() / max(1.0, ref.abs().max().item())
    underflow_ok = bool((centred[~known] < -80).all()) if (~known).any() else True
    return err, underflow_ok


CASES = [
    # (name, seed, config overrides, mixes): K-quants need rows of a multiple of 256
    ("llama_h256", 101, dict(vocab_size=96, hidden_size=256, intermediate_size=512, num_attention_heads=4,
                             num_key_value_heads=2, max_position_embeddings=256),
     ["f32", "f16", "bf16", "q8_0", "q4_0", "pure:q4_0", "q4_1", "q4_k_m", "q5_k_m", "q6_k"]),
    ("llama_h64_tied_v300", 202, dict(vocab_size=300, hidden_size=64, intermediate_size=128,
                                      num_attention_heads=4, num_key_value_heads=1, tie_word_embeddings=True,
                                      max_position_embeddings=256),
     ["f32", "f16", "q8_0", "q4_0"]),
]


def within_reference(r, prompt, plain, emul, mix, tol):
    """Normalised logit error of one result (llama.cpp's or Lazarus's) against its reference: plain
    torch for f32, torch with ggml's activation rounding otherwise; past `tol`, the nearest
    near-ties of that rounding are flipped one at a time (see FLIP_TOL). Returns (error, note)."""
    e = logit_error(r, (plain if mix == "f32" else emul)(prompt))[0]
    if e <= tol or mix == "f32":
        return e, None
    ties = emul.ties(prompt, TIE_CANDIDATES)
    alt = min((logit_error(r, emul.logits(prompt, flip=(c, i)))[0], dist) for dist, c, i in ties)
    if alt[0] <= tol:
        return alt[0], f"{len(prompt)}-token prompt {e:.1e} -> {alt[0]:.1e} (tie at {alt[1]:.1e} quanta)"
    return e, None


def check_load_time_quantization(binary, name, folder, mix, laz_gguf, prompts, failures):
    """`--dtype q8_0` / `q4_0` on the HF folder quantizes with llama.cpp's reference quantizers,
    as the independent writer did for the pure mix's GGUF: same bytes, same arithmetic, so the
    same logits and tokens as Lazarus on that file."""
    q = run_lazarus(binary, folder, prompts, STEPS, quantize=mix.split(":")[-1])
    worst = max(centred_distance(a, b) for a, b in zip(q["results"], laz_gguf["results"]))
    same = all(a["greedy"] == b["greedy"] for a, b in zip(q["results"], laz_gguf["results"]))
    if not worst <= NORMALISED_TOL or not same:
        failures.append(f"Lazarus {name} quantized at load to {mix}: {worst:.2e} from the GGUF's logits, "
                        f"greedy {'equal' if same else 'DIFFERENT'}")
    print(f"{'':18s} Lazarus --dtype {mix.split(':')[-1]} on the HF folder: {worst:.2e} from its run on the "
          f"{mix} GGUF, greedy {'equal' if same else 'DIFFERENT'}")


def check_lazarus(binary, name, mix, path, prompts, out, plain, emul, flipped, failures, tol_f32=NORMALISED_TOL,
                  lazarus_ref=None):
    """Lazarus on the same file: against torch as llama.cpp is (its quantized products round the
    activations as ggml's do; bf16 / f16 weights keep f32 activations, so plain torch is its
    reference there), greedy tokens against llama.cpp's (except where llama.cpp itself rounded
    an activation the other way at a near-tie: `flipped`; both are then held to the reference by
    check_greedy), and its logits against llama.cpp's. A quantized mix that also holds f16 / bf16
    matrices (a Q8_0 row that fell back to F16) passes `lazarus_ref`: the reference with only the
    quantized products' activations rounded; its logits are then not held to llama.cpp's (which
    rounds the f16 products' activations too)."""
    laz = run_lazarus(binary, path, prompts, STEPS)
    half = mix in ("f16", "bf16")
    mixed_half = lazarus_ref is not None and not half
    if mixed_half:
        emul = lazarus_ref
    ref_mix = "f32" if half else mix
    tol = tol_f32 if ref_mix == "f32" else EMULATED_TOL
    hard = tol if ref_mix == "f32" else FLIP_TOL
    errs, cpp_dist, same_greedy, notes = [], [], 0, []
    for z, r in zip(laz["results"], out["results"]):
        prompt = z["prompt"]
        e, note = within_reference(z, prompt, plain, emul, ref_mix, tol)
        errs.append(e)
        if note:
            notes.append(note)
        if not e <= hard:
            failures.append(f"Lazarus {name} {mix} prompt {prompt}: normalised logit error {e:.3e} > {hard}")
        ref_fn = plain if ref_mix == "f32" else emul
        delta = 2 * hard * max(1.0, ref_fn(prompt).abs().max().item())
        err = check_greedy(ref_fn, prompt, z["greedy"], delta)
        if err:
            failures.append(f"Lazarus {name} {mix} prompt {prompt}: {err}")
        # Where the two differ, both passed check_greedy (llama.cpp's in check_models): each took
        # a near-tie the reference allows, so this is not counted against either.
        same_greedy += z["greedy"] == r["greedy"] or tuple(prompt) in flipped or (
            not err and check_greedy(ref_fn, prompt, r["greedy"], delta) is None)
        cpp_dist.append(centred_distance(z, r))
    median = sorted(errs)[len(errs) // 2]
    if not median <= tol:
        failures.append(f"Lazarus {name} {mix}: median normalised logit error {median:.3e} > {tol} (systematic)")
    # The same arithmetic as llama.cpp except for bf16 / f16 weights (llama.cpp rounds the
    # activations to the weight's type there): checked like llama.cpp against torch.
    cpp_median = sorted(cpp_dist)[len(cpp_dist) // 2]
    if not half and not mixed_half and (not max(cpp_dist) <= hard or not cpp_median <= tol):
        failures.append(f"Lazarus {name} {mix}: logits vs llama.cpp {max(cpp_dist):.3e} (median "
                        f"{cpp_median:.1e}) > {hard} ({tol})")
    if same_greedy != len(prompts) and not half:
        failures.append(f"Lazarus {name} {mix}: greedy tokens equal llama.cpp's for {same_greedy} of "
                        f"{len(prompts)} prompts")
    print(f"{'':18s} Lazarus: vs its torch reference {max(errs):.2e} (median {median:.1e}); vs llama.cpp "
          f"{max(cpp_dist):.2e} (median {cpp_median:.1e}"
          f"{', not checked: llama.cpp rounds activations to ' + mix if half else ''}"
          f"{', not checked: llama.cpp rounds the f16 products activations to f16' if mixed_half else ''}); "
          f"greedy equal to llama.cpp's {same_greedy}/{len(prompts)}"
          f" (a difference counts as equal where both are near-tie choices the reference allows)")
    for n in notes:
        print(f"    Lazarus: one activation rounded the other way at a near-tie: {n}")
    return laz


def describe_build(build):
    """One line naming the llama.cpp that ran (llama_cpp_eval.mjs's "build")."""
    return (f"llama.cpp: {build['llama_cpp']['repo']} {build['llama_cpp']['release']} via node-llama-cpp "
            f"{build['node_llama_cpp']} ({build['build_type']}, CPU variant {build['cpu_variant']})")


def check_cli(cli, path, failures):
    """`lazarus generate --model FILE.gguf` with nothing else: the tokenizer and the model come from
    the file (its tiny SentencePiece vocabulary has byte tokens, so any text encodes)."""
    p = subprocess.run([cli, "generate", "--model", path, "-p", "hello world", "-n", "6", "--temperature", "0",
                        "--no-stream"], capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        failures.append(f"lazarus generate --model {os.path.basename(path)}: exit {p.returncode}: {p.stderr[-1000:]}")
    print(f"lazarus generate --model {os.path.basename(path)} -p 'hello world': exit {p.returncode}, "
          f"{len(p.stdout)} characters")


def check_llama_cpp_run(name, mix, mixes_used, out, prompts, plain, emul, failures, tol_f32=NORMALISED_TOL):
    """llama.cpp's results `out` on one file against the torch references (plain for f32, emulated
    activation rounding otherwise; near-ties retried as described at FLIP_TOL), greedy tokens by
    check_greedy. Prints a summary line; returns the prompts a near-tie flip explained."""
    tol = tol_f32 if mix == "f32" else EMULATED_TOL
    ref_fn = plain if mix == "f32" else emul
    worst = {"plain": 0.0, "emulated": 0.0, "act": 0.0}
    greedy_ok, tie_explained, errs, flipped = True, [], [], set()
    for r in out["results"]:
        lp, le = plain(r["prompt"]), emul(r["prompt"])
        e_plain, ok1 = logit_error(r, lp)
        e_emul, ok2 = logit_error(r, le)
        e_act = (((le - le.max()) - (lp - lp.max())).abs().max() / max(1.0, lp.abs().max().item())).item()
        worst["plain"] = max(worst["plain"], e_plain)
        worst["act"] = max(worst["act"], e_act)
        if not (ok1 and ok2):
            failures.append(f"{name} {mix}: llama.cpp gave probability 0 to a token torch puts near the top")
        e = e_plain if mix == "f32" else e_emul
        if not e <= tol and mix != "f32":
            # An activation whose rounding is at a near-tie may round the other way in
            # llama.cpp (its f32 differs from torch's in the last bits): one such element
            # moves the logits by far more than the tolerance. Retry with each of the
            # nearest ties flipped, as check_greedy allows near-ties in the argmax.
            ties = emul.ties(r["prompt"], TIE_CANDIDATES)
            alt = min((logit_error(r, emul.logits(r["prompt"], flip=(c, i)))[0], dist)
                      for dist, c, i in ties)
            if alt[0] <= tol:
                flipped.add(tuple(r["prompt"]))
                tie_explained.append(f"{len(r['prompt'])}-token prompt {e:.1e} -> {alt[0]:.1e} "
                                     f"(tie at {alt[1]:.1e} quanta)")
                e = e_emul = alt[0]
        worst["emulated"] = max(worst["emulated"], e_emul)
        errs.append(e)
        hard = tol if mix == "f32" else FLIP_TOL
        if not e <= hard:
            failures.append(f"{name} {mix} prompt {r['prompt']}: normalised logit error {e:.3e} > {hard}")
        ref_logits = ref_fn(r["prompt"])
        delta = 2 * hard * max(1.0, ref_logits.abs().max().item())
        err = check_greedy(ref_fn, r["prompt"], r["greedy"], delta)
        if err:
            greedy_ok = False
            failures.append(f"{name} {mix} prompt {r['prompt']}: {err}")
    median = sorted(errs)[len(errs) // 2]
    if mix != "f32" and not median <= tol:
        failures.append(f"{name} {mix}: median normalised logit error {median:.3e} > {tol} (systematic)")
    print(f"{name} {mix:7s} [{', '.join(mixes_used)}]: vs torch {worst['plain']:.2e}, vs torch with "
          f"ggml's activation rounding {worst['emulated']:.2e} (median {median:.1e}; that rounding alone moves torch "
          f"{worst['act']:.2e}); greedy {STEPS} x {len(prompts)} {'agree' if greedy_ok else 'DIFFER'}")
    for t in tie_explained:
        print(f"    one activation rounded the other way at a near-tie: {t}")
    return flipped


def check_file(name, cfg, folder, mix, path, types, prompts, failures, lazarus=None, cli=None,
               load_time=True, default_context=True):
    """One GGUF file of the tiny model `cfg` (HF folder `folder`), whose tensors have the ggml
    types `types` ({gguf name: type id}) of mix `mix`: llama.cpp against torch on the file's
    dequantized weights (check_llama_cpp_run), then (with `lazarus`) Lazarus on the same file
    (check_lazarus) and, for the q8_0 / pure:q4_0 mixes with load_time, the HF folder quantized at
    load. Returns llama.cpp's run (its "build" says which llama.cpp)."""
    params = G.dequantized_hf_params(cfg, path)
    plain = Reference(cfg, params, types, emulate=False)
    emul = Reference(cfg, params, types, emulate=True)
    out = run_llama_cpp(path, prompts, STEPS)
    mixes_used = sorted({G.GT.NAMES[t] for n, t in types.items() if not n.endswith("norm.weight")})
    flipped = check_llama_cpp_run(name, mix, mixes_used, out, prompts, plain, emul, failures)
    if lazarus:
        laz = check_lazarus(lazarus, name, mix, path, prompts, out, plain, emul, flipped, failures)
        if load_time and mix in ("q8_0", "pure:q4_0"):
            check_load_time_quantization(lazarus, name, folder, mix, laz, prompts, failures)
    if cli and mix == "q4_0":
        check_cli(cli, path, failures)
    if mix == "f32" and default_context:
        d = run_llama_cpp(path, prompts, 0, kv="f16", fa="auto")
        e16 = max(logit_error(r, plain(r["prompt"]))[0] for r in d["results"])
        print(f"{name} f32 with llama.cpp's default context (f16 KV cache, flash attention auto): "
              f"vs torch {e16:.2e} (not checked)")
    return out


def check_models(workdir, failures, lazarus=None, cli=None):
    rng = np.random.default_rng(5)
    out = None
    for name, seed, kw, mixes in CASES:
        folder = os.path.join(workdir, name)
        cfg = make_folder(folder, seed, **kw)
        V = cfg["vocab_size"]
        prompts = [[int(t) for t in rng.integers(3, V, size=n)] for n in (1, 4, 6, 9, 13)]
        for mix in mixes:
            path = os.path.join(workdir, f"{name}-{mix.replace(':', '-')}.gguf")
            types = G.llama_from_hf_folder(folder, path, mix)
            types = {k: G.type_id(v) for k, v in types.items()}
            out = check_file(name, cfg, folder, mix, path, types, prompts, failures, lazarus, cli)
    return out["build"]


def main():
    args = sys.argv[1:]
    opt = {}
    for flag in ("--lazarus", "--lazarus-cli"):
        if flag in args:
            i = args.index(flag)
            if i + 1 >= len(args):
                print(__doc__)
                return 2
            opt[flag] = args[i + 1]
            del args[i:i + 2]
    lazarus, cli = opt.get("--lazarus"), opt.get("--lazarus-cli")
    if len(args) > 1:
        print(__doc__)
        return 2
    if not os.path.exists(os.path.join(LIBDIR, "libggml-base.so")):
        print(f"no llama.cpp build under {LIBDIR}: run scripts/install-deps.sh --test", file=sys.stderr)
        return 1
    own = not args
    workdir = tempfile.mkdtemp(prefix="llama_cpp_gguf_") if own else args[0]
    os.makedirs(workdir, exist_ok=True)
    failures = []
    try:
        check_quantizers(failures)
        check_metadata_round_trip(workdir, failures)
        build = check_models(workdir, failures, lazarus, cli)
        print(describe_build(build))
    finally:
        if own:
            shutil.rmtree(workdir, ignore_errors=True)
    for f in failures:
        print("MISMATCH", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
