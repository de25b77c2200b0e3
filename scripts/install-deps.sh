#!/usr/bin/env bash
# Installs what Lazarus needs on Debian 12: compilers and libraries from apt, and (with --test)
# the reference implementations the tests compare against (PyTorch from apt, Hugging Face's
# tokenizers and jinja and llama.cpp's prebuilt CPU build through node-llama-cpp from npm: see
# tests/reference/.npmrc and package.json for how npm ci stays on the registry's packages).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

PKGS=(build-essential cmake ninja-build pkg-config
      nlohmann-json3-dev libfmt-dev libcli11-dev libdnnl-dev libcurl4-openssl-dev
      libpcre2-dev libutf8proc-dev libsentencepiece-dev)
if [ "${1:-}" = "--test" ]; then
  PKGS+=(libgtest-dev libgmock-dev python3 python3-torch python3-numpy
        sentencepiece python3-sentencepiece clang libclang-rt-14-dev)
fi
if [ "${1:-}" = "--bench" ]; then
  PKGS+=(libbenchmark-dev python3 python3-torch python3-numpy)
fi

# Node.js may come from another source than Debian (e.g. NodeSource, which bundles npm and
# conflicts with Debian's npm package): only install it when the commands are absent.
if [ "${1:-}" = "--test" ] || [ "${1:-}" = "--bench" ]; then
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then PKGS+=(nodejs npm); fi
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "[install-deps] apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ "${1:-}" = "--test" ] || [ "${1:-}" = "--bench" ]; then
  if [ -f tests/reference/package.json ]; then
    (cd tests/reference && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi
