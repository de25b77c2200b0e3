#!/usr/bin/env python3
"""An independent GGUF v3 writer and reader in plain Python + numpy (no gguf or safetensors
package), with llama.cpp's reference quantizers and dequantizers, and a converter from a tiny
Hugging Face Llama folder to a GGUF as llama.cpp's convert_hf_to_gguf.py (+ llama-quantize) write it.

Written from the GGUF specification (ggml docs/gguf.md: header "GGUF", version 3, u64 counts,
typed key/values, tensor infos with ne[] innermost first, tensor data aligned to
general.alignment, default 32) and from the semantics of the llama.cpp sources that
node-llama-cpp 3.21.1 bundles and runs (its llama/gitRelease.bundle: llama.cpp "v0.4.0", ggml
0.23.0), read to learn, not copied:
  - ggml/src/ggml-common.h        block layouts (block_q4_0, q4_1, q8_0, q4_K, q5_K, q6_K);
  - ggml/src/ggml-quants.c        quantize_row_{q4_0,q4_1,q8_0,q4_K,q5_K,q6_K}_ref (the round-to-
                                  nearest reference quantizers llama-quantize uses without an
                                  imatrix, with make_qkx2_quants / make_qx_quants' scale searches)
                                  and dequantize_row_*;
  - ggml/src/ggml-impl.h          fp32 -> bf16 (round to nearest even, NaN quieted); fp16 is
                                  IEEE binary16 with round to nearest even (numpy's float16);
  - src/llama-quant.cpp           which tensor gets which type for an ftype (llama_tensor_get_type:
                                  output.weight -> Q6_K unless the mix is Q8_0, attn_v/ffn_down bumps
                                  of the K mixes, shape fallbacks Q6_K -> Q8_0, non-32-multiples -> F16);
  - conversion/base.py, llama.py  (convert_hf_to_gguf.py) the llama.* keys, tensor names, the Q/K
                                  row permutation, 1-D tensors and norms in F32, --outtype f32 /
                                  f16 / bf16 / q8_0.
The float32 arithmetic of the C reference quantizers (sequential float sums, no FMA: ggml-base is
built for baseline x86-64) is reproduced operation by operation, so the bytes match llama.cpp's
quantize_row_*_ref bit for bit (check_llama_cpp_gguf.py checks this against the libggml-base.so
that node-llama-cpp ships).

Mixes for llama_from_hf_folder(folder, out, types), `types` one of:
  "f32"              every tensor F32 (convert_hf_to_gguf --outtype f32)
  "f16" / "bf16"     2-D weights F16 / BF16, 1-D tensors and norms F32 (--outtype f16 / bf16)
  "q8_0"             2-D weights Q8_0, token_embd and output included (--outtype q8_0, the same as
                     llama-quantize Q8_0), 1-D F32
  "q4_0" / "q4_1"    llama-quantize Q4_0 / Q4_1 from an F32 GGUF without imatrix: 2-D weights in
                     the type, token_embd too, output.weight Q6_K (Q8_0 where its rows are not a
                     multiple of 256), 1-D F32
  "q4_k_m" (= "q4_k"), "q4_k_s", "q5_k_m" (= "q5_k"), "q5_k_s", "q6_k"
                     llama-quantize's K mixes: the base type for 2-D weights and token_embd,
                     output Q6_K; Q4_K_M / Q5_K_M: attn_v and ffn_down Q6_K in the layers
                     use_more_bits picks (i < n/8, i >= 7n/8, (i - n/8) % 3 == 2); Q4_K_S: attn_v
                     of layers < 4 and ffn_down of layers < n/8 Q5_K. A tensor whose row length
                     is not a multiple of the type's block falls back as llama.cpp does (Q6_K ->
                     Q8_0; Q4_K / Q5_K -> Q5_0 / Q5_1, not written here: an error)
  "pure:TYPE"        llama-quantize --pure: every quantizable 2-D weight TYPE (output included)
  a dict             {gguf tensor name: type name}, over the "f32" mix (1-D tensors may be named)
mamba_from_hf_folder(folder, out, mix): an HF Mamba folder as convert_hf_to_gguf's MambaModel writes
it (conversion/mamba.py: A = -exp(A_log), the conv kernel squeezed to (I, K), ssm.* keys), mixes
"f32" / "f16" / "bf16" / "q8_0" (its --outtype; ssm_conv1d, ssm_a, ssm_d and biases stay F32).
qwen2_from_hf_folder(folder, out, mix): an HF Qwen2 folder as its Qwen2Model writes it (qwen2.* keys,
no q / k permutation, q / k / v biases F32), the same mixes.

Tied embeddings (tie_word_embeddings) write no output.weight; under a llama-quantize mix the
token_embd then takes output.weight's type, as llama.cpp's has_tied_embeddings rule does.

Tokenizer for tiny models (tiny_llama_vocab): tokenizer.ggml.model "llama" (SentencePiece-style;
llama.cpp's loader needs only tokenizer.ggml.tokens, unique strings), with scores and token_type
as convert_hf_to_gguf writes them: 0 "<unk>" (UNKNOWN), 1 "<s>", 2 "</s>" (CONTROL), then byte
tokens and single characters such that node-llama-cpp's load-time tokenizer probe cannot hit a
missing byte-fallback token (see tiny_llama_vocab); bos 1, eos 2, unk 0, add_bos_token false.
("none"/"no_vocab" loads in llama.cpp but aborts node-llama-cpp's probe: no tokenizer.)

Usage:
  gguf_writer.py convert HF_FOLDER OUT.gguf MIX     write a GGUF
  gguf_writer.py dump FILE.gguf                     print metadata and tensor infos
"""
import json
import math
import os
import struct
import sys
from collections import OrderedDict

import numpy as np

GGUF_MAGIC = b"GGUF"
GGUF_VERSION = 3
DEFAULT_ALIGNMENT = 32


# ---------------------------------------------------------------- metadata value types

class VT:
    """gguf_type: the type tag of a metadata value."""
    UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY, UINT64, INT64, \
        FLOAT64 = range(13)
    NAMES = ["UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL", "STRING",
             "ARRAY", "UINT64", "INT64", "FLOAT64"]


_SCALAR_FMT = {VT.UINT8: "<B", VT.INT8: "<b", VT.UINT16: "<H", VT.INT16: "<h", VT.UINT32: "<I",
               VT.INT32: "<i", VT.FLOAT32: "<f", VT.BOOL: "<?", VT.UINT64: "<Q", VT.INT64: "<q",
               VT.FLOAT64: "<d"}
_NP_OF_VT = {VT.UINT8: "<u1", VT.INT8: "<i1", VT.UINT16: "<u2", VT.INT16: "<i2", VT.UINT32: "<u4",
             VT.INT32: "<i4", VT.FLOAT32: "<f4", VT.BOOL: "<u1", VT.UINT64: "<u8", VT.INT64: "<i8",
             VT.FLOAT64: "<f8"}


class Value:
    """A typed metadata value: Value(VT.UINT32, 5), Value(VT.ARRAY, [..], elem=VT.STRING)."""

    def __init__(self, vtype, value, elem=None):
        self.vtype, self.value, self.elem = vtype, value, elem

    def __repr__(self):
        if self.vtype == VT.ARRAY:
            return f"ARRAY[{VT.NAMES[self.elem]}] x{len(self.value)}"
        return f"{VT.NAMES[self.vtype]} {self.value!r}"


def _infer(value):
    if isinstance(value, Value):
        return value
    if isinstance(value, bool):
        return Value(VT.BOOL, value)
    if isinstance(value, int):
        return Value(VT.INT32 if -2**31 <= value < 2**31 else VT.INT64, value)
    if isinstance(value, float):
        return Value(VT.FLOAT32, value)
    if isinstance(value, str):
        return Value(VT.STRING, value)
    if isinstance(value, (list, tuple)):
        if not value:
            raise ValueError("an empty list needs an explicit Value(VT.ARRAY, [], elem=...)")
        inner = _infer(value[0])
        return Value(VT.ARRAY, [(_infer(v).value if inner.vtype != VT.ARRAY else _infer(v))
                                for v in value], elem=inner.vtype)
    raise TypeError(f"no GGUF type for {type(value)}")


def _pack_string(s):
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    return struct.pack("<Q", len(b)) + b


