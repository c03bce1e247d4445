#!/usr/bin/env bash
# Runs every test of the repository on a fresh Debian or Ubuntu machine with
# Rust and Python 3. It installs what the tests need (Open MPI, the netCDF
# tools, and Python packages in virtual environments under target/) and
# starts a moto server on 127.0.0.1 as the AWS emulator. Then it runs
#   1. the Rust workspace tests (core, local server, worker, AWS adapters, Lambdas),
#   2. the Python client's tests and the OpenAPI checks (schemathesis),
#   3. cfn-lint and `sam validate --lint` on the SAM template.
# Safe to run again: it installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

need_apt=()
command -v mpirun >/dev/null || need_apt+=(openmpi-bin)
command -v mpicc >/dev/null || need_apt+=(libopenmpi-dev)
command -v ncdump >/dev/null || need_apt+=(netcdf-bin)
command -v pgrep >/dev/null || need_apt+=(procps)
command -v curl >/dev/null || need_apt+=(curl)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "==> installing ${need_apt[*]}"
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# Creates (once) a virtual environment under target/ and installs the given pip arguments into it.
venv() {
  local dir="$root/target/$1"
  shift
  if [ ! -x "$dir/bin/python" ]; then
    python3 -m venv "$dir"
  fi
  "$dir/bin/pip" install --quiet --disable-pip-version-check "$@" >&2
  echo "$dir"
}

echo "==> starting the AWS emulator (moto) on 127.0.0.1"
eval "$(scripts/moto.sh)"
trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT

echo "==> cargo test (workspace)"
cargo build --workspace --locked
cargo test --workspace --locked

echo "==> Python client and OpenAPI tests"
python_env=$(venv py-venv ./clients/python -r clients/python/requirements-test.txt)
CLOUDRUN_BIN="$root/target/debug/cloudrun" "$python_env/bin/python" -m pytest -q clients/python/tests

echo "==> SAM template checks"
lint_env=$(venv lint-venv cfn-lint aws-sam-cli)
"$lint_env/bin/cfn-lint" infra/template.yaml
SAM_CLI_TELEMETRY=0 "$lint_env/bin/sam" validate --lint --region us-east-1 -t infra/template.yaml

echo "==> all tests passed"
