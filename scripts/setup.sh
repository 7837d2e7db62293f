#!/usr/bin/env bash
# Installs what attngen needs to build and test (Debian packages). Idempotent:
# quiet and quick when everything is already there. Python (python3-venv,
# python3-dev) is Debian's, for the Python package: scripts/python-env.sh
# builds it in a virtual environment with /usr/bin/python3.
#   scripts/setup.sh       what building and the default tests need
#   scripts/setup.sh ci    that, plus the checking jobs' tools (docs/testing.md):
#                          clang 14 with its sanitizer and libFuzzer runtimes,
#                          llvm-symbolizer for their stacks, llvm-cov for coverage
set -euo pipefail

packages=(cmake g++ make nlohmann-json3-dev libxbyak-dev libgtest-dev googletest libbenchmark-dev
          libcli11-dev libdnnl-dev binutils python3 python3-venv python3-dev
          llvm-16-dev libclang-cpp16-dev libclang-16-dev  # the llvm backend: clang and LLVM as libraries
          gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user-static)  # its aarch64 objects, tested under qemu
for group in "$@"; do
  case "$group" in
    ci) packages+=(clang-14 libclang-rt-14-dev llvm-14) ;;
    *) echo "setup: unknown group '$group' (expected: ci)" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
