#!/usr/bin/env bash
# The main demonstration (make demo): the evidence foundation with both
# Trusted Environment backends (measured components, TPM 2.0 quotes verified
# by henbtrust and by tpm2-tools, tampered evidence rejected), signed
# releases, the device side of an update, and then the nine steps for a
# fleet: henbtrust server (OAM + PVE on SQLite) updating 50 simulated
# H(e)NBs, with a bundle tampered in transit, an implant caught at step 7
# and a device lying in its completion report caught at step 9; fleet
# operations, assured recovery, and a strongSwan security gateway that
# admits only H(e)NBs the PVE verifies (scripts/demo-segw.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
H=$(realpath "${HENBTRUST:-build/bin/henbtrust}")
OUT=${DEMO_DIR:-build/demo}
rm -rf "$OUT" && mkdir -p "$OUT/images"
OUT=$(realpath "$OUT")  # swtpm --daemon leaves the working directory
say() { printf '\n== %s\n' "$*"; }

say "Component images of one H(e)NB software configuration"
for c in bootloader kernel rootfs femto-stack; do
  head -c 65536 /dev/urandom >"$OUT/images/$c.img"
  printf '  %-12s sha256=%s\n' "$c" "$(sha256sum "$OUT/images/$c.img" | cut -c1-64)"
done
plan=(--measure "bootloader:2.1:$OUT/images/bootloader.img@0" --measure "kernel:5.10.1:$OUT/images/kernel.img@2"
      --measure "rootfs:1.4:$OUT/images/rootfs.img@3" --measure "femto-stack:7.0:$OUT/images/femto-stack.img@3")
nonce=$(head -c 32 /dev/urandom | xxd -p -c 64)

check_evidence() {  # $1 = evidence directory
  local d=$1
  printf '  henbtrust quote verify: '
  "$H" quote verify --ak-pub "$d/ak.pub" --nonce "$nonce" --message "$d/quote.msg" --signature "$d/quote.sig" \
    --pcr-values "$d/pcrs.bin" --eventlog "$d/eventlog.bin" --pcrs sha256:0,2,3
  printf '  tpm2_checkquote:        '
  if tpm2_checkquote -u "$d/ak.pub" -m "$d/quote.msg" -s "$d/quote.sig" -f "$d/pcrs.bin" -l sha256:0,2,3 \
      -g sha256 -q "$nonce" >/dev/null 2>&1; then echo "accepted"; else echo "REJECTED"; exit 1; fi
  printf '  tpm2_eventlog reads our log to the same PCR values: '
  local ours theirs
  ours=$("$H" eventlog replay "$d/eventlog.bin" | pcr_lines)
  theirs=$(tpm2_eventlog "$d/eventlog.bin" 2>/dev/null | sed -n '/^pcrs:/,$p' | pcr_lines)
  if [ -n "$ours" ] && [ "$ours" = "$theirs" ]; then echo "yes"; else echo "NO"; exit 1; fi
}
# "bank pcr value" lines from either tool's text output, lower case
pcr_lines() {
  awk '/^ *[a-z0-9]+:$/ { bank = $1 } /: 0x/ { gsub(/ /, ""); split($0, a, ":"); print bank, a[1], tolower(a[2]) }'
}

say "1. Soft TrE (in-process, as the fleet simulator uses it)"
"$H" tre attest --backend soft --state "$OUT/soft-tre.state" "${plan[@]}" --pcrs sha256:0,2,3 \
  --nonce "$nonce" --out "$OUT/soft" | sed 's/^/  /'
check_evidence "$OUT/soft"
echo "  event log:"
"$H" eventlog show "$OUT/soft/eventlog.bin" | sed 's/^/    /' | cut -c1-110

say "2. TPM 2.0 (swtpm through tss2-esys: EK, AK under the EK, PCR extends, TPM2_Quote)"
# Two ports (swtpm and its control channel), below the ephemeral range.
port=$((20000 + RANDOM % 500 * 2))
mkdir -p "$OUT/swtpm"
swtpm socket --tpm2 --tpmstate dir="$OUT/swtpm" --server type=tcp,port=$port,bindaddr=127.0.0.1 \
  --ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 --flags not-need-init,startup-clear \
  --daemon --pid file="$OUT/swtpm/pid"
trap 'kill "$(cat "$OUT/swtpm/pid" 2>/dev/null)" 2>/dev/null || true' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$((port + 1))) 2>/dev/null && break; sleep 0.1; done
"$H" tre attest --backend tpm --tcti "swtpm:host=127.0.0.1,port=$port" --swtpm-control "127.0.0.1:$((port + 1))" \
  "${plan[@]}" --pcrs sha256:0,2,3 --nonce "$nonce" --out "$OUT/tpm" | sed 's/^/  /'
check_evidence "$OUT/tpm"

say "3. Same software, same TIM on both backends (pcrDigest of the quotes)"
tim() { tpm2_print -t TPMS_ATTEST "$1/quote.msg" | awk '/pcrDigest/ { print $2 }'; }
echo "  soft TrE: $(tim "$OUT/soft")"
echo "  swtpm:    $(tim "$OUT/tpm")"
[ "$(tim "$OUT/soft")" = "$(tim "$OUT/tpm")" ] || { echo "  TIMs differ"; exit 1; }

say "4. Tampered evidence is rejected, each with its own code"
bad="$OUT/tampered" && mkdir -p "$bad"
cp "$OUT/tpm/"* "$bad/"
run_bad() {  # description, then extra arguments replacing the good ones
  local what=$1; shift
  printf '  %-34s ' "$what:"
  "$H" quote verify --ak-pub "$bad/ak.pub" --message "$bad/quote.msg" --signature "$bad/quote.sig" "$@" && exit 1 || true
}
run_bad "replayed with another nonce" --nonce "$(head -c 32 /dev/urandom | xxd -p -c 64)"
printf '\xff' | dd of="$bad/pcrs.bin" bs=1 seek=40 conv=notrunc status=none
run_bad "PCR values altered" --nonce "$nonce" --pcr-values "$bad/pcrs.bin"
# A log that claims a different kernel than the one measured.
cp "$OUT/images/kernel.img" "$OUT/images/kernel-claimed.img" && printf 'x' >>"$OUT/images/kernel-claimed.img"
"$H" tre attest --backend soft "${plan[@]/kernel.img/kernel-claimed.img}" --out "$OUT/claimed" >/dev/null
run_bad "event log naming another kernel" --nonce "$nonce" --eventlog "$OUT/claimed/eventlog.bin"
cp "$OUT/tpm/quote.msg" "$bad/quote.msg" && printf '\x01' | dd of="$bad/quote.msg" bs=1 seek=80 conv=notrunc status=none
run_bad "quote body altered" --nonce "$nonce"

say "5. A signed release: k-of-n vendor signatures, RIMs, expected TIM"
"$H" release example --out "$OUT/release" | sed 's/^/  /'
"$H" release inspect "$OUT/release/release.bundle" | sed 's/^/  /'
printf '  verify:                         '
"$H" release verify "$OUT/release/release.bundle" --trust "$OUT/release/trust-root" --hardware femto-a1 --floor 2
rel_bad() {
  local what=$1; shift
  printf '  %-31s ' "$what:"
  "$H" release verify "$@" --trust "$OUT/release/trust-root" && exit 1 || true
}
cp "$OUT/release/release.bundle" "$OUT/release/tampered.bundle"
printf '\x42' | dd of="$OUT/release/tampered.bundle" bs=1 seek=300000 conv=notrunc status=none
rel_bad "tampered in transit" "$OUT/release/tampered.bundle"
rel_bad "older than the device's floor" "$OUT/release/release.bundle" --floor 3
rel_bad "for other hardware" "$OUT/release/release.bundle" --hardware femto-z9
(cd "$OUT/release" && "$H" release create --description release.json --out one-signature.bundle \
  --sign keys/vendor-1.key >/dev/null)
rel_bad "one vendor signature of two" "$OUT/release/one-signature.bundle"

