# Host-side: which Docker engine the VM runs, and a check, before anything boots, that every
# program the VM and the harness will run is here. Sourced after lib.sh and host.sh.
#   DOCKER_ENGINE=20.10 (default): Debian 12's docker.io from /usr/bin, /usr/sbin.
#   DOCKER_ENGINE=26.1: Debian 13's docker.io unpacked by scripts/fetch-docker-engine under
#                       target/engines/docker-26.1/bin, put first on the VM's PATH.
#   DOCKER_ENGINE=28.5: Debian forky's docker.io, likewise under target/engines/docker-28.5.

ENGINES=(20.10 26.1 28.5)

# engine_bin ENGINE: prints the folder to put first on the VM's PATH ("" for the system's).
engine_bin() {
    case $1 in
    20.10) printf '\n' ;;
    26.1 | 28.5) printf '%s\n' "$REPO_ROOT/target/engines/docker-$1/bin" ;;
    *) die "DOCKER_ENGINE=$1: unknown engine (known: ${ENGINES[*]})" ;;
    esac
}

# The VM's PATH (node.sh) besides the engine folder: programs in sbin count even when the
# caller's PATH lacks it.
VM_PATH=/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/sbin:/usr/local/bin

# need PACKAGE PROGRAM... (scripts/need.sh), with the VM's PATH.
source "$REPO_ROOT/scripts/need.sh"
NEED_PATH=$VM_PATH

# preflight ENGINE: every program the VM will run, else one line naming what is missing and
# its package, and exit 1 — within seconds, before any VM boots.
preflight() {
    local engine=$1 bin
    bin=$(engine_bin "$engine")
    NEED_MISSING=()
    need "virtme-ng, from PyPI" vng
    need qemu-system-x86 qemu-system-x86_64
    ls /boot/vmlinuz-*-amd64 >/dev/null 2>&1 || NEED_MISSING+=("/boot/vmlinuz-*-amd64 (package linux-image-amd64)")
    if [[ -z $bin ]]; then
        need docker.io /usr/bin/docker /usr/sbin/dockerd /usr/sbin/docker-proxy /usr/bin/docker-init
        need containerd /usr/bin/containerd /usr/bin/ctr /usr/bin/containerd-shim-runc-v2
    else
        local p gone=()
        for p in docker dockerd docker-proxy containerd ctr containerd-shim-runc-v2; do
            [[ -x $bin/$p ]] || gone+=("$p")
        done
        ((${#gone[@]} == 0)) ||
            NEED_MISSING+=("Docker $engine's ${gone[*]} in ${bin%/bin} (scripts/fetch-docker-engine $engine)")
    fi
    need runc /usr/sbin/runc
    need apparmor apparmor_parser
    need busybox-static /bin/busybox
    need iptables iptables iptables-save iptables-legacy iptables-legacy-save iptables-nft iptables-nft-save
    need ipvsadm ipvsadm ipvsadm-save
    need iproute2 ip ss bridge
    need kmod modprobe
    need util-linux nsenter mount
    need procps sysctl pgrep
    need coreutils timeout
    need python3 /usr/bin/python3        # the churn client (chaos/churn.sh), the dashboard's queries
    need dnsmasq-base /usr/sbin/dnsmasq  # the real servers (servers.sh)
    need socat /usr/bin/socat
    need bind9-dnsutils dig
    need prometheus /usr/bin/prometheus /usr/bin/promtool   # phase o (prometheus.sh)
    need libc-bin ldd
    need dpkg dpkg-deb                   # scripts/build-image (the stack phase)
    need binutils strip
    need systemd systemctl systemd-analyze   # DIRD_SYSTEMD=1: systemd as the VM's init
    need systemd-sysv /sbin/init
    need_check "$LOG_TAG"
    if pgrep -x dockerd >/dev/null; then
        log "note: a dockerd runs on the host; the VMs do not use it"
    fi
}
