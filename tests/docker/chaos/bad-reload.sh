# x-bad-reload (chaos.sh sources this).
# shellcheck shell=bash disable=SC2154  # (chaos.sh and 1node-inner set the globals)

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
