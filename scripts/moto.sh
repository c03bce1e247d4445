#!/usr/bin/env bash
# Starts a moto server (the AWS emulator from PyPI, package `moto[server]`) on a free port of
# 127.0.0.1 and prints the shell lines that point the AWS SDK at it:
#
#   eval "$(scripts/moto.sh)"     # sets AWS_ENDPOINT_URL, dummy credentials, region, MOTO_PID
#   ...run the tests...
#   kill "$MOTO_PID"
#
# moto is installed into its own virtual environment, target/moto-venv, on first use, because moto 5.2.1
# returns S3 ListParts and CompleteMultipartUpload results under XML root elements that the Rust SDK
# rejects, and 5.2.6 returns them as S3 does. MOTO_SERVER names another moto_server to use.
#
# moto's Batch runs jobs in Docker by default; this script switches it to its simple mode, in
# which submitted jobs need no Docker. The server's log goes to $MOTO_LOG (default: a temp file).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/target/moto-venv"
moto_server=${MOTO_SERVER:-$venv/bin/moto_server}
if [ ! -x "$moto_server" ]; then
    echo "installing moto[server]==5.2.6 into $venv" >&2
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet "moto[server]==5.2.6" >&2
fi

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
log=${MOTO_LOG:-$(mktemp -t moto.XXXXXX.log)}
"$moto_server" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
pid=$!

endpoint="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null "$endpoint/moto-api/" 2>/dev/null; then
        break
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "moto_server exited at start; its log is $log" >&2
        exit 1
    fi
    sleep 0.1
done
if ! curl -fsS -o /dev/null -X POST -H 'Content-Type: application/json' \
    -d '{"batch": {"use_docker": false}}' "$endpoint/moto-api/config"; then
    echo "moto_server at $endpoint did not start within 10 s; its log is $log" >&2
    kill "$pid" 2>/dev/null || true
    exit 1
fi

echo "export AWS_ENDPOINT_URL=$endpoint"
echo "export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1"
# The SDK must never look for credentials at the instance metadata address.
echo "export AWS_EC2_METADATA_DISABLED=true"
echo "export MOTO_PID=$pid MOTO_LOG=$log MOTO_SERVER=$moto_server"
