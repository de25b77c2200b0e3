#!/usr/bin/env python3
"""Vocab-only GGUF files made from Hugging Face tokenizer folders the way llama.cpp's
convert_hf_to_gguf.py writes a vocabulary, for the GGUF tokenizer tests (test_gguf_vocab).

Read to learn, not copied (llama.cpp's convert_hf_to_gguf.py and gguf-py/gguf/vocab.py):
  - "gpt2" (byte-level BPE; Model.get_vocab_base + _set_vocab_gpt2): ids 0..vocab_size-1 from the
    tokenizer's vocabulary with its added tokens; a missing id becomes "[PAD<i>]" (UNUSED); an added
    token is CONTROL when flagged special or when it looks special ("<|...|>", ...), else
    USER_DEFINED; every other token NORMAL. Merges are model.merges as "a b" strings (pairs joined
    with a space; a space inside a part written as U+0120). tokenizer.ggml.pre names the
    pre-tokenizer (get_vocab_base_pre recognises it by hashing an encoding; here it is given).
  - "llama" (SentencePiece; _create_vocab_sentencepiece + _set_vocab_sentencepiece): the pieces of
    tokenizer.model with their scores and types (UNKNOWN, CONTROL, BYTE, NORMAL), then the
    added_tokens_decoder of tokenizer_config.json on top (CONTROL when special, else USER_DEFINED,
    score -1000); pre "default"; add_space_prefix only when tokenizer_config.json sets
    add_prefix_space. The test data ships tokenizer.json, not tokenizer.model, so the pieces come
    from its vocabulary and the scores are rebuilt from its merges: a normal piece scores minus
    the rank of the first merge that makes it (SentencePiece's BPE ranks pieces by score, and
    HF's converter wrote the merges in that order), others 0.
  - special tokens (SpecialVocab): bos/eos/unk/sep/pad/cls/mask ids from tokenizer_config.json's
    *_token strings looked up among tokenizer.json's added tokens; add_bos_token / add_eos_token
    from a TemplateProcessing post-processor (a special token first / last in "single") and from
    tokenizer_config.json's flags; chat_template from tokenizer_config.json.
Each file also gets the few llama.* hyperparameters llama.cpp needs to load a vocabulary-only
model (node-llama-cpp's vocabOnly), and no tensors.

Usage: gguf_vocab_from_hf.py DATA_DIR OUT_DIR
  DATA_DIR: tests/data/tokenizers. Writes OUT_DIR/<case>.gguf for each case below, the
  tokenizer.json each is compared with (the original, or for the pre-tokenizer variants a copy of
  llama3_1 with the pipeline HF uses for that family), and OUT_DIR/manifest.json listing them.
"""
import copy
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gguf_writer import GGUFWriter, Value, VT  # noqa: E402

NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
SPACE = "\u2581"

# HF tokenizer.json pre-tokenizers of the GPT-2-style families tested through llama3_1's vocabulary
# (GPT-2: ByteLevel with its regex; SmolLM: single digits, then ByteLevel), and llama.cpp's own
# "default" regex list written as HF splits.
BYTE_LEVEL = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
DEFAULT_REGEXES = [r"[\p{P}\$\+<=>\^~\|]+",
                   r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)",
                   r"\p{N}+", r"[0-9][0-9][0-9]"]
VARIANT_PRE_TOKENIZERS = {
    "gpt-2": BYTE_LEVEL,
    "smollm": {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True}, BYTE_LEVEL]},
    "default": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": r}, "behavior": "Isolated", "invert": False}
        for r in DEFAULT_REGEXES] + [dict(BYTE_LEVEL, use_regex=False)]},
}

# (case, source folder, tokenizer.ggml.model, pre, vocab_size as config.json gives it); a
# "<pre>_style" case puts the source's vocabulary in the HF pipeline of that family.
CASES = [
    ("llama3_1", "llama3_1", "gpt2", "llama-bpe", 128256),
    ("llama3", "llama3", "gpt2", "llama-bpe", 128256),
    ("qwen3", "qwen3", "gpt2", "qwen2", 151936),
    ("mistral", "mistral", "llama", "default", 32000),
    ("gpt2_style", "llama3_1", "gpt2", "gpt-2", 128256),
    ("smollm_style", "llama3_1", "gpt2", "smollm", 128256),
    ("default_style", "llama3_1", "gpt2", "default", 128256),
]