def _pack_value(v):
    """The bytes of a value after its type tag."""
    if v.vtype == VT.STRING:
        return _pack_string(v.value)
    if v.vtype == VT.ARRAY:
        out = [struct.pack("<IQ", v.elem, len(v.value))]
        if v.elem == VT.STRING:
            out += [_pack_string(s) for s in v.value]
        elif v.elem == VT.ARRAY:
            for a in v.value:  # nested arrays: each element is a type tag + count + items
                out.append(_pack_value(a))
        else:
            out.append(np.asarray(v.value).astype(_NP_OF_VT[v.elem]).tobytes())
        return b"".join(out)
    return struct.pack(_SCALAR_FMT[v.vtype], v.value)


# ---------------------------------------------------------------- tensor types

class GT:
    """ggml_type ids (ggml.h) of the types written here."""
    F32, F16, Q4_0, Q4_1, Q8_0, Q4_K, Q5_K, Q6_K, BF16 = 0, 1, 2, 3, 8, 12, 13, 14, 30
    # (elements per block, bytes per block)
    BLOCK = {0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 8: (32, 34), 12: (256, 144),
             13: (256, 176), 14: (256, 210), 30: (1, 2)}
    NAMES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 8: "Q8_0", 12: "Q4_K", 13: "Q5_K",
             14: "Q6_K", 30: "BF16"}
    BY_NAME = {v: k for k, v in NAMES.items()}


def type_id(t):
    return t if isinstance(t, int) else GT.BY_NAME[t.upper()]


def row_bytes(t, n):
    be, bb = GT.BLOCK[t]
    if n % be:
        raise ValueError(f"{GT.NAMES[t]} needs rows of a multiple of {be} elements, not {n}")
    return n // be * bb


# ---- float conversions

def f32_to_f16_bits(x):
    return np.asarray(x, np.float32).astype(np.float16).view(np.uint16)


def f16_bits_to_f32(b):
    return np.asarray(b, np.uint16).view(np.float16).astype(np.float32)


def f32_to_bf16_bits(x):
    u = np.ascontiguousarray(x, np.float32).view(np.uint32).astype(np.uint64)
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    r = ((u + (0x7FFF + ((u >> 16) & 1))) >> 16) & 0xFFFF
    return np.where(nan, ((u >> 16) | 64) & 0xFFFF, r).astype(np.uint16)


def bf16_bits_to_f32(b):
    return (np.asarray(b, np.uint16).astype(np.uint32) << 16).view(np.float32)


def _fp16_round(x):
    """GGML_FP16_TO_FP32(GGML_FP32_TO_FP16(x))."""
    return np.asarray(x, np.float32).astype(np.float16).astype(np.float32)


F32 = np.float32


def nearest_int(v):
    """ggml's nearest_int: float32 + 1.5 * 2^23 takes the nearest integer, ties to even."""
    return np.rint(np.asarray(v, F32)).astype(np.int64)


def roundf(v):
    """C roundf: halves away from zero (exact for float32 inputs in float64)."""
    v = np.asarray(v, F32).astype(np.float64)
    return (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int64)


def _c_uint8(v):
    return np.asarray(v, np.int64) & 0xFF


# ---- 32-element block types

def quantize_q8_0(x):
    """quantize_row_q8_0_ref over a (n_blocks, 32) float32 array -> bytes."""
    x = np.asarray(x, F32).reshape(-1, 32)
    amax = np.abs(x).max(axis=1)
    d = amax / F32(127)
    with np.errstate(divide="ignore"):
        idv = np.where(d != 0, F32(1) / d, F32(0)).astype(F32)
    q = roundf(x * idv[:, None])
    out = np.zeros((x.shape[0], 34), np.uint8)
    out[:, 0:2] = f32_to_f16_bits(d).view(np.uint8).reshape(-1, 2)
    out[:, 2:] = q.astype(np.int8).view(np.uint8)
    return out.tobytes()


def dequantize_q8_0(b):
    a = np.frombuffer(b, np.uint8).reshape(-1, 34)
    d = f16_bits_to_f32(a[:, 0:2].copy().view(np.uint16)[:, 0])
    q = a[:, 2:].view(np.int8).astype(F32)
    return (q * d[:, None]).astype(F32).reshape(-1)


def _first_absmax(x):
    """The signed value of the first element of largest magnitude in each row (strict '<' scan)."""
    idx = np.argmax(np.abs(x), axis=1)
    return x[np.arange(x.shape[0]), idx]


def quantize_q4_0(x):
    x = np.asarray(x, F32).reshape(-1, 32)
    mx = _first_absmax(x)
    d = mx / F32(-8)
    with np.errstate(divide="ignore"):
        idv = np.where(d != 0, F32(1) / d, F32(0)).astype(F32)
    v = (x * idv[:, None]).astype(F32) + F32(8.5)
    q = np.minimum(15, np.trunc(v).astype(np.int64))  # (int8_t) truncates toward zero
    q = _c_uint8(q)
    out = np.zeros((x.shape[0], 18), np.uint8)
    out[:, 0:2] = f32_to_f16_bits(d).view(np.uint8).reshape(-1, 2)
    out[:, 2:] = (q[:, :16] | (q[:, 16:] << 4)).astype(np.uint8)
    return out.tobytes()


def dequantize_q4_0(b):
    a = np.frombuffer(b, np.uint8).reshape(-1, 18)
    d = f16_bits_to_f32(a[:, 0:2].copy().view(np.uint16)[:, 0])
    qs = a[:, 2:].astype(np.int64)
    q = np.concatenate([(qs & 0xF) - 8, (qs >> 4) - 8], axis=1).astype(F32)
    return (q * d[:, None]).astype(F32).reshape(-1)


def quantize_q4_1(x):
    x = np.asarray(x, F32).reshape(-1, 32)
    mn, mx = x.min(axis=1), x.max(axis=1)
    d = ((mx - mn) / F32(15)).astype(F32)
    with np.errstate(divide="ignore"):
        idv = np.where(d != 0, F32(1) / d, F32(0)).astype(F32)
    v = ((x - mn[:, None]).astype(F32) * idv[:, None]).astype(F32) + F32(0.5)
    q = _c_uint8(np.minimum(15, np.trunc(v).astype(np.int64)))
    out = np.zeros((x.shape[0], 20), np.uint8)
    out[:, 0:2] = f32_to_f16_bits(d).view(np.uint8).reshape(-1, 2)
    out[:, 2:4] = f32_to_f16_bits(mn).view(np.uint8).reshape(-1, 2)
    out[:, 4:] = (q[:, :16] | (q[:, 16:] << 4)).astype(np.uint8)
    return out.tobytes()


def dequantize_q4_1(b):
    a = np.frombuffer(b, np.uint8).reshape(-1, 20)
    hd = a[:, 0:4].copy().view(np.uint16)
    d, m = f16_bits_to_f32(hd[:, 0]), f16_bits_to_f32(hd[:, 1])
    qs = a[:, 4:].astype(np.int64)
    q = np.concatenate([qs & 0xF, qs >> 4], axis=1).astype(F32)
    return ((q * d[:, None]).astype(F32) + m[:, None]).astype(F32).reshape(-1)


# ---- K-quant scale searches (vectorised over sub-blocks, float32 sums in C's order)

