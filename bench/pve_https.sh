#!/usr/bin/env bash
# End-to-end appraisal over HTTPS: `henbtrust pve serve` and the load
# generator (bench/pve_load.cc) on this machine, a fleet of soft-TrE devices
# each on its own keep-alive mutual-TLS connection, each appraisal a push
# over the nonce that came with the device's previous result (one request).
# Run on SQLite, on SQLite with a nonce request before every push (two
# requests), and on a private PostgreSQL (default settings: fsync on); print
#   appraisal-https ours=<appraisals/s, SQLite> reference=<openssl speed -multi 2 ecdsap256 verify/s> ratio=...
#   appraisal-https-two-requests ours=<appraisals/s> ...
#   appraisal-https-postgres ours=<appraisals/s> reference=<appraisal-https, SQLite> ratio=...
#   appraisal-https-floor ours=<appraisals/s, SQLite> floor=<appraisals/s> ratio=...
# The floor is bench/https_floor.cc in place of the PVE: the same devices,
# connections and answer bytes, but per request only the appraisal's
# unavoidable work (SHA-256, one P-256 verify, one sign): what this machine
# could carry at best, so that the ratio says how much of it the PVE reaches.
# Each figure is the median of PVE_ROUNDS windows of PVE_SECONDS.
# Environment: BIN (build/bin), PVE_DEVICES (1000), PVE_SECONDS (5),
# PVE_ROUNDS (3), PVE_CONCURRENCY (64 appraisals in flight), PVE_LOAD_THREADS (1).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${BIN:-build/bin}")
DEVICES=${PVE_DEVICES:-1000}
SECS=${PVE_SECONDS:-5}
ROUNDS=${PVE_ROUNDS:-3}
CONCURRENCY=${PVE_CONCURRENCY:-64}
LOAD_THREADS=${PVE_LOAD_THREADS:-1}
PG_BIN=/usr/lib/postgresql/15/bin

