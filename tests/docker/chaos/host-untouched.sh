# x-host-untouched (chaos.sh sources this).
# shellcheck shell=bash disable=SC2154  # (chaos.sh and 1node-inner set the globals)

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