def make_qkx2_quants(x, w, nmax, rmin, rdelta, nstep):
    """make_qkx2_quants(n, nmax, x, weights, L, &the_min, Laux, rmin, rdelta, nstep, use_mad=false)
    for each row of x (n_sub, n). Returns (scale, the_min, L)."""
    ns, n = x.shape
    mn = x.min(axis=1)
    mx = x.max(axis=1)
    sum_w = w[:, 0].copy()
    sum_x = (sum_w * x[:, 0]).astype(F32)
    for i in range(1, n):
        sum_w = (sum_w + w[:, i]).astype(F32)
        sum_x = (sum_x + (w[:, i] * x[:, i]).astype(F32)).astype(F32)
    mn = np.where(mn > 0, F32(0), mn).astype(F32)
    flat = mx == mn
    rng = np.where(flat, F32(1), (mx - mn).astype(F32)).astype(F32)
    iscale = (F32(nmax) / rng).astype(F32)
    scale = (F32(1) / iscale).astype(F32)
    xm = (x - mn[:, None]).astype(F32)
    L = np.clip(nearest_int((iscale[:, None] * xm).astype(F32)), 0, nmax)
    best = np.zeros(ns, F32)
    Lf = L.astype(F32)
    for i in range(n):
        diff = (((scale * Lf[:, i]).astype(F32) + mn).astype(F32) - x[:, i]).astype(F32)
        best = (best + (w[:, i] * (diff * diff).astype(F32)).astype(F32)).astype(F32)
    cur_min = mn.copy()
    for step in range(nstep + 1):
        # C updates `min` when a step wins: later steps measure x - min and max - min from it
        rng_s = np.where(flat, F32(1), (mx - cur_min).astype(F32)).astype(F32)
        xm = (x - cur_min[:, None]).astype(F32)
        num = ((F32(rmin) + (F32(rdelta) * F32(step)).astype(F32)).astype(F32) + F32(nmax)).astype(F32)
        isc = (num / rng_s).astype(F32)
        La = np.clip(nearest_int((isc[:, None] * xm).astype(F32)), 0, nmax)
        Laf = La.astype(F32)
        sl = np.zeros(ns, F32)
        sl2 = np.zeros(ns, F32)
        sxl = np.zeros(ns, F32)
        for i in range(n):
            wl = (w[:, i] * Laf[:, i]).astype(F32)
            sl = (sl + wl).astype(F32)
            sl2 = (sl2 + (wl * Laf[:, i]).astype(F32)).astype(F32)
            sxl = (sxl + (wl * x[:, i]).astype(F32)).astype(F32)
        D = ((sum_w * sl2).astype(F32) - (sl * sl).astype(F32)).astype(F32)
        ok = D > 0
        Ds = np.where(ok, D, F32(1)).astype(F32)
        ts = ((((sum_w * sxl).astype(F32) - (sum_x * sl).astype(F32)).astype(F32)) / Ds).astype(F32)
        tm = ((((sl2 * sum_x).astype(F32) - (sl * sxl).astype(F32)).astype(F32)) / Ds).astype(F32)
        pos = tm > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            ts = np.where(pos, (sxl / sl2).astype(F32), ts).astype(F32)
        tm = np.where(pos, F32(0), tm).astype(F32)
        cur = np.zeros(ns, F32)
        for i in range(n):
            diff = (((ts * Laf[:, i]).astype(F32) + tm).astype(F32) - x[:, i]).astype(F32)
            cur = (cur + (w[:, i] * (diff * diff).astype(F32)).astype(F32)).astype(F32)
        take = ok & (cur < best) & ~flat
        L = np.where(take[:, None], La, L)
        best = np.where(take, cur, best).astype(F32)
        scale = np.where(take, ts, scale).astype(F32)
        cur_min = np.where(take, tm, cur_min).astype(F32)
    scale = np.where(flat, F32(0), scale).astype(F32)
    L = np.where(flat[:, None], 0, L)
    return scale, (-cur_min).astype(F32), L


def make_qx_quants_rmse1(x, nmax):
    """make_qx_quants(n, nmax, x, L, rmse_type=1, qw=NULL) for each row of x. Returns (scale, L)
    with L = l + nmax."""
    ns, n = x.shape
    amax = np.abs(x).max(axis=1)
    mx = _first_absmax(x)
    zero = amax < F32(1e-15)
    mxs = np.where(zero, F32(1), mx).astype(F32)
    w = (x * x).astype(F32)

    def trial(iscale):
        l = np.clip(nearest_int((iscale[:, None] * x).astype(F32)), -nmax, nmax - 1)
        lf = l.astype(F32)
        slx = np.zeros(ns, F32)
        sl2 = np.zeros(ns, F32)
        for i in range(n):
            slx = (slx + ((w[:, i] * x[:, i]).astype(F32) * lf[:, i]).astype(F32)).astype(F32)
            sl2 = (sl2 + ((w[:, i] * lf[:, i]).astype(F32) * lf[:, i]).astype(F32)).astype(F32)
        return l, slx, sl2

    iscale = (F32(-nmax) / mxs).astype(F32)
    l, slx, sl2 = trial(iscale)
    L = l + nmax
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(sl2 != 0, (slx / sl2).astype(F32), F32(0)).astype(F32)
    best = (scale * slx).astype(F32)
    for is_ in range(-9, 10):
        if is_ == 0:
            continue
        num = (F32(nmax) + (F32(0.1) * F32(is_)).astype(F32)).astype(F32)
        isc = (-num / mxs).astype(F32)
        l, slx, sl2 = trial(isc)
        take = (sl2 > 0) & ((slx * slx).astype(F32) > (best * sl2).astype(F32))
        with np.errstate(divide="ignore", invalid="ignore"):
            ns_ = (slx / sl2).astype(F32)
        L = np.where(take[:, None], l + nmax, L)
        scale = np.where(take, ns_, scale).astype(F32)
        best = np.where(take, (ns_ * slx).astype(F32), best).astype(F32)
    scale = np.where(zero, F32(0), scale).astype(F32)
    L = np.where(zero[:, None], 0, L)
    return scale, L


def _pack_k_scales(ls, lm):
    """The 12 bytes of 6-bit scales and mins of a q4_K / q5_K block, for (nb, 8) ls and lm."""
    nb = ls.shape[0]
    s = np.zeros((nb, 12), np.int64)
    s[:, 0:4] = ls[:, 0:4]
    s[:, 4:8] = lm[:, 0:4]
    s[:, 8:12] = (ls[:, 4:8] & 0xF) | ((lm[:, 4:8] & 0xF) << 4)
    s[:, 0:4] |= (ls[:, 4:8] >> 4) << 6
    s[:, 4:8] |= (lm[:, 4:8] >> 4) << 6
    return s.astype(np.uint8)


def _unpack_k_scales(s):
    s = s.astype(np.int64)
    sc = np.zeros((s.shape[0], 8), np.int64)
    m = np.zeros((s.shape[0], 8), np.int64)
    sc[:, 0:4] = s[:, 0:4] & 63
    m[:, 0:4] = s[:, 4:8] & 63
    sc[:, 4:8] = (s[:, 8:12] & 0xF) | ((s[:, 0:4] >> 6) << 4)
    m[:, 4:8] = (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)
    return sc, m


def _quantize_qk_affine(x, nmax, rmin, rdelta, nstep):
    """The shared part of quantize_row_q4_K_ref / q5_K_ref: (d bits, dmin bits, scales bytes, L)."""
    x = np.asarray(x, F32).reshape(-1, 256)
    nb = x.shape[0]
    xs = x.reshape(nb * 8, 32)
    sx2 = np.zeros(nb * 8, F32)
    for i in range(32):
        sx2 = (sx2 + (xs[:, i] * xs[:, i]).astype(F32)).astype(F32)
    av = np.sqrt((sx2 / F32(32)).astype(F32)).astype(F32)
    w = (av[:, None] + np.abs(xs)).astype(F32)
    scales, mins, L = make_qkx2_quants(xs, w, nmax, rmin, rdelta, nstep)
    scales, mins, L = scales.reshape(nb, 8), mins.reshape(nb, 8), L.reshape(nb, 8, 32)
    # `if (scale > max_scale)` from +0: a -0.0 (the_min of a block whose min is 0) never wins
    ms, mm = scales.max(axis=1), mins.max(axis=1)
    max_scale = np.where(ms > 0, ms, F32(0)).astype(F32)
    max_min = np.where(mm > 0, mm, F32(0)).astype(F32)
    with np.errstate(divide="ignore"):
        inv_s = np.where(max_scale > 0, F32(63) / max_scale, F32(0)).astype(F32)
        inv_m = np.where(max_min > 0, F32(63) / max_min, F32(0)).astype(F32)
    ls = np.minimum(63, _c_uint8(nearest_int((inv_s[:, None] * scales).astype(F32))))
    lm = np.minimum(63, _c_uint8(nearest_int((inv_m[:, None] * mins).astype(F32))))
    sbytes = _pack_k_scales(ls, lm)
    dbits = f32_to_f16_bits((max_scale / F32(63)).astype(F32))
    mbits = f32_to_f16_bits((max_min / F32(63)).astype(F32))
    sc, m = _unpack_k_scales(sbytes)
    d = (f16_bits_to_f32(dbits)[:, None] * sc.astype(F32)).astype(F32)
    dm = (f16_bits_to_f32(mbits)[:, None] * m.astype(F32)).astype(F32)
    xb = x.reshape(nb, 8, 32)
    with np.errstate(divide="ignore", invalid="ignore"):
        l2 = nearest_int(np.where(d[:, :, None] != 0,
                                  ((xb + dm[:, :, None]).astype(F32) / d[:, :, None]).astype(F32),
                                  F32(0)))
    l2 = np.clip(l2, 0, nmax)
    L = np.where(d[:, :, None] != 0, l2, L)  # `if (!d) continue;` keeps the search's L
    return dbits, mbits, sbytes, L.reshape(nb, 256)


