# In-VM: a hostile neighbour for the churn check (chaos.sh sources this; CHAOS_CHECKS=churn or
# all). A service with NET_ADMIN whose namespace (written here from the VM, as a container
# with NET_ADMIN could write its own) holds:
#   - a forged iptables-save line: a comment with newlines makes `iptables-save` print
#     `-A PREROUTING -M <program> -m comment --comment forged -j DIRD-X` as a line of its own,
#     beside a chain DIRD-X (iptables' -M names the program it runs to load a module);
#   - 20,000 rules;
#   - 40 addresses of the ingress subnet on lo, those the next tasks will get.
# dird runs with its iptables-restore input logged (DIRD_IPTABLES_RESTORE, a wrapper). Checks:
#   x-hostile-text     nothing of the hostile text (-M, forged, DIRD-X, the program) ever
#                      reached iptables-restore, and the program never ran;
#   x-hostile-reported `dird status --json` reports the hostile task failing, with why, and
#                      `dird doctor` names it in a FINDING;
# while x-churn-dird and x-churn-before-start judge the normal service beside it.
# shellcheck shell=bash disable=SC2154  # (lb_ip, extra, CHAOS_BK, CHAOS_DIR: chaos.sh)

HOSTILE_SERVICE=dird-chaos-hostile
# A chain named like dird's own (node.sh's DIRD_CHAIN_PREFIX), which dird must leave alone.
HOSTILE_CHAIN=${DIRD_CHAIN_PREFIX}X
HOSTILE_PORT=8082
HOSTILE_RULES=20000
HOSTILE_ADDRESSES=40

# The program a forged -M would make a root iptables-restore run, and what it leaves.
hostile_program() { printf '%s\n' "$CHAOS_DIR/evil.sh"; }
hostile_marker() { printf '%s\n' "$CHAOS_DIR/evil-ran"; }

# hostile_restore_log: where the wrapper logs every input dird gives iptables-restore.
hostile_restore_log() { printf '%s\n' "$CHAOS_DIR/restore-input.log"; }

# hostile_setup: the service, its namespace's hostile content, and the logging wrapper.
hostile_setup() {
    local id key next i
    printf '#!/bin/sh\ntouch %s\n' "$(hostile_marker)" >"$(hostile_program)"
    chmod 755 "$(hostile_program)"
    # (the wrapper's own $-expressions are its, not this script's)
    # shellcheck disable=SC2016
    {
        echo '#!/bin/sh'
        echo 'input=$(cat)'
        echo 'printf "=== %s\n%s\n" "$*" "$input" >>'"$(hostile_restore_log)"
        echo 'printf "%s\n" "$input" | exec iptables-'"$CHAOS_BK"'-restore "$@"'
    } >"$CHAOS_DIR/restore-logged"
    chmod 755 "$CHAOS_DIR/restore-logged"
    $DOCKER service create --detach --quiet --name "$HOSTILE_SERVICE" --cap-add NET_ADMIN \
        --publish "$HOSTILE_PORT:80" --replicas 1 --no-resolve-image "$IMAGE" >/dev/null ||
        { fail x-hostile-setup "docker service create $HOSTILE_SERVICE failed"; return 1; }
    wait_until 240 "$HOSTILE_SERVICE runs" svc_running "$HOSTILE_SERVICE" 1 ||
        { fail x-hostile-setup "$HOSTILE_SERVICE did not run; $(task_errors "$HOSTILE_SERVICE")"; return 1; }
    id=$(task_ids "$HOSTILE_SERVICE" | head -n 1)
    key=$(sandbox_key "$id") || { fail x-hostile-setup "no sandbox for $HOSTILE_SERVICE"; return 1; }
    HOSTILE_ID=${id:0:12}
    local ipt=(nsenter --net="$key" "iptables-$CHAOS_BK")
    local err
    err=$({
        "${ipt[@]}" -t mangle -N "$HOSTILE_CHAIN" &&
            "${ipt[@]}" -t mangle -A PREROUTING -m comment --comment \
                "$(printf 'z\n-A PREROUTING -M %s -m comment --comment forged -j %s\n#' "$(hostile_program)" "$HOSTILE_CHAIN")" -j ACCEPT
    } 2>&1) || { fail x-hostile-setup "iptables-$CHAOS_BK in $key: $(printf '%s' "$err" | tr '\n' ' ')"; return 1; }
    {
        echo '*filter'
        echo ':HOSTILE - [0:0]'
        for ((i = 0; i < HOSTILE_RULES; i++)); do
            echo "-A HOSTILE -s 10.$((i / 250 % 250)).$((i % 250)).1/32 -j RETURN"
        done
        echo COMMIT
    } | nsenter --net="$key" "iptables-$CHAOS_BK-restore" --noflush
    # The next addresses of the ingress subnet after the highest one in use.
    next=$($DOCKER network inspect ingress --format '{{range .Containers}}{{.IPv4Address}} {{end}}' |
        tr ' ' '\n' | sed -n 's|^[0-9.]*\.\([0-9]*\)/.*|\1|p' | sort -n | tail -n 1)
    for ((i = 1; i <= HOSTILE_ADDRESSES; i++)); do
        nsenter --net="$key" ip addr add "${lb_ip%.*}.$((next + i))/32" dev lo 2>/dev/null || true
    done
    local saved
    saved=$(nsenter --net="$key" "iptables-$CHAOS_BK-save" -t mangle 2>&1)
    if ! grep -q -- "^-A PREROUTING -M $(hostile_program) " <<<"$saved"; then
        fail x-hostile-setup "iptables-$CHAOS_BK-save does not print the forged line; its mangle PREROUTING: $(grep -e '^-A PREROUTING' -e 'iptables' <<<"$saved" | head -n 5 | tr '\n' ' ')"
        return 1
    fi
    log "hostile: $HOSTILE_SERVICE ($HOSTILE_ID) holds a forged save line, $HOSTILE_RULES rules, $HOSTILE_ADDRESSES ingress addresses on lo (from .$((next + 1)))"
}

