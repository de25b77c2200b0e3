#!/usr/bin/env python3
"""PyTorch side of the classifier-folder parity test: LlamaForSequenceClassification and
LlamaForTokenClassification (and Mistral's) written to the semantics of transformers'
modeling_llama.py (GenericForSequenceClassification / GenericForTokenClassification and
loss_utils' ForSequenceClassificationLoss / ForTokenClassification), our own code on top of the
Llama reference of torch_llama.py (transformers is not needed).

Usage:
  torch_hf_classifier.py WORKDIR make   writes tiny HF folders (config.json + model.safetensors)
                                        under WORKDIR/folders and WORKDIR/cases.json (inputs,
                                        labels, the reference logits and loss)
  torch_hf_classifier.py WORKDIR        checks WORKDIR/results.json (written by
                                        hf_classifier_parity_main): our logits and loss against
                                        the reference (normalised error <= 1e-4), and the folders
                                        Lazarus saved (from the loaded folder, and from the model
                                        alone): same tensors, a config that describes the same
                                        classifier, the same logits bit for bit.
Exits 1 on any mismatch."""
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_hf_folders import base_config, llama_weights, write_safetensors  # noqa: E402
from torch_hf_folder import read_folder  # noqa: E402
from torch_llama import NORMALISED_TOL, Llama  # noqa: E402

torch.set_num_threads(2)
TOL = NORMALISED_TOL  # the f32 model bound (torch_llama.py, tolerances.py)


def num_labels(cfg):
    """PretrainedConfig: id2label wins; else num_labels (default 2)."""
    if cfg.get("id2label"):
        return len(cfg["id2label"])
    return cfg.get("num_labels", 2)


def classify(cfg, params, ids, mask, labels):
    """HF *ForSequenceClassification / *ForTokenClassification forward: (logits, loss)."""
    # Positions as HF generate computes them for padded rows (identical to 0..T-1 for kept
    # tokens of right-padded rows).
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    body = Llama(dict(cfg, tie_word_embeddings=True), params)  # the head here is unused
    h = body.forward(ids, mask, pos)[1][-1]  # final normed hidden states (B, T, D)
    logits = F.linear(h, params["score.weight"], params.get("score.bias"))  # (B, T, C)
    C = num_labels(cfg)
    arch = cfg["architectures"][0]
    if arch.endswith("ForTokenClassification"):
        loss = None
        if labels is not None:
            loss = F.cross_entropy(logits.view(-1, C).float(), labels.view(-1), ignore_index=-100)
        return logits, loss
    B, T = ids.shape
    pad = cfg.get("pad_token_id")
    if pad is None:
        assert B == 1, "Cannot handle batch sizes > 1 if no padding token is defined."
        last = torch.full((B,), -1, dtype=torch.long)
    else:
        non_pad = (ids != pad).int()
        last = (torch.arange(T) * non_pad).argmax(-1)
    pooled = logits[torch.arange(B), last]  # (B, C)
    if labels is None:
        return pooled, None
    pt = cfg.get("problem_type")
    if pt is None:
        if C == 1:
            pt = "regression"
        elif labels.dtype in (torch.long, torch.int):
            pt = "single_label_classification"
        else:
            pt = "multi_label_classification"
    if pt == "regression":
        loss = F.mse_loss(pooled.squeeze(), labels.squeeze()) if C == 1 else F.mse_loss(pooled, labels)
    elif pt == "single_label_classification":
        loss = F.cross_entropy(pooled.view(-1, C), labels.view(-1))
    else:
        loss = F.binary_cross_entropy_with_logits(pooled, labels)
    return pooled, loss


