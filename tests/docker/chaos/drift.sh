# x-drift (chaos.sh sources this).
# shellcheck shell=bash disable=SC2154  # (chaos.sh and 1node-inner set the globals)

chaos_drift() {
    local id key jump words=() i b_sbox b_task t0 ok="" s_ok=no t_ok=no why="" deleted rules
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
            # Whether the deletions took is judged by their exit status, not by comparing the
            # namespace afterwards: dird's resync (every 5 s) may already have repaired it.
            deleted=0
            for i in PREROUTING OUTPUT; do
                if nsenter --net="$key" "iptables-$CHAOS_BK" -t mangle -D "$i" -m comment --comment dird \
                    -j "$DIRD_CHAIN_PREFIX$i"; then
                    deleted=$((deleted + 1))
                else
                    log "chaos: the task's $i jump could not be deleted"
                fi
            done
            rules=0
            for i in 1 2 3 4 5 6 7 8; do
                nsenter --net="$key" ip -4 rule del priority 32700 2>/dev/null || break
                rules=$((rules + 1))
            done
            if ((deleted != 2 || rules == 0)); then
                fail x-drift "the task's rules could not all be deleted ($deleted of 2 jumps, $rules policy rules; test bug)"
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
