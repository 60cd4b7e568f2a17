# In-VM helpers: one Docker node (dockerd, swarm, the whoami image and service), the client
# namespace, requests from the client, and recording checks. Sourced by the *-inner scripts
# after lib.sh, with RESULTS (the --rwdir folder) and NODE (this VM's name) set.

# The engine: Debian's docker.io (20.10) in /usr/bin and /usr/sbin, or, with ENGINE_BIN set
# (tests/docker/engine.sh), a newer one unpacked under target/engines/ put first. A newer CLI
# may sit in /usr/local/bin on the host, so the Debian paths come before it. runc is always
# the system's.
# (set by node_begin, once RESULTS/env has been sourced)
DOCKER=docker
SBOX=/run/docker/netns/ingress_sbox
CLIENT_NS=client
CLIENT_IP=203.0.113.50
CLIENT_GW=203.0.113.1
SERVICE=whoami
IMAGE=dird-test/whoami:1
PUBLISHED=8080

FAILED=0
COMPLETED=0

# node_begin: send this script's output to RESULTS/log-NODE, reset the check list, and make
# sure a verdict is written however the script ends.
node_begin() {
    export LOG_TAG=$NODE
    export PATH=${ENGINE_BIN:+$ENGINE_BIN:}/usr/sbin:/usr/bin:/sbin:/bin:/usr/local/sbin:/usr/local/bin
    exec >>"$RESULTS/log-$NODE" 2>&1
    : >"$RESULTS/checks-$NODE"
    rm -f "$RESULTS/verdict-$NODE"
    trap node_end EXIT
    log "VM up: kernel $(uname -r), $(nproc) CPUs, dird=$DIRD, engine: $(dockerd --version)"
    if [[ -n ${ENGINE_BIN:-} && $(command -v dockerd) != "$ENGINE_BIN/dockerd" ]]; then
        abort engine "dockerd is $(command -v dockerd), not the engine in $ENGINE_BIN"
    fi
}

node_end() {
    local rc=$?
    set +e
    if ((rc != 0 || COMPLETED == 0)); then
        fail "script" "stopped early (exit status $rc); see log-$NODE"
    fi
    [[ -n "${DIRD_PID:-}" ]] && stop_dird
    [[ -n "${DOCKERD_PID:-}" ]] && stop_dockerd
    [[ -n "${CONTAINERD_PID:-}" ]] && { kill -TERM "$CONTAINERD_PID"; wait "$CONTAINERD_PID"; }
    if ((FAILED == 0)); then echo PASS; else echo FAIL; fi >"$RESULTS/verdict-$NODE"
    log "verdict: $(cat "$RESULTS/verdict-$NODE")"
}

pass() { log "PASS $1: $2"; echo "PASS  $1: $2" >>"$RESULTS/checks-$NODE"; }
fail() { log "FAIL $1: $2"; echo "FAIL  $1: $2" >>"$RESULTS/checks-$NODE"; FAILED=1; }
note() { log "note $1: $2"; echo "note  $1: $2" >>"$RESULTS/checks-$NODE"; }
# abort NAME DETAIL: record a failure and stop (later phases depend on this one).
abort() { fail "$1" "$2"; exit 1; }

alive() { [[ -e /proc/$1 ]] && ! grep -q ') Z' "/proc/$1/stat" 2>/dev/null; }

load_modules() {
    local m
    for m in ip_vs ip_vs_rr xt_ipvs veth bridge vxlan dummy br_netfilter overlay \
        nf_conntrack nf_nat xt_mark xt_conntrack xt_addrtype xt_comment xt_multiport \
        xt_TOS xt_DSCP xt_CONNMARK xt_CT xt_tos xt_dscp iptable_nat iptable_mangle iptable_raw \
        iptable_filter; do
        modprobe -q "$m" 2>/dev/null || true
    done
}

# --- dockerd -------------------------------------------------------------------------------

# containerd runs on its own (as with Debian's systemd units): dockerd's built-in start of
# containerd gives up after a fixed time, too short for a loaded machine under TCG. It also
# stays up across the dockerd restart of the one-node test.
start_containerd() {
    mkdir -p /var/lib/docker
    mountpoint -q /var/lib/docker || mount -t tmpfs -o size=1500m tmpfs /var/lib/docker
    log "starting containerd"
    containerd --root /var/lib/docker/containerd --state /run/containerd \
        >>"$RESULTS/containerd-$NODE.log" 2>&1 &
    CONTAINERD_PID=$!
    containerd_up_or_dead() { ! alive "$CONTAINERD_PID" || timeout 20 ctr version; }
    wait_until 180 "containerd answers (pid $CONTAINERD_PID)" containerd_up_or_dead &&
        alive "$CONTAINERD_PID" ||
        abort containerd "containerd did not start within 180 s: $(tail -n 2 "$RESULTS/containerd-$NODE.log" | tr '\n' ' ')"
}

