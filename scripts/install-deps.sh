#!/usr/bin/env bash
# Installs every Debian 12 package that henbtrust's build, tests, benchmarks
# and demo need. Idempotent and non-interactive; run as root (or via sudo).
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config ccache clang libclang-rt-14-dev clang-format clang-tidy
  # libraries
  libssl-dev libtss2-dev libboost-dev libboost-system-dev nlohmann-json3-dev
  libsqlite3-dev libpq-dev libcli11-dev libspdlog-dev libfmt-dev libjemalloc-dev libtomlplusplus-dev
  zlib1g-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  # tools the tests, demo and benchmarks drive
  openssl swtpm swtpm-tools tpm2-tools sqlite3 postgresql rauc squashfs-tools xxd time curl gnuplot-nox
  # the security gateway of the quarantine test and demo (docs/segw.md): charon, swanctl,
  # kernel-libipsec (extra plugins) and ECDSA through OpenSSL (standard plugins)
  strongswan-charon strongswan-swanctl libcharon-extra-plugins libstrongswan-standard-plugins iproute2
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
