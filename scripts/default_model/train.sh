#!/usr/bin/env bash
# Reproduces assets/models/fortunes-llama-4m, the model `lazarus generate` and `lazarus chat` use
# when no --model is given: a byte-level BPE tokenizer (4096 ids) and a 3.95M-parameter Llama
# trained on the text of Debian's `fortunes` packages (14,742 fortunes, 2.5 MB).
#
#   bash scripts/default_model/train.sh [WORKDIR]     (default WORKDIR: runs/fortunes)
#
# Needs the build (bash scripts/demo.sh or cmake) and `apt-get install fortunes`. 1.84 M
# training tokens: ~10 minutes at the 3,400 tokens/s measured on 2 lightly loaded cores, 45 minutes
# when compilers shared them. Checkpoints every 100
# steps: after an interruption, rerun it — training resumes exactly where it stopped.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="${1:-$root/runs/fortunes}"
lazarus="$root/build/bin/lazarus"
[ -x "$lazarus" ] || { echo "build first: $lazarus is missing (bash scripts/demo.sh)" >&2; exit 1; }
[ -d /usr/share/games/fortunes ] || { echo "apt-get install fortunes first" >&2; exit 1; }
mkdir -p "$work"

python3 "$here/make_corpus.py" /usr/share/games/fortunes "$work/corpus.txt"
"$lazarus" train-tokenizer --data "$work/corpus.txt" --out "$work/tokenizer" --vocab-size 4096 \
  --special-tokens "<|endoftext|>" --chat-template "$here/chat_template.jinja"
resume=()
compgen -G "$work/run/checkpoint-*" >/dev/null && resume=(--resume)
# A passive OpenMP wait policy: spinning threads crawl when other work shares the cores.
OMP_WAIT_POLICY=PASSIVE "$lazarus" train --config "$here/config.json" --tokenizer "$work/tokenizer" \
  --data "$work/corpus.txt" --seq-len 256 --batch-size 8 --steps 900 --lr 2e-3 --warmup 45 \
  --eval-every 100 --save-every 100 --threads 2 --seed 1 --output "$work/run" "${resume[@]}"

dest="$root/assets/models/fortunes-llama-4m"
rm -rf "$dest.new" && mkdir -p "$dest.new"
cp "$work/run/model/"* "$dest.new/"
cp "$work/run/metrics.jsonl" "$work/run/loss_curve.svg" "$dest.new/"
rm -rf "$dest" && mv "$dest.new" "$dest"
echo "wrote $dest"
