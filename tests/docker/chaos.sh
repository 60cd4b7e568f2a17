# Phase (x) of 1node-inner: the real-swarm chaos checks. Sourced by 1node-inner after lib.sh
# and node.sh; uses its RESULTS, NODE, DIRD, lb_ip and extra (DIRD_ARGS), and DIRD_ORIGINAL
# (optional: the original bash docker-ingress-routing-daemon, for x-churn-original) from
# RESULTS/env. Entry point: chaos_phase; each check is a file of its own under chaos/ (its
# helpers, set-up and tear-down in chaos/common.sh). Each check writes ONE line (x-* names):
#   x-host-untouched  a host-network task and an address of the ingress subnet in the root
#                     namespace: its ip rule, mangle table (nft + legacy) and rp_filter /
#                     tcp_fwmark_accept sysctls are identical before dird, once dird has synced,
#                     and after `dird --uninstall`;
#   x-churn-*         a client opens a new connection every CHAOS_INTERVAL s while the service (with
#                     CHAOS_HEALTH=1, a health check: churn_health) scales
#                     2 -> 8 and then rolls (parallelism 2): mesh (no dird, note), original
#                     (DIRD_ORIGINAL only, note), dird (PASS only when every request is answered
#                     within 5 s, with no packet of it sent again, and every answer shows the
#                     client's address; answers later than 2 s are counted, not judged: the TCG
#                     VM gives them to the plain mesh too); x-churn-latency (note): for each task
#                     started under dird, its ingress `network connect` / container `start`
#                     event -> dird's "configured" line, p50/p99;
#   x-drift           dird --resync-interval 5: the sbox's tagged jump and one NET_ADMIN task's
#                     dird rules deleted by hand come back within ~15 s, nothing else changed;
#   x-hung            iptables-restore hangs in one task's namespace (DIRD_IPTABLES_RESTORE
#                     wrapper, dird --apply-timeout 5): the other tasks (and 2 later ones) are
#                     configured, the hung one is retried ("timed out" twice), SIGTERM ends dird
#                     within 2 s and no hung child survives;
#   x-churn-dird, x-bad-reload (dird --config FILE, an invalid value + SIGHUP: dird lives on,
#                     one error line, sbox unchanged, a later task configured) and
#                     x-dockerd-kill (kill -9 dockerd during a 20-task storm: every running task
#                     has dird's rules within 10 s of running / dockerd's return) share one dird,
#                     last because the dockerd kill is last.
# Order: no dird started twice for one purpose, the dockerd kill at the end. Container names and
# labels are never evaluated: ids and sandbox keys go to programs as single arguments.
# shellcheck shell=bash disable=SC2154  # (lb_ip, extra: set by 1node-inner)

CHAOS_DIR=/tmp/dird-chaos
CHAOS_BASE=2                      # the service's task count between checks
CHAOS_CHURN_TO=8                  # x-churn scales to this, then rolls
CHAOS_STORM=20                    # x-dockerd-kill scales to this
# Seconds between two new client connections (environment CHAOS_INTERVAL). One python3
# process makes them all (churn-client.py, non-blocking sockets). At 0.05 (20/s) the 2-vCPU TCG
# VM saturates without any daemon: every request forks busybox httpd's CGI, the VM answered
# about 7 requests/s, and the plain mesh failed 7,937 of 9,419 requests, 283 of the first 300
# before any scaling. 0.5 keeps the plain mesh clean there; on real hardware use 0.05.
CHAOS_INTERVAL=${CHAOS_INTERVAL:-0.5}
CHAOS_MAX_MS=2000                 # answers slower than this are counted (reported, not judged)
HOST_SERVICE=dird-chaos-host
NETADMIN_SERVICE=dird-chaos-netadmin
NETADMIN_PORT=8081
SERVICE_LABEL=com.docker.swarm.service.name
CHAOS_BK=nft                      # dockerd's iptables backend (chaos_setup)
CLIENT_PID=