say "6. Steps 6 and 7 on a device: install, trial boot, TIM check, commit; and a caught implant"
R="$OUT/release"
D="$OUT/device"
"$H" device provision --dir "$D" --hardware femto-a1 --bundle "$R/release.bundle" --trust "$R/trust-root" | sed 's/^/  /'
next_release() {  # version counter: a release whose kernel differs from the previous one
  head -c 4096 /dev/urandom >>"$R/components/kernel.img"
  sed -e "s/\"version\": \"2.0.0\"/\"version\": \"$1\"/" -e "s/\"release_counter\": 2/\"release_counter\": $2/" \
    "$R/release.json" >"$R/release-$1.json"
  (cd "$R" && "$H" release create --description "release-$1.json" --out "release-$1.bundle" \
    --sign keys/vendor-1.key --sign keys/vendor-2.key >/dev/null)
}
next_release 2.1.0 3
"$H" device install --dir "$D" --bundle "$R/release-2.1.0.bundle" --trust "$R/trust-root" | sed 's/^/  /'
"$H" device boot --dir "$D" | sed 's/^/  /'
"$H" device commit --dir "$D" | sed 's/^/  /'
next_release 2.2.0 4
"$H" device install --dir "$D" --bundle "$R/release-2.2.0.bundle" --trust "$R/trust-root" | sed 's/^/  /'
echo "  (an attacker or a flash fault changes the freshly installed kernel in slot a)"
printf 'implant' >>"$D/slots/a/kernel.img"
"$H" device boot --dir "$D" | sed 's/^/  /'
"$H" device status --dir "$D" | sed 's/^/  /'
printf '  the old release, offered again:  '
"$H" device install --dir "$D" --bundle "$R/release.bundle" --trust "$R/trust-root" 2>&1 && exit 1 || true

say "7. The nine steps for a fleet: henbtrust server (OAM + PVE, SQLite), 50 simulated H(e)NBs and one on swtpm"
S="$OUT/server"
"$H" server init --dir "$S" >/dev/null
echo "  a simulated TPM manufacturer CA certifies each device's EK at the factory"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$OUT/manufacturer.key" \
  -out "$OUT/manufacturer.pem" -days 3650 -subj "/O=Simulated TPM Manufacturer/CN=Simulated EK Root CA" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
"$H" server import-release --dir "$S" --trust-root "$R/trust-root" "$R/release.bundle" "$R/release-2.1.0.bundle" |
  sed 's/^/  /'
echo "  one more H(e)NB has a TPM (swtpm): its vendor certified its EK at manufacture (swtpm_setup + swtpm_localca)"
TS="$OUT/swtpm-henb"
mkdir -p "$TS/ca" "$TS/certs"
printf 'statedir = %s\nsigningkey = %s/signkey.pem\nissuercert = %s/issuercert.pem\ncertserial = %s/certserial\n' \
  "$TS/ca" "$TS/ca" "$TS/ca" "$TS/ca" >"$TS/localca.conf"
printf -- '--platform-manufacturer henbtrust-demo\n--platform-model swtpm\n--platform-version 1\n' >"$TS/localca.options"
printf 'create_certs_tool = /usr/bin/swtpm_localca\ncreate_certs_tool_config = %s\ncreate_certs_tool_options = %s\n' \
  "$TS/localca.conf" "$TS/localca.options" >"$TS/setup.conf"
swtpm_setup --tpm2 --tpmstate "$TS" --config "$TS/setup.conf" --create-ek-cert --write-ek-cert-files "$TS/certs" \
  --overwrite >"$TS/setup.log" 2>&1
cat "$TS/ca/issuercert.pem" "$TS/ca/swtpm-localca-rootca-cert.pem" >"$OUT/swtpm-vendor.pem"
# Three ports from tport on (swtpm, its control channel, the agent): below
# the kernel's ephemeral range (32768 and up), where an outgoing connection
# of this machine could hold one of them.
tport=$((21000 + RANDOM % 3900 * 3))
swtpm socket --tpm2 --tpmstate dir="$TS" --server type=tcp,port=$tport,bindaddr=127.0.0.1 \
  --ctrl type=tcp,port=$((tport + 1)),bindaddr=127.0.0.1 --flags not-need-init,startup-clear --daemon \
  --pid file="$TS/swtpm.pid" --log file="$TS/swtpm.log"