def cases():
    """name -> (config.json, input_ids, attention_mask, labels); pad id 0 marks padding."""
    # Row 0 ends in token 0 = pad_token_id although its mask keeps it: transformers pools at the
    # last token that is not the pad id (position 5), not at the last kept one.
    ids = [[5, 17, 0, 42, 9, 88, 0],
           [7, 21, 64, 2, 0, 0, 0],       # right padding
           [0, 0, 11, 30, 12, 99, 4]]     # left padding
    mask = [[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0, 0], [0, 0, 1, 1, 1, 1, 1]]
    out = {}
    out["llama_seq_single"] = (
        base_config(architectures=["LlamaForSequenceClassification"], vocab_size=128,
                    pad_token_id=0,
                    id2label={"0": "negative", "1": "neutral", "2": "positive"},
                    label2id={"negative": 0, "neutral": 1, "positive": 2}),
        ids, mask, torch.tensor([2, 0, 1]))
    out["mistral_seq_regression"] = (
        base_config(architectures=["MistralForSequenceClassification"], model_type="mistral",
                    vocab_size=128, sliding_window=4, num_key_value_heads=1, pad_token_id=0,
                    id2label={"0": "LABEL_0"}, label2id={"LABEL_0": 0}, problem_type=None),
        ids, mask, torch.tensor([0.5, -1.25, 2.0]))
    out["llama_seq_multi_label"] = (
        base_config(architectures=["LlamaForSequenceClassification"], vocab_size=128,
                    pad_token_id=0, num_labels=4, problem_type="multi_label_classification"),
        ids, mask, torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0], [1.0, 1.0, 0.0, 0.0]]))
    out["llama_seq_no_pad_id"] = (
        base_config(architectures=["LlamaForSequenceClassification"], vocab_size=128,
                    id2label={"0": "no", "1": "yes"}, label2id={"no": 0, "yes": 1}),
        [ids[0]], [mask[0]], torch.tensor([1]))
    tok_labels = torch.tensor([[1, 4, 0, 2, 3, 1, -100], [2, 2, 0, 1, -100, -100, -100],
                               [-100, -100, 4, 3, 2, 1, 0]])
    out["llama_token"] = (
        base_config(architectures=["LlamaForTokenClassification"], vocab_size=128, pad_token_id=0,
                    id2label={str(i): f"TAG_{i}" for i in range(5)},
                    label2id={f"TAG_{i}": i for i in range(5)}),
        ids, mask, tok_labels)
    out["mistral_token"] = (
        base_config(architectures=["MistralForTokenClassification"], model_type="mistral",
                    vocab_size=128, sliding_window=3, pad_token_id=0, classifier_dropout=0.2,
                    id2label={str(i): f"TAG_{i}" for i in range(5)},
                    label2id={f"TAG_{i}": i for i in range(5)}),
        ids, mask, tok_labels)
    return out


def make(workdir):
    gen = torch.Generator().manual_seed(4242)
    record = {}
    for name, (cfg, ids, mask, labels) in cases().items():
        w = llama_weights(cfg, gen)
        w.pop("lm_head.weight", None)
        C = num_labels(cfg)
        w["score.weight"] = torch.randn(C, cfg["hidden_size"], generator=gen) * 0.3
        if cfg["architectures"][0].endswith("ForTokenClassification"):
            w["score.bias"] = torch.randn(C, generator=gen) * 0.3
        d = os.path.join(workdir, "folders", name)
        os.makedirs(d, exist_ok=True)
        json.dump(cfg, open(os.path.join(d, "config.json"), "w"), indent=2)
        write_safetensors(os.path.join(d, "model.safetensors"), w)
        with torch.no_grad():
            logits, loss = classify(cfg, w, torch.tensor(ids), torch.tensor(mask), labels)
        record[name] = {"input_ids": ids, "attention_mask": mask, "labels": labels.tolist(),
                        "labels_floating": labels.is_floating_point(),
                        "logits_shape": list(logits.shape),
                        "ref_logits": logits.flatten().tolist(), "ref_loss": float(loss)}
    json.dump(record, open(os.path.join(workdir, "cases.json"), "w"))
    print(f"wrote {sorted(record)}")
    return 0


