#!/usr/bin/env bash
# End-to-end updates over HTTPS: `henbtrust server run` (OAM and PVE in one
# process) on this machine, and `henbtrust sim fleet` with FLEET_UPDATE_DEVICES
# simulated H(e)NBs (soft TrE, A/B slots, the update agent) in another. Once
# the fleet has enrolled, the operator opens one update job per device to the
# next release; every device then goes through the nine steps over HTTPS:
# pre-update appraisal, signed order, download, install, trial boot, report
# with a fresh quote, step 9, commit. Prints
#   fleet-update-https ours=<devices updated/s> reference=<appraisal-https/2> ratio=...
# when APPRAISAL_HTTPS (appraisals/s of bench/pve_https.sh in the same run)
# is set, and the figure alone otherwise, with the fleet process's peak
# resident memory per device.
# Environment: BIN (build/bin), FLEET_UPDATE_DEVICES (10000),
# FLEET_UPDATE_CONNECTIONS (256: connections the fleet keeps open at most),
# FLEET_UPDATE_TIMEOUT (seconds, 1800).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${BIN:-build/bin}")
H="$BIN/henbtrust"
DEVICES=${FLEET_UPDATE_DEVICES:-10000}
CONNECTIONS=${FLEET_UPDATE_CONNECTIONS:-256}
THREADS=${FLEET_UPDATE_THREADS:-8}
TIMEOUT=${FLEET_UPDATE_TIMEOUT:-1800}

work=$(mktemp -d)
server=""
fleet=""
cleanup() {
  [[ -n "$fleet" ]] && kill "$fleet" 2>/dev/null && wait "$fleet" 2>/dev/null
  [[ -n "$server" ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

R="$work/release"
S="$work/server"
"$H" release example --out "$R" >/dev/null
# Components of 4 KiB instead of the example's 2 MiB: the figure is the
# protocol's and the services' cost per device, not that of moving and
# hashing images (each device receives its own copy of the bundle).
for c in "$R"/components/*.img; do truncate -s 4096 "$c"; done
(cd "$R" && "$H" release create --description release.json --out release.bundle \
  --sign keys/vendor-1.key --sign keys/vendor-2.key >/dev/null)
head -c 4096 /dev/urandom >"$R/components/kernel.img"
sed -e 's/"version": "2.0.0"/"version": "2.1.0"/' -e 's/"release_counter": 2/"release_counter": 3/' \
  "$R/release.json" >"$R/release-2.1.0.json"
(cd "$R" && "$H" release create --description release-2.1.0.json --out release-2.1.0.bundle \
  --sign keys/vendor-1.key --sign keys/vendor-2.key >/dev/null)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/manufacturer.key" \
  -out "$work/manufacturer.pem" -days 30 -subj "/O=Simulated TPM Manufacturer/CN=Simulated EK Root CA" \
  2>/dev/null
"$H" server init --dir "$S" >/dev/null
"$H" server import-release --dir "$S" --trust-root "$R/trust-root" "$R/release.bundle" \
  "$R/release-2.1.0.bundle" >/dev/null
"$H" server run --dir "$S" --listen 127.0.0.1:0 --port-file "$S/port" \
  --manufacturer-ca "$work/manufacturer.pem" 2>"$S/server.log" &
server=$!
for _ in $(seq 100); do [[ -s "$S/port" ]] && break; sleep 0.1; done
[[ -s "$S/port" ]] || { cat "$S/server.log" >&2; exit 1; }

# Each device's connections (its own, and one to the PVE when apart) and
# the fleet's files: more than the default limit of open files.
ulimit -n "$(ulimit -Hn)"
/usr/bin/time -f "%M" -o "$work/fleet.rss" "$H" sim fleet --dir "$work/fleet" \
  --server "127.0.0.1:$(cat "$S/port")" --ca "$S/ca.pem" --oam-key "$S/oam.pub" \
  --trust-root "$R/trust-root" --bundle "$R/release.bundle" --manufacturer-ca "$work/manufacturer.pem" \
  --manufacturer-key "$work/manufacturer.key" --count "$DEVICES" --max-connections "$CONNECTIONS" --threads "$THREADS" \
  --files-in-memory --interval-ms 50 --idle-seconds 10 --timeout "$TIMEOUT" --ready-file "$work/fleet.ready" \
  >"$work/fleet.log" 2>&1 &
fleet=$!
while [[ ! -f "$work/fleet.ready" ]]; do
  kill -0 "$fleet" 2>/dev/null || { tail -20 "$work/fleet.log" >&2; exit 1; }
  sleep 0.2
done
start=$(date +%s.%N)
"$H" server update --dir "$S" --release-id henb-firmware --version 2.1.0 --all >/dev/null
# The campaign is done once every job has ended.
until "$H" server campaign status --dir "$S" 1 --json | grep -q '"state":"done"'; do
  kill -0 "$fleet" 2>/dev/null || { tail -20 "$work/fleet.log" >&2; exit 1; }
  sleep 0.5
done
end=$(date +%s.%N)
# The fleet then goes idle and exits.
wait "$fleet" || { tail -20 "$work/fleet.log" >&2; exit 1; }
fleet=""
updated=$(sed -n 's/.*devices run:.* 2\.1\.0 x\([0-9]*\).*/\1/p' "$work/fleet.log")
[[ "${updated:-0}" == "$DEVICES" ]] || {
  echo "fleet-update-https: ${updated:-0} of $DEVICES devices run 2.1.0" >&2
  tail -5 "$work/fleet.log" >&2
  exit 1
}
rate=$(awk -v n="$DEVICES" -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", n / (b - a) }')
rss_kb=$(cat "$work/fleet.rss")
detail="(devices updated end to end over HTTPS per second, $DEVICES devices, at most $CONNECTIONS connections;"
detail+=" from the jobs opened to the campaign done; fleet process peak memory $((rss_kb / 1024)) MiB,"
detail+=" $((rss_kb * 1024 / DEVICES)) bytes per device"
if [[ -n "${APPRAISAL_HTTPS:-}" ]]; then
  ref=$(awk -v a="$APPRAISAL_HTTPS" 'BEGIN { printf "%.1f", a / 2 }')
  echo "fleet-update-https ours=$rate reference=$ref" \
    "ratio=$(awk -v a="$rate" -v b="$ref" 'BEGIN { printf "%.3f", a / b }') $detail" \
    "; reference: half the appraisal-https rate of this run, an update costing two appraisals; target 0.5)"
else
  echo "fleet-update-https ours=$rate $detail)"
fi