TCTI="swtpm:host=127.0.0.1,port=$tport"
"$H" device provision --dir "$OUT/henb-tpm" --hardware femto-a1 --bundle "$R/release.bundle" --trust "$R/trust-root" \
  --tcti "$TCTI" --swtpm-control "127.0.0.1:$((tport + 1))" | sed 's/^/  /'
"$H" server run --dir "$S" --listen 127.0.0.1:0 --port-file "$S/port" \
  --manufacturer-ca "$OUT/manufacturer.pem" --manufacturer-ca "$OUT/swtpm-vendor.pem" 2>"$S/server.log" &
server_pid=$!
# Replaces the trap of section 2, so that one stops its swtpm too.
trap 'kill $server_pid 2>/dev/null || true; kill $(cat "$TS/swtpm.pid") $(cat "$OUT/swtpm/pid") 2>/dev/null || true' EXIT
for _ in $(seq 100); do [[ -s "$S/port" ]] && break; sleep 0.1; done
echo "  henbtrust server listening on 127.0.0.1:$(cat "$S/port"); 50 devices on release 2.0.0 enroll"
echo "  (henb-0007: its download is altered in transit; henb-0013: an implant in the installed kernel;"
echo "   henb-0021: the same implant, and it then claims the install succeeded)"
"$H" sim fleet --dir "$OUT/fleet" --server "127.0.0.1:$(cat "$S/port")" --ca "$S/ca.pem" --oam-key "$S/oam.pub" \
  --trust-root "$R/trust-root" --bundle "$R/release.bundle" --manufacturer-ca "$OUT/manufacturer.pem" \
  --manufacturer-key "$OUT/manufacturer.key" --count 50 --ready-file "$OUT/fleet.ready" --timeout 90 --idle-seconds 5 \
  --tamper-download henb-0007 --implant henb-0013 --lie henb-0021 >"$OUT/fleet.log" 2>&1 &
fleet_pid=$!
"$H" agent run --dir "$OUT/henb-tpm" --server "127.0.0.1:$(cat "$S/port")" --ca "$S/ca.pem" --oam-key "$S/oam.pub" \
  --trust-root "$R/trust-root" --device-id henb-tpm-01 --ek-cert "$TS/certs/ek-rsa2048.crt" --tcti "$TCTI" \
  --swtpm-control "127.0.0.1:$((tport + 1))" --listen "127.0.0.1:$((tport + 2))" --interval-ms 200 --until-idle \
  --timeout 90 >"$OUT/tpm-agent.log" 2>&1 &
agent_pid=$!
for _ in $(seq 600); do grep -q '^enrolled' "$OUT/tpm-agent.log" || ! kill -0 $agent_pid 2>/dev/null && break; sleep 0.1; done
grep -q '^enrolled' "$OUT/tpm-agent.log" || { cat "$OUT/tpm-agent.log"; exit 1; }
printf '  pull mode: the PVE sends the TPM H(e)NB an integrity request and appraises its quote: '
pulled=$(curl -s --cacert "$S/ca.pem" --cert "$S/operator.pem" --key "$S/operator.key" -X POST \
  "https://127.0.0.1:$(cat "$S/port")/v1/devices/henb-tpm-01/appraisals") || pulled=""
sed -n 's/.*"status":"\([a-z]*\)","submods".*/\1/p' <<<"$pulled"
for _ in $(seq 600); do [[ -f "$OUT/fleet.ready" ]] || ! kill -0 $fleet_pid 2>/dev/null && break; sleep 0.1; done
[[ -f "$OUT/fleet.ready" ]] || { cat "$OUT/fleet.log"; exit 1; }
sed 's/^/  /' "$OUT/fleet.log"
echo "  step 1: the operator opens an update job to 2.1.0 for every device"
"$H" server update --dir "$S" --release-id henb-firmware --version 2.1.0 --all | sed 's/^/  /'
# A campaign's state, once it is $2 (the server's driver moves it).
campaign_reaches() {
  for _ in $(seq 900); do
    "$H" server campaign status --dir "$S" "$1" --json | grep -q "\"state\":\"$2\"" && return 0
    sleep 0.1
  done
  "$H" server campaign status --dir "$S" "$1"
  return 1
}
campaign_reaches 1 done
"$H" server campaign status --dir "$S" 1 | sed 's/^/  /'