def quantize_q4_K(x):
    dbits, mbits, sbytes, L = _quantize_qk_affine(x, 15, -1.0, 0.1, 20)
    nb = L.shape[0]
    out = np.zeros((nb, 144), np.uint8)
    out[:, 0:2] = dbits.view(np.uint8).reshape(-1, 2)
    out[:, 2:4] = mbits.view(np.uint8).reshape(-1, 2)
    out[:, 4:16] = sbytes
    Lc = L.reshape(nb, 4, 2, 32)  # chunks of 64: low nibble the first 32, high the next 32
    out[:, 16:] = (Lc[:, :, 0, :] | (Lc[:, :, 1, :] << 4)).reshape(nb, 128).astype(np.uint8)
    return out.tobytes()


def dequantize_q4_K(b):
    a = np.frombuffer(b, np.uint8).reshape(-1, 144)
    nb = a.shape[0]
    hd = a[:, 0:4].copy().view(np.uint16)
    d, mn = f16_bits_to_f32(hd[:, 0]), f16_bits_to_f32(hd[:, 1])
    sc, m = _unpack_k_scales(a[:, 4:16])
    qs = a[:, 16:].reshape(nb, 4, 32).astype(np.int64)
    q = np.stack([qs & 0xF, qs >> 4], axis=2).reshape(nb, 8, 32).astype(F32)
    d1 = (d[:, None] * sc.astype(F32)).astype(F32)
    m1 = (mn[:, None] * m.astype(F32)).astype(F32)
    return ((d1[:, :, None] * q).astype(F32) - m1[:, :, None]).astype(F32).reshape(-1)


def quantize_q5_K(x):
    dbits, mbits, sbytes, L = _quantize_qk_affine(x, 31, -0.5, 0.1, 15)
    nb = L.shape[0]
    out = np.zeros((nb, 176), np.uint8)
    out[:, 0:2] = dbits.view(np.uint8).reshape(-1, 2)
    out[:, 2:4] = mbits.view(np.uint8).reshape(-1, 2)
    out[:, 4:16] = sbytes
    Lc = L.reshape(nb, 4, 2, 32)
    lo, hi = Lc & 0xF, Lc >> 4  # hi in {0, 1}
    qh = np.zeros((nb, 32), np.int64)
    for c in range(4):
        qh |= hi[:, c, 0, :] << (2 * c)
        qh |= hi[:, c, 1, :] << (2 * c + 1)
    out[:, 16:48] = qh.astype(np.uint8)
    out[:, 48:] = (lo[:, :, 0, :] | (lo[:, :, 1, :] << 4)).reshape(nb, 128).astype(np.uint8)
    return out.tobytes()


def dequantize_q5_K(b):
    a = np.frombuffer(b, np.uint8).reshape(-1, 176)
    nb = a.shape[0]
    hd = a[:, 0:4].copy().view(np.uint16)
    d, mn = f16_bits_to_f32(hd[:, 0]), f16_bits_to_f32(hd[:, 1])
    sc, m = _unpack_k_scales(a[:, 4:16])
    qh = a[:, 16:48].astype(np.int64)
    qs = a[:, 48:].reshape(nb, 4, 32).astype(np.int64)
    parts = []
    for c in range(4):
        parts.append((qs[:, c] & 0xF) + ((qh >> (2 * c)) & 1) * 16)
        parts.append((qs[:, c] >> 4) + ((qh >> (2 * c + 1)) & 1) * 16)
    q = np.stack(parts, axis=1).astype(F32)
    d1 = (d[:, None] * sc.astype(F32)).astype(F32)
    m1 = (mn[:, None] * m.astype(F32)).astype(F32)
    return ((d1[:, :, None] * q).astype(F32) - m1[:, :, None]).astype(F32).reshape(-1)


def quantize_q6_K(x):
    x = np.asarray(x, F32).reshape(-1, 256)
    nb = x.shape[0]
    scales, L = make_qx_quants_rmse1(x.reshape(nb * 16, 16), 32)
    scales, L = scales.reshape(nb, 16), L.reshape(nb, 16, 16)
    absS = np.abs(scales)
    max_abs = absS.max(axis=1)
    max_scale = _first_absmax(scales)  # first ib of the largest |scale|, its signed value
    zero = max_abs < F32(1e-15)
    mxs = np.where(zero, F32(1), max_scale).astype(F32)
    iscale = (F32(-128) / mxs).astype(F32)
    dbits = f32_to_f16_bits((F32(1) / iscale).astype(F32))
    sc = np.minimum(127, nearest_int((iscale[:, None] * scales).astype(F32)))
    sc8 = sc.astype(np.int64)
    sc8 = ((sc8 + 128) & 0xFF) - 128  # int8_t
    d = (f16_bits_to_f32(dbits)[:, None] * sc8.astype(F32)).astype(F32)
    xb = x.reshape(nb, 16, 16)
    with np.errstate(divide="ignore", invalid="ignore"):
        l2 = nearest_int(np.where(d[:, :, None] != 0, (xb / d[:, :, None]).astype(F32), F32(0)))
    l2 = np.clip(l2, -32, 31) + 32
    L = np.where(d[:, :, None] != 0, l2, L).reshape(nb, 256)
    out = np.zeros((nb, 210), np.uint8)
    Lh = L.reshape(nb, 2, 4, 32)  # halves of 128, quarters of 32
    ql = np.zeros((nb, 2, 64), np.int64)
    qh = np.zeros((nb, 2, 32), np.int64)
    ql[:, :, 0:32] = (Lh[:, :, 0] & 0xF) | ((Lh[:, :, 2] & 0xF) << 4)
    ql[:, :, 32:64] = (Lh[:, :, 1] & 0xF) | ((Lh[:, :, 3] & 0xF) << 4)
    qh[:] = ((Lh[:, :, 0] >> 4) | ((Lh[:, :, 1] >> 4) << 2) | ((Lh[:, :, 2] >> 4) << 4)
             | ((Lh[:, :, 3] >> 4) << 6))
    out[:, 0:128] = ql.reshape(nb, 128).astype(np.uint8)
    out[:, 128:192] = qh.reshape(nb, 64).astype(np.uint8)
    out[:, 192:208] = sc8.astype(np.int8).view(np.uint8)
    out[:, 208:210] = dbits.view(np.uint8).reshape(-1, 2)
    out[zero] = 0  # memset(&y[i], 0): d = fp16(0) too
    return out.tobytes()


