#!/usr/bin/env python3
"""PyTorch side of the model-folder parity test. For each folder written by make_hf_folders.py
and loaded by Lazarus (hf_folder_parity_main), this script loads the same files itself (a
safetensors reader in json + torch, config.json into the HF-semantics Llama of torch_llama.py) and
checks:
  - Lazarus' prompt logits (f32 compute) equal torch's (normalised error <= 1e-4), and its bf16
    compute stays within the bound of rounding each op's result to bf16 (gamma(12 L + 2) for
    Llama, gamma(13 L + 2) for Mamba, u = 2^-8) of torch with the weights rounded to bf16;
  (the reference is torch_llama.Llama, which also covers model_type qwen2 / qwen3, or
  torch_mamba.Mamba for model_type "mamba");
  - Lazarus' 24 greedy tokens (cached generation loop) are torch's greedy choices (each its argmax,
    or within the logits' bound of it at a near-tie: tolerances.check_greedy), which
    recomputes the whole sequence at every step;
  - the folder Lazarus wrote with save_pretrained loads here: the same tensor names, every tensor
    equal to the source's (f32 upcast of bf16 is exact), config.json the same apart from
    torch_dtype, and the same logits bit for bit.
Usage: torch_hf_folder.py WORKDIR. Exits 1 on any mismatch."""
import json
import math
import os
import struct
import sys

import numpy
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_llama import Llama  # noqa: E402  (the HF-semantics reference models)
from torch_mamba import Mamba  # noqa: E402
from tolerances import U, check_greedy, gamma  # noqa: E402
from torch_llama import NORMALISED_TOL  # noqa: E402  (the f32 model bound)


class Reference:
    """The reference model a config.json names, with one forward(ids) -> logits."""

    def __init__(self, cfg, params):
        self.mamba = cfg.get("model_type") == "mamba"
        self.m = Mamba(cfg, params) if self.mamba else Llama(cfg, params)

    def gap(self, ids):
        """The smallest router-logit gap at the routing boundary (inf without experts)."""
        self.logits(ids)
        return math.inf if self.mamba else self.m.min_router_gap

    def logits(self, ids):
        if self.mamba:
            return self.m.forward(ids, None)[0]
        T = ids.shape[1]
        return self.m.forward(ids, torch.ones_like(ids), torch.arange(T)[None])[0]

torch.set_num_threads(2)
DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16,
          "I64": torch.int64, "I32": torch.int32}


def read_safetensors(path):
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        dt = DTYPES[info["dtype"]]
        raw = bytearray(data[base + b:base + e])
        if dt in (torch.bfloat16, torch.float16):
            t = torch.frombuffer(raw, dtype=torch.int16).view(dt) if raw else torch.empty(0, dtype=dt)
        else:
            t = torch.frombuffer(raw, dtype=dt) if raw else torch.empty(0, dtype=dt)
        out[name] = t.reshape(info["shape"]).clone()
    return out, header.get("__metadata__", {})


