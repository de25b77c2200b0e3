#!/usr/bin/env python3
"""PyTorch reference for LoRA, written to the semantics of PEFT's LoraLayer (our own code; peft
is not needed): y = base(x) + (alpha / r) * lora_B(lora_A(dropout(x))), alpha / sqrt(r) with
rsLoRA; target_modules as a list matches a module whose name equals an entry or ends with
"." + entry, as a string it is a regex that must match the whole name.

Usage: torch_lora.py CASES_DIR
Each case (written by lora_parity_main) holds config.json (HF Llama form), a PEFT adapter folder
(adapter_config.json + adapter_model.safetensors, read here by hand, so key names and shapes are
checked as PEFT would load them) and case.safetensors (base weights, inputs, our logits, loss and
adapter gradients). The model is the Llama of torch_llama.py; exits 1 on any mismatch."""
import json
import os
import re
import struct
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_llama  # noqa: E402

torch.set_num_threads(2)
DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64, "I32": torch.int32,
          "BF16": torch.bfloat16, "F16": torch.float16}


def read_safetensors(path):
    blob = open(path, "rb").read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        a, b = e["data_offsets"]
        raw = bytearray(blob[8 + n + a:8 + n + b])
        dt = DTYPES[e["dtype"]]
        t = torch.frombuffer(raw, dtype=dt) if raw else torch.empty(0, dtype=dt)
        out[name] = t.reshape(e["shape"]).clone()
    return out


def targeted(acfg, name):
    tm = acfg["target_modules"]
    if isinstance(tm, str):
        return re.fullmatch(tm, name) is not None
    return any(name == k or name.endswith("." + k) for k in tm)


class LoraLlama(torch_llama.Llama):
    def __init__(self, cfg, params, acfg, lora):
        super().__init__(cfg, params)
        self.acfg, self.lora = acfg, lora
        r, alpha = acfg["r"], acfg["lora_alpha"]
        self.scaling = alpha / (r ** 0.5) if acfg.get("use_rslora") else alpha / r
        self.used = set()

    def lin(self, x, name):
        y = super().lin(x, name)
        if not targeted(self.acfg, name):
            return y
        self.used.add(name)
        A, B = self.lora[name]
        # Dropout is identity here: the cases run with p = 0 or in eval mode.
        return y + F.linear(F.linear(x, A), B) * self.scaling


def run_case(case_dir):
    failures = []
    cfg = json.load(open(os.path.join(case_dir, "config.json")))
    acfg = json.load(open(os.path.join(case_dir, "adapter_config.json")))
    if acfg.get("peft_type") != "LORA":
        failures.append(f"adapter_config.json: peft_type {acfg.get('peft_type')!r}")
    ad = read_safetensors(os.path.join(case_dir, "adapter_model.safetensors"))
    t = read_safetensors(os.path.join(case_dir, "case.safetensors"))
    params = {k[len("param."):]: v for k, v in t.items() if k.startswith("param.")}
    lora = {}
    pat = re.compile(r"base_model\.model\.(.+)\.lora_([AB])\.weight")
    for k, v in ad.items():
        m = pat.fullmatch(k)
        if not m:
            failures.append(f"adapter key {k!r} is not PEFT's form")
            continue
        lora.setdefault(m.group(1), [None, None])["AB".index(m.group(2))] = v.float().clone().requires_grad_(True)
    for mod, (A, B) in lora.items():
        w = params[mod + ".weight"]
        if A is None or B is None:
            failures.append(f"{mod}: lora_A or lora_B missing")
        elif tuple(A.shape) != (acfg["r"], w.shape[1]) or tuple(B.shape) != (w.shape[0], acfg["r"]):
            failures.append(f"{mod}: shapes A {tuple(A.shape)} B {tuple(B.shape)} for weight {tuple(w.shape)}")
    if failures:
        return failures, 0.0, float("nan")
    model = LoraLlama(cfg, params, acfg, lora)
    ids = t["input_ids"]
    mask = torch.ones_like(ids)
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    logits, _ = model.forward(ids, mask, pos)
    loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), ids[:, 1:].reshape(-1))
    loss.backward()
    if model.used != set(lora):
        failures.append(f"adapted modules differ: torch targets {sorted(model.used ^ set(lora))}")
    worst = torch_llama.compare("logits", t["out.logits"], logits, failures)
    worst = max(worst, torch_llama.compare("loss", t["out.loss"], loss.reshape(1), failures))
    for mod, (A, B) in lora.items():
        for nm, p in (("lora_A", A), ("lora_B", B)):
            key = f"grad.{mod}.{nm}"
            if key not in t:
                failures.append(f"{key}: missing from our output")
                continue
            worst = max(worst, torch_llama.compare(key, t[key], p.grad, failures))
    return failures, worst, loss.item()


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    root = sys.argv[1]
    cases = sorted(d for d in os.listdir(root) if os.path.isdir(os.path.join(root, d)))
    if not cases:
        print("no cases found", file=sys.stderr)
        return 1
    bad = 0
    for c in cases:
        failures, worst, loss = run_case(os.path.join(root, c))
        print(f"{c}: {'OK' if not failures else 'MISMATCH'} (loss {loss:.6f}, worst normalised error {worst:.2e})")
        for f in failures[:20]:
            print("   ", f)
        bad += bool(failures)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