def dequantize_q6_K(b):
    a = np.frombuffer(b, np.uint8).reshape(-1, 210)
    nb = a.shape[0]
    ql = a[:, 0:128].reshape(nb, 2, 64).astype(np.int64)
    qh = a[:, 128:192].reshape(nb, 2, 32).astype(np.int64)
    sc = a[:, 192:208].view(np.int8).astype(F32).reshape(nb, 2, 8)
    d = f16_bits_to_f32(a[:, 208:210].copy().view(np.uint16)[:, 0])
    q = np.zeros((nb, 2, 4, 32), np.int64)
    q[:, :, 0] = (ql[:, :, 0:32] & 0xF) | (((qh >> 0) & 3) << 4)
    q[:, :, 1] = (ql[:, :, 32:64] & 0xF) | (((qh >> 2) & 3) << 4)
    q[:, :, 2] = (ql[:, :, 0:32] >> 4) | (((qh >> 4) & 3) << 4)
    q[:, :, 3] = (ql[:, :, 32:64] >> 4) | (((qh >> 6) & 3) << 4)
    q = (q - 32).astype(F32)
    # element l of quarter k in half h uses scale sc[h, 2k + l // 16]
    s = sc.reshape(nb, 2, 4, 2)[:, :, :, np.arange(32) // 16]
    ds = (d[:, None, None, None] * s).astype(F32)
    return (ds * q).astype(F32).reshape(-1)


QUANTIZE = {GT.Q8_0: quantize_q8_0, GT.Q4_0: quantize_q4_0, GT.Q4_1: quantize_q4_1,
            GT.Q4_K: quantize_q4_K, GT.Q5_K: quantize_q5_K, GT.Q6_K: quantize_q6_K}
DEQUANTIZE = {GT.Q8_0: dequantize_q8_0, GT.Q4_0: dequantize_q4_0, GT.Q4_1: dequantize_q4_1,
              GT.Q4_K: dequantize_q4_K, GT.Q5_K: dequantize_q5_K, GT.Q6_K: dequantize_q6_K}


def quantize(x, t):
    """float32 array (any shape; rows along the last axis) -> the bytes of ggml type t."""
    t = type_id(t)
    x = np.ascontiguousarray(x, F32)
    row_bytes(t, x.shape[-1] if x.ndim else 1)
    if t == GT.F32:
        return x.tobytes()
    if t == GT.F16:
        return f32_to_f16_bits(x).tobytes()
    if t == GT.BF16:
        return f32_to_bf16_bits(x).tobytes()
    return QUANTIZE[t](x.reshape(-1))


def dequantize(b, t, shape):
    """The bytes of ggml type t -> float32 array of numpy shape `shape`."""
    t = type_id(t)
    n = int(np.prod(shape)) if len(shape) else 1
    if t == GT.F32:
        out = np.frombuffer(b, F32, count=n)
    elif t == GT.F16:
        out = f16_bits_to_f32(np.frombuffer(b, np.uint16, count=n))
    elif t == GT.BF16:
        out = bf16_bits_to_f32(np.frombuffer(b, np.uint16, count=n))
    else:
        out = DEQUANTIZE[t](b)
    return np.array(out, F32).reshape(shape)


def round_trip(x, t):
    """What a float32 weight becomes once stored as type t and read back."""
    x = np.asarray(x, F32)
    return dequantize(quantize(x, t), t, x.shape)


# ---------------------------------------------------------------- the file

class GGUFWriter:
    """Collects metadata and tensors, then write(path). Tensors are numpy float32 arrays in numpy
    (row-major) shape; GGUF stores their dimensions innermost first (ne[0] = shape[-1])."""

    def __init__(self, alignment=DEFAULT_ALIGNMENT):
        self.kv = OrderedDict()
        self.tensors = OrderedDict()
        self.alignment = alignment
        if alignment != DEFAULT_ALIGNMENT:
            self.add("general.alignment", Value(VT.UINT32, alignment))

    def add(self, key, value):
        self.kv[key] = _infer(value)

    def add_tensor(self, name, array, t="F32"):
        t = type_id(t)
        array = np.asarray(array, F32)
        self.tensors[name] = (t, array.shape, quantize(array, t))

    def add_raw_tensor(self, name, t, shape, data):
        self.tensors[name] = (type_id(t), tuple(shape), bytes(data))

    def to_bytes(self):
        al = self.alignment
        out = [GGUF_MAGIC, struct.pack("<IQQ", GGUF_VERSION, len(self.tensors), len(self.kv))]
        for k, v in self.kv.items():
            out += [_pack_string(k), struct.pack("<I", v.vtype), _pack_value(v)]
        offset, blobs = 0, []
        for name, (t, shape, data) in self.tensors.items():
            ne = list(reversed(shape)) or [1]
            expect = row_bytes(t, ne[0]) * int(np.prod(ne[1:], dtype=np.int64))
            if len(data) != expect:
                raise ValueError(f"{name}: {len(data)} bytes for {GT.NAMES[t]} {shape}, expected {expect}")
            out += [_pack_string(name), struct.pack("<I", len(ne)),
                    struct.pack(f"<{len(ne)}Q", *ne), struct.pack("<IQ", t, offset)]
            pad = (-len(data)) % al
            blobs += [data, b"\0" * pad]
            offset += len(data) + pad
        head = b"".join(out)
        head += b"\0" * ((-len(head)) % al)
        return head + b"".join(blobs)

    def write(self, path):
        with open(path, "wb") as f:
            f.write(self.to_bytes())


class _Cursor:
    def __init__(self, data):
        self.d, self.p = data, 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.d, self.p)
        self.p += struct.calcsize(fmt)
        return v if len(v) > 1 else v[0]

    def string(self):
        n = self.take("<Q")
        s = self.d[self.p:self.p + n]
        self.p += n
        return s.decode("utf-8")

    def value(self, vt):
        if vt == VT.STRING:
            return self.string()
        if vt == VT.ARRAY:
            et, n = self.take("<I"), self.take("<Q")
            if et == VT.STRING:
                return Value(VT.ARRAY, [self.string() for _ in range(n)], elem=et)
            if et == VT.ARRAY:
                return Value(VT.ARRAY, [self.value(VT.ARRAY) for _ in range(n)], elem=et)
            dt = np.dtype(_NP_OF_VT[et])
            a = np.frombuffer(self.d, dt, count=n, offset=self.p)
            self.p += n * dt.itemsize
            items = [bool(x) for x in a] if et == VT.BOOL else a.tolist()
            return Value(VT.ARRAY, items, elem=et)
        return self.take(_SCALAR_FMT[vt])


class GGUFFile:
    """A parsed GGUF: .kv (key -> Value), .tensors (name -> (type, numpy shape, bytes)),
    .version, .alignment, .data_offset."""

    def __init__(self, path):
        data = open(path, "rb").read()
        c = _Cursor(data)
        if data[:4] != GGUF_MAGIC:
            raise ValueError(f"{path}: not a GGUF file")
        c.p = 4
        self.version, n_t, n_kv = c.take("<IQQ")
        self.kv = OrderedDict()
        for _ in range(n_kv):
            k = c.string()
            vt = c.take("<I")
            v = c.value(vt)
            self.kv[k] = v if isinstance(v, Value) else Value(vt, v)
        self.alignment = self.kv["general.alignment"].value if "general.alignment" in self.kv else DEFAULT_ALIGNMENT
        infos = []
        for _ in range(n_t):
            name = c.string()
            nd = c.take("<I")
            ne = [c.take("<Q") for _ in range(nd)]
            t, off = c.take("<IQ")
            infos.append((name, t, ne, off))
        self.data_offset = c.p + (-c.p) % self.alignment
        self.tensors = OrderedDict()
        for name, t, ne, off in infos:
            if off % self.alignment:
                raise ValueError(f"{name}: offset {off} not aligned to {self.alignment}")
            nbytes = row_bytes(t, ne[0]) * int(np.prod(ne[1:], dtype=np.int64))
            start = self.data_offset + off
            self.tensors[name] = (t, tuple(reversed(ne)), data[start:start + nbytes])

    def get(self, key, default=None):
        v = self.kv.get(key)
        return default if v is None else v.value

    def tensor(self, name):
        """The tensor dequantized to float32, in numpy shape."""
        t, shape, b = self.tensors[name]
        return dequantize(b, t, shape)


# ---------------------------------------------------------------- safetensors (json + numpy)

_ST_DTYPES = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
              "U8": "u1", "BOOL": "?"}


def read_safetensors(path):
    """{name: float32 (or integer) numpy array}; F16 and BF16 are widened to float32 exactly."""
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        raw, dt, shape = data[base + b:base + e], info["dtype"], info["shape"]
        if dt == "BF16":
            a = bf16_bits_to_f32(np.frombuffer(raw, "<u2"))
        elif dt == "F16":
            a = np.frombuffer(raw, "<f2").astype(F32)
        else:
            a = np.frombuffer(raw, _ST_DTYPES[dt])
        out[name] = np.array(a).reshape(shape)
    return out


def read_hf_folder(folder):
    cfg = json.load(open(os.path.join(folder, "config.json")))
    index = os.path.join(folder, "model.safetensors.index.json")
    files = (sorted(set(json.load(open(index))["weight_map"].values())) if os.path.exists(index)
             else ["model.safetensors"])
    tensors = {}
    for f in files:
        tensors.update(read_safetensors(os.path.join(folder, f)))
    return cfg, tensors


# ---------------------------------------------------------------- HF Llama -> GGUF