say "8. Fleet operations: a revocation that leads to recovery, and a campaign that stops itself"
decision() {  # the SeGW's question, asked with the operator's certificate
  curl -s --cacert "$S/ca.pem" --cert "$S/operator.pem" --key "$S/operator.key" \
    "https://127.0.0.1:$(cat "$S/port")/v1/devices/$1/access-decision" |
    sed -n 's/.*"decision":"\([a-z]*\)","device_id":"[^"]*","reason":"\([^"]*\)".*/\1: \2/p'
}
echo "  still on 2.0.0: $("$H" server inventory --dir "$S" | awk '$3 == "henb-firmware" && $4 == "2.0.0" {print $1}' | xargs)"
echo "  a vulnerability is found in 2.0.0; the operator revokes it, naming 2.1.0 as the safe release:"
"$H" server revoke --dir "$S" --release-id henb-firmware --version 2.0.0 --safe-version 2.1.0 \
  --reason "CVE-2026-0042: remote code execution in the femto stack" | sed 's/^/  /'
echo "  the SeGW's access decision for henb-0013, at once: $(decision henb-0013)"
campaign_reaches 2 done
"$H" server campaign status --dir "$S" 2 | sed 's/^/  /'
echo "  the access decision for henb-0013 now: $(decision henb-0013)"
echo "  a release built for another hardware model (femto-b2) is rolled out to the whole fleet by mistake,"
echo "  in batches of 10 that pause the campaign above 10% failures:"
sed -e 's/"version": "2.0.0"/"version": "2.3.0"/' -e 's/"release_counter": 2/"release_counter": 5/' \
  -e 's/"femto-a1"/"femto-b2"/' -e 's/"femto-a2"/"femto-b3"/' "$R/release.json" >"$R/release-2.3.0.json"
(cd "$R" && "$H" release create --description release-2.3.0.json --out release-2.3.0.bundle \
  --sign keys/vendor-1.key --sign keys/vendor-2.key >/dev/null)
"$H" server import-release --dir "$S" --trust-root "$R/trust-root" "$R/release-2.3.0.bundle" | sed 's/^/  /'
c=$("$H" server campaign create --dir "$S" --release-id henb-firmware --version 2.3.0 --batch 10 \
  --max-failures 10 | awk '{print $2}')
campaign_reaches "$c" paused
"$H" server campaign status --dir "$S" "$c" | sed 's/^/  /'
wait $fleet_pid || { cat "$OUT/fleet.log"; exit 1; }
wait $agent_pid || { cat "$OUT/tpm-agent.log"; exit 1; }
echo "  the H(e)NB with the TPM (henbtrust agent run --tcti ...):"
sed 's/^/    /' "$OUT/tpm-agent.log"
echo "  what the devices did (the 47 clean updates abridged):"
grep -v -e 'install: trial boot matched' -e 'commit: 2.1.0' "$OUT/fleet.log" | tail -n +2 | sed 's/^/  /'
kill $server_pid && wait $server_pid 2>/dev/null || true
kill "$(cat "$TS/swtpm.pid")" "$(cat "$OUT/swtpm/pid")" 2>/dev/null || true
trap - EXIT

say "Report: each device's outcome, from the OAM's database"
"$H" server status --dir "$S" --history henb-0007 --history henb-0013 --history henb-0021 |
  awk '!/^[0-9]/ || /henb-00(07|13|21) / || /henb-tpm/' | sed 's/^/  /'
echo "  every job:        $H server status --dir $S"
echo "  the database:     sqlite3 $S/henbtrust.db 'select seq, actor, subject, event, detail from audit'"

