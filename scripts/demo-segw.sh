#!/usr/bin/env bash
# The demonstration's gateway section (scripts/demo.sh runs it; docs/segw.md):
# strongSwan's charon as the security gateway in one network namespace and
# three H(e)NBs with their own charons in others, joined by veth pairs. The
# gateway's updown hook admits only devices the PVE verifies; segw-watch cuts
# the tunnel of a device that stops verifying. Needs root (namespaces);
# otherwise it says why and skips.
# Usage: demo-segw.sh HENBTRUST OUT RELEASE_DIR   (RELEASE_DIR from demo.sh:
# trust-root, release.bundle, release-2.1.0.bundle; OUT holds manufacturer.*)
set -euo pipefail
H=$1 OUT=$2 R=$3
ROOT=$(cd "$(dirname "$0")/.." && pwd)
DEPLOY="$ROOT/deploy/strongswan"
G="$OUT/segw"

why=""
if [[ $(id -u) -ne 0 ]]; then why="needs root for network namespaces"
elif [[ ! -x /usr/lib/ipsec/charon ]] || ! command -v swanctl >/dev/null; then
  why="needs strongSwan (scripts/install-deps.sh installs strongswan-charon and strongswan-swanctl)"
elif ! ip netns add "hbd$$probe" 2>/dev/null; then why="cannot make network namespaces here"
else ip netns delete "hbd$$probe"; fi
if [[ -n "$why" ]]; then
  echo "  skipped: $why"
  exit 0
fi