# llama_ftype (llama.h) per mix, for general.file_type
FILE_TYPE = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q8_0": 7, "q4_k_s": 14, "q4_k_m": 15,
             "q5_k_s": 16, "q5_k_m": 17, "q6_k": 18, "bf16": 32}
MIX_ALIASES = {"q4_k": "q4_k_m", "q5_k": "q5_k_m"}
MIX_BASE = {"f32": GT.F32, "f16": GT.F16, "bf16": GT.BF16, "q8_0": GT.Q8_0, "q4_0": GT.Q4_0,
            "q4_1": GT.Q4_1, "q4_k_s": GT.Q4_K, "q4_k_m": GT.Q4_K, "q5_k_s": GT.Q5_K,
            "q5_k_m": GT.Q5_K, "q6_k": GT.Q6_K}


def permute_qk(w, n_head, n_head_kv=None):
    """convert_hf_to_gguf's LlamaModel.permute: HF's rotate-half row order per head -> the
    interleaved pairs llama.cpp's rope (mode 0) expects."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def hf_llama_tensors(cfg, hf, permute=True):
    """(gguf name, float32 array) in convert_hf_to_gguf's order for LlamaForCausalLM (permute=False:
    Qwen2ForCausalLM, whose Qwen2Model keeps HF's q / k row order)."""
    H = cfg["num_attention_heads"]
    Hkv = cfg.get("num_key_value_heads") or H
    out = [("token_embd.weight", hf["model.embed_tokens.weight"])]
    names = {"input_layernorm.weight": "attn_norm.weight",
             "self_attn.q_proj.weight": "attn_q.weight", "self_attn.q_proj.bias": "attn_q.bias",
             "self_attn.k_proj.weight": "attn_k.weight", "self_attn.k_proj.bias": "attn_k.bias",
             "self_attn.v_proj.weight": "attn_v.weight", "self_attn.v_proj.bias": "attn_v.bias",
             "self_attn.o_proj.weight": "attn_output.weight", "self_attn.o_proj.bias": "attn_output.bias",
             "post_attention_layernorm.weight": "ffn_norm.weight",
             "mlp.gate_proj.weight": "ffn_gate.weight", "mlp.up_proj.weight": "ffn_up.weight",
             "mlp.down_proj.weight": "ffn_down.weight"}
    for l in range(cfg["num_hidden_layers"]):
        for hfn, gn in names.items():
            t = hf.get(f"model.layers.{l}.{hfn}")
            if t is None:
                continue
            if permute and hfn.startswith("self_attn.q_proj"):
                t = permute_qk(t, H, H)
            elif permute and hfn.startswith("self_attn.k_proj"):
                t = permute_qk(t, H, Hkv)
            out.append((f"blk.{l}.{gn}", t))
    out.append(("output_norm.weight", hf["model.norm.weight"]))
    if not cfg.get("tie_word_embeddings", False):
        out.append(("output.weight", hf["lm_head.weight"]))
    return [(n, np.ascontiguousarray(t, F32)) for n, t in out]


def _use_more_bits(i, n):
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def _fallback(t, ncols):
    """llama-quant.cpp tensor_type_fallback for the types written here."""
    be = GT.BLOCK[t][0]
    if ncols % be == 0:
        return t
    if t == GT.Q6_K:
        t = GT.Q8_0
    elif t in (GT.Q4_K, GT.Q5_K):
        raise ValueError(f"rows of {ncols} elements: llama.cpp would fall back from {GT.NAMES[t]} "
                         "to Q5_0/Q5_1, which this writer does not write (use rows of a multiple of 256)")
    return t if ncols % GT.BLOCK[t][0] == 0 else GT.F16


def tensor_types(cfg, tensors, types):
    """{gguf name: ggml type} for the mix `types` (see the module docstring)."""
    if isinstance(types, dict):
        out = {n: GT.F32 for n, _ in tensors}
        out.update({n: type_id(t) for n, t in types.items()})
        return out
    mix = MIX_ALIASES.get(types.lower(), types.lower())
    pure = mix.startswith("pure:")
    base = type_id(mix[5:]) if pure else MIX_BASE[mix]
    tied = cfg.get("tie_word_embeddings", False)
    n_layer = cfg["num_hidden_layers"]
    out, i_v, i_down = {}, 0, 0
    for name, t in tensors:
        is_norm = t.ndim < 2 or name.endswith("_norm.weight") or not name.endswith(".weight")
        if is_norm or base == GT.F32:
            out[name] = GT.F32
            continue
        if base in (GT.F16, GT.BF16) or (mix == "q8_0"):  # convert_hf_to_gguf --outtype
            out[name] = base
            continue
        ncols = t.shape[-1]
        nt = base
        if not pure:
            if name == "output.weight" or (tied and name == "token_embd.weight"):
                if ncols % GT.BLOCK[nt][0] != 0:
                    nt = GT.Q8_0
                elif nt != GT.Q8_0:
                    nt = GT.Q6_K
            elif name.endswith("attn_v.weight"):
                if mix in ("q4_k_m", "q5_k_m") and _use_more_bits(i_v, n_layer):
                    nt = GT.Q6_K
                elif mix == "q4_k_s" and i_v < 4:
                    nt = GT.Q5_K
                i_v += 1
            elif name.endswith("ffn_down.weight"):
                if mix in ("q4_k_m", "q5_k_m") and _use_more_bits(i_down, n_layer):
                    nt = GT.Q6_K
                elif mix == "q4_k_s" and i_down < n_layer // 8:
                    nt = GT.Q5_K
                i_down += 1
        out[name] = _fallback(nt, ncols)
    return out


TINY_VOCAB_CHARS = ("abcdefghijklmnopqrstuvwxyz" + "ABCDEFGHIJKLMNOPQRSTUVWXYZ" + "0123456789"
                    + "".join(chr(c) for c in range(33, 127) if not chr(c).isalnum()))


def tiny_llama_vocab(n_vocab, bos=1, eos=2, unk=0):
    """(tokens, token types) of a SentencePiece-style vocabulary of n_vocab ids that llama.cpp
    (v0.4.0, node-llama-cpp 3.21.1) loads and node-llama-cpp can use. The load itself needs only
    unique token strings; but node-llama-cpp's loadModel tokenizes a probe text ("some test text
    here", with "\n" and the BOS text around it: LlamaModel.getWarnings), and llama.cpp's SPM
    tokenizer throws (uncaught: the process aborts) on any character that is neither a token nor
    byte-fallback "<0xXX>" token. So: with n_vocab >= 259 every byte "<0x00>".."<0xFF>" is a token
    (any text tokenizes); below that "<0x0A>", "\u2581" (SentencePiece's space) and single
    characters, lowercase letters first (n_vocab >= 31 covers the probe)."""
    fixed = {unk: ("<unk>", 2), bos: ("<s>", 3), eos: ("</s>", 3)}  # UNKNOWN, CONTROL
    if n_vocab >= 3 + 256:
        pieces = [(f"<0x{b:02X}>", 6) for b in range(256)] + [("\u2581", 1)]  # BYTE, NORMAL
    else:
        pieces = [("<0x0A>", 6), ("\u2581", 1)]
    pieces += [(c, 1) for c in TINY_VOCAB_CHARS]
    tokens, types, it = [], [], iter(pieces)
    for i in range(n_vocab):
        text, kind = fixed.get(i) or next(it, (f"<t{i}>", 1))
        tokens.append(text)
        types.append(kind)
    return tokens, types


def add_tiny_llama_vocab(w, n_vocab, bos=1, eos=2, unk=0):
    """The tokenizer.ggml.* keys convert_hf_to_gguf writes for a SentencePiece ("llama") vocabulary,
    with tiny_llama_vocab's tokens: the ids are all that matter for these tests."""
    tokens, types = tiny_llama_vocab(n_vocab, bos, eos, unk)
    w.add("tokenizer.ggml.model", "llama")
    w.add("tokenizer.ggml.pre", "default")
    w.add("tokenizer.ggml.tokens", Value(VT.ARRAY, tokens, elem=VT.STRING))
    w.add("tokenizer.ggml.scores", Value(VT.ARRAY, [0.0] * n_vocab, elem=VT.FLOAT32))
    w.add("tokenizer.ggml.token_type", Value(VT.ARRAY, types, elem=VT.INT32))
    w.add("tokenizer.ggml.bos_token_id", Value(VT.UINT32, bos))
    w.add("tokenizer.ggml.eos_token_id", Value(VT.UINT32, eos))
    w.add("tokenizer.ggml.unknown_token_id", Value(VT.UINT32, unk))
    w.add("tokenizer.ggml.add_bos_token", False)
    w.add("tokenizer.ggml.add_eos_token", False)


