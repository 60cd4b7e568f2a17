# Shared by netsim's scripts: the repo, and the check that every program they run is there.
# Source it; it sets $root (repo) and $target (cargo target dir) and cds to $root.

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}

source "$root/scripts/need.sh"

# need_tools [nginx]: what netsim runs here and in the VM (scripts/install-deps installs it all);
# one line naming every missing program and its package, exit 1.
need_tools() {
    need iptables iptables iptables-legacy iptables-nft
    need ipvsadm ipvsadm
    need iproute2 ip
    need kmod modprobe
    need "virtme-ng, from PyPI" vng
    need qemu-system-x86 qemu-system-x86_64
    need busybox-static busybox
    [[ ${1:-} != nginx ]] || need nginx nginx
    need_check netsim
}
