#!/usr/bin/env bash
# Runs every test of the repository on a fresh Debian/Ubuntu machine with Rust:
# installs the system and Python packages the tests use, then runs the Rust
# workspace tests. Safe to run again; it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v mpirun >/dev/null || need_apt+=(openmpi-bin)
command -v mpicc >/dev/null || need_apt+=(libopenmpi-dev)
command -v ncdump >/dev/null || need_apt+=(netcdf-bin)
command -v pgrep >/dev/null || need_apt+=(procps)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing ${need_apt[*]}"
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

echo "==> cargo test (workspace)"
cargo test --workspace --locked
