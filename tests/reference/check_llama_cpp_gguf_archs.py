#!/usr/bin/env python3
"""GGUFs of the architectures beyond llama (general.architecture "mamba", "qwen2") against llama.cpp
(node-llama-cpp 3.21.1, llama.cpp v0.4.0) and PyTorch, and Lazarus on the same files:
check_llama_cpp_gguf.py's model check for those architectures.

Mamba: tiny random HF Mamba folders (make_hf_folders.mamba_weights, torch) are written as llama.cpp's
convert_hf_to_gguf.py MambaModel writes them (gguf_writer.mamba_from_hf_folder: A = -exp(A_log),
the conv kernel squeezed to (I, K), ssm.* keys) with --outtype f32, f16 and q8_0 (ssm_conv1d,
ssm_a, ssm_d and biases stay F32; a Q8_0 row that is not a whole number of blocks falls back to
F16, as ssm_dt does with time_step_rank 4). llama.cpp evaluates each file (llama_cpp_eval.mjs:
last-position logits up to a constant, greedy tokens); the reference is torch_mamba.Mamba
(transformers' modeling_mamba.py slow path) on the file's dequantized weights:
  - "plain": f32 torch;
  - "emulated": each linear layer's input (ssm_in, ssm_x, ssm_dt, ssm_out, the head) rounded the
    way ggml's CPU matmul rounds activations for the weight's type (F16 -> fp16, Q8_0 -> Q8_0,
    check_llama_cpp_gguf.activation_round_trip). The convolution and the scan are f32 in ggml.
Qwen2: a tiny random HF Qwen2 folder (make_hf_folders.qwen_config + llama_weights: q / k / v
biases) written as convert_hf_to_gguf's Qwen2Model writes it (gguf_writer.qwen2_from_hf_folder:
qwen2.* keys, HF's q / k row order kept, biases F32), f32 and q8_0, against torch_llama.Llama
(transformers' Qwen2 semantics) through check_llama_cpp_gguf.Reference.
Tolerances are check_llama_cpp_gguf.py's: f32 files within torch_mamba.NORMALISED_TOL (1e-4: the
probabilistic bound of two f32 implementations for chains of up to tolerances.max_depth(1e-4)
roundings; each case's mamba_depth is checked to be within it), the others within EMULATED_TOL at
the median prompt and FLIP_TOL at every prompt (near-ties of ggml's activation rounding); Qwen2
f32 within torch_llama.NORMALISED_TOL.
Greedy tokens are held to the reference by tolerances.check_greedy.

With --lazarus BINARY (tests/io/gguf_parity_main) Lazarus loads each file alone and is checked by
check_llama_cpp_gguf.check_lazarus: against the same references, its greedy tokens equal to
llama.cpp's, and (q8_0) its logits as close to llama.cpp's as llama.cpp's are to torch; f16
weights keep f32 activations in Lazarus, so plain torch is its reference there.

Usage: check_llama_cpp_gguf_archs.py [WORKDIR] [--lazarus BINARY]. Exits 1 on a mismatch.
"""
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import check_llama_cpp_gguf as C  # noqa: E402
import gguf_writer as G  # noqa: E402
from make_hf_folders import llama_weights, mamba_config, mamba_weights, qwen_config, write_safetensors  # noqa: E402
from tolerances import mamba_depth, max_depth  # noqa: E402
from torch_llama import NORMALISED_TOL as LLAMA_TOL  # noqa: E402
from torch_mamba import NORMALISED_TOL, Mamba, dims  # noqa: E402

# (name, seed, config overrides, mixes). convert_hf_to_gguf's MambaModel needs expand 2 and a
# vocabulary that is a multiple of 8; llama.cpp's mamba has no in_proj / out_proj bias.
CASES = [
    ("mamba_h64_tied_v96", 301, dict(vocab_size=96, hidden_size=64, intermediate_size=128, state_size=16,
                                    num_hidden_layers=2, time_step_rank="auto", tie_word_embeddings=True),
     ["f32", "f16", "q8_0"]),
    ("mamba_h128_untied_v264", 302, dict(vocab_size=264, hidden_size=128, intermediate_size=256, state_size=8,
                                        num_hidden_layers=2, time_step_rank=32, conv_kernel=3,
                                        tie_word_embeddings=False),
     ["f32", "q8_0"]),
]
QWEN2_CASES = [
    ("qwen2_h64_tied_v128", 303, dict(vocab_size=128, hidden_size=64, intermediate_size=128,
                                      num_attention_heads=4, num_key_value_heads=2), ["f32", "q8_0"]),
]
PROMPT_LENGTHS = (1, 4, 7, 12)

