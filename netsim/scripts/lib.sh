# Shared by netsim's scripts: root, the repo, apt installs that never start a service here, and
# the VM's tools. Source it; it sets $root (repo) and $target (cargo target dir) and cds to $root.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=
# ensure_apt PKG...: install what is missing. Packaged services (nginx) are never started on
# this machine: a policy-rc.d forbids it for the install when none exists.
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
    local policy=/usr/sbin/policy-rc.d added=
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | as_root tee "$policy" >/dev/null
        as_root chmod 755 "$policy"
        added=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >&2 || { [ -n "$added" ] && as_root rm -f "$policy"; return 1; }
    if [ -n "$added" ]; then as_root rm -f "$policy"; fi
}

# ensure_vm_tools: what the throwaway VM needs (stock kernel, qemu, busybox, virtme-ng).
ensure_vm_tools() {
    ensure_apt qemu-system-x86 linux-image-amd64 busybox-static
    if ! command -v vng >/dev/null 2>&1; then
        echo "netsim: installing virtme-ng" >&2
        python3 -m pip install -q virtme-ng >&2
        hash -r
    fi
}
