#!/usr/bin/env bash
# The full test suite: install (with the reference implementations), build, run every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test
bash scripts/build.sh -DLAZARUS_BUILD_TESTS=ON
cd build
ctest --output-on-failure -j"$(nproc)"