HF_LINEAR = {"ssm_in": "mixer.in_proj", "ssm_x": "mixer.x_proj", "ssm_dt": "mixer.dt_proj",
             "ssm_out": "mixer.out_proj"}


class EmulatedMamba(Mamba):
    """torch_mamba.Mamba whose linear layers see their input rounded as ggml's CPU matmul rounds it
    for each weight's type (check_llama_cpp_gguf.EmulatedLlama's rounding and near-tie records)."""
    round_act = C.EmulatedLlama.round_act

    def __init__(self, cfg, params, act_types):
        super().__init__(cfg, params)
        self.act_types = act_types
        self.flip, self.calls, self.ties = None, 0, []

    def lin(self, x, name):
        t = self.act_types.get(name + ".weight", G.GT.F32)
        xr, _ = self.round_act(x, t)
        return F.linear(xr, self.p[name + ".weight"], self.p.get(name + ".bias"))


class MambaReference:
    """check_llama_cpp_gguf.Reference's interface for a Mamba GGUF: logits(seq, flip=None) (last
    position), __call__(seq), ties(seq, n)."""

    def __init__(self, cfg, params, types, emulate, round_half=True):
        """emulate: ggml's activation rounding for each weight's type; round_half=False leaves f16 /
        bf16 products' activations in f32 (Lazarus's arithmetic)."""
        def act_type(t):
            if not emulate or (not round_half and t in (G.GT.F16, G.GT.BF16)):
                return G.GT.F32
            return t
        act = {}
        for gname, t in types.items():
            parts = gname.split(".")
            if parts[0] == "blk" and parts[2] in HF_LINEAR and parts[3] == "weight":
                act[f"backbone.layers.{parts[1]}.{HF_LINEAR[parts[2]]}.weight"] = act_type(t)
        tied = "output.weight" not in types
        self.head_t = act_type(types["token_embd.weight" if tied else "output.weight"])
        tp = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in params.items()}
        self.head = tp["backbone.embeddings.weight"] if tied else tp["lm_head.weight"]
        self.model = EmulatedMamba(dict(cfg, tie_word_embeddings=tied), tp, act)

    def logits(self, seq, flip=None):
        m = self.model
        m.flip, m.calls, m.ties = flip, 0, []
        ids = torch.tensor([seq])
        with torch.no_grad():
            _, hidden = m.forward(ids, None)
            h, _ = m.round_act(hidden[-1][0, -1:], self.head_t)
            return F.linear(h, self.head)[0]

    def __call__(self, seq):
        return self.logits(seq)

    def ties(self, seq, n):
        self.logits(seq)
        return sorted(self.model.ties)[:n]


def make_folder(d, seed, gain_of=64, **kw):
    """make_hf_folders.mamba_weights (projections std 0.3) with the layers' projections scaled by
    sqrt(gain_of / fan_in), as check_llama_cpp_gguf.make_folder does: the wider model then
    amplifies as a 64-wide one does (unscaled, its activations outgrow fp16's range)."""
    cfg = dict(mamba_config(), **kw)
    cfg["expand"] = cfg["intermediate_size"] // cfg["hidden_size"]
    gen = torch.Generator().manual_seed(seed)
    w = mamba_weights(cfg, gen)
    for k, v in w.items():
        if k.startswith("backbone.layers.") and k.endswith("proj.weight"):
            w[k] = v * (gain_of / v.shape[1]) ** 0.5
    os.makedirs(d, exist_ok=True)
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=2)
    write_safetensors(os.path.join(d, "model.safetensors"), w)
    return cfg


def make_qwen2_folder(d, seed, gain_of=64, **kw):
    """make_hf_folders.llama_weights for a qwen2 config (q / k / v biases), the layers' matrices
    scaled as check_llama_cpp_gguf.make_folder scales them."""
    cfg = qwen_config("qwen2", **kw)
    gen = torch.Generator().manual_seed(seed)
    w = llama_weights(cfg, gen)
    for k, v in w.items():
        if k.startswith("model.layers.") and v.dim() == 2:
            w[k] = v * (gain_of / v.shape[1]) ** 0.5
    os.makedirs(d, exist_ok=True)
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=2)
    write_safetensors(os.path.join(d, "model.safetensors"), w)
    return cfg