say "9. Assured recovery: a hostile OS is brought back by the watchdog, and an OAM outage is ridden out"
W="$OUT/watchdog"
"$H" server init --dir "$W" >/dev/null
"$H" server import-release --dir "$W" --trust-root "$R/trust-root" "$R/release.bundle" >/dev/null
echo "  each device's boot stage holds the OAM's ticket key and resets it into its recovery image"
echo "  unless the OAM defers it with a signed ticket; tickets here last 6 s (a day, in the field)"
run_watchdog_server() {  # $1: listen address
  "$H" server run --dir "$W" --listen "$1" --port-file "$W/port" --ticket-period 6 \
    --manufacturer-ca "$OUT/manufacturer.pem" 2>>"$W/server.log" &
  wserver_pid=$!
  for _ in $(seq 100); do [[ -s "$W/port" ]] && break; sleep 0.1; done
}
rm -f "$W/port"
run_watchdog_server 127.0.0.1:0
wport=$(cat "$W/port")
wfleet_pid=""
trap 'kill $wserver_pid $wfleet_pid 2>/dev/null || true' EXIT
echo "  10 devices enroll; henb-w-0004's OS is taken over at once: a component changes, and from"
echo "  then on it ignores every command (no poll, no ticket, no remediation job)"
"$H" sim fleet --dir "$OUT/watchdog-fleet" --server "127.0.0.1:$wport" --ca "$W/ca.pem" --oam-key "$W/oam.pub" \
  --trust-root "$R/trust-root" --bundle "$R/release.bundle" --manufacturer-ca "$OUT/manufacturer.pem" \
  --manufacturer-key "$OUT/manufacturer.key" --count 10 --prefix henb-w --ticket-period 6 --compromise henb-w-0004 \
  --timeout 120 --idle-seconds 4 >"$W/fleet.log" 2>&1 &
wfleet_pid=$!
for _ in $(seq 300); do grep -q 'henb-w-0004: recovery: left recovery' "$W/fleet.log" && break; sleep 0.1; done
grep 'henb-w-0004' "$W/fleet.log" | sed 's/^/  /'
echo "  the OAM stops for 20 s, more than three ticket periods"
kill $wserver_pid && wait $wserver_pid 2>/dev/null || true
sleep 20
echo "  ... and comes back:"
run_watchdog_server "127.0.0.1:$wport"
wait $wfleet_pid || { cat "$W/fleet.log"; exit 1; }
echo "  what the devices did meanwhile (one device shown; every one did the same):"
grep 'henb-w-0007' "$W/fleet.log" | grep -v -e 'ticket: deferred' -e ': net.error' -e 'watchdog: net.error' \
  -e 'net.http-status' | sed 's/^/  /'
printf '  resets per device (one in the outage; henb-w-0004 one more, for its compromise): '
for f in "$OUT"/watchdog-fleet/henb-w-*/boot-stage/state.json; do sed -n 's/.*"resets": \([0-9]*\).*/\1/p' "$f"; done |
  sort | uniq -c | awk '{printf "%s device(s) %s reset(s); ", $1, $2}'
echo
tail -2 "$W/fleet.log" | sed 's/^/  /'
"$H" server inventory --dir "$W" | sed 's/^/  /'
echo "  the audit log's watchdog entries (GET /v1/audit), by kind:"
curl -s --cacert "$W/ca.pem" --cert "$W/operator.pem" --key "$W/operator.key" \
  "https://127.0.0.1:$wport/v1/audit?limit=1000" | grep -o '"event":"device [^"]*"' |
  sed 's/"event":"\([^"]*\)"/\1/' | sort | uniq -c | sed 's/^/   /'
kill $wserver_pid && wait $wserver_pid 2>/dev/null || true
trap - EXIT

say "10. Quarantine at a real security gateway: strongSwan admits only H(e)NBs that verify"
bash scripts/demo-segw.sh "$H" "$OUT" "$R"

say "Done. Evidence files are in $OUT/{soft,tpm}, the release example in $OUT/release, the device in $OUT/device, the server in $OUT/server"