def token_content(entry):
    return entry.get("content") if isinstance(entry, dict) else entry


def looks_special(t):
    """convert_hf_to_gguf's does_token_look_special."""
    return (t in ("<pad>", "<mask>", "<2mass>", "[@BOS@]") or (t.startswith("<|") and t.endswith("|>"))
            or (t.startswith("<\uff5c") and t.endswith("\uff5c>"))
            or (t.startswith("<unused") and t.endswith(">")))


def merge_strings(merges):
    out = []
    for m in merges:
        if isinstance(m, str):
            out.append(m)
        else:
            out.append(" ".join("".join(chr(ord(c) + 256) if c == " " else c for c in p) for p in m))
    return out


def special_vocab(tok, cfg, n_vocab):
    """SpecialVocab._try_load_from_tokenizer_json: (ids by type, add flags by type, chat template)."""
    ids, add = {}, {}
    bos, eos = token_content(cfg.get("bos_token")), token_content(cfg.get("eos_token"))
    pp = tok.get("post_processor") or {}
    for proc in pp.get("processors", [pp]):
        single = proc.get("single", []) if proc.get("type") == "TemplateProcessing" else []
        if len(single) > 1:
            first = single[0].get("SpecialToken", {}).get("id")
            last = single[-1].get("SpecialToken", {}).get("id")
            if first:
                add["bos"] = first == bos
            if last:
                add["eos"] = last == eos
    added = tok.get("added_tokens") or []
    for typ in ("bos", "eos", "unk", "sep", "pad", "cls", "mask"):
        flag = cfg.get(f"add_{typ}_token")
        if isinstance(flag, bool):
            add[typ] = flag
        content = token_content(cfg.get(f"{typ}_token"))
        tid = next((a["id"] for a in added if a["content"] == content), None)
        if isinstance(tid, int) and tid < n_vocab:
            ids.setdefault(typ, tid)
    return ids, add, cfg.get("chat_template")


def gpt2_vocab(tok, n_vocab):
    """get_vocab_base: (tokens, token types) for ids 0..n_vocab-1."""
    added = {a["content"]: a for a in tok.get("added_tokens") or []}
    reverse = {i: t for t, i in tok["model"]["vocab"].items()}
    reverse.update({a["id"]: t for t, a in added.items()})
    tokens, types = [], []
    for i in range(n_vocab):
        t = reverse.get(i)
        if t is None:
            tokens.append(f"[PAD{i}]")
            types.append(UNUSED)
        elif t in added:
            # (convert_hf_to_gguf also round-trips a non-normalized added token through
            # decode(encode()), which leaves these tokenizers' added tokens unchanged.)
            if added[t]["special"] or looks_special(t):
                types.append(CONTROL)
            else:
                t = t.replace(SPACE, " ")
                types.append(USER_DEFINED)
            tokens.append(t)
        else:
            tokens.append(t)
            types.append(NORMAL)
    return tokens, types


def spm_vocab(tok, cfg, n_vocab):
    """_create_vocab_sentencepiece over the pieces tokenizer.model would hold (see the top)."""
    model = tok["model"]
    reverse = {i: t for t, i in model["vocab"].items()}
    first_merge = {}
    for rank, m in enumerate(model["merges"]):
        a, b = m.split(" ") if isinstance(m, str) else m
        first_merge.setdefault(a + b, rank)
    tokens = [f"[PAD{i}]" for i in range(n_vocab)]
    scores = [-10000.0] * n_vocab
    types = [UNUSED] * n_vocab
    for i, t in reverse.items():
        tokens[i] = t
        if t == model.get("unk_token"):
            types[i], scores[i] = UNKNOWN, 0.0
        elif t in ("<s>", "</s>"):
            types[i], scores[i] = CONTROL, 0.0
        elif len(t) == 6 and t.startswith("<0x") and t.endswith(">"):
            types[i], scores[i] = BYTE, 0.0
        else:
            types[i] = NORMAL
            scores[i] = -float(first_merge.get(t, len(model["merges"]) + i))
    for sid, a in (cfg.get("added_tokens_decoder") or {}).items():
        i, t = int(sid), a["content"]
        if a.get("special") or looks_special(t):
            types[i] = CONTROL
        else:
            t = t.replace(SPACE, " ")
            types[i] = USER_DEFINED
        scores[i], tokens[i] = -1000.0, t
    return tokens, scores, types


