"""Reference for the SentencePiece tests: trains tiny models with the real SentencePiece
(Debian's `sentencepiece` / `python3-sentencepiece`) and records what the library does with them.

  python3 sentencepiece_oracle.py OUTDIR CORPUS_JSON

writes OUTDIR/<name>/tokenizer.model for each model below and OUTDIR/<name>/reference.json:
{"reference": "sentencepiece X", "cases": [{"text", "ids", "pieces", "decode"}]} over the
stress corpus (CORPUS_JSON plus generated cases), and OUTDIR/texts.json with those texts.
"""
import json
import os
import random
import shutil
import subprocess
import sys

import sentencepiece as spm

MODELS = {
    # name: spm_train flags (on top of the common ones)
    "bpe_bytefallback_nfkc": ["--model_type=bpe", "--byte_fallback=true", "--vocab_size=700"],
    "unigram_nfkc": ["--model_type=unigram", "--vocab_size=500"],
    "unigram_bytefallback_identity": [
        "--model_type=unigram", "--byte_fallback=true", "--vocab_size=700",
        "--normalization_rule_name=identity", "--remove_extra_whitespaces=false"],
    "bpe_no_dummy_prefix": ["--model_type=bpe", "--vocab_size=500", "--add_dummy_prefix=false"],
}


def training_text(corpus):
    """Deterministic prose-like lines plus the corpus itself (a few hundred kB at most)."""
    rnd = random.Random(1234)
    words = ("the of and to in is was that for it with as his on be at by had are but from "
             "not have this they which you were her all she there would their we him been has "
             "when who will more no if out so said what up its about into than them can only "
             "other new some could time these two may then do first any my now such like our "
             "over man me even most made after also did many before must through back years "
             "tokenizer piece merge score vocabulary normal unicode byte fallback text model "
             "café naïve résumé 日本語 テキスト 한국어 मराठी नमस्ते مرحبا Жили были").split()
    lines = []
    for _ in range(3000):
        n = rnd.randint(3, 14)
        line = " ".join(rnd.choice(words) for _ in range(n))
        if rnd.random() < 0.3:
            line = line.capitalize() + "."
        if rnd.random() < 0.2:
            line += " " + str(rnd.randint(0, 10 ** rnd.randint(1, 6)))
        lines.append(line)
    lines += [t.replace("\n", " ") for t in corpus if t.strip()] * 3
    return "\n".join(lines) + "\n"


def stress_texts(corpus):
    texts = list(corpus)
    digits = ""
    for n in range(1, 41):
        digits += str((n * 7) % 10)
        texts += [digits, f"x {digits} y"]
    for ws in [" ", "\n", "\t", "\r\n", " \n"]:
        for n in [1, 2, 3, 7, 16]:
            texts += [ws * n, f"a{ws * n}b", f"a{ws * n}"]
    rnd = random.Random(12345)
    word = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(10000))
    texts += [word, "a" * 10000, f"The word {word} ends here.", "\u00e9" * 3000,
              "\U0001f916" * 2500, "1" * 10000, "\u2581 lead", "x\u2581\u2581y ", "ｶﾞｷﾞ ㍿ ﬀ"]
    return texts


def main():
    out_dir, corpus_path = sys.argv[1], sys.argv[2]
    with open(corpus_path, encoding="utf-8") as f:
        corpus = json.load(f)
    os.makedirs(out_dir, exist_ok=True)
    train_file = os.path.join(out_dir, "train.txt")
    with open(train_file, "w", encoding="utf-8") as f:
        f.write(training_text(corpus))
    texts = stress_texts(corpus)
    with open(os.path.join(out_dir, "texts.json"), "w", encoding="utf-8") as f:
        json.dump(texts, f, ensure_ascii=False)
    spm_train = shutil.which("spm_train")
    if not spm_train:
        sys.exit("spm_train not found: install Debian's `sentencepiece` (scripts/install-deps.sh --test)")
    for name, flags in MODELS.items():
        d = os.path.join(out_dir, name)
        os.makedirs(d, exist_ok=True)
        prefix = os.path.join(d, "spm")
        subprocess.run([spm_train, f"--input={train_file}", f"--model_prefix={prefix}",
                        "--character_coverage=0.9995", "--num_threads=1", "--minloglevel=2",
                        "--input_sentence_size=100000", "--shuffle_input_sentence=false",
                        "--max_sentence_length=100000"] + flags,
                       check=True, stdout=subprocess.DEVNULL)
        os.replace(prefix + ".model", os.path.join(d, "tokenizer.model"))
        os.remove(prefix + ".vocab")
        sp = spm.SentencePieceProcessor(model_file=os.path.join(d, "tokenizer.model"))
        cases = []
        for t in texts:
            ids = sp.encode(t)
            cases.append({"text": t, "ids": ids, "pieces": [sp.id_to_piece(i) for i in ids],
                          "decode": sp.decode(ids)})
        ref = {"reference": f"sentencepiece {spm.__version__}", "unk_id": sp.unk_id(),
               "control": [sp.id_to_piece(i) for i in range(sp.get_piece_size()) if sp.is_control(i)],
               "cases": cases}
        with open(os.path.join(d, "reference.json"), "w", encoding="utf-8") as f:
            json.dump(ref, f, ensure_ascii=False)


if __name__ == "__main__":
    main()
