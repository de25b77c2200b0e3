#!/usr/bin/env bash
# The full test suite: install (with the reference implementations), build, run every test; then
# the fuzzers, a fixed number of inputs each (scripts/fuzz.sh; LAZARUS_TEST_FUZZ=0 skips them);
# then the whole suite again with each lower kernel ISA forced (LAZARUS_ISA caps our kernel tables
# and oneDNN's GEMM alike), so a CPU without AVX-512, or without AVX2, is covered on any machine
# (LAZARUS_TEST_ISAS="" skips those passes; "avx2" runs one). See docs/testing.md.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh --test
bash scripts/build.sh -DLAZARUS_BUILD_TESTS=ON
cd build
echo "== the suite on this CPU's own kernels"
ctest --output-on-failure -j"$(nproc)"
if [ "${LAZARUS_TEST_FUZZ:-1}" != 0 ]; then
  echo "== the fuzzers"
  bash ../scripts/fuzz.sh
fi
for isa in ${LAZARUS_TEST_ISAS-avx2 generic}; do
  echo "== the suite with LAZARUS_ISA=$isa"
  LAZARUS_ISA=$isa ctest --output-on-failure -j"$(nproc)"
done
