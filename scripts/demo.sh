#!/usr/bin/env bash
# The main job: install, build, and run the end-to-end demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh -DLAZARUS_BUILD_TESTS=OFF
./build/bin/lazarus demo
