# x-hung (chaos.sh sources this).
# shellcheck shell=bash disable=SC2154  # (chaos.sh and 1node-inner set the globals)

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