# iptables_backends: DOCKERD_IPTABLES (nft|legacy) is the backend dockerd runs, through a
# folder of iptables* links first on its PATH; SYSTEM_IPTABLES (nft|legacy) is the system
# default every other program (dird included) gets, switched with a tmpfs copy of
# /etc/alternatives (the VM's root filesystem is the host's, read-only). Empty: unchanged.
iptables_backends() {
    local t
    if [[ -n ${SYSTEM_IPTABLES:-} ]]; then
        mkdir -p /tmp/alternatives
        cp -a /etc/alternatives/. /tmp/alternatives/
        mount -t tmpfs tmpfs /etc/alternatives
        cp -a /tmp/alternatives/. /etc/alternatives/
        for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
            ln -sfn "/usr/sbin/${t/tables/tables-$SYSTEM_IPTABLES}" "/etc/alternatives/$t"
        done
        log "system iptables: $(iptables --version)"
    fi
    if [[ -n ${DOCKERD_IPTABLES:-} ]]; then
        mkdir -p /tmp/dockerd-iptables
        for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
            ln -sfn "/usr/sbin/${t/tables/tables-$DOCKERD_IPTABLES}" "/tmp/dockerd-iptables/$t"
        done
        log "dockerd's iptables: $(/tmp/dockerd-iptables/iptables --version)"
    fi
}

start_dockerd() {
    [[ -n ${CONTAINERD_PID:-} ]] || start_containerd
    local path=$PATH
    [[ -z ${DOCKERD_IPTABLES:-} ]] || path=/tmp/dockerd-iptables:$PATH
    log "starting dockerd ($(dockerd --version))"
    PATH=$path dockerd --host unix:///run/docker.sock --data-root /var/lib/docker \
        --containerd /run/containerd/containerd.sock >>"$RESULTS/dockerd-$NODE.log" 2>&1 &
    DOCKERD_PID=$!
    dockerd_up_or_dead() { ! alive "$DOCKERD_PID" || timeout 20 $DOCKER info; }
    wait_until 300 "dockerd answers (pid $DOCKERD_PID)" dockerd_up_or_dead && alive "$DOCKERD_PID" ||
        abort dockerd "dockerd did not start within 300 s: $(tail -n 2 "$RESULTS/dockerd-$NODE.log" | tr '\n' ' ')"
}

stop_dockerd() {
    local pid=$DOCKERD_PID
    DOCKERD_PID=
    log "stopping dockerd (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || return 0
    local start=$SECONDS
    while alive "$pid"; do
        if ((SECONDS - start > 90)); then
            log "dockerd did not stop within 90 s: SIGKILL"
            kill -KILL "$pid" 2>/dev/null
            break
        fi
        sleep 1
    done
    wait "$pid" 2>/dev/null || true
    log "dockerd stopped after $((SECONDS - start)) s"
}

# --- image and service -----------------------------------------------------------------------

# A two-file image: busybox, and a CGI that prints the peer address busybox httpd saw.
build_image() {
    local dir=/tmp/dird-whoami
    rm -rf "$dir"
    mkdir -p "$dir/bin" "$dir/www/cgi-bin"
    cp /bin/busybox "$dir/bin/busybox"
    ln -s busybox "$dir/bin/sh"
    cat >"$dir/www/cgi-bin/ip" <<'EOF'
#!/bin/sh
read -r host </etc/hostname
printf 'Content-Type: text/plain\r\n\r\n'
echo "remote=$REMOTE_ADDR host=$host"
EOF
    chmod 755 "$dir/www/cgi-bin/ip"
    tar -C "$dir" -c . | $DOCKER import \
        --change 'CMD ["/bin/busybox", "httpd", "-f", "-p", "80", "-h", "/www"]' - "$IMAGE" >/dev/null ||
        abort image "docker import failed"
    log "image $IMAGE built"
}