work=$(mktemp -d)
chmod 755 "$work"
server=""
floor=""
pg_data=""
cleanup() {
  [[ -n "$server" ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  [[ -n "$floor" ]] && kill "$floor" 2>/dev/null && wait "$floor" 2>/dev/null
  if [[ -n "$pg_data" ]]; then
    as_pg "$PG_BIN/pg_ctl" -D "$pg_data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
as_pg() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# Dirty pages of earlier benchmarks (compare.sh writes a 512 MiB bundle)
# would be written back during the first run and slow it: flush them first.
sync
"$BIN/henbtrust" release example --out "$work/release" >/dev/null
"$BIN/henbtrust" pve init --dir "$work/pve" >/dev/null
"$BIN/pve_load" setup --work "$work"

# Starts the PVE on store $1, runs the load (further arguments go to the load
# generator), prints the load generator's line. With FLOOR=1 the devices
# enroll with the PVE but send their appraisals to https_floor.
run() {
  local store=$1
  shift
  local cpu_of
  rm -f "$work/port"
  "$BIN/henbtrust" pve import-release --dir "$work/pve" --store "$store" \
    --trust-root "$work/release/trust-root" "$work/release/release.bundle" >/dev/null
  "$BIN/henbtrust" pve serve --dir "$work/pve" --store "$store" --listen 127.0.0.1:0 \
    --port-file "$work/port" --manufacturer-ca "$work/manufacturer-ca.pem" >/dev/null 2>"$work/serve.log" &
  server=$!
  for _ in $(seq 100); do [[ -s "$work/port" ]] && break; sleep 0.1; done
  cpu_of=$server
  if [[ ${FLOOR:-0} == 1 ]]; then
    rm -f "$work/floor-port"
    "$BIN/https_floor" --cert "$work/pve/server.pem" --key "$work/pve/server.key" \
      --client-ca "$work/pve/client-ca.pem" --answer "$work/answer.json" --port-file "$work/floor-port" \
      >/dev/null &
    floor=$!
    for _ in $(seq 100); do [[ -s "$work/floor-port" ]] && break; sleep 0.1; done
    set -- --appraise-port "$(cat "$work/floor-port")" "$@"
    cpu_of=$floor
  fi
  "$BIN/pve_load" run --work "$work" --pve-dir "$work/pve" --port "$(cat "$work/port")" \
    --bundle "$work/release/release.bundle" --devices "$DEVICES" --seconds "$SECS" --rounds "$ROUNDS" \
    --concurrency "$CONCURRENCY" --threads "$LOAD_THREADS" --server-pid "$cpu_of" "$@" \
    2>"$work/load.log" ||
    { cat "$work/load.log" >&2; kill $server $floor; exit 1; }
  kill "$server"
  wait "$server" 2>/dev/null || true
  server=""
  if [[ -n "$floor" ]]; then
    kill "$floor"
    wait "$floor" 2>/dev/null || true
    floor=""
  fi
}
field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }

sqlite_line=$(run "sqlite:$work/pve.db" --save-answer "$work/answer.json")
floor_line=$(FLOOR=1 run "sqlite:$work/pve-floor.db")
two_line=$(run "sqlite:$work/pve-two.db" --fresh-nonce)

pg_line=""
if [[ -x "$PG_BIN/initdb" ]]; then
  pg_data="$work/pg/data"
  mkdir -p "$work/pg"
  [[ $(id -u) == 0 ]] && chown postgres: "$work/pg"
  as_pg "$PG_BIN/initdb" -D "$pg_data" -A trust -U henb >/dev/null
  # A random port may be taken: try a few.
  for _ in 1 2 3; do
    port=$((20000 + RANDOM % 30000))
    as_pg "$PG_BIN/pg_ctl" -D "$pg_data" -w -t 30 \
      -o "-p $port -k $work/pg -c listen_addresses=127.0.0.1 -c max_connections=200" \
      -l "$work/pg/log" start >/dev/null 2>&1 && break
    port=""
  done
  [[ -n "$port" ]] || { cat "$work/pg/log" >&2; exit 1; }
  pg_line=$(run "postgres:host=127.0.0.1 port=$port user=henb dbname=postgres")
fi

ref=$(openssl speed -multi 2 -seconds 3 ecdsap256 2>/dev/null | awk '/\(nistp256\)/ { print $NF }')
ours=$(field "$sqlite_line" rate)
echo "appraisal-https ours=${ours} reference=${ref} ratio=$(awk -v a="$ours" -v b="$ref" 'BEGIN { printf "%.3f", a / b }')" \
  "(appraisals/s over HTTPS, SQLite; $(field "$sqlite_line" devices) devices, p50 $(field "$sqlite_line" p50_ms) ms," \
  "p99 $(field "$sqlite_line" p99_ms) ms; reference: openssl speed -multi 2 ecdsap256 verify/s)"
# Where the machine's time goes: CPU microseconds per appraisal on each side.
echo "appraisal-https-cpu pve_user_us=$(field "$sqlite_line" server_user_us)" \
  "pve_sys_us=$(field "$sqlite_line" server_sys_us) load_user_us=$(field "$sqlite_line" load_user_us)" \
  "load_sys_us=$(field "$sqlite_line" load_sys_us) (CPU per appraisal in the SQLite run; the" \
  "load generator's includes its devices' quotes)"
echo "appraisal-https-two-requests ours=$(field "$two_line" rate) (appraisals/s over HTTPS, SQLite," \
  "a nonce request before every push; p50 $(field "$two_line" p50_ms) ms, p99 $(field "$two_line" p99_ms) ms)"
if [[ -n "$pg_line" ]]; then
  pg=$(field "$pg_line" rate)
  echo "appraisal-https-postgres ours=${pg} reference=${ours}" \
    "ratio=$(awk -v a="$pg" -v b="$ours" 'BEGIN { printf "%.3f", a / b }')" \
    "(appraisals/s over HTTPS, PostgreSQL with fsync on; p50 $(field "$pg_line" p50_ms) ms," \
    "p99 $(field "$pg_line" p99_ms) ms; reference: appraisal-https on SQLite in this run; target 0.8)"
fi
floor_rate=$(field "$floor_line" rate)
echo "appraisal-https-floor ours=${ours} floor=${floor_rate}" \
  "ratio=$(awk -v a="$ours" -v b="$floor_rate" 'BEGIN { printf "%.3f", a / b }')" \
  "(floor: bench/https_floor.cc instead of the PVE, the same fleet and answer bytes, only SHA-256," \
  "one P-256 verify and one sign per request; p50 $(field "$floor_line" p50_ms) ms;" \
  "floor CPU per appraisal user $(field "$floor_line" server_user_us) us, sys $(field "$floor_line" server_sys_us) us;" \
  "load generator user $(field "$floor_line" load_user_us) us, sys $(field "$floor_line" load_sys_us) us)"
