# Phase (x) of 1node-inner: the real-swarm chaos checks. Sourced by 1node-inner after lib.sh
# and node.sh; uses its RESULTS, NODE, DIRD, lb_ip and extra (DIRD_ARGS), and DIRD_ORIGINAL
# (optional: the original bash docker-ingress-routing-daemon, for x-churn-original) from
# RESULTS/env. Entry point: chaos_phase. Each check writes ONE line (x-* names):
#   x-host-untouched  a host-network task and an address of the ingress subnet in the root
#                     namespace: its ip rule, mangle table (nft + legacy) and rp_filter /
#                     tcp_fwmark_accept sysctls are identical before dird, once dird has synced,
#                     and after `dird --uninstall`;
#   x-churn-*         a client opens a new connection every CHAOS_INTERVAL s while the service scales
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

now_ns() { date +%s%N; }
ms_since() { echo $((($(now_ns) - $1) / 1000000)); }
dird_log() { printf '%s\n' "$RESULTS/dird-$NODE.log"; }
# next_log_line: the number of the next line dird's log will get.
next_log_line() { echo $(($(wc -l <"$(dird_log)") + 1)); }
# log_since LINE: dird's log from that line on.
log_since() { tail -n "+$1" "$(dird_log)"; }

# list_task_ids SERVICE: full ids of the service's running containers; fails when Docker does
# not answer. task_ids SERVICE: the same, empty then.
list_task_ids() { timeout 30 $DOCKER ps -q --no-trunc --filter "label=$SERVICE_LABEL=$1" 2>/dev/null; }
task_ids() { list_task_ids "$1" || true; }

# sandbox_key CONTAINER: the network namespace Docker made for it (refused unless it is one of
# Docker's netns paths).
sandbox_key() {
    local k
    k=$(timeout 30 $DOCKER inspect -f '{{.NetworkSettings.SandboxKey}}' "$1" 2>/dev/null) || return 1
    [[ $k =~ ^/(var/)?run/docker/netns/[0-9a-f]+$ ]] || return 1
    printf '%s\n' "$k"
}

# ns_save KEY [ARGS]: iptables-save of dockerd's backend in that namespace.
ns_save() { local k=$1; shift; nsenter --net="$k" "iptables-$CHAOS_BK-save" "$@"; }

