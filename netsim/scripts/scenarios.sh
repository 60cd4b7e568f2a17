#!/usr/bin/env bash
# Run netsim scenario files: directly when this host has IPVS and we are root, otherwise in a
# throwaway VM (virtme-ng, stock Debian kernel, TCG). Installs what is missing first.
# Usage: netsim/scripts/scenarios.sh [--expect-fail FILE]... [--reference DIR] FILE...
# Exit status: netsim's verdict (0 all hold, 1 some expectation failed, 2 error).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=
ensure_apt() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "netsim: installing ${missing[*]}" >&2
    if [ -z "$apt_updated" ]; then
        as_root apt-get update -q >&2
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2
}

ensure_apt iptables ipvsadm kmod
cargo build -q -p netsim
bin="$target/debug/netsim"

if "$bin" check-host >&2; then
    exec "$bin" run "$@"
fi

ensure_apt qemu-system-x86 linux-image-amd64 busybox-static
if ! command -v vng >/dev/null 2>&1; then
    echo "netsim: installing virtme-ng" >&2
    python3 -m pip install -q virtme-ng >&2
    hash -r
fi
mkdir -p "$root/.vm-results"
exec "$bin" vm --results "$root/.vm-results" -- run "$@"
