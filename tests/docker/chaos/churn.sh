# x-churn-mesh, x-churn-original, x-churn-dird, x-churn-latency, x-churn-before-start
# (chaos.sh sources this).
# shellcheck shell=bash disable=SC2154  # (chaos.sh and 1node-inner set the globals)

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
# rolls; sets CHURN (churn_counts), CHURN_SECS,
# CHURN_ERR (what went wrong with Docker, empty if nothing), CHURN_CPU (the VM's busy share
# over the run and, with dird running, dird's CPU seconds). Scales back afterwards.
chaos_churn() {
    local mode=$1 out=$CHAOS_DIR/churn-$1.txt start=$SECONDS hz cpus vm0 vm1 d0="" d1 wall0 wall1
    CHURN_ERR=""
    hz=100 cpus=$(nproc) # (hz: USER_HZ, the /proc tick, 100 on x86 Linux)
    wall0=$(date +%s%N) vm0=$(vm_ticks)
    [[ -z ${DIRD_PID:-} ]] || d0=$(pid_ticks "$DIRD_PID")
    [[ -z ${DIRD_PID:-} ]] || status_sampler_start "$CHAOS_DIR/configured-at.txt"
    [[ -z ${DIRD_PID:-} ]] || churn_events_start "$CHAOS_DIR/churn-events.txt"
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
    churn_events_stop
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

# churn_health: for the churn runs (the mesh's and dird's alike) the service answers a health
# check, the CGI on loopback, as a production service would: Docker then puts a new task into
# the load balancers' rotation once it answers, not as soon as its container has started (moby's
# swarm executor activates the service binding right after the start without a health check,
# and at `health_status: healthy` with one), which under emulation can come before busybox
# httpd listens (a connection refused). The settings are lenient (every 5 s, 10 s to answer, 10
# failures after a 60 s start period before Docker kills a task) because under emulation a
# loaded VM answers late: with 3 s / 3 s / 3 retries Docker 20.10 killed tasks as unhealthy
# during the churn. CHAOS_HEALTH=0 runs the churn without one.
churn_health() {
    [[ ${CHAOS_HEALTH:-1} == 1 ]] || return 0
    timeout 600 $DOCKER service update --detach=false --quiet \
        --health-cmd "/bin/busybox wget -q -O /dev/null http://127.0.0.1/cgi-bin/ip" \
        --health-interval 5s --health-timeout 10s --health-retries 10 --health-start-period 60s \
        "$SERVICE" >/dev/null 2>&1 ||
        log "chaos: the churn service's health check was not set: $(task_errors "$SERVICE")"
    wait_tasks "$CHAOS_BASE" 240 || log "chaos: $CHAOS_BASE tasks not running after the health check was set"
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

# churn_events_start FILE, churn_events_stop: Docker's container `start` and network `connect`
# events streamed into FILE while the churn runs. (Asked afterwards with --since, the daemon
# answers from its last 256 events only, and the health checks' exec events fill those.)
CHURN_EVENTS_PID=
churn_events_start() {
    $DOCKER events --filter type=container --filter type=network --filter event=start --filter event=connect \
        --format '{{.TimeNano}}|{{.Type}}|{{.Action}}|{{.Actor.ID}}|{{index .Actor.Attributes "container"}}|{{index .Actor.Attributes "name"}}|{{index .Actor.Attributes "com.docker.swarm.service.name"}}' \
        >"$1" 2>/dev/null &
    CHURN_EVENTS_PID=$!
}
churn_events_stop() {
    [[ -n $CHURN_EVENTS_PID ]] || return 0
    sleep 1 # (the last events of the run reach the stream)
    kill "$CHURN_EVENTS_PID" 2>/dev/null || true
    wait "$CHURN_EVENTS_PID" 2>/dev/null || true
    CHURN_EVENTS_PID=
}

# chaos_latency: for each task of the service started during the churn, the time from
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
    done <"$CHAOS_DIR/churn-events.txt"
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