# create_service [EXTRA docker service create OPTIONS...]
create_service() {
    $DOCKER service create --detach --quiet --name "$SERVICE" --no-resolve-image \
        --publish "$PUBLISHED:80" --replicas 1 "$@" "$IMAGE" >/dev/null ||
        abort service "docker service create failed"
}

running_tasks() {
    $DOCKER service ps "$SERVICE" --filter desired-state=running --format '{{.CurrentState}}' 2>/dev/null |
        grep -c '^Running' || true
}
tasks_are() { [[ $(running_tasks) == "$1" ]]; }

wait_tasks() {
    wait_until "${2:-360}" "$1 running task(s) of $SERVICE" tasks_are "$1" || {
        $DOCKER service ps --no-trunc "$SERVICE" >&2 || true
        return 1
    }
}

# svc_running SERVICE N: at least N of the service's tasks are running.
svc_running() {
    local n
    n=$($DOCKER service ps "$1" --filter desired-state=running --format '{{.CurrentState}}' 2>/dev/null |
        grep -c '^Running' || true)
    ((n >= $2))
}

# task_errors SERVICE...: Docker's own reasons why tasks failed (the ERROR column of
# `docker service ps --no-trunc`), distinct ones on one line; "none reported" when empty.
task_errors() {
    local e
    # (JSON: one line per task even when Docker's message holds a newline)
    e=$(for s in "$@"; do $DOCKER service ps --no-trunc --format '{{json .Error}}' "$s" 2>/dev/null; done |
        sed -E 's/^"//; s/"$//; s/\\n/ /g; s/\\"/"/g; s/\\u003c/</g; s/\\u003e/>/g; s/\\u0026/\&/g' |
        grep -v '^$' | sort | uniq -c | sort -rn | head -n 3 |
        sed -E 's/^ *([0-9]+) /\1x /' | tr '\n' ';' | sed 's/;$//; s/;/; /g')
    printf 'Docker: %s\n' "${e:-none reported}"
}

# wait_tasks_or_abort N CHECK [SECONDS]: wait_tasks, else a FAIL line for CHECK with Docker's
# reason and the end of this script.
wait_tasks_or_abort() {
    wait_tasks "$1" "${3:-360}" ||
        abort "$2" "$1 task(s) of $SERVICE not running within ${3:-360} s; $(task_errors "$SERVICE")"
}

