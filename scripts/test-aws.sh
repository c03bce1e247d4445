#!/usr/bin/env bash
# Runs the tests of the AWS column (cloudrun-aws, cloudrun-lambda and the function binaries)
# against a moto server that this script starts on 127.0.0.1 and stops when it ends.
# Arguments go to `cargo test`, e.g. `scripts/test-aws.sh -- --nocapture`.
set -euo pipefail
cd "$(dirname "$0")/.."

eval "$(scripts/moto.sh)"
trap 'kill "$MOTO_PID" 2>/dev/null || true' EXIT
echo "moto server at $AWS_ENDPOINT_URL (log: $MOTO_LOG)" >&2

packages=(-p cloudrun-aws -p cloudrun-lambda)
for crate in functions/*/Cargo.toml; do
    packages+=(-p "$(sed -n 's/^name = "\(.*\)"/\1/p' "$crate" | head -1)")
done
# --tests runs the unit and integration tests of every target and skips doctests, which these crates have none of.
cargo test --tests "${packages[@]}" "$@"
