# A real Prometheus in the VM scrapes dird (phase o; sourced by 1node-inner after operate.sh):
# Debian's prometheus with deploy/prometheus/dird-alerts.yml loaded, scraping
# $METRICS_ADDR every 2 s under job="dird", on 127.0.0.1:9090 (the VM's own loopback). Checks
# (o-prom-* names), each through `promtool query instant`:
#   o-prom-up         up{job="dird"} == 1, and the alert rules are loaded (/api/v1/rules);
#   o-prom-tasks      dird_tasks{state="configured"} equals the tasks on Docker's ingress network;
#   o-prom-latency    the event -> configured histogram holds the tasks started under dird
#                     (its +Inf bucket >= 1), with how many were configured before start;
#   o-prom-traffic    sum(dird_stamped_packets_total) grows after 10 of the client's requests;
#   o-prom-dashboard  every PromQL expression of deploy/grafana/dird.json is answered without
#                     error (how many return data is noted).
# shellcheck shell=bash disable=SC2154  # (here, RESULTS, METRICS_ADDR: 1node-inner, operate.sh)

PROM_ADDR=127.0.0.1:9090
PROM_DIR=/tmp/dird-prometheus
PROM_PID=

# prom_query EXPR: the first sample's value of EXPR (empty when none; status 1 on an error).
prom_query() {
    local out
    out=$(timeout 10 promtool query instant "http://$PROM_ADDR" "$1" 2>&1) || return 1
    sed -n 's/.* => \([^ ]*\) @.*/\1/p' <<<"$out" | head -n 1
}

# prom_has EXPR: EXPR has a sample now.
prom_has() { [[ -n $(prom_query "$1") ]]; }

prom_start() {
    mkdir -p "$PROM_DIR"
    cat >"$PROM_DIR/prometheus.yml" <<CONF
global: { scrape_interval: 2s, evaluation_interval: 2s }
rule_files: [ "$here/../../deploy/prometheus/dird-alerts.yml" ]
scrape_configs:
  - job_name: dird
    static_configs: [ { targets: [ "$METRICS_ADDR" ] } ]
CONF
    prometheus --config.file="$PROM_DIR/prometheus.yml" --storage.tsdb.path="$PROM_DIR/data" \
        --web.listen-address="$PROM_ADDR" >"$RESULTS/prometheus-$NODE.log" 2>&1 &
    PROM_PID=$!
}

prom_stop() {
    [[ -z $PROM_PID ]] && return 0
    kill -TERM "$PROM_PID" 2>/dev/null
    wait "$PROM_PID" 2>/dev/null
    PROM_PID=
}

# o_prometheus: the o-prom-* checks.
o_prometheus() {
    local want got before after exprs e ok=0 with_data=0 failed=""
    prom_start
    if ! wait_until 90 "Prometheus scrapes dird" prom_has 'up{job="dird"} == 1'; then
        fail o-prom-up "up{job=\"dird\"} is not 1 after 90 s (prometheus-$NODE.log: $(tail -n 2 "$RESULTS/prometheus-$NODE.log" | tr '\n' ' '))"
        prom_stop
        return
    fi
    if timeout 5 busybox wget -q -O - "http://$PROM_ADDR/api/v1/rules" | grep -q '"name":"DirdTasksFailing"'; then
        pass o-prom-up "up{job=\"dird\"} == 1 in a real Prometheus ($(prometheus --version 2>&1 | head -n 1)), dird-alerts.yml loaded"
    else
        fail o-prom-up "up{job=\"dird\"} == 1, but the alert rules are not loaded"
    fi

    # The tasks on the ingress network: its endpoints but the sbox's.
    want=$($DOCKER network inspect ingress --format '{{range $k, $v := .Containers}}{{$k}}{{"\n"}}{{end}}' |
        grep -c -v -e '^ingress-sbox$' -e '^$' || true)
    got=$(prom_query 'dird_tasks{job="dird",state="configured"}')
    if [[ $got == "$want" ]]; then
        pass o-prom-tasks "dird_tasks{state=\"configured\"} = $got = the tasks Docker runs on the ingress network"
    else
        fail o-prom-tasks "dird_tasks{state=\"configured\"} is '${got:-none}', Docker runs $want task(s) on the ingress network"
    fi

    got=$(prom_query 'dird_event_to_configured_seconds_bucket{job="dird",le="+Inf"}')
    before=$(prom_query 'dird_tasks_configured_before_start_total{job="dird"}')
    if [[ -n $got ]] && ((${got%.*} >= 1)); then
        pass o-prom-latency "event -> configured observed for $got task(s) started under dird, ${before:-0} configured before their start; buckets: $(prom_query 'dird_event_to_configured_seconds_bucket{job="dird",le="0.01"}') at <= 0.01 s"
    else
        fail o-prom-latency "dird_event_to_configured_seconds has no observation ('${got:-none}') though tasks started under dird"
    fi

    before=$(prom_query 'sum(dird_stamped_packets_total{job="dird"})')
    for ((e = 0; e < 10; e++)); do ask >/dev/null || true; done
    if wait_until 30 "the stamped packets grow" prom_grows "${before:-0}"; then
        after=$(prom_query 'sum(dird_stamped_packets_total{job="dird"})')
        pass o-prom-traffic "sum(dird_stamped_packets_total) grew from ${before:-none} to $after after 10 requests"
    else
        fail o-prom-traffic "sum(dird_stamped_packets_total) did not grow from '${before:-none}' after 10 requests within 30 s"
    fi

    exprs=$(python3 "$here/../prometheus/dashboard-rules.py" --exprs "$here/../../deploy/grafana/dird.json")
    while IFS= read -r e; do
        if got=$(prom_query "$e"); then
            ok=$((ok + 1))
            [[ -z $got ]] || with_data=$((with_data + 1))
        else
            failed+="$e; "
        fi
    done <<<"$exprs"
    if [[ -z $failed ]]; then
        pass o-prom-dashboard "all $ok PromQL expressions of the dashboard answered by Prometheus, $with_data with data"
    else
        fail o-prom-dashboard "Prometheus refused: $failed"
    fi
    prom_stop
}

# prom_grows BEFORE: the stamped packets are above BEFORE.
prom_grows() {
    local now
    now=$(prom_query 'sum(dird_stamped_packets_total{job="dird"})')
    [[ -n $now ]] && awk -v a="$now" -v b="$1" 'BEGIN { exit !(a > b) }'
}