def normalised_error(ours, ref, keep=None):
    d = (ours - ref).abs()
    if keep is not None:
        d = d[keep]
        ref = ref[keep]
    return d.max().item() / max(1.0, ref.abs().max().item())


def check(workdir):
    record = json.load(open(os.path.join(workdir, "cases.json")))
    results = json.load(open(os.path.join(workdir, "results.json")))
    failures = []
    if set(results) != set(record):
        failures.append(f"cases run {sorted(results)} != cases written {sorted(record)}")
    for name, c in sorted(record.items()):
        if name not in results:
            continue
        r = results[name]
        shape = c["logits_shape"]
        ref = torch.tensor(c["ref_logits"]).reshape(shape)
        ours = torch.tensor(r["logits"]).reshape(shape)
        token = len(shape) == 3
        keep = torch.tensor(c["attention_mask"]).bool() if token else None  # kept tokens only
        e = normalised_error(ours, ref, keep)
        le = abs(r["loss"] - c["ref_loss"]) / max(1.0, abs(c["ref_loss"]))
        if not e <= TOL:
            failures.append(f"{name}: logits normalised error {e:.3e} > {TOL}")
        if not le <= TOL:
            failures.append(f"{name}: loss {r['loss']} vs torch {c['ref_loss']} (error {le:.3e})")
        ids, mask = torch.tensor(c["input_ids"]), torch.tensor(c["attention_mask"])
        labels = torch.tensor(c["labels"], dtype=torch.float32 if c["labels_floating"] else torch.long)
        scfg, src, _ = read_folder(os.path.join(workdir, "folders", name))
        with torch.no_grad():
            src_logits, _ = classify(scfg, src, ids, mask, labels)
            for kind in ("saved", "saved_from_model"):
                cfg, tensors, metas = read_folder(r[kind])
                if set(tensors) != set(src):
                    failures.append(f"{name} {kind}: tensor names differ: {sorted(set(tensors) ^ set(src))}")
                    continue
                for k, v in src.items():
                    if not torch.equal(tensors[k], v):
                        failures.append(f"{name} {kind}: tensor {k} differs from the source")
                if any(m.get("format") != "pt" for m in metas):
                    failures.append(f"{name} {kind}: safetensors lack {{'format': 'pt'}}")
                strip = lambda j: {k: v for k, v in j.items() if k != "torch_dtype"}  # noqa: E731
                if kind == "saved" and strip(cfg) != strip(scfg):
                    failures.append(f"{name} saved: config.json differs beyond torch_dtype")
                if kind == "saved_from_model":
                    for k in ("architectures", "pad_token_id", "problem_type", "model_type",
                              "sliding_window"):
                        if cfg.get(k) != scfg.get(k):
                            failures.append(f"{name} {kind}: {k} {cfg.get(k)!r} != {scfg.get(k)!r}")
                    src_names = [scfg["id2label"][str(i)] for i in range(len(scfg["id2label"]))] \
                        if scfg.get("id2label") else [f"LABEL_{i}" for i in range(num_labels(scfg))]
                    names = [cfg["id2label"][str(i)] for i in range(len(cfg["id2label"]))]
                    if names != src_names or cfg.get("label2id") != {n: i for i, n in enumerate(names)}:
                        failures.append(f"{name} {kind}: labels {cfg.get('id2label')} / "
                                        f"{cfg.get('label2id')} != {src_names}")
                logits, _ = classify(cfg, tensors, ids, mask, labels)
                if not torch.equal(logits, src_logits):
                    failures.append(f"{name} {kind}: logits differ from the source folder's")
        print(f"{name}: logits error {e:.2e}, loss {r['loss']:.6f} vs {c['ref_loss']:.6f}; "
              "saved folders checked")
    for f in failures:
        print("MISMATCH", f)
    return 1 if failures else 0


def main():
    if len(sys.argv) == 3 and sys.argv[2] == "make":
        return make(sys.argv[1])
    if len(sys.argv) == 2:
        return check(sys.argv[1])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