# One file per check under chaos/; common.sh first.
CHAOS_FILES=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/chaos
for chaos_file in common host-untouched churn hostile drift hung bad-reload dockerd-kill; do
    # shellcheck source=/dev/null
    source "$CHAOS_FILES/$chaos_file.sh"
done

# timed NAME COMMAND...: runs it, adds "NAME Ns" to CHAOS_TIMES.
CHAOS_TIMES=""
timed() {
    local name=$1 t=$SECONDS
    shift
    "$@"
    CHAOS_TIMES+="$name $((SECONDS - t)) s, "
}

# CHAOS_CHECKS: "quick" (`just test`: the host untouched, drift, a hung iptables-restore, a bad
# reload), "all" (`just test-chaos`: also the churn runs and kill -9 of dockerd during a
# storm, which take tens of minutes under TCG), "churn" (the churn runs alone: the plain mesh,
# the original daemon with DIRD_ORIGINAL, dird) or "kill" (the dockerd kill alone).
chaos_phase() {
    local t0=$SECONDS cfile=$CHAOS_DIR/dird.conf quick=yes churn=no kill=no
    case ${CHAOS_CHECKS:-quick} in
    all) churn=yes kill=yes ;;
    churn) quick=no churn=yes ;;
    kill) quick=no kill=yes ;;
    esac
    timed setup chaos_setup
    [[ $quick == no ]] || timed host chaos_host_untouched
    if [[ $churn == yes ]]; then
        churn_health
        timed mesh chaos_churn_mesh
        timed original chaos_churn_original
    fi
    if [[ $quick == yes ]]; then
        timed drift chaos_drift
        timed hung chaos_hung
    fi
    # One dird (--config) for the churn, the bad reload and the dockerd kill; with the churn, a
    # hostile neighbour beside it (chaos/hostile.sh) and dird's iptables-restore input logged.
    uninstall_dird "${extra[@]}" || log "dird --uninstall failed"
    printf '# dird chaos test\n--ingress-gateway-ips %s\n' "$lb_ip" >"$cfile"
    local hostile=no
    if [[ $churn == yes ]] && timed hostile-setup hostile_setup; then
        hostile=yes
    fi
    if [[ $hostile == yes ]]; then
        # shellcheck disable=SC2046  # (two NAME=VALUE words)
        export $(hostile_env)
    fi
    start_dird --config "$cfile" "${extra[@]}"
    unset DIRD_IPTABLES_SAVE DIRD_IPTABLES_RESTORE
    wait_until 120 "dird (--config) configured every task" all_configured "$SERVICE" ||
        log "chaos: not every task configured 120 s after dird's start"
    [[ $churn == no ]] || timed churn-dird chaos_churn_dird
    [[ $hostile == no ]] || timed hostile-check hostile_check
    [[ $quick == no ]] || timed bad-reload chaos_bad_reload "$cfile"
    if [[ $kill == no ]]; then
        :
    elif alive "${DIRD_PID:-0}"; then
        timed dockerd-kill chaos_dockerd_kill
    else
        fail x-dockerd-kill "dird was not running (see its log: $(dird_log))"
    fi
    [[ -z ${DIRD_PID:-} ]] || stop_dird || log "dird did not stop cleanly"
    DIRD_PID=
    [[ $hostile == no ]] || hostile_cleanup
    uninstall_dird "${extra[@]}" || fail x-cleanup "dird --uninstall failed at the end of phase x"
    sbox_rules >"$RESULTS/sbox-4-chaos-end.txt"
    sbox_is none "$lb_ip" ||
        fail x-cleanup "dird doctor: rules of dird (or the original's) left in the sbox after the final uninstall ($SBOX_DOCTOR_OUT)"
    note x-time "phase x ($CHAOS_CHECKS checks) took $((SECONDS - t0)) s (${CHAOS_TIMES%, }; dockerd's iptables: $CHAOS_BK)"
}