# This node's address on the ingress network (its ingress_sbox), e.g. 10.0.0.2.
ingress_ip() {
    local a
    a=$($DOCKER network inspect ingress --format '{{(index .Containers "ingress-sbox").IPv4Address}}' 2>/dev/null) || return 1
    [[ $a == */* ]] || return 1
    printf '%s\n' "${a%/*}"
}

in_sbox() { nsenter --net="$SBOX" "$@"; }

# sbox_rules: every rule of the sbox, nf_tables and legacy backends, without counters.
sbox_rules() {
    {
        echo "### iptables-save (nft)"
        in_sbox iptables-nft-save 2>&1 | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//' || true
        echo "### iptables-legacy-save"
        in_sbox iptables-legacy-save 2>&1 | grep -v '^#' | sed 's/\[[0-9]*:[0-9]*\]//' || true
        echo "### ipvsadm -Ln"
        in_sbox ipvsadm -Ln 2>&1 || true
    }
}

# --- the client namespace --------------------------------------------------------------------

make_client() {
    ip netns add "$CLIENT_NS"
    ip link add cl-gw type veth peer name cl-eth
    ip link set cl-eth netns "$CLIENT_NS"
    ip addr add "$CLIENT_GW/24" dev cl-gw
    ip link set cl-gw up
    ip -n "$CLIENT_NS" link set lo up
    ip -n "$CLIENT_NS" link set cl-eth name eth0
    ip -n "$CLIENT_NS" addr add "$CLIENT_IP/24" dev eth0
    ip -n "$CLIENT_NS" link set eth0 up
    ip -n "$CLIENT_NS" route add default via "$CLIENT_GW"
    log "client namespace $CLIENT_NS: $CLIENT_IP via $CLIENT_GW"
}

# forward_client: this node forwards the client's packets to the other node and back (Docker's
# FORWARD policy is DROP), for requests through the other node's published port (ASK_HOST).
forward_client() {
    local dir
    for dir in -s -d; do
        iptables -C FORWARD "$dir" "$CLIENT_IP" -j ACCEPT 2>/dev/null ||
            iptables -I FORWARD 1 "$dir" "$CLIENT_IP" -j ACCEPT
    done
}

# ask: one request from the client to the published port of ASK_HOST (default: this node, at
# the client's gateway); prints "REMOTE HOST" (REMOTE as a plain IPv4 address).
ask() {
    local out remote host
    # (busybox 1.35's own wget -T crashes: bound it with timeout instead)
    out=$(timeout 8 ip netns exec "$CLIENT_NS" busybox wget -q -O - \
        "http://${ASK_HOST:-$CLIENT_GW}:$PUBLISHED/cgi-bin/ip" 2>/dev/null) || return 1
    [[ $out =~ remote=([^ ]*)\ host=([^ ]*) ]] || return 1
    remote=${BASH_REMATCH[1]#[}      # busybox httpd: [::ffff:10.0.0.2]
    remote=${remote%]}
    remote=${remote#::ffff:}
    host=${BASH_REMATCH[2]}
    printf '%s %s\n' "$remote" "$host"
}

# observe NAME WANT TASKS SETTLE_SECONDS
# Waits (up to SETTLE_SECONDS) until answers from TASKS distinct tasks all showed WANT as the
# peer address, then asks 3*TASKS more times: every one must answer and show WANT. Records
# PASS/FAIL NAME. Answers seen while settling are logged. Asks with OBSERVE_ASK (a function
# printing "PEER TASK"; default: ask, the whoami service).
observe() {
    local name=$1 want=$2 tasks=$3 limit=$4 start=$SECONDS a r h seen=" " n=0 other=""
    local asker=${OBSERVE_ASK:-ask}
    while :; do
        if a=$("$asker"); then
            r=${a% *} h=${a#* }
            log "  $name: task $h saw $r"
            if [[ $r == "$want" ]]; then
                [[ $seen == *" $h "* ]] || { seen+="$h "; n=$((n + 1)); }
            else
                other="$r"
            fi
        else
            log "  $name: no answer"
        fi
        ((n >= tasks)) && break
        if ((SECONDS - start >= limit)); then
            fail "$name" "within $limit s, $n of $tasks task(s) answered with peer $want (last other peer seen: ${other:-none})"
            debug_dump "$name"
            return 1
        fi
        sleep 1
    done
    local k bad="" hosts=" "
    for ((k = 0; k < 3 * tasks; k++)); do
        if a=$("$asker"); then
            r=${a% *} h=${a#* }
            [[ $hosts == *" $h "* ]] || hosts+="$h "
            [[ $r == "$want" ]] || bad+="task $h saw $r; "
        else
            bad+="no answer; "
        fi
    done
    if [[ -n $bad ]]; then
        fail "$name" "after settling ($((SECONDS - start)) s), not every answer showed $want: $bad"
        debug_dump "$name"
        return 1
    fi
    pass "$name" "$((3 * tasks)) answers from task(s)${hosts% } all saw peer $want (settled in $((SECONDS - start)) s)"
}

# --- dird ------------------------------------------------------------------------------------

# start_dird ARGS...: dird --install ARGS in the background, log in RESULTS/dird-NODE.log.
# With DIRD_UNIT (the VM booted with systemd as init: test-1node with DIRD_SYSTEMD=1), dird runs
# as that systemd unit instead, its hardening as shipped (start_dird_unit).
start_dird() {
    if [[ -n ${DIRD_UNIT:-} ]]; then
        start_dird_unit "$@"
        return
    fi
    log "starting: $DIRD --install $*"
    echo "=== $(date +%T) dird --install $*" >>"$RESULTS/dird-$NODE.log"
    "$DIRD" --install "$@" >>"$RESULTS/dird-$NODE.log" 2>&1 &
    DIRD_PID=$!
    sleep 3
    if ! alive "$DIRD_PID"; then
        wait "$DIRD_PID" 2>/dev/null && rc=0 || rc=$?
        DIRD_PID=
        abort dird-start "dird --install exited at once (status $rc): $(tail -n 3 "$RESULTS/dird-$NODE.log" | tr '\n' ' ')"
    fi
    log "dird runs (pid $DIRD_PID)"
}

# start_dird_unit ARGS...: DIRD_UNIT installed as dird.service under /run/systemd/system with a
# drop-in that replaces only what names this machine (ExecStart: this build and ARGS instead of
# /usr/sbin/dird and /etc/default/dird; the log appended to RESULTS/dird-NODE.log by systemd),
# started; DIRD_PID is its main pid. Every other setting (the hardening) is the unit's own.
start_dird_unit() {
    local a dropin=/run/systemd/system/dird.service.d
    for a in "$@"; do
        [[ $a =~ ^[A-Za-z0-9.,:/=_-]+$ ]] || abort dird-start "start_dird_unit: argument '$a' would need quoting in a unit"
    done
    # The unit wants docker.service: here the test's dockerd runs, not this machine's unit.
    systemctl mask --runtime --quiet docker.service docker.socket containerd.service
    mkdir -p "$dropin"
    install -m 0644 "$DIRD_UNIT" /run/systemd/system/dird.service
    printf '[Service]\nEnvironmentFile=\nExecStart=\nExecStart=%s --install %s\nStandardOutput=append:%s\nStandardError=inherit\n' \
        "$DIRD" "$*" "$RESULTS/dird-$NODE.log" >"$dropin/test.conf"
    echo "=== $(date +%T) systemctl start dird ($DIRD_UNIT; dird --install $*)" >>"$RESULTS/dird-$NODE.log"
    systemctl daemon-reload
    log "starting: systemctl start dird ($DIRD_UNIT, dird --install $*)"
    systemctl start dird || abort dird-start "systemctl start dird failed: $(systemctl status --no-pager dird 2>&1 | tail -n 3 | tr '\n' ' ')"
    sleep 3
    DIRD_PID=$(systemctl show -p MainPID --value dird)
    if [[ $(systemctl is-active dird) != active || $(systemctl show -p NRestarts --value dird) != 0 || $DIRD_PID == 0 ]]; then
        DIRD_PID=
        abort dird-start "dird.service is not running: $(systemctl status --no-pager dird 2>&1 | tail -n 3 | tr '\n' ' ') $(tail -n 3 "$RESULTS/dird-$NODE.log" | tr '\n' ' ')"
    fi
    pass unit-running "dird runs as dird.service under systemd (pid $DIRD_PID), the hardening of $DIRD_UNIT (exposure $(systemd-analyze security dird 2>/dev/null | awk '/Overall exposure/ { print $(NF - 2), $(NF - 1) }') by systemd-analyze security)"
}

stop_dird() {
    local pid=$DIRD_PID rc=0
    DIRD_PID=
    if [[ -n ${DIRD_UNIT:-} ]]; then
        # systemctl stop sends SIGTERM (SIGKILL after TimeoutStopSec). Result=success also
        # counts a death by SIGTERM, so dird's own last words must be in its log as well.
        systemctl stop dird || rc=$?
        [[ $(systemctl show -p Result --value dird) == success ]] || rc=1
        tail -n 50 "$RESULTS/dird-$NODE.log" | grep -q "INFO stopping; installed rules are left in place" || rc=1
        log "dird.service stopped (main pid $pid, $(systemctl show -p Result -p NRestarts dird | tr '\n' ' '); status $rc)"
        return "$rc"
    fi
    alive "$pid" || { log "dird (pid $pid) had already exited"; return 1; }
    kill -TERM "$pid"
    local start=$SECONDS
    while alive "$pid"; do
        if ((SECONDS - start > 30)); then
            log "dird did not stop within 30 s of SIGTERM: SIGKILL"
            kill -KILL "$pid"
            break
        fi
        sleep 1
    done
    wait "$pid" 2>/dev/null || rc=$?
    log "dird stopped (exit status $rc)"
    return "$rc"
}

uninstall_dird() {
    echo "=== $(date +%T) dird --uninstall $*" >>"$RESULTS/dird-$NODE.log"
    "$DIRD" --uninstall "$@" >>"$RESULTS/dird-$NODE.log" 2>&1
}

# The prefix of dird's chains (to delete one of its jumps by hand; README "What dird installs").
DIRD_CHAIN_PREFIX=DIRD-

# sbox_is STATE LB: whether `dird doctor --ingress-gateway-ips LB` (with DIRD_ARGS) says the
# sbox is in STATE: "none" (none of dird's rules, none of the original daemon's), "in-place"
# (dird's load-balancer rules as the daemon would have them) or "other". Runs in this shell
# (not in $(...)), so that its report's path stays in $SBOX_DOCTOR_OUT for the failure line.
SBOX_DOCTOR_N=0
SBOX_DOCTOR_OUT=
sbox_is() {
    local want=$1 got extra_args=()
    read -ra extra_args <<<"${DIRD_ARGS:-}"
    SBOX_DOCTOR_N=$((SBOX_DOCTOR_N + 1))
    SBOX_DOCTOR_OUT=$RESULTS/doctor-$NODE-sbox-$SBOX_DOCTOR_N.txt
    "$DIRD" doctor --ingress-gateway-ips "$2" "${extra_args[@]}" >"$SBOX_DOCTOR_OUT" 2>&1 || true
    if grep -q "ingress_sbox holds none of dird's" "$SBOX_DOCTOR_OUT" &&
        grep -q "ingress_sbox holds none of the original daemon's" "$SBOX_DOCTOR_OUT"; then
        got=none
    elif grep -q "ingress_sbox: dird's load-balancer rules in place" "$SBOX_DOCTOR_OUT"; then
        got=in-place
    else
        got=other
    fi
    [[ $got == "$want" ]]
}

# check_no_rules CHECK TAG WHERE: the sbox's rules now into RESULTS/sbox-NODE-TAG.txt (for the
# reader); PASS CHECK when `dird doctor` says the sbox holds none of dird's rules, FAIL naming
# its report otherwise (WHERE: "the manager's sbox").
check_no_rules() {
    local file=$RESULTS/sbox-$NODE-$2.txt
    sbox_rules >"$file"
    if sbox_is none auto; then
        pass "$1" "dird doctor: none of dird's rules left in $3"
    else
        fail "$1" "dird doctor: rules of dird left in $3 ($(grep -m1 'ingress_sbox' "$SBOX_DOCTOR_OUT" | cut -c1-160); ${SBOX_DOCTOR_OUT##*/})"
    fi
}