def read_folder(folder):
    cfg = json.load(open(os.path.join(folder, "config.json")))
    index = os.path.join(folder, "model.safetensors.index.json")
    tensors, metas = {}, []
    if os.path.exists(index):
        files = sorted(set(json.load(open(index))["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    for f in files:
        t, meta = read_safetensors(os.path.join(folder, f))
        tensors.update(t)
        metas.append(meta)
    return cfg, tensors, metas


def normalised_error(ours, ref):
    return (ours - ref).abs().max().item() / max(1.0, ref.abs().max().item())


def check_case(workdir, name, r, failures):
    folder = os.path.join(workdir, "folders", name)
    cfg, tensors, _ = read_folder(folder)
    params = {k: v.float() for k, v in tensors.items()}
    model = Reference(cfg, params)
    ids = torch.tensor([r["prompt_ids"]])
    T, V = ids.shape[1], r["vocab_size"]
    with torch.no_grad():
        ref = model.logits(ids)
        ours = torch.from_numpy(numpy.fromfile(os.path.join(workdir, r["logits"]), dtype="float32"))
        ours = ours.reshape(1, T, V)
        ours16 = torch.from_numpy(numpy.fromfile(os.path.join(workdir, r["logits_bf16"]), dtype="float32"))
        ours16 = ours16.reshape(1, T, V)
        # bf16 compute rounds the weights to bf16, then every op's result: its reference is
        # the same model with bf16-rounded weights, computed in f32.
        ref_w16 = Reference(cfg, {k: v.bfloat16().float() for k, v in tensors.items()}).logits(ids)
        e32, e16 = normalised_error(ours, ref), normalised_error(ours16, ref_w16)
        if not e32 <= NORMALISED_TOL:
            failures.append(f"{name}: f32 logits normalised error {e32:.3e} > {NORMALISED_TOL}")
        # bf16 compute rounds each op's result to bf16 (accumulating in f32): the first-order
        # bound of that chain, one rounding per op output along a layer (a Llama layer: norm,
        # q/k/v, rope, attention, o_proj, residual, norm, gate/up, SiLU, product, down, residual;
        # a Mamba layer: norm, in_proj, conv, SiLU, x_proj, dt_proj, softplus, scan, skip,
        # gate SiLU, product, out_proj, residual), then the final norm and the head.
        # Qwen adds one rounding on the q path: the q/k/v bias (qwen2, or attention_bias) or the
        # per-head q norm (qwen3); both when qwen3 has attention_bias.
        per_layer = 13 if model.mamba else 12
        if cfg.get("model_type") == "mixtral":
            per_layer += 2  # the experts' outputs weighted, then summed
        if cfg.get("model_type") in ("qwen2", "qwen3"):
            per_layer += (cfg["model_type"] == "qwen2" or bool(cfg.get("attention_bias"))) + (
                cfg["model_type"] == "qwen3")
        tol16 = gamma(per_layer * cfg["num_hidden_layers"] + 2, U["bf16"])
        # Mixture of experts: routing is discontinuous. Where a token's k-th and (k+1)-th router
        # logits are closer than twice the bound on their error, the two sides may route it to
        # different experts and the logits are not comparable: the f32 check requires the test
        # data to keep that gap; the bf16 check (a far larger bound) runs only where it holds.
        bf16_comparable = True
        if not model.mamba and model.m.moe:
            scale = max(1.0, model.m.max_router_abs)
            if not model.m.min_router_gap > 2 * NORMALISED_TOL * scale:
                failures.append(f"{name}: a routing near-tie in the test data (gap "
                                f"{model.m.min_router_gap:.2e}): change the weights' seed")
            w16 = Reference(cfg, {k: v.bfloat16().float() for k, v in tensors.items()})
            bf16_comparable = w16.gap(ids) > 2 * tol16 * scale
            if not bf16_comparable:
                print(f"{name}: bf16 logits not compared: a router gap ({w16.m.min_router_gap:.2e}) is "
                      f"within the bf16 bound ({2 * tol16 * scale:.2e}) of a tie")
        if bf16_comparable and not e16 <= tol16:
            failures.append(f"{name}: bf16 logits normalised error {e16:.3e} > {tol16}")
        # Our greedy tokens, each the reference's argmax up to a near-tie within the logits' bound.
        delta = 2 * NORMALISED_TOL * max(1.0, ref.abs().max().item())
        err = check_greedy(lambda seq: model.logits(torch.tensor([seq]))[0, -1], r["prompt_ids"],
                           r["greedy"], delta)
        if err:
            failures.append(f"{name}: {err}")

        # The folder Lazarus saved.
        scfg, stensors, smetas = read_folder(r["saved"])
        if set(stensors) != set(tensors):
            failures.append(f"{name}: saved tensor names differ: {sorted(set(stensors) ^ set(tensors))}")
        for k, v in tensors.items():
            if k in stensors and not (stensors[k].dtype == torch.float32 and torch.equal(stensors[k], v.float())):
                failures.append(f"{name}: saved tensor {k} ({stensors[k].dtype}) differs from the source")
        if any(m.get("format") != "pt" for m in smetas):
            failures.append(f"{name}: saved safetensors lack {{'format': 'pt'}} metadata: {smetas}")
        if scfg.get("torch_dtype") != "float32":
            failures.append(f"{name}: saved torch_dtype {scfg.get('torch_dtype')!r}, expected 'float32'")
        if {k: v for k, v in scfg.items() if k != "torch_dtype"} != {k: v for k, v in cfg.items() if k != "torch_dtype"}:
            failures.append(f"{name}: saved config.json differs from the source beyond torch_dtype")
        saved_logits = Reference(scfg, {k: v.float() for k, v in stensors.items()}).logits(ids)
        if not torch.equal(saved_logits, ref):
            failures.append(f"{name}: logits from the saved folder differ from the source folder's")
    print(f"{name}: f32 logits error {e32:.2e}, bf16 {e16:.2e} (bound {tol16:.2e}), greedy {len(r['greedy'])} tokens "
          f"{'DIFFERENT' if err else 'agree'}; saved folder checked")


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    workdir = sys.argv[1]
    results = json.load(open(os.path.join(workdir, "results.json")))
    if not results:
        print("no results", file=sys.stderr)
        return 1
    failures = []
    for name, r in sorted(results.items()):
        check_case(workdir, name, r, failures)
    for f in failures:
        print("MISMATCH", f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
