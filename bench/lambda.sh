#!/usr/bin/env bash
# Measures the release build of every Lambda function: binary size, and the
# time from the first `cargo lambda invoke` to its response under
# `cargo lambda watch` (process start, configuration and SDK clients, one
# request against moto on 127.0.0.1), then a second, warm invoke.
# Appends the results to docs/benchmarks.md. Needs cargo-lambda (pip).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-lambda >/dev/null || pip install -q cargo-lambda

packages=()
for manifest in functions/*/Cargo.toml; do
  packages+=(-p "$(sed -n 's/^name = "\(.*\)"/\1/p' "$manifest" | head -1)")
done
build_started=$(date +%s)
cargo build --release -q "${packages[@]}"
build_seconds=$(( $(date +%s) - build_started ))

eval "$(scripts/moto.sh)"
eval "$(cargo run -q --release -p cloudrun-aws --example emulator_deployment)"
watch_log=$(mktemp)
watch_pid=""
trap '[ -n "$watch_pid" ] && kill -- -"$watch_pid"; kill "$MOTO_PID"; true' EXIT

# Starts `cargo lambda watch` and waits until it listens.
start_watch() {
  # In a session of its own, so that stopping it also stops the function processes it started.
  setsid cargo lambda watch --release -A 127.0.0.1 -P 9000 > "$watch_log" 2>&1 &
  watch_pid=$!
  for _ in $(seq 300); do
    curl -s -o /dev/null "http://127.0.0.1:9000/" && return 0
    sleep 0.2
  done
}

# Milliseconds for one invoke of function $1 with event file $2.
invoke_ms() {
  local started ended
  started=$(date +%s%N)
  cargo lambda invoke "$1" -A 127.0.0.1 -P 9000 --data-file "$2" > /dev/null
  ended=$(date +%s%N)
  echo $(( (ended - started) / 1000000 ))
}

functions=("cloudrun-fn-list:apigw-list-runs.json" "cloudrun-fn-create:apigw-create-run.json"
           "cloudrun-fn-get:apigw-get-run.json" "cloudrun-fn-authorizer:authorizer-token.json")
# The sample events carry a placeholder token; the authorizer gets the emulator's real one.
events=$(mktemp -d)
cp infra/events/*.json "$events/"
sed -i "s/4f3c2a1b0e9d8c7b6a5f4e3d2c1b0a99/${CLOUDRUN_TOKEN}/" "$events/authorizer-token.json"

# cargo lambda watch compiles each function on its first invoke. A first round builds them,
# and a new watch process then starts each from its built binary.
start_watch
for pair in "${functions[@]}"; do
  cargo lambda invoke "${pair%%:*}" -A 127.0.0.1 -P 9000 --data-file "$events/${pair#*:}" > /dev/null
done
kill -- -"$watch_pid"
sleep 1
start_watch

rows=""
for pair in "${functions[@]}"; do
  name=${pair%%:*}
  event=$events/${pair#*:}
  cold=$(invoke_ms "$name" "$event")
  warm=$(invoke_ms "$name" "$event")
  rows+="| $name | $cold ms | $warm ms |"$'\n'
done

mib() { echo "$(( $1 / 1024 / 1024 )).$(( $1 / 1024 % 1024 * 10 / 1024 )) MiB"; }
sizes=""
for manifest in functions/*/Cargo.toml; do
  binary=$(sed -n 's/^name = "\(.*\)"/\1/p' "$manifest" | head -1)
  bytes=$(stat -c %s "target/release/$binary")
  strip -o "$watch_log.stripped" "target/release/$binary"
  stripped=$(stat -c %s "$watch_log.stripped")
  sizes+="| $binary | $(mib "$bytes") | $(mib "$stripped") |"$'\n'
done

cat >> docs/benchmarks.md <<REPORT

## (d) Lambda functions: release binaries and first responses

Measured by \`bench/lambda.sh\` on $(date -u +%Y-%m-%d), same machine, x86_64 release
builds (\`cargo build --release\`, ${build_seconds} s for all functions with the
workspace already built). The release profile keeps line tables
(\`debug = "line-tables-only"\`); the stripped size is what a deployment
package needs (\`strip\`, as \`cargo lambda build\` does by default).

| function | binary size | stripped |
|---|---|---|
${sizes}
Time from \`cargo lambda invoke\` to its response under \`cargo lambda watch
--release\`, with moto on 127.0.0.1 as the AWS backend. The first invoke
after a restart of \`cargo lambda watch\` starts the function process from
its built binary (cold start: cargo's up-to-date check, process start,
configuration, SDK clients, one DynamoDB request). The second reuses the
process. Both include the \`cargo lambda invoke\` command's own start-up.

| function | first invoke | second invoke |
|---|---|---|
${rows}
REPORT
echo "appended to docs/benchmarks.md"