# --- two-VM handshakes through the shared results folder -----------------------------------

# post_note NAME [TEXT]: leave the note NAME (a file) for the other VM.
post_note() { printf '%s\n' "${2:-}" >"$RESULTS/sig-$1.tmp" && mv "$RESULTS/sig-$1.tmp" "$RESULTS/sig-$1"; }
# wait_note NAME SECONDS: wait for the other VM's note NAME and print it; give up early if the
# other VM failed.
wait_note() {
    local start=$SECONDS
    log "waiting for note $1"
    until [[ -e "$RESULTS/sig-$1" ]]; do
        if [[ -e "$RESULTS/sig-abort" ]]; then
            abort "peer" "the other VM aborted: $(cat "$RESULTS/sig-abort")"
        fi
        if ((SECONDS - start >= $2)); then
            abort "peer" "no note '$1' from the other VM within $2 s"
        fi
        sleep 2
    done
    log "got note $1 after $((SECONDS - start)) s"
    cat "$RESULTS/sig-$1"
}

# debug_dump NAME: the state that explains a failed request, into RESULTS/debug-NODE-NAME.txt.
debug_dump() {
    local f="$RESULTS/debug-$NODE-$1.txt"
    log "debug dump: $f"
    {
        echo "### request (verbose)"
        timeout 8 ip netns exec "$CLIENT_NS" busybox wget -O - "http://$CLIENT_GW:$PUBLISHED/cgi-bin/ip" 2>&1
        echo "### client: ip addr / route"
        ip -n "$CLIENT_NS" addr; ip -n "$CLIENT_NS" route
        echo "### root: ip -br addr / route / rule"
        ip -br addr; ip route; ip rule
        echo "### root: iptables-save"
        iptables-save 2>&1
        echo "### sbox: ip addr / route"
        in_sbox ip addr; in_sbox ip route
        echo "### sbox rules"
        sbox_rules
        echo "### docker service ps"
        $DOCKER service ps --no-trunc "$SERVICE"
        echo "### docker ps"
        $DOCKER ps --no-trunc
        local c
        for c in $($DOCKER ps -q --filter "label=com.docker.swarm.service.name=$SERVICE"); do
            echo "### task $c: netns state"
            local pid
            pid=$($DOCKER inspect -f '{{.State.Pid}}' "$c")
            nsenter --net="/proc/$pid/ns/net" ip addr
            nsenter --net="/proc/$pid/ns/net" ip route
            nsenter --net="/proc/$pid/ns/net" ip rule
            nsenter --net="/proc/$pid/ns/net" iptables-save
            $DOCKER logs --tail 20 "$c"
        done
    } >"$f" 2>&1 || true
}