def check_qwen2(workdir, failures, lazarus, rng):
    for name, seed, kw, mixes in QWEN2_CASES:
        folder = os.path.join(workdir, name)
        cfg = make_qwen2_folder(folder, seed, **kw)
        prompts = [[int(t) for t in rng.integers(3, cfg["vocab_size"], size=n)] for n in PROMPT_LENGTHS]
        for mix in mixes:
            path = os.path.join(workdir, f"{name}-{mix}.gguf")
            types = {k: G.type_id(v) for k, v in G.qwen2_from_hf_folder(folder, path, mix).items()}
            params = G.dequantized_hf_params(cfg, path, permuted=False)
            plain = C.Reference(cfg, params, types, emulate=False)
            emul = C.Reference(cfg, params, types, emulate=True)
            out = C.run_llama_cpp(path, prompts, C.STEPS)
            used = sorted({G.GT.NAMES[t] for t in types.values()})
            flipped = C.check_llama_cpp_run(name, mix, used, out, prompts, plain, emul, failures,
                                            tol_f32=LLAMA_TOL)
            if lazarus:
                C.check_lazarus(lazarus, name, mix, path, prompts, out, plain, emul, flipped, failures,
                                tol_f32=LLAMA_TOL)


def check_models(workdir, failures, lazarus=None):
    rng = np.random.default_rng(7)
    build = None
    for name, seed, kw, mixes in CASES:
        folder = os.path.join(workdir, name)
        cfg = make_folder(folder, seed, **kw)
        d = dims(cfg)
        V = cfg["vocab_size"]
        prompts = [[int(t) for t in rng.integers(3, V, size=n)] for n in PROMPT_LENGTHS]
        depth = mamba_depth(cfg["num_hidden_layers"], d["D"], d["I"], d["N"], d["K"], d["R"],
                            max(PROMPT_LENGTHS) + C.STEPS, V, 1)
        if depth > max_depth(NORMALISED_TOL):
            failures.append(f"{name}: rounding chain {depth} longer than NORMALISED_TOL covers")
        for mix in mixes:
            path = os.path.join(workdir, f"{name}-{mix}.gguf")
            types = {k: G.type_id(v) for k, v in G.mamba_from_hf_folder(folder, path, mix).items()}
            params = G.dequantized_mamba_params(path)
            plain = MambaReference(cfg, params, types, emulate=False)
            emul = MambaReference(cfg, params, types, emulate=True)
            out = C.run_llama_cpp(path, prompts, C.STEPS)
            build = out["build"]
            used = sorted({G.GT.NAMES[t] for t in types.values()})
            flipped = C.check_llama_cpp_run(name, mix, used, out, prompts, plain, emul, failures,
                                            tol_f32=NORMALISED_TOL)
            if lazarus:
                # A Q8_0 file whose short rows fell back to F16 (ssm_dt with time_step_rank 4):
                # Lazarus keeps f32 activations for those products. (Only matrices are ever f16.)
                laz_ref = (MambaReference(cfg, params, types, emulate=True, round_half=False)
                           if mix not in ("f32", "f16") and set(types.values()) & {G.GT.F16, G.GT.BF16}
                           else None)
                C.check_lazarus(lazarus, name, mix, path, prompts, out, plain, emul, flipped, failures,
                                tol_f32=NORMALISED_TOL, lazarus_ref=laz_ref)
    check_qwen2(workdir, failures, lazarus, rng)
    return build


def main():
    args = sys.argv[1:]
    lazarus = None
    if "--lazarus" in args:
        i = args.index("--lazarus")
        if i + 1 >= len(args):
            print(__doc__)
            return 2
        lazarus = args[i + 1]
        del args[i:i + 2]
    if len(args) > 1:
        print(__doc__)
        return 2
    if not os.path.exists(os.path.join(C.LIBDIR, "libggml-base.so")):
        print(f"no llama.cpp build under {C.LIBDIR}: run scripts/install-deps.sh --test", file=sys.stderr)
        return 1
    own = not args
    workdir = tempfile.mkdtemp(prefix="llama_cpp_gguf_archs_") if own else args[0]
    os.makedirs(workdir, exist_ok=True)
    failures = []
    try:
        build = check_models(workdir, failures, lazarus)
        if build:
            print(C.describe_build(build))
    finally:
        if own:
            shutil.rmtree(workdir, ignore_errors=True)
    for f in failures:
        print("MISMATCH", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
