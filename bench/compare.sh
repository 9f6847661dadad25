#!/usr/bin/env bash
# Prints henbtrust's figures beside the machine's references, measured in the
# same run, one line per comparison:
#   <name> ours=<value> reference=<value> ratio=<ours/reference>
# One-core figures run pinned to one CPU (taskset), ours and the reference alike.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-build/bin}
CPU=${BENCH_CPU:-0}
SECONDS_REF=${BENCH_SECONDS:-3}
MIN_TIME=${BENCH_MIN_TIME:-2}
pin() { taskset -c "$CPU" "$@"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }
# items_per_second or bytes_per_second of one benchmark from JSON output
metric() {
  awk -v name="\"$2\"," -v key="\"$3\":" '
    $1 == "\"name\":" { inside = ($2 == name) }
    inside && $1 == key { v = $2; sub(/,$/, "", v); printf "%.1f\n", v; exit }' "$1"
}

pin "$BIN/evidence_benchmark" --benchmark_min_time="$MIN_TIME" --benchmark_format=json \
  --benchmark_out="$tmp/evidence.json" --benchmark_out_format=json >/dev/null
pin "$BIN/crypto_benchmark" --benchmark_min_time="$MIN_TIME" --benchmark_format=json \
  --benchmark_out="$tmp/crypto.json" --benchmark_out_format=json >/dev/null

# openssl speed ecdsap256: the verify/s column of the nistp256 row.
ref_verify=$(pin openssl speed -seconds "$SECONDS_REF" ecdsap256 2>/dev/null |
  awk '/\(nistp256\)/ { print $NF }')
# openssl speed -evp sha256 at 16 KiB: k (1000 bytes) per second.
ref_sha=$(pin openssl speed -seconds "$SECONDS_REF" -bytes 16384 -evp sha256 2>/dev/null |
  awk '/^sha256/ { v=$NF; sub(/k$/, "", v); printf "%.1f", v * 1000 }')

ours_verify=$(metric "$tmp/evidence.json" BM_QuoteVerify items_per_second)
ours_sha=$(metric "$tmp/crypto.json" BM_Sha256Streaming16K bytes_per_second)
echo "quote-verify ours=${ours_verify} reference=${ref_verify} ratio=$(ratio "$ours_verify" "$ref_verify")"
echo "sha256 ours=${ours_sha} reference=${ref_sha} ratio=$(ratio "$ours_sha" "$ref_sha")"

# Reported without a reference.
echo "softtre-quote ours=$(metric "$tmp/evidence.json" BM_SoftTreQuote items_per_second) (quotes/s, one core;" \
  "$(metric "$tmp/evidence.json" BM_SoftTreQuote state_bytes) bytes of state per device beyond its log)"
echo "eventlog-replay-10k ours=$(metric "$tmp/evidence.json" BM_EventLogParseAndReplay10k items_per_second) (events/s parsed and replayed, two banks)"
echo "substitution-replay-10k ours=$(metric "$tmp/evidence.json" BM_SubstitutionReplay10k items_per_second) (events/s)"
