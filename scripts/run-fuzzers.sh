#!/usr/bin/env bash
# Runs every libFuzzer target for a bounded time (seconds, default 60 each).
# New inputs go to a scratch directory; the committed seed corpora are read only.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for target in quote_attest tpm_signature tpm_public eventlog release; do
  bin="build-fuzz/bin/${target}_fuzz"
  [ -x "$bin" ] || { echo "run-fuzzers: $bin missing (cmake --preset fuzz && cmake --build --preset fuzz)"; exit 2; }
  mkdir -p "$work/$target"
  echo "== $target: ${seconds}s"
  if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$work/$target-" "$work/$target" "fuzz/${target}_corpus" 2>"$work/$target.log"; then
    echo "run-fuzzers: $target found a crash:"; tail -40 "$work/$target.log"
    mkdir -p fuzz-artifacts && cp "$work/$target-"* fuzz-artifacts/ 2>/dev/null || true
    status=1
  else
    grep -E "stat::number_of_executed_units|cov:" "$work/$target.log" | tail -2
  fi
done
exit $status