NS="hbd$$"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for n in segw henb1 henb2 henb3; do ip netns delete "$NS$n" 2>/dev/null || true; done
}
trap cleanup EXIT
rm -rf "$G" && mkdir -p "$G"
render() {  # TEMPLATE KEY=VALUE...: deploy/strongswan/TEMPLATE.in with @KEY@ replaced
  local text
  text=$(cat "$DEPLOY/$1.in")
  shift
  for kv in "$@"; do text=${text//@${kv%%=*}@/${kv#*=}}; done
  printf '%s\n' "$text"
}
charon() {  # NAMESPACE DIR: charon with its own /run, log and vici socket in DIR
  render strongswan.conf "DIR=$2" "KERNEL=kernel-libipsec kernel-netlink" >"$2/strongswan.conf"
  ip netns exec "$1" sh -c "mount -t tmpfs none /run && exec env STRONGSWAN_CONF=$2/strongswan.conf \
    /usr/lib/ipsec/charon" >"$2/charon.out" 2>&1 &
  pids+=("$!")
  for _ in $(seq 100); do [[ -S "$2/charon.vici" ]] && break; sleep 0.1; done
  STRONGSWAN_CONF="$2/strongswan.conf" SWANCTL_DIR="$2/swanctl" swanctl --load-all --uri "unix://$2/charon.vici" \
    >"$2/load.log" 2>&1
}
swan() {  # DIR ARGS...: swanctl against the charon of DIR
  local d=$1
  shift
  STRONGSWAN_CONF="$d/strongswan.conf" SWANCTL_DIR="$d/swanctl" swanctl "$@" --uri "unix://$d/charon.vici"
}

echo "  the gateway's namespace and one per H(e)NB, each H(e)NB on its own veth pair to the gateway"
ip netns add "${NS}segw"
ip -n "${NS}segw" link set lo up
ip -n "${NS}segw" addr add 10.250.0.1/32 dev lo
for i in 1 2 3; do
  ip netns add "${NS}henb$i"
  ip -n "${NS}henb$i" link set lo up
  ip link add "hds$$x$i" type veth peer name "hdh$$x$i"
  ip link set "hds$$x$i" netns "${NS}segw"
  ip link set "hdh$$x$i" netns "${NS}henb$i"
  ip -n "${NS}segw" addr add "10.77.$i.1/30" dev "hds$$x$i"
  ip -n "${NS}henb$i" addr add "10.77.$i.2/30" dev "hdh$$x$i"
  ip -n "${NS}segw" link set "hds$$x$i" up
  ip -n "${NS}henb$i" link set "hdh$$x$i" up
done

echo "  henbtrust server (OAM + PVE) in the gateway's namespace; three H(e)NBs on 2.0.0 enroll"
S="$G/server"
"$H" server init --dir "$S" >/dev/null
"$H" server import-release --dir "$S" --trust-root "$R/trust-root" "$R/release.bundle" "$R/release-2.1.0.bundle" \
  "$R/release-2.2.0.bundle" >/dev/null
ip netns exec "${NS}segw" "$H" server run --dir "$S" --listen 127.0.0.1:0 --port-file "$S/port" \
  --manufacturer-ca "$OUT/manufacturer.pem" 2>"$S/server.log" &
pids+=("$!")
for _ in $(seq 100); do [[ -s "$S/port" ]] && break; sleep 0.1; done
PVE="127.0.0.1:$(cat "$S/port")"
# The devices keep polling until 30 s pass without work: long enough for the
# campaigns below.
ip netns exec "${NS}segw" "$H" sim fleet --dir "$G/fleet" --server "$PVE" --ca "$S/ca.pem" --oam-key "$S/oam.pub" \
  --trust-root "$R/trust-root" --bundle "$R/release.bundle" --manufacturer-ca "$OUT/manufacturer.pem" \
  --manufacturer-key "$OUT/manufacturer.key" --count 3 --prefix henb-g --keep-credentials \
  --ready-file "$G/fleet.ready" --idle-seconds 30 --timeout 120 >"$G/fleet.log" 2>&1 &
fleet_pid=$!
pids+=("$fleet_pid")
for _ in $(seq 300); do [[ -f "$G/fleet.ready" ]] && break; sleep 0.1; done

echo "  the gateway: charon with henbtrust-updown, which asks the PVE (henbtrust segw-check) about each tunnel"
mkdir -p "$G/gw/swanctl/x509" "$G/gw/swanctl/private" "$G/gw/swanctl/x509ca"
cp "$S/segw.pem" "$G/gw/swanctl/x509/"
cp "$S/segw.key" "$G/gw/swanctl/private/"
cp "$S/client-ca.pem" "$G/gw/swanctl/x509ca/"
render segw.env "HENBTRUST=$H" "PVE=$PVE" "CA=$S/ca.pem" "CERT=$S/segw.pem" "KEY=$S/segw.key" \
  "SWANCTL_URI=unix://$G/gw/charon.vici" "MAX_AGE=3600" "LOG=$G/updown.log" >"$G/segw.env"
render segw-swanctl.conf "SEGW_ADDRESS=0.0.0.0" "CORE_NETWORK=10.250.0.1/32" "UPDOWN=$DEPLOY/henbtrust-updown" \
  "SETTINGS=$G/segw.env" "INNER_POOL=10.251.0.0/24" >"$G/gw/swanctl/swanctl.conf"
charon "${NS}segw" "$G/gw"
for i in 1 2 3; do
  d="$G/henb$i"
  mkdir -p "$d/swanctl/x509" "$d/swanctl/private" "$d/swanctl/x509ca"
  cp "$G/fleet/henb-g-000$i/device.pem" "$d/swanctl/x509/"
  cp "$G/fleet/henb-g-000$i/device.key" "$d/swanctl/private/"
  cp "$G/fleet/henb-g-000$i/client-ca.pem" "$d/swanctl/x509ca/"
  render henb-swanctl.conf "SEGW_ADDRESS=10.77.$i.1" "CORE_NETWORK=10.250.0.1/32" >"$d/swanctl/swanctl.conf"
  charon "${NS}henb$i" "$d"
done
gw_tunnels() { STRONGSWAN_CONF="$G/gw/strongswan.conf" "$DEPLOY/henbtrust-tunnels" "$@" "unix://$G/gw/charon.vici"; }
holds() { gw_tunnels list | grep -c " $1\$" || true; }
tunnels() {  # which devices the gateway holds a tunnel for
  local out=""
  for i in 1 2 3; do [[ $(holds "henb-g-000$i") -gt 0 ]] && out+=" henb-g-000$i"; done
  echo "${out:- none}"
}

connect_all() {
  : >"$G/updown.log"
  for i in 1 2 3; do swan "$G/henb$i" --initiate --child core --timeout 20 >/dev/null 2>&1 || true; done
  sleep 0.3
  grep -v -e ': down$' -e 'deleting (segw-check' "$G/updown.log" | sed 's/^[^ ]* \(.*\)/    \1/'
}
campaign_done() {
  for _ in $(seq 900); do
    "$H" server campaign status --dir "$S" "$1" --json 2>/dev/null | grep -q '"state":"done"' && return 0
    sleep 0.1
  done
  return 1
}
echo "  every H(e)NB connects with the device certificate of its enrollment (IKEv2); none was appraised yet:"
connect_all
echo "  the operator updates the three to 2.1.0; step 9 appraises each on its new release"
"$H" server update --dir "$S" --release-id henb-firmware --version 2.1.0 --all >/dev/null
campaign_done 1
echo "  they connect again:"
connect_all
reach() {  # whether H(e)NB $1 reaches the core host 10.250.0.1 (an answer, even a refusal, counts)
  local err
  err=$(ip netns exec "${NS}henb$1" timeout 3 bash -c 'exec 3<>/dev/tcp/10.250.0.1/9' 2>&1) ||
    [[ $err == *refused* ]] && echo "reaches the core network" && return
  echo "does not reach the core network (${err##*: })"
}
echo "  tunnels at the gateway:$(tunnels)"
for i in 1 2 3; do echo "    henb-g-000$i $(reach $i)"; done

echo "  segw-watch lists charon's tunnels every 2 s and asks about each device again;"
echo "  the operator decommissions henb-g-0003 (stolen):"
ip netns exec "${NS}segw" env STRONGSWAN_CONF="$G/gw/strongswan.conf" \
  "$H" segw-watch --pve "$PVE" --ca "$S/ca.pem" --cert "$S/segw.pem" --key "$S/segw.key" \
  --interval 2 --list-command "$DEPLOY/henbtrust-tunnels list unix://$G/gw/charon.vici" \
  --cut-command "$DEPLOY/henbtrust-tunnels cut unix://$G/gw/charon.vici" >"$G/watch.log" 2>&1 &
pids+=("$!")
sleep 0.5
"$H" server decommission --dir "$S" --device henb-g-0003 --reason "reported stolen" >/dev/null
start=$(date +%s%N)
for _ in $(seq 100); do [[ $(holds henb-g-0003) -eq 0 ]] && break; sleep 0.1; done
echo "    cut after $(( ($(date +%s%N) - start) / 1000000 )) ms; tunnels at the gateway:$(tunnels)"
echo "  a vulnerability in 2.1.0: the operator revokes it, naming 2.2.0 as the safe release"
echo "  (the simulated fleet is held for a moment with SIGSTOP, so that the cut comes before the fix)"
kill -STOP "$fleet_pid"
"$H" server revoke --dir "$S" --release-id henb-firmware --version 2.1.0 --safe-version 2.2.0 \
  --reason "CVE-2026-0042" >/dev/null
start=$(date +%s%N)
for _ in $(seq 100); do [[ $(holds henb-g-0001) -eq 0 && $(holds henb-g-0002) -eq 0 ]] && break; sleep 0.1; done
echo "    cut after $(( ($(date +%s%N) - start) / 1000000 )) ms; tunnels at the gateway:$(tunnels)"
sed -n 's/^cut /    segw-watch: cut /p' "$G/watch.log"
for i in 1 2 3; do echo "    henb-g-000$i $(reach $i)"; done
kill -CONT "$fleet_pid"
echo "  the revocation's campaign reinstalls 2.2.0 on both (step 9 appraises each afresh); all three try again:"
campaign_done 2
connect_all
echo "  tunnels at the gateway:$(tunnels)"
for i in 1 2 3; do echo "    henb-g-000$i $(reach $i)"; done
echo "  the gateway's decisions in the audit log (GET /v1/audit):"
ip netns exec "${NS}segw" curl -s --cacert "$S/ca.pem" --cert "$S/operator.pem" --key "$S/operator.key" \
  "https://$PVE/v1/audit?limit=1000" | grep -o '"detail":"[^"]*","event":"access [a-z]*"' |
  sed 's/"detail":"\([^"]*\)","event":"\([^"]*\)"/    \2: \1/'
