# Host-side helpers: results folders and booting the throwaway VM (virtme-ng, TCG).
# Sourced after lib.sh. Never touches the host's network: the VMs have no NIC, or only a
# qemu socket link to each other.

DOCKER_TESTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$DOCKER_TESTS_DIR/../.." && pwd)

# new_results NAME -> prints a fresh folder under target/docker-tests/ (or $DIRD_DOCKER_OUT)
# and points target/docker-tests/NAME-latest at it.
new_results() {
    local base=${DIRD_DOCKER_OUT:-$REPO_ROOT/target/docker-tests} dir
    mkdir -p "$base"
    dir=$(mktemp -d "$base/$1-$(date +%Y%m%d-%H%M%S)-XXXX")
    chmod 755 "$dir"
    ln -sfn "$(basename "$dir")" "$base/$1-latest"
    printf '%s\n' "$dir"
}

# write_env FILE NAME=VALUE... : a file the in-VM script sources (values shell-quoted).
write_env() {
    local f=$1 kv
    shift
    : >"$f"
    for kv in "$@"; do
        printf '%s=%q\n' "${kv%%=*}" "${kv#*=}" >>"$f"
    done
}

# Every VM this script started: `timeout` pids (each leads a process group holding vng and
# qemu, and passes a TERM on to that group). Killed on any exit, Ctrl-C included.
VM_PIDS=()
kill_vms() {
    local p t
    for p in "${VM_PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null && log "stopping VM (timeout pid $p)"
    done
    for p in "${VM_PIDS[@]}"; do
        # `timeout` leads its own process group (pgid = its pid): make sure all of it is gone.
        for ((t = 0; t < 20; t++)); do
            kill -0 -- "-$p" 2>/dev/null || break
            sleep 1
        done
        kill -KILL -- "-$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    VM_PIDS=()
}
# Files removed on exit (the per-run copy of the dird binary, about 100 MB in debug builds).
CLEAN_FILES=()
on_exit() {
    kill_vms
    rm -f "${CLEAN_FILES[@]}"
}
trap on_exit EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP

# start_vm NAME RESULTS TIMEOUT [VNG OPTIONS...] -- COMMAND [ARGS...]
# Boots one VM in the background (pid appended to VM_PIDS, also in $LAST_VM_PID); its console
# goes to RESULTS/console-NAME.log. The whole VM is killed after TIMEOUT seconds.
start_vm() {
    boot_vm "$@" &
    LAST_VM_PID=$!
    VM_PIDS+=("$LAST_VM_PID")
}

# run_vm (same arguments): start_vm and wait for it; returns its exit status.
run_vm() {
    start_vm "$@"
    local rc=0
    wait "$LAST_VM_PID" || rc=$?
    return "$rc"
}

# boot_vm NAME RESULTS TIMEOUT [VNG OPTIONS...] -- COMMAND [ARGS...]: becomes (exec)
# scripts/vm-boot, the one VM boot of the repository; call it in a subshell (start_vm does).
boot_vm() {
    log "booting VM $1 (console: $2/console-$1.log, limit $3 s)"
    exec "$REPO_ROOT/scripts/vm-boot" "$@"
}

# A free TCP port on 127.0.0.1 for the qemu socket link between two VMs.
free_port() {
    local p
    for _ in $(seq 50); do
        p=$((20000 + RANDOM % 20000))
        if ! ss -Htln "sport = :$p" | grep -q .; then
            printf '%s\n' "$p"
            return 0
        fi
    done
    die "no free TCP port found for the VM link"
}

# print_report RESULTS NAME... : prints every node's check lines and returns 0 only if each
# node wrote "PASS" to RESULTS/verdict-NAME.
print_report() {
    local results=$1 ok=0 n v
    shift
    for n in "$@"; do
        if [[ -s "$results/checks-$n" ]]; then
            sed "s/^/  [$n] /" "$results/checks-$n"
        fi
        v=$(cat "$results/verdict-$n" 2>/dev/null || echo "NONE")
        if [[ $v != PASS ]]; then
            ok=1
            if [[ $v == NONE ]]; then
                echo "  [$n] no verdict: the VM died or timed out (see $results/console-$n.log, $results/log-$n)"
            fi
            if [[ -s "$results/log-$n" ]]; then
                echo "  [$n] last lines of $results/log-$n:"
                tail -n 15 "$results/log-$n" | sed 's/^/      /'
            fi
        fi
    done
    return $ok
}

# first_failure RESULTS NAME...: the first FAIL check line of the named nodes ("" if none).
first_failure() {
    local results=$1 n
    shift
    for n in "$@"; do
        grep -m1 '^FAIL' "$results/checks-$n" 2>/dev/null | sed -E 's/^FAIL +//' && return 0
    done
    return 0
}
