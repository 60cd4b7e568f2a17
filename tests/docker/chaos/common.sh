# The chaos checks' shared helpers, set-up and tear-down (chaos.sh sources this first).
# shellcheck shell=bash disable=SC2154  # (chaos.sh and 1node-inner set the globals)

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
