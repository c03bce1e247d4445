#!/usr/bin/env bash
# Reruns the benchmarks and rewrites docs/benchmarks.md:
#  (a) namelist parsing + WRF metadata + compute options vs f90nml (Python),
#  (b) GET /v1/wrf/{id} under wrk vs a minimal hyper server with a fixed body,
#  (c) peak RSS of the server while a 2 GiB file is uploaded and downloaded.
# Needs wrk, curl and f90nml (pip); everything runs on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
python3 -c 'import f90nml' 2>/dev/null || pip install -q f90nml

cargo build --release -q -p cloudrun-local --bin cloudrun --example fixed_body
cargo build --release -q -p cloudrun-core --example namelist_throughput
bin=target/release
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

# Starts `cloudrun serve` on a free port with data dir $1; sets $url and $server_pid.
start_server() {
  "$bin/cloudrun" serve --addr 127.0.0.1:0 --data-dir "$1" > "$1/stdout" 2> "$1/server.log" &
  server_pid=$!
  pids+=("$server_pid")
  for _ in $(seq 100); do
    url=$(sed -n 's/^cloudrun listening on //p' "$1/stdout")
    [ -n "$url" ] && return 0
    sleep 0.1
  done
  echo "server did not start" >&2
  exit 1
}

json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }

