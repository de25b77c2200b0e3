#!/usr/bin/env bash
# The main job: install, build, and generate text with the model Lazarus ships (no download).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh -DLAZARUS_BUILD_TESTS=OFF
./build/bin/lazarus generate --prompt "The computer" --max-new-tokens 60 --temperature 0.8 --seed 7
printf 'What is the meaning of life?\n' | ./build/bin/lazarus chat --max-new-tokens 40 --seed 1
