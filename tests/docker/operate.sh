# Operating checks, sourced by 1node-inner after node.sh: `dird status`, the metrics server
# and `dird doctor` against the running swarm, while dird runs with
# --metrics-addr "$METRICS_ADDR". Each check records one PASS/FAIL line (o-... names).

METRICS_ADDR=127.0.0.1:9477
# The iptables of dockerd's backend, where dird writes (node.sh's DOCKERD_IPTABLES links).
IPT=iptables
[[ -z ${DOCKERD_IPTABLES:-} ]] || IPT=/tmp/dockerd-iptables/iptables

# http_get PATH: the body of GET http://$METRICS_ADDR/PATH (empty on any failure).
http_get() { timeout 5 busybox wget -q -O - "http://$METRICS_ADDR$1" 2>/dev/null || true; }

# metric NAME: the value of the sample NAME (a full series name, labels included), or 0.
metric() { awk -v n="$1" '$1 == n { v = $2 } END { print v + 0 }' <<<"$(http_get /metrics)"; }

# o_status TASKS: `dird status --json` lists TASKS tasks, every one configured.
o_status() {
    local want=$1 json configured others
    json=$("$DIRD" status --json 2>&1) || { fail o-status "dird status --json failed: $(head -c 300 <<<"$json")"; return; }
    configured=$(grep -c '"state": "configured"' <<<"$json" || true)
    others=$(grep -Ec '"state": "(failing|pending)"' <<<"$json" || true)
    if ((configured >= want && others == 0)); then
        pass o-status "dird status --json lists $configured configured task(s), none failing or pending"
    else
        fail o-status "dird status --json: $configured configured (want $want), $others failing or pending"
    fi
    "$DIRD" status >"$RESULTS/status-$NODE.txt" 2>&1 || true
}

# o_metrics: /healthz is 200 and /metrics has non-zero configured-task and apply series.
o_metrics() {
    local health configured applies
    health=$(http_get /healthz)
    configured=$(metric 'dird_tasks{state="configured"}')
    applies=$(metric 'dird_apply_seconds_count{kind="task"}')
    http_get /metrics >"$RESULTS/metrics-$NODE.txt"
    if [[ $health == ok* ]] && ((configured > 0 && applies > 0)); then
        pass o-metrics "/healthz ok; dird_tasks{state=\"configured\"} $configured, dird_apply_seconds_count{kind=\"task\"} $applies"
    else
        fail o-metrics "/healthz '${health:-no answer}', configured $configured, task applies $applies (metrics-$NODE.txt)"
    fi
}

# doctor ARGS...: `dird doctor ARGS`; output in RESULTS/doctor-N.txt, exit status in $DOCTOR_RC.
DOCTOR_N=0
doctor() {
    DOCTOR_N=$((DOCTOR_N + 1))
    DOCTOR_OUT="$RESULTS/doctor-$DOCTOR_N.txt"
    DOCTOR_RC=0
    "$DIRD" doctor "$@" >"$DOCTOR_OUT" 2>&1 || DOCTOR_RC=$?
}

# finding TEXT: the doctor's last run has a FINDING line containing TEXT.
finding() { grep '^FINDING' "$DOCTOR_OUT" | grep -qF -- "$1"; }

# o_doctor LB_IP: healthy node; the ingress gateway given as a load balancer; the original
# daemon's rule in the sbox (dird's next sync would remove it); a task with its dird jump
# deleted (then SIGHUP: dird resyncs and repairs it).
o_doctor() {
    local lb=$1 gw task key
    doctor --ingress-gateway-ips "$lb"
    if ((DOCTOR_RC == 0)); then
        pass o-doctor-healthy "dird doctor exits 0 on the healthy node ($(tail -n 1 "$DOCTOR_OUT"))"
    else
        fail o-doctor-healthy "dird doctor exited $DOCTOR_RC: $(grep '^FINDING' "$DOCTOR_OUT" | head -n 3 | tr '\n' ' ')"
    fi

    gw=$($DOCKER network inspect ingress --format '{{range .IPAM.Config}}{{.Gateway}}{{end}}')
    doctor --ingress-gateway-ips "${gw:-10.0.0.1}"
    if ((DOCTOR_RC == 1)) && finding "${gw:-10.0.0.1}"; then
        pass o-doctor-gateway "dird doctor names the ingress gateway ${gw:-10.0.0.1} given as a load balancer"
    else
        fail o-doctor-gateway "dird doctor (exit $DOCTOR_RC) did not name ${gw:-10.0.0.1}: $(head -n 5 "$DOCTOR_OUT" | tr '\n' ' ')"
    fi

    # dird is paused while rules are missing or foreign, so that its audit cannot repair them
    # before doctor looks.
    kill -STOP "$DIRD_PID"
    in_sbox "$IPT" -t raw -I PREROUTING 1 -j CT --notrack
    doctor --ingress-gateway-ips "$lb"
    if ((DOCTOR_RC == 1)) && grep '^FINDING' "$DOCTOR_OUT" | grep -qi 'original'; then
        pass o-doctor-original "dird doctor names the original daemon's rule in the sbox"
    else
        fail o-doctor-original "dird doctor (exit $DOCTOR_RC) did not name the original daemon's rule: $(grep '^FINDING' "$DOCTOR_OUT" | head -n 3 | tr '\n' ' ')"
    fi
    # (dird's next sync would remove it too: it migrates the original's rules.)
    in_sbox "$IPT" -t raw -D PREROUTING -j CT --notrack 2>/dev/null || true

    task=$($DOCKER ps -q --filter "label=com.docker.swarm.service.name=$SERVICE" | head -n 1)
    key=$($DOCKER inspect -f '{{.NetworkSettings.SandboxKey}}' "$task")
    nsenter --net="$key" "$IPT" -t mangle -D PREROUTING -m comment --comment dird -j "${DIRD_CHAIN_PREFIX}PREROUTING"
    doctor --ingress-gateway-ips "$lb"
    if ((DOCTOR_RC == 1)) && finding "${task:0:12}"; then
        pass o-doctor-task "dird doctor names task ${task:0:12}, whose dird jump was deleted"
    else
        fail o-doctor-task "dird doctor (exit $DOCTOR_RC) did not name task ${task:0:12}: $(grep '^FINDING' "$DOCTOR_OUT" | head -n 3 | tr '\n' ' ')"
    fi
    kill -CONT "$DIRD_PID"
    # SIGHUP: dird re-reads its flags and resyncs every task, which repairs the jump.
    kill -HUP "$DIRD_PID"
}
