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

pin "$BIN/appraisal_benchmark" --benchmark_min_time="$MIN_TIME" --benchmark_format=json \
  --benchmark_out="$tmp/appraisal.json" --benchmark_out_format=json >/dev/null

# openssl speed ecdsap256: the verify/s column of the nistp256 row.
ref_verify=$(pin openssl speed -seconds "$SECONDS_REF" ecdsap256 2>/dev/null |
  awk '/\(nistp256\)/ { print $NF }')
# openssl speed -evp sha256 at 16 KiB: k (1000 bytes) per second.
ref_sha=$(pin openssl speed -seconds "$SECONDS_REF" -bytes 16384 -evp sha256 2>/dev/null |
  awk '/^sha256/ { v=$NF; sub(/k$/, "", v); printf "%.1f", v * 1000 }')

ours_verify=$(metric "$tmp/evidence.json" BM_QuoteVerify items_per_second)
ours_sha=$(metric "$tmp/crypto.json" BM_Sha256Streaming16K bytes_per_second)
echo "quote-verify ours=${ours_verify} reference=${ref_verify} ratio=$(ratio "$ours_verify" "$ref_verify")"
ours_appraisal=$(metric "$tmp/appraisal.json" BM_Appraise items_per_second)
echo "appraisal ours=${ours_appraisal} reference=${ref_verify} ratio=$(ratio "$ours_appraisal" "$ref_verify") (in-process, one core)"
echo "appraisal-with-ear ours=$(metric "$tmp/appraisal.json" BM_AppraiseAndSignEar items_per_second) (appraisals/s incl. the ES256-signed result)"
echo "sha256 ours=${ours_sha} reference=${ref_sha} ratio=$(ratio "$ours_sha" "$ref_sha")"

# One HTTPS request through our server and client on a keep-alive mutual-TLS
# connection, handler doing nothing: the transport floor under PVE requests.
"$BIN/http_benchmark" --benchmark_min_time="$MIN_TIME" --benchmark_format=json \
  --benchmark_out="$tmp/http.json" --benchmark_out_format=json >/dev/null
echo "https-request ours=$(metric "$tmp/http.json" BM_HttpsRequest/1300/real_time items_per_second)" \
  "(sequential requests/s, 1.3 KiB body, client and server in one process, unpinned)"

# Reported without a reference.
echo "softtre-quote ours=$(metric "$tmp/evidence.json" BM_SoftTreQuote items_per_second) (quotes/s, one core;" \
  "$(metric "$tmp/evidence.json" BM_SoftTreQuote state_bytes) bytes of state per device beyond its log)"
echo "eventlog-replay-10k ours=$(metric "$tmp/evidence.json" BM_EventLogParseAndReplay10k items_per_second) (events/s parsed and replayed, two banks)"
echo "substitution-replay-10k ours=$(metric "$tmp/evidence.json" BM_SubstitutionReplay10k items_per_second) (events/s)"

# release-verify: `henbtrust release verify` of a large bundle (one read,
# streaming), against SHA-256 on one core; and RAUC checking a plain bundle of
# the same payload (rauc info --keyring hashes the whole bundle).
MIB=${BENCH_BUNDLE_MIB:-512}
H=$BIN/henbtrust
rel="$tmp/release"
mkdir -p "$rel/content"
head -c "${MIB}M" /dev/urandom >"$rel/content/rootfs.img"
"$H" keys generate --out "$rel/vendor" >/dev/null
"$H" release root create --key "$rel/vendor.pub" --threshold 1 --sign "$rel/vendor.key" --out "$rel/root" >/dev/null
cat >"$rel/release.json" <<JSON
{"release_id": "bench", "version": "1.0", "release_counter": 1, "hardware_models": ["femto-a1"],
 "expires": $(( $(date +%s) + 86400 )),
 "components": [{"id": "rootfs", "version": "1.0", "file": "content/rootfs.img", "pcr": 3}]}
JSON
"$H" release create --description "$rel/release.json" --out "$rel/release.bundle" --sign "$rel/vendor.key" >/dev/null
bundle_bytes=$(stat -c %s "$rel/release.bundle")

# Best of three runs, page cache warm; peak resident memory from time(1).
best_seconds() {
  local best=""
  for _ in 1 2 3; do
    local t0 t1
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1 || { echo "bench: '$*' failed" >&2; exit 1; }
    t1=$(date +%s%N)
    local s
    s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f", (b - a) / 1e9 }')
    if [ -z "$best" ] || awk -v x="$s" -v y="$best" 'BEGIN { exit !(x < y) }'; then best=$s; fi
  done
  echo "$best"
}
peak_kb() { /usr/bin/time -f "%M" taskset -c "$CPU" "$@" 2>&1 >/dev/null | tail -1; }

