# Shared helpers for the real-Docker harness (sourced by the host scripts and the in-VM
# scripts alike). Bash only; callers run with `set -euo pipefail`.

# Messages go to stderr (the in-VM scripts redirect it into their log file).
log() { printf '%s [%s] %s\n' "$(date +%T)" "${LOG_TAG:-harness}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# wait_until SECONDS "what we wait for" CMD [ARGS...]
# Runs CMD every 2 s until it succeeds; fails with a clear message after SECONDS.
wait_until() {
    local limit=$1 what=$2 start=$SECONDS
    shift 2
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS - start >= limit)); then
            log "TIMEOUT: $what did not happen within $limit s"
            return 1
        fi
        sleep 2
    done
    log "ok: $what (after $((SECONDS - start)) s)"
}

# The dird binary the VMs run: $DIRD_BIN, else the newest of target/{release,debug}/dird.
find_dird_bin() {
    local root=$1 b
    if [[ -n "${DIRD_BIN:-}" ]]; then
        b=$(realpath "$DIRD_BIN")
    else
        b=$(ls -1t "$root"/target/release/dird "$root"/target/debug/dird 2>/dev/null | head -n1 || true)
    fi
    [[ -n "$b" && -x "$b" ]] || die "no dird binary (set DIRD_BIN or run: cargo build -p dird)"
    printf '%s\n' "$b"
}
