#!/usr/bin/env bash
# Installs the Debian 12 packages Parley builds and tests with, if missing.
# Runs as root (or via sudo). --no-install-recommends matters: recommends
# would pull in Boost, and a missing ASIO_STANDALONE would then silently
# build against Boost.Asio. Extra package names given as arguments are
# installed too (scripts/bench.sh: gRPC).
set -euo pipefail

packages=(
  cmake g++ make
  libprotobuf-dev libprotoc-dev protobuf-compiler
  libwebsocketpp-dev libasio-dev libabsl-dev libssl-dev
  libgtest-dev libgmock-dev clang-format
  # The libFuzzer targets (tests/fuzz): clang, and its fuzzer and sanitizer
  # runtimes, which clang only recommends.
  clang libclang-rt-14-dev
  "$@"
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  sudo=""
  [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
    --no-install-recommends "${missing[@]}"
fi