# (a) namelists
namelists=(tests/fixtures/namelists/*.namelist.input)
rust_out=$("$bin/examples/namelist_throughput" "${namelists[@]}")
python_out=$(python3 bench/f90nml_throughput.py "${namelists[@]}")
rust_total=$(echo "$rust_out" | tail -1 | awk '{print $1}')
python_total=$(echo "$python_out" | tail -1 | awk '{print $1}')
speedup=$(python3 -c "print(f'{$python_total / $rust_total:.0f}')")

# (b) request rate
mkdir -p "$work/b"
start_server "$work/b"
token=$("$bin/cloudrun" token create --user bench --data-dir "$work/b")
id=$(curl -s -X POST "$url/v1/wrf" -H "Authorization: Bearer $token" -F version=4.7.1 | json_field id)
curl -s -X POST "$url/v1/wrf/$id/upload" -H "Authorization: Bearer $token" -F file=@examples/em_quarter_ss/namelist.input > /dev/null
wrk_api=$(wrk -t2 -c64 -d10s --latency -H "Authorization: Bearer $token" "$url/v1/wrf/$id")
body_bytes=$(curl -s "$url/v1/wrf/$id" -H "Authorization: Bearer $token" | wc -c)
kill "$server_pid"
"$bin/examples/fixed_body" 127.0.0.1:0 > "$work/fixed.out" &
pids+=($!)
sleep 0.5
fixed_url=$(sed -n 's/^listening on //p' "$work/fixed.out")
wrk_fixed=$(wrk -t2 -c64 -d10s --latency "$fixed_url/")
rate() { echo "$1" | awk '/Requests\/sec/ {print $2}'; }
p99() { echo "$1" | awk '$1 == "99%" {print $2}'; }

# (c) peak RSS with a 2 GiB upload and a 2 GiB download
mkdir -p "$work/c/wrf/main" "$work/c/wrf/run" "$work/c/data"
cat > "$work/c/wrf/main/wrf.exe" <<'SCRIPT'
#!/bin/sh
head -c 2147483648 /dev/zero > wrfout_d01_0001-01-01_00:00:00
echo 'd01 0001-01-01_01:00:00 wrf: SUCCESS COMPLETE WRF' > rsl.out.0000
SCRIPT
cp "$work/c/wrf/main/wrf.exe" "$work/c/wrf/main/ideal.exe"
chmod +x "$work/c/wrf/main/"*.exe
printf '[runner]\nwrf_dir = "%s"\npoll_milliseconds = 200\n' "$work/c/wrf" > "$work/c/data/cloudrun.toml"
start_server "$work/c/data"
token=$("$bin/cloudrun" token create --user bench --data-dir "$work/c/data")
auth="Authorization: Bearer $token"
id=$(curl -s -X POST "$url/v1/wrf" -H "$auth" -F version=4.7.1 | json_field id)
head -c 2147483648 /dev/zero > "$work/c/big.bin"
rss_start=$(awk '/VmRSS/ {print $2}' /proc/$server_pid/status)
upload_seconds=$( { /usr/bin/time -f %e curl -s -o /dev/null -X POST "$url/v1/wrf/$id/upload" -H "$auth" -F "file=@$work/c/big.bin;filename=wrfbdy_d01"; } 2>&1 )
rm -f "$work/c/big.bin"
rss_after_upload=$(awk '/VmHWM/ {print $2}' /proc/$server_pid/status)
curl -s -o /dev/null -X POST "$url/v1/wrf/$id/upload" -H "$auth" -F file=@examples/em_quarter_ss/namelist.input
curl -s -o /dev/null -X POST "$url/v1/wrf/$id/upload" -H "$auth" -F file=@examples/em_quarter_ss/input_sounding
curl -s -o /dev/null -X POST "$url/v1/wrf/$id/start" -H "$auth" -F cores=1
for _ in $(seq 600); do
  status=$(curl -s "$url/v1/wrf/$id" -H "$auth" | json_field status)
  [ "$status" = done ] || [ "$status" = error ] && break
  sleep 0.5
done
download_seconds=$( { /usr/bin/time -f %e curl -s -o /dev/null "$url/v1/wrf/$id/output/wrfout_d01_0001-01-01_00:00:00" -H "$auth"; } 2>&1 )
rss_peak=$(awk '/VmHWM/ {print $2}' /proc/$server_pid/status)

cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
cores=$(nproc)
memory=$(free -g | awk '/Mem:/ {print $2}')
cat > docs/benchmarks.md <<REPORT
# Benchmarks

Measured by \`bench/run.sh\` on $(date -u +%Y-%m-%d): $cpu, $cores cores,
${memory} GiB memory, release build, everything on 127.0.0.1 of the same
machine (the load generator shares the cores with the server).

## (a) Namelist parsing, WRF metadata and compute options

All $(echo "${namelists[@]}" | wc -w) real namelists in \`tests/fixtures/namelists\`, each parsed,
turned into a WRF case and given its compute options, averaged over 200
rounds (\`shared/core/examples/namelist_throughput.rs\`), next to f90nml
$(python3 -c 'import f90nml; print(f90nml.__version__)') only parsing the same files (\`bench/f90nml_throughput.py\`).

| | total for all files |
|---|---|
| cloudrun (parse + metadata + compute options) | ${rust_total} µs |
| f90nml (parse only) | ${python_total} µs |
| speed-up | ${speedup}× (target: at least 20×) |

<details><summary>per file (µs)</summary>

\`\`\`
cloudrun:
$rust_out

f90nml:
$python_out
\`\`\`
</details>

## (b) \`GET /v1/wrf/{id}\` under wrk

\`wrk -t2 -c64 -d10s --latency\` against \`cloudrun serve\` (SQLite in WAL
mode, a bearer token checked on every request, one log line per request,
a run object of ${body_bytes} bytes), and against a minimal hyper server
answering a fixed body (\`shared/local/examples/fixed_body.rs\`) as the ceiling.

| server | requests/s | p99 latency |
|---|---|---|
| cloudrun | $(rate "$wrk_api") | $(p99 "$wrk_api") |
| hyper, fixed body | $(rate "$wrk_fixed") | $(p99 "$wrk_fixed") |

Targets: at least 5,000 requests/s and a p99 of at most 20 ms.

## (c) Memory while moving a 2 GiB file

A 2 GiB input uploaded with \`curl -F\` (multipart, streamed to disk), then
a 2 GiB output (written by a stand-in wrf.exe) downloaded with curl.

| | value |
|---|---|
| server RSS before | $((rss_start / 1024)) MB |
| peak RSS after the upload | $((rss_after_upload / 1024)) MB |
| peak RSS after the download | $((rss_peak / 1024)) MB (target: at most 64 MB) |
| upload time | ${upload_seconds} s |
| download time | ${download_seconds} s |
REPORT
echo "wrote docs/benchmarks.md"