def write_gguf(path, model, pre, tokens, types, scores, merges, special, template):
    ids, add = special
    w = GGUFWriter()
    w.add("general.architecture", "llama")
    w.add("general.name", os.path.basename(path)[:-5])
    for key, val in (("context_length", 64), ("embedding_length", 64), ("block_count", 1),
                     ("feed_forward_length", 128), ("attention.head_count", 4),
                     ("attention.head_count_kv", 4), ("rope.dimension_count", 16),
                     ("vocab_size", len(tokens))):
        w.add(f"llama.{key}", Value(VT.UINT32, val))
    w.add("llama.attention.layer_norm_rms_epsilon", Value(VT.FLOAT32, 1e-5))
    w.add("tokenizer.ggml.model", model)
    w.add("tokenizer.ggml.pre", pre)
    w.add("tokenizer.ggml.tokens", Value(VT.ARRAY, tokens, elem=VT.STRING))
    if scores is not None:
        w.add("tokenizer.ggml.scores", Value(VT.ARRAY, scores, elem=VT.FLOAT32))
    w.add("tokenizer.ggml.token_type", Value(VT.ARRAY, types, elem=VT.INT32))
    if merges is not None:
        w.add("tokenizer.ggml.merges", Value(VT.ARRAY, merges, elem=VT.STRING))
    key_of = {"bos": "bos", "eos": "eos", "unk": "unknown", "sep": "seperator", "pad": "padding",
              "cls": "cls", "mask": "mask"}
    for typ, tid in ids.items():
        w.add(f"tokenizer.ggml.{key_of[typ]}_token_id", Value(VT.UINT32, tid))
    for typ, flag in add.items():
        w.add(f"tokenizer.ggml.add_{typ}_token", bool(flag))
    if template is not None:
        w.add("tokenizer.chat_template", template)
    w.write(path)


def main(data_dir, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    loaded, manifest = {}, []
    for case, src, model, pre, n_vocab in CASES:
        if src not in loaded:
            with open(os.path.join(data_dir, src, "tokenizer.json"), encoding="utf-8") as f:
                tok = json.load(f)
            with open(os.path.join(data_dir, src, "tokenizer_config.json"), encoding="utf-8") as f:
                cfg = json.load(f)
            loaded[src] = (tok, cfg)
        tok, cfg = loaded[src]
        reference = os.path.join(data_dir, src, "tokenizer.json")
        if case.endswith("_style"):  # llama3_1's vocabulary in another family's pipeline
            tok = copy.deepcopy(tok)
            tok["normalizer"] = None
            tok["pre_tokenizer"] = VARIANT_PRE_TOKENIZERS[pre]
            tok["model"]["ignore_merges"] = False
            reference = os.path.join(out_dir, f"{case}.tokenizer.json")
            with open(reference, "w", encoding="utf-8") as f:
                json.dump(tok, f, ensure_ascii=False)
        special = special_vocab(tok, cfg, n_vocab)
        path = os.path.join(out_dir, f"{case}.gguf")
        if model == "gpt2":
            tokens, types = gpt2_vocab(tok, n_vocab)
            write_gguf(path, model, pre, tokens, types, None, merge_strings(tok["model"]["merges"]),
                       special[:2], special[2])
        else:
            tokens, scores, types = spm_vocab(tok, cfg, n_vocab)
            write_gguf(path, model, pre, tokens, types, scores, None, special[:2], special[2])
        manifest.append({"case": case, "gguf": path, "tokenizer_json": reference, "model": model,
                         "pre": pre, "tokenizer_config": os.path.join(data_dir, src, "tokenizer_config.json")})
    with open(os.path.join(out_dir, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=1)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