# hostile_env: the environment dird runs with while the hostile service is there.
hostile_env() {
    printf '%s\n' "DIRD_IPTABLES_SAVE=iptables-$CHAOS_BK-save" "DIRD_IPTABLES_RESTORE=$CHAOS_DIR/restore-logged"
}

# hostile_check: after the churn, with dird still running.
hostile_check() {
    local log found json doc
    log=$(hostile_restore_log)
    if [[ ! -s $log ]]; then
        fail x-hostile-text "dird's iptables-restore input was not logged ($log empty)"
    elif found=$(grep -n -e '-M ' -e forged -e "$HOSTILE_CHAIN" -e "$(hostile_program)" "$log" | head -n 3); then
        fail x-hostile-text "hostile text reached iptables-restore: $found"
    elif [[ -e $(hostile_marker) ]]; then
        fail x-hostile-text "the program named by the forged -M ran"
    else
        pass x-hostile-text "$(grep -c '^=== ' "$log") iptables-restore input(s) logged: none holds the hostile text (-M, forged, $HOSTILE_CHAIN, the program); the program never ran"
    fi
    json=$("$DIRD" status --json 2>&1) || true
    found=$(python3 -c 'import json,sys
s = json.loads(sys.stdin.read())
t = [t for t in s["tasks"] if t["id"] == sys.argv[1]]
print(t[0]["state"] + " " + (t[0].get("last_error") or "") if t else "absent")' "$HOSTILE_ID" <<<"$json" 2>&1) || true
    doctor --ingress-gateway-ips "$lb_ip"
    doc=$(grep "^FINDING: task $HOSTILE_ID " "$DOCTOR_OUT" | head -n 1 || true)
    if [[ $found == failing* && $found == *"quote left open"* && -n $doc ]]; then
        pass x-hostile-reported "dird status: ${found:0:160}; dird doctor: ${doc:0:160}"
    else
        fail x-hostile-reported "dird status: ${found:0:200}; dird doctor: ${doc:-no FINDING for $HOSTILE_ID}"
    fi
}

hostile_cleanup() {
    $DOCKER service rm "$HOSTILE_SERVICE" >/dev/null 2>&1 || true
}