def llama_from_hf_folder(folder, out_path, types="f32", name=None):
    """Write the HF Llama folder as llama.cpp's convert_hf_to_gguf.py (and, for the Q4/K mixes,
    llama-quantize) would. Returns {gguf tensor name: ggml type name}."""
    cfg, hf = read_hf_folder(folder)
    arch = cfg.get("architectures", ["LlamaForCausalLM"])[0]
    if arch not in ("LlamaForCausalLM", "MistralForCausalLM") or cfg.get("model_type") not in ("llama", "mistral"):
        raise ValueError(f"{folder}: not a Llama folder ({arch}, {cfg.get('model_type')})")
    rs = cfg.get("rope_scaling") or {}
    if rs.get("rope_type", rs.get("type", "default")) not in ("default",):
        raise ValueError(f"rope scaling {rs} is not written by this converter")
    if cfg.get("sliding_window") not in (None,) and cfg.get("model_type") == "mistral":
        raise ValueError("sliding-window Mistral folders are not converted here")
    tensors = hf_llama_tensors(cfg, hf)
    ttypes = tensor_types(cfg, tensors, types)
    H = cfg["num_attention_heads"]
    w = GGUFWriter()
    w.add("general.architecture", "llama")
    w.add("general.type", "model")
    w.add("general.name", name or os.path.basename(os.path.normpath(folder)))
    w.add("llama.block_count", Value(VT.UINT32, cfg["num_hidden_layers"]))
    w.add("llama.context_length", Value(VT.UINT32, cfg["max_position_embeddings"]))
    w.add("llama.embedding_length", Value(VT.UINT32, cfg["hidden_size"]))
    w.add("llama.feed_forward_length", Value(VT.UINT32, cfg["intermediate_size"]))
    w.add("llama.attention.head_count", Value(VT.UINT32, H))
    w.add("llama.attention.head_count_kv", Value(VT.UINT32, cfg.get("num_key_value_heads") or H))
    w.add("llama.rope.freq_base", Value(VT.FLOAT32, float(cfg.get("rope_theta", 10000.0))))
    w.add("llama.attention.layer_norm_rms_epsilon", Value(VT.FLOAT32, float(cfg["rms_norm_eps"])))
    mix = types if isinstance(types, str) else "f32"
    mix = MIX_ALIASES.get(mix.lower(), mix.lower())
    ftype = FILE_TYPE.get(mix[5:] if mix.startswith("pure:") else mix, 0)
    w.add("general.file_type", Value(VT.UINT32, ftype))
    w.add("llama.vocab_size", Value(VT.UINT32, cfg["vocab_size"]))
    w.add("llama.rope.dimension_count", Value(VT.UINT32, cfg.get("head_dim") or cfg["hidden_size"] // H))
    if any(t not in (GT.F32, GT.F16, GT.BF16) for t in ttypes.values()):
        w.add("general.quantization_version", Value(VT.UINT32, 2))
    add_tiny_llama_vocab(w, cfg["vocab_size"], cfg.get("bos_token_id", 1) or 1,
                         (cfg.get("eos_token_id", 2) if isinstance(cfg.get("eos_token_id", 2), int) else 2))
    for n, t in tensors:
        w.add_tensor(n, t, ttypes[n])
    w.write(out_path)
    return {n: GT.NAMES[t] for n, t in ttypes.items()}


# ---------------------------------------------------------------- HF Mamba / Qwen2 -> GGUF

def _convert_types(tensors, mix, keep_f32=()):
    """convert_hf_to_gguf --outtype for non-Llama models (conversion/base.py prepare_tensors):
    1-D tensors, norms, every tensor whose name does not end in ".weight" (Mamba's ssm_a, ssm_d,
    biases) and the names in keep_f32 (ssm_conv1d.weight: SSM_CONV1D is always F32) in F32; the
    other 2-D weights in the outtype, Q8_0 falling back to F16 where a row is not a whole number of
    blocks (gguf.quants.QuantError -> F16)."""
    base = {"f32": GT.F32, "f16": GT.F16, "bf16": GT.BF16, "q8_0": GT.Q8_0}[mix]
    out = {}
    for name, t in tensors:
        if (base == GT.F32 or t.ndim < 2 or name.endswith("_norm.weight") or not name.endswith(".weight")
                or any(name.endswith(k) for k in keep_f32)):
            out[name] = GT.F32
        elif base == GT.Q8_0 and t.shape[-1] % GT.BLOCK[GT.Q8_0][0] != 0:
            out[name] = GT.F16
        else:
            out[name] = base
    return out


MAMBA_OF_HF = {"norm.weight": "attn_norm.weight", "mixer.in_proj.weight": "ssm_in.weight",
               "mixer.in_proj.bias": "ssm_in.bias", "mixer.conv1d.weight": "ssm_conv1d.weight",
               "mixer.conv1d.bias": "ssm_conv1d.bias", "mixer.x_proj.weight": "ssm_x.weight",
               "mixer.dt_proj.weight": "ssm_dt.weight", "mixer.dt_proj.bias": "ssm_dt.bias",
               "mixer.A_log": "ssm_a", "mixer.D": "ssm_d", "mixer.out_proj.weight": "ssm_out.weight",
               "mixer.out_proj.bias": "ssm_out.bias"}


def hf_mamba_tensors(cfg, hf):
    """(gguf name, float32 array) as convert_hf_to_gguf's MambaModel writes them: A stored as
    -exp(A_log), the depthwise conv kernel (I, 1, K) squeezed to (I, K), an lm_head equal to the
    embedding omitted (and absent when tied)."""
    out = [("token_embd.weight", hf["backbone.embeddings.weight"])]
    for l in range(cfg["num_hidden_layers"]):
        for hfn, gn in MAMBA_OF_HF.items():
            t = hf.get(f"backbone.layers.{l}.{hfn}")
            if t is None:
                continue
            t = np.asarray(t, F32)
            if hfn == "mixer.A_log":
                t = -np.exp(t)
            elif hfn == "mixer.conv1d.weight":
                t = t.reshape(t.shape[0], t.shape[-1])
            out.append((f"blk.{l}.{gn}", t))
    out.append(("output_norm.weight", hf["backbone.norm_f.weight"]))
    head = hf.get("lm_head.weight")
    if head is not None and not cfg.get("tie_word_embeddings", True) and not np.array_equal(
            head, hf["backbone.embeddings.weight"]):
        out.append(("output.weight", head))
    return [(n, np.ascontiguousarray(t, F32)) for n, t in out]


def mamba_from_hf_folder(folder, out_path, mix="f32", name=None):
    """Write an HF Mamba folder as convert_hf_to_gguf.py --outtype MIX (f32, f16, bf16, q8_0)
    would (conversion/mamba.py MambaModel): the mamba.* keys (context_length 2^20,
    feed_forward_length and head_count 0 "unused but required", ssm.{conv_kernel, inner_size,
    state_size, time_step_rank}, ssm.dt_b_c_rms false). Its converter asserts expand == 2 and pads
    the vocabulary to a multiple of 8: both required here. Returns {gguf tensor name: type name}."""
    cfg, hf = read_hf_folder(folder)
    if cfg.get("model_type") != "mamba":
        raise ValueError(f"{folder}: not a Mamba folder ({cfg.get('model_type')})")
    D = cfg["hidden_size"]
    I = cfg.get("intermediate_size") or cfg.get("expand", 2) * D
    if I != 2 * D or cfg["vocab_size"] % 8:
        raise ValueError("convert_hf_to_gguf's MambaModel needs expand 2 and a vocabulary padded to 8")
    rank = cfg.get("time_step_rank", "auto")
    R = -(D // -16) if rank == "auto" else rank
    tensors = hf_mamba_tensors(cfg, hf)
    ttypes = _convert_types(tensors, mix, keep_f32=("ssm_conv1d.weight",))
    w = GGUFWriter()
    w.add("general.architecture", "mamba")
    w.add("general.type", "model")
    w.add("general.name", name or os.path.basename(os.path.normpath(folder)))
    w.add("mamba.context_length", Value(VT.UINT32, 2 ** 20))
    w.add("mamba.embedding_length", Value(VT.UINT32, D))
    w.add("mamba.feed_forward_length", Value(VT.UINT32, 0))
    w.add("mamba.attention.head_count", Value(VT.UINT32, 0))
    w.add("mamba.block_count", Value(VT.UINT32, cfg["num_hidden_layers"]))
    w.add("mamba.ssm.conv_kernel", Value(VT.UINT32, cfg.get("conv_kernel", 4)))
    w.add("mamba.ssm.inner_size", Value(VT.UINT32, I))
    w.add("mamba.ssm.state_size", Value(VT.UINT32, cfg.get("state_size", 16)))
    w.add("mamba.ssm.time_step_rank", Value(VT.UINT32, R))
    w.add("mamba.attention.layer_norm_rms_epsilon", Value(VT.FLOAT32, float(cfg.get("layer_norm_epsilon", 1e-5))))
    w.add("mamba.ssm.dt_b_c_rms", False)
    w.add("general.file_type", Value(VT.UINT32, FILE_TYPE[mix]))
    if any(t not in (GT.F32, GT.F16, GT.BF16) for t in ttypes.values()):
        w.add("general.quantization_version", Value(VT.UINT32, 2))
    add_tiny_llama_vocab(w, cfg["vocab_size"], cfg.get("bos_token_id", 1) or 1,
                         cfg.get("eos_token_id", 2) if isinstance(cfg.get("eos_token_id", 2), int) else 2)
    for n, t in tensors:
        w.add_tensor(n, t, ttypes[n])
    w.write(out_path)
    return {n: GT.NAMES[t] for n, t in ttypes.items()}


def qwen2_from_hf_folder(folder, out_path, mix="f32", name=None):
    """Write an HF Qwen2 folder as convert_hf_to_gguf.py --outtype MIX (f32, f16, bf16, q8_0) would
    (conversion Qwen2Model: the qwen2.* keys of TextModel.set_gguf_parameters, HF's q / k row order
    kept, the q / k / v biases in F32). Returns {gguf tensor name: type name}."""
    cfg, hf = read_hf_folder(folder)
    if cfg.get("model_type") != "qwen2":
        raise ValueError(f"{folder}: not a Qwen2 folder ({cfg.get('model_type')})")
    tensors = hf_llama_tensors(cfg, hf, permute=False)
    ttypes = _convert_types(tensors, mix)
    H = cfg["num_attention_heads"]
    w = GGUFWriter()
    w.add("general.architecture", "qwen2")
    w.add("general.type", "model")
    w.add("general.name", name or os.path.basename(os.path.normpath(folder)))
    w.add("qwen2.block_count", Value(VT.UINT32, cfg["num_hidden_layers"]))
    w.add("qwen2.context_length", Value(VT.UINT32, cfg["max_position_embeddings"]))
    w.add("qwen2.embedding_length", Value(VT.UINT32, cfg["hidden_size"]))
    w.add("qwen2.feed_forward_length", Value(VT.UINT32, cfg["intermediate_size"]))
    w.add("qwen2.attention.head_count", Value(VT.UINT32, H))
    w.add("qwen2.attention.head_count_kv", Value(VT.UINT32, cfg.get("num_key_value_heads") or H))
    w.add("qwen2.rope.freq_base", Value(VT.FLOAT32, float(cfg.get("rope_theta", 10000.0))))
    w.add("qwen2.attention.layer_norm_rms_epsilon", Value(VT.FLOAT32, float(cfg["rms_norm_eps"])))
    w.add("general.file_type", Value(VT.UINT32, FILE_TYPE[mix]))
    if any(t not in (GT.F32, GT.F16, GT.BF16) for t in ttypes.values()):
        w.add("general.quantization_version", Value(VT.UINT32, 2))
    add_tiny_llama_vocab(w, cfg["vocab_size"])
    for n, t in tensors:
        w.add_tensor(n, t, ttypes[n])
    w.write(out_path)
    return {n: GT.NAMES[t] for n, t in ttypes.items()}


def dequantized_mamba_params(gguf_path):
    """The Mamba GGUF's tensors dequantized, under HF names and shapes (A_log = log(-A) in float64
    then float32; the conv kernel back to (I, 1, K))."""
    g = GGUFFile(gguf_path)
    inv = {v: k for k, v in MAMBA_OF_HF.items()}
    out = {}
    for name in g.tensors:
        a = g.tensor(name)
        if name == "token_embd.weight":
            out["backbone.embeddings.weight"] = a
        elif name == "output_norm.weight":
            out["backbone.norm_f.weight"] = a
        elif name == "output.weight":
            out["lm_head.weight"] = a
        else:
            _, l, rest = name.split(".", 2)
            hfn = inv[rest]
            if rest == "ssm_a":
                a = np.log(-a.astype(np.float64)).astype(F32)
            elif rest == "ssm_conv1d.weight":
                a = a.reshape(a.shape[0], 1, a.shape[1])
            out[f"backbone.layers.{l}.{hfn}"] = a
    return out


def dequantized_hf_params(cfg, gguf_path, permuted=True):
    """The GGUF's tensors, dequantized, back under HF names and HF row order (Q/K permutation
    undone; permuted=False for qwen2 files, which keep HF's order): what a torch reference needs
    to run on exactly the weights llama.cpp reads."""
    g = GGUFFile(gguf_path)
    H = cfg["num_attention_heads"]
    Hkv = cfg.get("num_key_value_heads") or H
    inv = {"attn_norm.weight": "input_layernorm.weight", "attn_q.weight": "self_attn.q_proj.weight",
           "attn_k.weight": "self_attn.k_proj.weight", "attn_v.weight": "self_attn.v_proj.weight",
           "attn_output.weight": "self_attn.o_proj.weight", "ffn_norm.weight": "post_attention_layernorm.weight",
           "ffn_gate.weight": "mlp.gate_proj.weight", "ffn_up.weight": "mlp.up_proj.weight",
           "ffn_down.weight": "mlp.down_proj.weight", "attn_q.bias": "self_attn.q_proj.bias",
           "attn_k.bias": "self_attn.k_proj.bias", "attn_v.bias": "self_attn.v_proj.bias",
           "attn_output.bias": "self_attn.o_proj.bias"}
    out = {}
    for name in g.tensors:
        a = g.tensor(name)
        if name == "token_embd.weight":
            out["model.embed_tokens.weight"] = a
        elif name == "output_norm.weight":
            out["model.norm.weight"] = a
        elif name == "output.weight":
            out["lm_head.weight"] = a
        else:
            _, l, rest = name.split(".", 2)
            hfn = inv[rest]
            if permuted and rest.startswith("attn_q"):
                a = unpermute_qk(a, H, H)
            elif permuted and rest.startswith("attn_k"):
                a = unpermute_qk(a, H, Hkv)
            out[f"model.layers.{l}.{hfn}"] = a
    return out


def unpermute_qk(w, n_head, n_head_kv=None):
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return (w.reshape(n_head, w.shape[0] // n_head // 2, 2, *w.shape[1:])
            .swapaxes(1, 2).reshape(w.shape))


def main(argv):
    if len(argv) >= 2 and argv[1] == "convert" and len(argv) == 5:
        model_type = json.load(open(os.path.join(argv[2], "config.json"))).get("model_type")
        convert = {"mamba": mamba_from_hf_folder, "qwen2": qwen2_from_hf_folder}.get(model_type, llama_from_hf_folder)
        types = convert(argv[2], argv[3], argv[4])
        print(json.dumps(types, indent=1))
        return 0
    if len(argv) == 3 and argv[1] == "dump":
        g = GGUFFile(argv[2])
        print(f"GGUF v{g.version}, alignment {g.alignment}, data at {g.data_offset}")
        for k, v in g.kv.items():
            shown = v if v.vtype == VT.ARRAY else f"{VT.NAMES[v.vtype]} {v.value!r}"
            print(f"  {k}: {shown}")
        for n, (t, shape, b) in g.tensors.items():
            print(f"  {n}: {GT.NAMES.get(t, t)} {list(shape)} ({len(b)} bytes)")
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