"$H" release verify "$rel/release.bundle" --trust "$rel/root" >/dev/null
ours_s=$(best_seconds pin "$H" release verify "$rel/release.bundle" --trust "$rel/root")
ours_mbs=$(awk -v b="$bundle_bytes" -v s="$ours_s" 'BEGIN { printf "%.1f", b / s / 1e6 }')
sha_mbs=$(awk -v v="$ref_sha" 'BEGIN { printf "%.1f", v / 1e6 }')
echo "release-verify ours=${ours_mbs} reference=${sha_mbs} ratio=$(ratio "$ours_mbs" "$sha_mbs") (MB/s, ${MIB} MiB bundle vs openssl sha256 16 KiB)"
echo "release-verify-peak-rss ours=$(peak_kb "$H" release verify "$rel/release.bundle" --trust "$rel/root") (KB)"

if command -v rauc >/dev/null && command -v mksquashfs >/dev/null; then
  raucdir="$tmp/rauc"
  mkdir -p "$raucdir/content"
  ln "$rel/content/rootfs.img" "$raucdir/content/rootfs.img"
  printf '[update]\ncompatible=henb-femto\nversion=1.0\n[bundle]\nformat=plain\n[image.rootfs]\nfilename=rootfs.img\n' \
    >"$raucdir/content/manifest.raucm"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$raucdir/key.pem" \
    -out "$raucdir/cert.pem" -days 2 -subj /CN=bench-vendor >/dev/null 2>&1
  rauc bundle --cert="$raucdir/cert.pem" --key="$raucdir/key.pem" "$raucdir/content" "$raucdir/b.raucb" >/dev/null 2>&1
  rauc_bytes=$(stat -c %s "$raucdir/b.raucb")
  rauc info --keyring="$raucdir/cert.pem" "$raucdir/b.raucb" >/dev/null 2>&1
  rauc_s=$(best_seconds pin rauc info --keyring="$raucdir/cert.pem" "$raucdir/b.raucb")
  rauc_mbs=$(awk -v b="$rauc_bytes" -v s="$rauc_s" 'BEGIN { printf "%.1f", b / s / 1e6 }')
  echo "rauc-verify ours=${ours_mbs} reference=${rauc_mbs} ratio=$(ratio "$ours_mbs" "$rauc_mbs") (MB/s; RAUC peak RSS $(peak_kb rauc info --keyring="$raucdir/cert.pem" "$raucdir/b.raucb") KB)"
fi
BIN="$BIN" "$(dirname "$0")/pve_https.sh" | tee "$tmp/pve_https.txt"

# fleet-update-https: FLEET_UPDATE_DEVICES (10000) simulated H(e)NBs updated
# end to end over HTTPS (bench/fleet_update_https.sh), against half the
# appraisal-https rate above.
appraisal_https=$(awk '$1 == "appraisal-https" { sub(/^ours=/, "", $2); print $2 }' "$tmp/pve_https.txt")
APPRAISAL_HTTPS="$appraisal_https" BIN="$BIN" "$(dirname "$0")/fleet_update_https.sh"

# fleet-revalidation: a fleet of compact simulated H(e)NBs (sim/compact_fleet.h)
# enrolls with the PVE in one process; then every device is appraised once,
# two at a time, device quotes included. Appraisals per second against
# `openssl speed -multi 2 ecdsap256` verify in the same run. FLEET_DEVICES
# (100000; enrollment takes most of the time) and FLEET_THREADS (2).
fleet_devices=${FLEET_DEVICES:-100000}
# A device that fails still leaves the figures (and exit 1): say so, go on.
"$BIN/henbtrust" sim revalidate --devices "$fleet_devices" --threads "${FLEET_THREADS:-2}" \
  --work "$tmp/fleet" --json "$tmp/fleet.json" --quiet >/dev/null ||
  echo "fleet-revalidation: some devices failed (see henbtrust sim revalidate)" >&2
ref_verify2=$(openssl speed -multi 2 -seconds "$SECONDS_REF" ecdsap256 2>/dev/null |
  awk '/\(nistp256\)/ { print $NF }')
json_num() { awk -v key="\"$2\":" '$1 == key { v = $2; sub(/,$/, "", v); printf "%.1f\n", v; exit }' "$1"; }
ours_fleet=$(json_num "$tmp/fleet.json" appraisals_per_second)
echo "fleet-revalidation ours=${ours_fleet} reference=${ref_verify2} ratio=$(ratio "$ours_fleet" "$ref_verify2")" \
  "(appraisals/s of ${fleet_devices} devices in-process, device quotes included;" \
  "PVE CPU $(json_num "$tmp/fleet.json" pve_cpu_us_per_appraisal) us each;" \
  "enrollment $(json_num "$tmp/fleet.json" enroll_seconds) s)"