# configured ID...: `dird status --json` (the running dird's own word, not its rules' text)
# lists every one of these containers as configured (and there is one).
configured() {
    (($# > 0)) || return 1
    "$DIRD" status --json 2>/dev/null | python3 -c '
import json, sys
tasks = {t["id"]: t["state"] for t in json.load(sys.stdin)["tasks"]}
sys.exit(0 if all(tasks.get(i[:12]) == "configured" for i in sys.argv[1:]) else 1)' "$@"
}

# configured_at: "ID MS" for every task `dird status --json` lists with the time dird first
# configured it (milliseconds since the epoch).
configured_at() {
    "$DIRD" status --json 2>/dev/null | python3 -c '
import json, sys
for t in json.load(sys.stdin)["tasks"]:
    if t.get("configured_at_ms"):
        print(t["id"], t["configured_at_ms"])' || true
}

# status_sampler_start FILE / status_sampler_stop: configured_at every second into FILE (a task
# removed later, by a rolling update, leaves dird's status: its sample stays).
status_sampler_start() {
    : >"$1"
    (while [[ ! -e $CHAOS_DIR/sampler-stop ]]; do configured_at >>"$1"; sleep 1; done) &
    SAMPLER_PID=$!
}
status_sampler_stop() {
    [[ -n ${SAMPLER_PID:-} ]] || return 0
    touch "$CHAOS_DIR/sampler-stop"
    wait "$SAMPLER_PID" 2>/dev/null || true
    rm -f "$CHAOS_DIR/sampler-stop"
    SAMPLER_PID=
}

# all_configured SERVICE...: every running task of these services is configured (and one runs).
all_configured() {
    local s ids=()
    for s in "$@"; do
        mapfile -t -O "${#ids[@]}" ids < <(task_ids "$s")
    done
    configured "${ids[@]}"
}

# strip_ipt: iptables-save without comments and counters, Docker's DNS ports normalised.
strip_ipt() {
    { grep -v '^#' || true; } | sed -E 's/\[[0-9]+:[0-9]+\]//; s/127\.0\.0\.11:[0-9]+/127.0.0.11:PORT/; s/--sport [0-9]+ /--sport PORT /'
}

# ns_state KEY: the namespace's iptables (dockerd's backend) and policy rules.
ns_state() {
    echo "### iptables-$CHAOS_BK-save"
    ns_save "$1" 2>&1 | strip_ipt || true
    echo "### ip rule"
    nsenter --net="$1" ip -4 rule 2>&1 || true
}

# sbox_ipt: the sbox's iptables, both backends (sbox_rules without ipvsadm), normalised.
sbox_ipt() { sbox_rules | sed '/^### ipvsadm/,$d' | strip_ipt || true; }

# add_why TEXT: appends to the caller's $why (a failed command substitution in TEXT does not
# end the script, as it would in an assignment under set -e).
add_why() { why+=$1; return 0; }

# first_diff A B: the first changed lines of two texts, on one line.
first_diff() { { diff <(printf '%s\n' "$1") <(printf '%s\n' "$2") | grep '^[<>]' | head -n 4 | tr '\n' ' '; } || true; }

# scale_to N [SECONDS]: scale the service and wait for N running tasks (false on timeout).
scale_to() {
    $DOCKER service scale --detach "$SERVICE=$1" >/dev/null 2>&1 || { log "docker service scale $SERVICE=$1 failed"; return 1; }
    wait_tasks "$1" "${2:-300}"
}

# pct P VALUE...: the P-th percentile (nearest rank) of integers, "-" when none.
pct() {
    local p=$1 v
    shift
    (($#)) || { echo -; return 0; }
    mapfile -t v < <(printf '%s\n' "$@" | sort -n)
    local i=$(((p * ${#v[@]} + 99) / 100 - 1))
    ((i >= 0)) || i=0
    echo "${v[$i]}"
}

# --- set-up and tear-down ------------------------------------------------------------------

chaos_setup() {
    mkdir -p "$CHAOS_DIR"
    rm -f "$CHAOS_DIR"/*
    if [[ -n ${DIRD_PID:-} ]]; then          # phase (d) did not run: start from no dird
        stop_dird || true
        uninstall_dird "${extra[@]}" || log "dird --uninstall failed"
    fi
    local nft legacy
    nft=$(in_sbox iptables-nft-save -t nat 2>/dev/null || true)
    legacy=$(in_sbox iptables-legacy-save -t nat 2>/dev/null || true)
    if [[ $nft =~ --ipvs[^$'\n']*-j\ SNAT ]]; then
        CHAOS_BK=nft
    elif [[ $legacy =~ --ipvs[^$'\n']*-j\ SNAT ]]; then
        CHAOS_BK=legacy
    fi
    log "chaos: dockerd's iptables backend: $CHAOS_BK"
    # x-host-untouched's host-network service and ingress-subnet address; x-drift's NET_ADMIN
    # service (its own published port, so that it is on the ingress).
    $DOCKER service create --detach --quiet --name "$HOST_SERVICE" --mode global --network host \
        --no-resolve-image "$IMAGE" /bin/busybox sleep 1000000 >/dev/null ||
        log "docker service create $HOST_SERVICE failed"
    $DOCKER service create --detach --quiet --name "$NETADMIN_SERVICE" --cap-add NET_ADMIN \
        --publish "$NETADMIN_PORT:80" --replicas 1 --no-resolve-image "$IMAGE" >/dev/null ||
        log "docker service create $NETADMIN_SERVICE failed"
    ip link add hostlan0 type dummy
    ip addr add "${lb_ip%.*}.250/24" dev hostlan0
    ip link set hostlan0 up
    scale_to "$CHAOS_BASE" 240 || true
    wait_until 240 "$HOST_SERVICE runs" svc_running "$HOST_SERVICE" 1 || true
    wait_until 240 "$NETADMIN_SERVICE runs" svc_running "$NETADMIN_SERVICE" 1 || true
}

# The client: tests/docker/churn-client.py, ONE python3 process in the client namespace that
# opens a new connection every CHAOS_INTERVAL s (a fixed schedule; non-blocking sockets, many
# requests in flight, no process per request) until client-stop exists; each request has 5 s
# in all and appends "ok MS remote=… host=… retrans=N" or "fail MS REASON" to OUT; the count started goes
# to OUT.launched. On client-stop the requests in flight finish or reach their 5 s, then it
# exits; what it never answered (killed) counts as unfinished.
chaos_client_start() {
    local out=$CHAOS_DIR/churn-$1.txt
    rm -f "$out" "$out.launched" "$out.err" "$CHAOS_DIR/client-stop"
    : >"$out"
    # A lost SYN gives up after ~3 s (1 retry) instead of ~2 min: requests stay bounded.
    ip netns exec "$CLIENT_NS" sysctl -qw net.ipv4.tcp_syn_retries=1
    ip netns exec "$CLIENT_NS" python3 "$here/churn-client.py" "$out" "$CHAOS_DIR/client-stop" \
        "$CLIENT_GW" "$PUBLISHED" "$CHAOS_INTERVAL" 2>"$out.err" &
    CLIENT_PID=$!
}

chaos_client_stop() {
    [[ -n $CLIENT_PID ]] || return 0
    touch "$CHAOS_DIR/client-stop"
    local t=0
    while alive "$CLIENT_PID" && ((t < 30)); do sleep 1; t=$((t + 1)); done
    alive "$CLIENT_PID" && kill -KILL "$CLIENT_PID" 2>/dev/null || true
    wait "$CLIENT_PID" 2>/dev/null || true
    CLIENT_PID=
    ip netns exec "$CLIENT_NS" sysctl -qw net.ipv4.tcp_syn_retries=6 || true
}

# chaos_cleanup: whatever a check left running when the script stops early.
chaos_cleanup() {
    local p
    [[ -z $CLIENT_PID ]] || { kill -KILL "$CLIENT_PID" 2>/dev/null; CLIENT_PID=; }
    for p in $(cat "$CHAOS_DIR/hang-pids" 2>/dev/null); do
        [[ $p =~ ^[0-9]+$ ]] && kill -KILL "$p" 2>/dev/null
    done
    [[ -z ${HUNG_DIRD_PID:-} ]] || kill -KILL "$HUNG_DIRD_PID" 2>/dev/null
    [[ -z ${ORIGINAL_PID:-} ]] || kill -KILL -- "-$ORIGINAL_PID" 2>/dev/null
    return 0
}

# --- x-host-untouched ----------------------------------------------------------------------

host_state() {
    local f d
    echo "### ip rule"
    ip rule 2>&1 || true
    echo "### iptables-nft-save -t mangle"
    iptables-nft-save -t mangle 2>&1 | strip_ipt || true
    echo "### iptables-legacy-save -t mangle"
    iptables-legacy-save -t mangle 2>&1 | strip_ipt || true
    echo "### sysctl"
    echo "net.ipv4.tcp_fwmark_accept = $(sysctl -n net.ipv4.tcp_fwmark_accept 2>&1)"
    for f in /proc/sys/net/ipv4/conf/*/rp_filter; do
        d=${f%/rp_filter}
        echo "net.ipv4.conf.${d##*/}.rp_filter = $(cat "$f" 2>&1)"
    done
}

chaos_host_untouched() {
    local s0 s1 s2 synced=yes why=""
    if ! svc_running "$HOST_SERVICE" 1; then
        fail x-host-untouched "the host-network service $HOST_SERVICE does not run; $(task_errors "$HOST_SERVICE")"
    else
        host_state >"$RESULTS/chaos-host-0-before.txt"
        start_dird --ingress-gateway-ips "$lb_ip" "${extra[@]}"
        wait_until 180 "every task of $SERVICE and $NETADMIN_SERVICE configured" \
            all_configured "$SERVICE" "$NETADMIN_SERVICE" || synced=no
        host_state >"$RESULTS/chaos-host-1-dird.txt"
        stop_dird || log "dird did not stop cleanly"
        uninstall_dird "${extra[@]}" || add_why "dird --uninstall failed; "
        host_state >"$RESULTS/chaos-host-2-uninstalled.txt"
        s0=$(cat "$RESULTS/chaos-host-0-before.txt")
        s1=$(cat "$RESULTS/chaos-host-1-dird.txt")
        s2=$(cat "$RESULTS/chaos-host-2-uninstalled.txt")
        [[ $s0 == "$s1" ]] || add_why "with dird: $(first_diff "$s0" "$s1"); "
        [[ $s0 == "$s2" ]] || add_why "after uninstall: $(first_diff "$s0" "$s2"); "
        [[ $synced == yes ]] || add_why "dird did not configure every task within 180 s; "
        if [[ -z $why ]]; then
            pass x-host-untouched "with a host-network task and ${lb_ip%.*}.250 on hostlan0: the root namespace's ip rule, mangle (nft, legacy), rp_filter and tcp_fwmark_accept identical before dird, synced, uninstalled"
        else
            fail x-host-untouched "${why%; } (chaos-host-*.txt)"
        fi
    fi
    $DOCKER service rm "$HOST_SERVICE" >/dev/null 2>&1 || true
    ip link del hostlan0 2>/dev/null || true
}

# --- x-churn ---------------------------------------------------------------------------------

# churn_counts FILE: "launched answered wrong resent slow noanswer lost other-peer" of one
# client run: answered within the client's 5 s; wrong: of those, answers showing another peer
# than the client (other-peer: one of them); resent: answers whose connection sent a packet
# again, or with no count of that (a SYN or request lost, or not acknowledged within the
# retransmission timeout); slow: answers later than CHAOS_MAX_MS; noanswer: the client's
# "fail" lines; lost: launched, no line.
churn_counts() {
    local launched
    launched=$(cat "$1.launched" 2>/dev/null || echo 0)
    awk -v launched="$launched" -v want="$CLIENT_IP" -v max="$CHAOS_MAX_MS" '
        $1 == "ok" {
            r = $3; sub(/^remote=/, "", r); gsub(/[\[\]]/, "", r); sub(/^::ffff:/, "", r)
            ok++; if (r != want) { wrong++; other = r }
            if ($2 + 0 > max + 0) slow++
            if ($5 != "retrans=0") resent++  # (also a missing or unreadable count: -1)
            next }
        NF > 0 { noans++ }
        END {
            lost = launched - ok - noans; if (lost < 0) lost = 0
            printf "%d %d %d %d %d %d %d %s\n", launched, ok, wrong, resent, slow, noans, lost, (other == "" ? "-" : other)
        }' "$1"
}

# vm_ticks: busy clock ticks so far of the whole VM (every CPU: user nice system irq softirq).
vm_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 }' /proc/stat; }

# pid_ticks PID: "OWN CHILDREN" clock ticks so far of PID (/proc/PID/stat utime+stime,
# cutime+cstime: the children it waited for); "0 0" if PID is gone.
pid_ticks() { awk '{ print $14 + $15, $16 + $17 }' "/proc/$1/stat" 2>/dev/null || echo 0 0; }

# secs_of TICKS HZ: TICKS as seconds with one decimal.
secs_of() { echo "$(($1 / $2)).$(($1 % $2 * 10 / $2))"; }

# chaos_churn MODE: the client runs while the service scales CHAOS_BASE -> CHAOS_CHURN_TO and
# rolls; sets CHURN (churn_counts), CHURN_T0/CHURN_T1 (unix seconds around it), CHURN_SECS,
# CHURN_ERR (what went wrong with Docker, empty if nothing), CHURN_CPU (the VM's busy share
# over the run and, with dird running, dird's CPU seconds). Scales back afterwards.
chaos_churn() {
    local mode=$1 out=$CHAOS_DIR/churn-$1.txt start=$SECONDS hz cpus vm0 vm1 d0="" d1 wall0 wall1
    CHURN_ERR=""
    CHURN_T0=$(($(date +%s) - 1))
    hz=100 cpus=$(nproc) # (hz: USER_HZ, the /proc tick, 100 on x86 Linux)
    wall0=$(date +%s%N) vm0=$(vm_ticks)
    [[ -z ${DIRD_PID:-} ]] || d0=$(pid_ticks "$DIRD_PID")
    [[ -z ${DIRD_PID:-} ]] || status_sampler_start "$CHAOS_DIR/configured-at.txt"
    chaos_client_start "$mode"
    sleep 2
    if scale_to "$CHAOS_CHURN_TO" 360; then
        # (--detach=false waits until the rolled tasks run and Docker's monitor period passed)
        timeout 600 $DOCKER service update --detach=false --quiet --force --update-parallelism 2 \
            "$SERVICE" >/dev/null 2>&1 || CHURN_ERR+="the rolling update did not complete: $(task_errors "$SERVICE"); "
        wait_tasks "$CHAOS_CHURN_TO" 120 || CHURN_ERR+="$CHAOS_CHURN_TO tasks not running after the update; "
    else
        CHURN_ERR+="$CHAOS_CHURN_TO tasks not running within 360 s: $(task_errors "$SERVICE"); "
    fi
    sleep 2
    chaos_client_stop
    status_sampler_stop
    wall1=$(date +%s%N) vm1=$(vm_ticks)
    CHURN_CPU="the VM's $cpus CPU(s) busy $(((vm1 - vm0) * 100 * 1000000000 / hz / cpus / (wall1 - wall0))) %"
    if [[ -n $d0 ]] && ! alive "$DIRD_PID"; then
        CHURN_CPU+=", dird exited during the run"
    elif [[ -n $d0 ]]; then
        d1=$(pid_ticks "$DIRD_PID")
        local own=$((${d1% *} - ${d0% *})) kids=$((${d1#* } - ${d0#* }))
        CHURN_CPU+=", dird $(secs_of $((own + kids)) $hz) s CPU ($(secs_of $own $hz) s its own, $(secs_of $kids $hz) s its iptables children)"
    fi
    CHURN_SECS=$((SECONDS - start))
    CHURN_T1=$(($(date +%s) + 1))
    cp "$out" "$RESULTS/chaos-churn-$mode.txt"
    # (the client's stderr: a python3 error, or the ticks it skipped when it fell behind)
    [[ ! -s $out.err ]] || log "chaos: churn $mode client: $(tail -n 3 "$out.err" | tr '\n' ' ')"
    CHURN=$(churn_counts "$out")
    log "chaos: churn $mode: $CHURN (launched answered wrong resent slow noanswer lost other); $CHURN_CPU${CHURN_ERR:+; $CHURN_ERR}"
    scale_to "$CHAOS_BASE" 300 || log "chaos: could not scale back to $CHAOS_BASE"
}

# churn_text: the counts of the last run in words.
churn_text() {
    local launched ok wrong resent slow noans lost other
    read -r launched ok wrong resent slow noans lost other <<<"$CHURN"
    printf '%d of %d requests failed (%d no answer within 5 s, %d unfinished, %d answered after a packet was sent again or without a count of them), %d of %d answers saw a peer other than the client%s; %d answers later than %d ms; scale %d->%d + rolling update, %d s' \
        $((noans + lost + resent)) "$launched" "$noans" "$lost" "$resent" "$wrong" "$ok" \
        "$([[ $other == - ]] || echo " (e.g. $other)")" "$slow" "$CHAOS_MAX_MS" "$CHAOS_BASE" "$CHAOS_CHURN_TO" "$CHURN_SECS"
    printf '; %s' "$CHURN_CPU"
}

chaos_churn_mesh() {
    chaos_churn mesh
    note x-churn-mesh "no dird: $(churn_text)${CHURN_ERR:+; ${CHURN_ERR%; }}"
}

# x-churn-original: only with DIRD_ORIGINAL (the bash daemon's script; not part of this repo).
chaos_churn_original() {
    [[ -n ${DIRD_ORIGINAL:-} && -x ${DIRD_ORIGINAL:-} ]] || return 0
    log "chaos: starting the original daemon $DIRD_ORIGINAL"
    # its own session: the daemon and its `docker events` pipeline end together
    setsid "$DIRD_ORIGINAL" --install --preexisting --ingress-gateway-ips "$lb_ip" \
        >>"$RESULTS/original-$NODE.log" 2>&1 &
    ORIGINAL_PID=$!
    sleep 15
    if ! alive "$ORIGINAL_PID"; then
        note x-churn-original "the original daemon exited at once: $(tail -n 2 "$RESULTS/original-$NODE.log" | tr '\n' ' ')"
    else
        chaos_churn original
        note x-churn-original "original daemon: $(churn_text)${CHURN_ERR:+; ${CHURN_ERR%; }}"
    fi
    kill -TERM -- "-$ORIGINAL_PID" 2>/dev/null || true
    sleep 2
    kill -KILL -- "-$ORIGINAL_PID" 2>/dev/null || true
    wait "$ORIGINAL_PID" 2>/dev/null || true
    ORIGINAL_PID=
    # dird --uninstall also removes the original's rules (sbox and containers)
    uninstall_dird "${extra[@]}" || log "dird --uninstall after the original failed"
}

# chaos_latency: for each task of the service started in [CHURN_T0, CHURN_T1], the time from
# its ingress `network connect` event and from its `start` event to the time dird first
# configured it (`dird status --json`'s configured_at_ms, sampled during the churn): a note line
# with p50/p99, and the check x-churn-before-start: every such task configured before its
# `start` event (Docker puts a task into the load balancers' rotation right after it starts).
chaos_latency() {
    local tn typ act actor ctr net svc id ms c d
    local -A start=() join=() conf=()
    local a=() b=() missing=0 n=0 late=0
    while IFS='|' read -r tn typ act actor ctr net svc; do
        case $typ/$act in
        container/start) [[ $svc != "$SERVICE" || -n ${start[$actor]:-} ]] || start[$actor]=$tn ;;
        network/connect) [[ $net != ingress || -z $ctr || -n ${join[$ctr]:-} ]] || join[$ctr]=$tn ;;
        esac
    done < <(timeout 60 $DOCKER events --since "$CHURN_T0" --until "$CHURN_T1" \
        --filter type=container --filter type=network --filter event=start --filter event=connect \
        --format '{{.TimeNano}}|{{.Type}}|{{.Action}}|{{.Actor.ID}}|{{index .Actor.Attributes "container"}}|{{index .Actor.Attributes "name"}}|{{index .Actor.Attributes "com.docker.swarm.service.name"}}' \
        2>/dev/null || true)
    while read -r id ms; do
        [[ -n ${conf[$id]:-} ]] || conf[$id]=$((ms * 1000000))
    done <"$CHAOS_DIR/configured-at.txt"
    for c in "${!start[@]}"; do
        n=$((n + 1))
        d=""
        for id in "${!conf[@]}"; do
            [[ $c == "$id"* ]] && { d=${conf[$id]}; break; }
        done
        if [[ -z $d ]]; then
            missing=$((missing + 1))
            continue
        fi
        [[ -z ${join[$c]:-} ]] || a+=($(((d - ${join[$c]}) / 1000000)))
        b+=($(((d - ${start[$c]}) / 1000000)))
        ((d < ${start[$c]})) || late=$((late + 1))
    done
    note x-churn-latency "$n task(s) started under dird: network connect -> configured p50 $(pct 50 "${a[@]}") ms, p99 $(pct 99 "${a[@]}") ms (${#a[@]} with a connect event); container start -> configured p50 $(pct 50 "${b[@]}") ms, p99 $(pct 99 "${b[@]}") ms; $missing without a configured line"
    if ((n > 0 && late == 0 && missing == 0)); then
        pass x-churn-before-start "all $n task(s) started under dird were configured before their start event (latest $(pct 100 "${b[@]}") ms)"
    else
        fail x-churn-before-start "$late of $n task(s) configured after their start event, $missing never (start -> configured p99 $(pct 99 "${b[@]}") ms)"
    fi
}

chaos_churn_dird() {
    local launched ok wrong resent slow noans lost other
    wait_until 120 "every task of $SERVICE configured" all_configured "$SERVICE" ||
        log "chaos: not every task configured before the churn"
    chaos_churn dird
    read -r launched ok wrong resent slow noans lost other <<<"$CHURN"
    if [[ -z $CHURN_ERR ]] && ((launched > 0 && noans + lost + resent == 0 && wrong == 0)); then
        pass x-churn-dird "$(churn_text)"
    else
        fail x-churn-dird "$(churn_text)${CHURN_ERR:+; ${CHURN_ERR%; }}"
    fi
    chaos_latency
}

# --- x-drift ---------------------------------------------------------------------------------

chaos_drift() {
    local id key jump words=() i b_sbox b_task t0 ok="" s_ok=no t_ok=no why=""
    start_dird --ingress-gateway-ips "$lb_ip" --resync-interval 5 "${extra[@]}"
    id=$(task_ids "$NETADMIN_SERVICE" | head -n 1 || true)
    if [[ -z $id ]] || ! key=$(sandbox_key "$id"); then
        fail x-drift "no running task of $NETADMIN_SERVICE (--cap-add NET_ADMIN); $(task_errors "$NETADMIN_SERVICE")"
    elif ! wait_until 120 "every task configured" all_configured "$SERVICE" "$NETADMIN_SERVICE"; then
        fail x-drift "dird did not configure every task within 120 s"
    else
        b_sbox=$(sbox_ipt; in_sbox ip -4 rule)
        b_task=$(ns_state "$key")
        # The sbox: delete dird's tagged jump into its nat chain (the one that skips the SNAT),
        # as README "What dird installs" writes it.
        jump=(POSTROUTING -m comment --comment dird -j "$DIRD_CHAIN_PREFIX"POSTROUTING)
        if ! in_sbox "iptables-$CHAOS_BK" -t nat -D "${jump[@]}"; then
            fail x-drift "could not delete dird's tagged jump in the sbox's nat table (iptables-$CHAOS_BK)"
        else
            # The NET_ADMIN task: dird's two tagged jumps and its policy rules deleted. The
            # image (busybox) has no iptables, so this goes through nsenter into the task's
            # SandboxKey namespace, not docker exec: the same rules a process of the task could
            # delete with its NET_ADMIN.
            for i in PREROUTING OUTPUT; do
                nsenter --net="$key" "iptables-$CHAOS_BK" -t mangle -D "$i" -m comment --comment dird \
                    -j "$DIRD_CHAIN_PREFIX$i" || log "chaos: the task's $i jump could not be deleted"
            done
            for i in 1 2 3 4 5 6 7 8; do
                nsenter --net="$key" ip -4 rule del priority 32700 2>/dev/null || break
            done
            if [[ $(ns_state "$key") == "$b_task" ]]; then
                fail x-drift "deleting the task's rules changed nothing (test bug)"
            else
                log "chaos: drift made (sbox jump: ${jump[*]}; task ${id:0:12}: mangle jumps + policy rules)"
                t0=$SECONDS
                while ((SECONDS - t0 < 16)); do
                    [[ $(sbox_ipt; in_sbox ip -4 rule) == "$b_sbox" ]] && s_ok=yes || s_ok=no
                    [[ $(ns_state "$key") == "$b_task" ]] && t_ok=yes || t_ok=no
                    [[ $s_ok$t_ok == yesyes ]] && { ok=$((SECONDS - t0)); break; }
                    sleep 1
                done
                if [[ -n $ok ]]; then
                    pass x-drift "sbox jump and task ${id:0:12}'s jumps and policy rules deleted by hand: both back in ${ok} s (--resync-interval 5), both namespaces exactly as before"
                else
                    [[ $s_ok == yes ]] || add_why "sbox not as before: $(first_diff "$b_sbox" "$(sbox_ipt; in_sbox ip -4 rule)"); "
                    [[ $t_ok == yes ]] || add_why "task ${id:0:12} not as before: $(first_diff "$b_task" "$(ns_state "$key")"); "
                    fail x-drift "16 s after the deletion (--resync-interval 5): ${why%; }"
                fi
            fi
        fi
    fi
    stop_dird || log "dird did not stop cleanly"
    $DOCKER service rm "$NETADMIN_SERVICE" >/dev/null 2>&1 || true
}

# --- x-hung ----------------------------------------------------------------------------------

chaos_hung() {
    local id key from pid p ms t survivors=() why="" retried=0 rc=0 exited=no
    # x-hung starts from no rules anywhere (a configured task would need no restore at all)
    uninstall_dird "${extra[@]}" || log "dird --uninstall failed"
    id=$(task_ids "$SERVICE" | head -n 1 || true)
    if [[ -z $id ]] || ! key=$(sandbox_key "$id"); then
        fail x-hung "no running task of $SERVICE to hang"
        return 0
    fi
    nsenter --net="$key" ip link add hang0 type dummy || log "chaos: no hang0 link in task ${id:0:12}"
    : >"$CHAOS_DIR/hang-pids"
    printf '%s\n' '#!/bin/bash' \
        '# DIRD_IPTABLES_RESTORE of x-hung: hangs in the namespace holding a link hang0' \
        'if ip link show hang0 >/dev/null 2>&1; then' \
        "    echo \"\$\$\" >>$CHAOS_DIR/hang-pids" \
        '    exec sleep 3600' \
        'fi' \
        "exec /usr/sbin/iptables-$CHAOS_BK-restore \"\$@\"" >"$CHAOS_DIR/restore-hang"
    chmod 755 "$CHAOS_DIR/restore-hang"
    from=$(next_log_line)
    echo "=== $(date +%T) dird --install (x-hung: restore hangs in task ${id:0:12}) --ingress-gateway-ips $lb_ip --apply-timeout 5 ${extra[*]}" >>"$(dird_log)"
    DIRD_IPTABLES_SAVE=/usr/sbin/iptables-$CHAOS_BK-save DIRD_IPTABLES_RESTORE=$CHAOS_DIR/restore-hang \
        "$DIRD" --install --ingress-gateway-ips "$lb_ip" --apply-timeout 5 "${extra[@]}" >>"$(dird_log)" 2>&1 &
    HUNG_DIRD_PID=$!
    pid=$HUNG_DIRD_PID
    sleep 3
    if ! alive "$pid"; then
        wait "$pid" 2>/dev/null || rc=$?
        fail x-hung "dird --apply-timeout 5 exited at once (status $rc): $(log_since "$from" | tail -n 2 | tr '\n' ' ')"
    else
        # (1) every other task configured, and two started now
        others_configured() {
            local c others=()
            for c in $(task_ids "$SERVICE"); do
                [[ $c == "$id" ]] || others+=("$c")
            done
            ((${#others[@]} >= $1)) && configured "${others[@]}"
        }
        if wait_until 90 "the tasks other than ${id:0:12} configured" others_configured $((CHAOS_BASE - 1)); then
            if scale_to $((CHAOS_BASE + 2)) 240 &&
                wait_until 90 "the 2 later tasks configured" others_configured $((CHAOS_BASE + 1)); then
                :
            else
                add_why "the 2 tasks started later were not configured within 90 s; "
            fi
        else
            add_why "the other task(s) were not configured within 90 s of dird's start; "
        fi
        # (2) the hung one retried: the wrapper started at least twice in its namespace, and
        # `dird status --json` shows it failing, cut off at the deadline.
        timed_out() {
            retried=$(wc -l <"$CHAOS_DIR/hang-pids")
            ((retried >= 2)) && "$DIRD" status --json 2>/dev/null | python3 -c '
import json, sys
t = [t for t in json.load(sys.stdin)["tasks"] if t["id"] == sys.argv[1]]
e = (t[0].get("last_error") or "") if t else ""
sys.exit(0 if t and t[0]["state"] == "failing" and ("did not finish within" in e or "timed out" in e) else 1)' "${id:0:12}"
        }
        wait_until 60 "two cut-off applies for ${id:0:12}" timed_out ||
            add_why "the hung task ${id:0:12}: $retried apply attempt(s) (want 2), or dird status does not show it failing at the deadline; "
        # (3) SIGTERM: gone within 2 s, hung children included
        kill -TERM "$pid" 2>/dev/null || true
        t=$(now_ns)
        while alive "$pid" && (($(ms_since "$t") < 2000)); do sleep 0.1; done
        ms=$(ms_since "$t")
        if alive "$pid"; then
            for _ in $(seq 20); do alive "$pid" || break; sleep 0.5; done
            alive "$pid" && { kill -KILL "$pid" 2>/dev/null; add_why "dird still ran 12 s after SIGTERM (SIGKILL); "; } ||
                add_why "dird took ${ms} ms+ to exit after SIGTERM, more than 2 s; "
        else
            exited=yes
        fi
        wait "$pid" 2>/dev/null || true
        sleep 0.5
        for p in $(cat "$CHAOS_DIR/hang-pids"); do
            [[ $p =~ ^[0-9]+$ ]] && alive "$p" && survivors+=("$p")
        done
        ((${#survivors[@]} == 0)) || add_why "hung restore/sleep process(es) ${survivors[*]} survived dird; "
        if [[ -z $why ]]; then
            pass x-hung "restore hung in task ${id:0:12}: the others and 2 later tasks configured, the hung one cut off and retried ($retried attempts), dird exited ${ms} ms after SIGTERM, no hung child left"
        else
            fail x-hung "${why%; } (wrapper started $(wc -l <"$CHAOS_DIR/hang-pids") time(s); SIGTERM exit: $exited)"
        fi
    fi
    HUNG_DIRD_PID=
    for p in $(cat "$CHAOS_DIR/hang-pids"); do
        [[ $p =~ ^[0-9]+$ ]] && kill -KILL "$p" 2>/dev/null || true
    done
    nsenter --net="$key" ip link del hang0 2>/dev/null || true
    scale_to "$CHAOS_BASE" 240 || true
}

# --- x-bad-reload (dird started with --config) ------------------------------------------------

chaos_bad_reload() {
    local cfile=$1 before after from errs mention why=""
    before=$(sbox_ipt)
    from=$(next_log_line)
    printf '# dird chaos test: an invalid value\n--ingress-gateway-ips 10.0.0.999\n' >"$cfile"
    kill -HUP "$DIRD_PID" 2>/dev/null || true
    sleep 3
    if ! alive "$DIRD_PID"; then
        fail x-bad-reload "dird exited after SIGHUP with an invalid --config file: $(log_since "$from" | tail -n 2 | tr '\n' ' ')"
        DIRD_PID=
        return 0
    fi
    after=$(sbox_ipt)
    [[ $before == "$after" ]] || add_why "sbox rules changed: $(first_diff "$before" "$after"); "
    if ! scale_to $((CHAOS_BASE + 1)) 240 ||
        ! wait_until 60 "every task (one started after the reload) configured" all_configured "$SERVICE"; then
        add_why "the task started after the reload was not configured within 60 s; "
    fi
    errs=$(log_since "$from" | grep -c ' ERROR ' || true)
    mention=$(log_since "$from" | grep ' ERROR ' | grep -c -e '10\.0\.0\.999' -e 'config' || true)
    ((errs == 1 && mention == 1)) ||
        add_why "$errs new ERROR line(s) ($mention naming the bad value or config), not exactly 1: $(log_since "$from" | grep ' ERROR ' | head -n 2 | tr '\n' ' '); "
    alive "$DIRD_PID" || add_why "dird exited later; "
    if [[ -z $why ]]; then
        pass x-bad-reload "SIGHUP with --ingress-gateway-ips 10.0.0.999 in --config: dird lives on, one error line ($(log_since "$from" | grep ' ERROR ' | sed -E 's/^[^ ]+ +ERROR +//' | cut -c1-100)), sbox unchanged, a later task configured"
    else
        fail x-bad-reload "${why%; }"
    fi
    # the valid file again (a later reconnect must not meet the bad one)
    printf '# dird chaos test\n--ingress-gateway-ips %s\n' "$lb_ip" >"$cfile"
    alive "$DIRD_PID" && kill -HUP "$DIRD_PID" 2>/dev/null || true
    scale_to "$CHAOS_BASE" 240 || true
}

# --- x-dockerd-kill --------------------------------------------------------------------------

chaos_dockerd_kill() {
    local back back_s t_kill ids id k st deadline last_new n c due lat worst="" late=() never=() why=""
    local lid ms errs out
    local -A key=() started=() conf=() logged=()
    local newids=()
    $DOCKER service scale --detach "$SERVICE=$CHAOS_STORM" >/dev/null 2>&1 || log "scale to $CHAOS_STORM failed"
    some_started() { svc_running "$SERVICE" $((CHAOS_BASE + 2)); }
    wait_until 120 "tasks of the storm starting" some_started || true
    log "chaos: kill -9 dockerd (pid $DOCKERD_PID) while $(running_tasks) of $CHAOS_STORM tasks run"
    t_kill=$SECONDS
    kill -KILL "$DOCKERD_PID" 2>/dev/null || true
    wait "$DOCKERD_PID" 2>/dev/null || true
    DOCKERD_PID=
    start_dockerd                      # aborts the script if dockerd does not come back
    back=$(now_ns)
    back_s=$((SECONDS - t_kill))
    log "chaos: dockerd answers again $back_s s after the kill"
    # Docker brings a storm back slowly under TCG (minutes), and its API may time out then.
    deadline=$((SECONDS + 600))
    last_new=$SECONDS
    ids=""
    n=0
    while :; do
        if ! out=$(list_task_ids "$SERVICE"); then
            # (no answer from Docker: the last list stands)
            ((SECONDS > deadline)) && break
            sleep 1
            continue
        fi
        ids=$out
        newids=()
        for id in $ids; do [[ -n ${key[$id]:-} ]] || newids+=("$id"); done
        if ((${#newids[@]})); then
            last_new=$SECONDS
            while read -r id k st; do
                [[ $k =~ ^/(var/)?run/docker/netns/[0-9a-f]+$ ]] || continue
                key[$id]=$k
                started[$id]=$(date -u -d "$st" +%s%N 2>/dev/null || now_ns)
            done < <(timeout 60 $DOCKER inspect -f '{{.Id}} {{.NetworkSettings.SandboxKey}} {{.State.StartedAt}}' \
                "${newids[@]}" 2>/dev/null || true)
        fi
        n=0
        c=0
        for id in $ids; do
            n=$((n + 1))
            [[ -n ${key[$id]:-} ]] || continue
            if [[ -z ${conf[$id]:-} ]] && configured "$id"; then conf[$id]=$(now_ns); fi
            [[ -n ${conf[$id]:-} ]] && c=$((c + 1))
        done
        ((n >= CHAOS_STORM && c >= n)) && break
        ((SECONDS > deadline)) && break
        # every task runs, the stragglers are well past their 10 s: no need to wait longer
        ((n >= CHAOS_STORM && SECONDS - last_new > 30)) && break
        sleep 1
    done
    # A task seen configured: the time dird's status gives, when earlier, is the more precise
    # (a polling round over 20 tasks takes seconds under TCG).
    while read -r lid ms; do
        [[ -n ${logged[$lid]:-} ]] || logged[$lid]=$((ms * 1000000))
    done < <(configured_at)
    for id in $ids; do
        [[ -n ${conf[$id]:-} ]] || continue
        for lid in "${!logged[@]}"; do
            [[ $id == "$lid"* ]] || continue
            ((${logged[$lid]} >= ${conf[$id]})) || conf[$id]=${logged[$lid]}
            break
        done
    done
    for id in $ids; do
        [[ -n ${started[$id]:-} ]] || { never+=("${id:0:12}(no sandbox)"); continue; }
        due=${started[$id]}
        ((due >= back)) || due=$back
        if [[ -z ${conf[$id]:-} ]]; then
            never+=("${id:0:12}")
            continue
        fi
        lat=$(((${conf[$id]} - due) / 1000000))
        [[ -n $worst ]] && ((lat <= worst)) || worst=$lat
        ((lat <= 10000)) || late+=("${id:0:12}:${lat}ms")
    done
    # Tasks Docker itself could not restart (it reports why, e.g. "failed to find a load
    # balancer IP" after the kill) are not dird's to configure: noted; the running ones judged.
    # Fewer running with no error from Docker, or none of the storm, is a failure.
    if ((n < CHAOS_STORM)); then
        errs=$(task_errors "$SERVICE")
        if [[ $errs == *"none reported"* ]] || ((n <= CHAOS_BASE)); then
            add_why "only $n of $CHAOS_STORM tasks running $((SECONDS - t_kill)) s after the kill ($errs); "
        else
            note x-dockerd-kill-docker "Docker ran $n of $CHAOS_STORM tasks after the kill ($errs); the $n running ones are judged"
        fi
    fi
    ((${#late[@]} == 0)) || add_why "${#late[@]} task(s) configured later than 10 s after running/dockerd's return (${late[*]:0:4}); "
    ((${#never[@]} == 0)) || add_why "${#never[@]} running task(s) never configured within the wait (${never[*]:0:4}); "
    if [[ -z $why ]]; then
        pass x-dockerd-kill "kill -9 dockerd during a $CHAOS_STORM-task storm: $n running tasks all had dird's rules within 10 s of running/dockerd's return (the latest at $worst ms; below 0: before), dockerd back after $back_s s"
    else
        fail x-dockerd-kill "${why%; }"
    fi
    scale_to "$CHAOS_BASE" 300 || log "chaos: could not scale back to $CHAOS_BASE"
}

# --- the phase -------------------------------------------------------------------------------

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
        timed mesh chaos_churn_mesh
        timed original chaos_churn_original
    fi
    if [[ $quick == yes ]]; then
        timed drift chaos_drift
        timed hung chaos_hung
    fi
    # One dird (--config) for the churn, the bad reload and the dockerd kill; with the churn, a
    # hostile neighbour beside it (hostile.sh) and dird's iptables-restore input logged.
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
    [[ $(sbox_dird "$lb_ip") == none ]] ||
        fail x-cleanup "dird doctor: rules of dird (or the original's) left in the sbox after the final uninstall ($SBOX_DOCTOR_OUT)"
    note x-time "phase x ($CHAOS_CHECKS checks) took $((SECONDS - t0)) s (${CHAOS_TIMES%, }; dockerd's iptables: $CHAOS_BK)"
}
