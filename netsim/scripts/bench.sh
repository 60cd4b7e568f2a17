#!/usr/bin/env bash
# Data-plane benchmark (`just bench-dataplane`): Swarm's masquerade vs dird vs nginx on the LB
# node, and dird with 1/64/255 load balancers, on netsim's fake swarm. Directly when this host
# has IPVS and we are root, otherwise in one throwaway VM (virtme-ng, stock Debian kernel, TCG).
# Installs what is missing first (nginx too: it only ever runs inside a netsim namespace).
# Usage: netsim/scripts/bench.sh [netsim bench options, e.g. --rounds 7 --seconds 5 --rows]
# Prints one table (figures, not verdicts); exit status 0 unless the bench could not run.
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
    # Debian's nginx package starts the service on install unless policy-rc.d forbids it: the
    # bench never wants nginx on this machine itself, so forbid it for this install if needed.
    local policy=/usr/sbin/policy-rc.d added=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
        as_root chmod 755 "$policy"
        added=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2 || { [ -n "$added" ] && as_root rm -f "$policy"; return 1; }
    if [ -n "$added" ]; then as_root rm -f "$policy"; fi
}

ensure_apt iptables ipvsadm kmod nginx
cargo build -q --release -p netsim
bin="$target/release/netsim"

if "$bin" check-host >&2; then
    exec "$bin" bench --machine "this host ($(hostname)), no VM" "$@"
fi

ensure_apt qemu-system-x86 linux-image-amd64 busybox-static
if ! command -v vng >/dev/null 2>&1; then
    echo "netsim: installing virtme-ng" >&2
    python3 -m pip install -q virtme-ng >&2
    hash -r
fi
mkdir -p "$root/.vm-results/bench"
exec "$bin" vm --results "$root/.vm-results/bench" -- bench --machine "throwaway VM (virtme-ng, qemu TCG, no KVM), 3 GiB" "$@"
