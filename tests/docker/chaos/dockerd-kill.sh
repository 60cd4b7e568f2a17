# x-dockerd-kill (chaos.sh sources this).
# shellcheck shell=bash disable=SC2154  # (chaos.sh and 1node-inner set the globals)

chaos_dockerd_kill() {
    local back back_s t_kill ids id k st deadline last_new n c due lat worst="" late=() never=() why=""
    local lid ms errs out
    local -A key=() started=() conf=() logged=()
    local newids=()
    $DOCKER service scale --detach "$SERVICE=$CHAOS_STORM" >/dev/null 2>&1 || log "scale to $CHAOS_STORM failed"
    some_started() { svc_running "$SERVICE" $((CHAOS_BASE + 2)); }
    wait_until 120 "tasks of the storm starting" some_started || true
    log "chaos: kill -9 dockerd (pid $DOCKERD_PID) while $(running_tasks) of $CHAOS_STORM tasks run"
    t_kill=$SECONDS
    kill -KILL "$DOCKERD_PID" 2>/dev/null || true
    wait "$DOCKERD_PID" 2>/dev/null || true
    DOCKERD_PID=
    start_dockerd                      # aborts the script if dockerd does not come back
    back=$(now_ns)
    back_s=$((SECONDS - t_kill))
    log "chaos: dockerd answers again $back_s s after the kill"
    # Docker brings a storm back slowly under TCG (minutes), and its API may time out then.
    deadline=$((SECONDS + 600))
    last_new=$SECONDS
    ids=""
    n=0
    while :; do
        if ! out=$(list_task_ids "$SERVICE"); then
            # (no answer from Docker: the last list stands)
            ((SECONDS > deadline)) && break
            sleep 1
            continue
        fi
        ids=$out
        newids=()
        for id in $ids; do [[ -n ${key[$id]:-} ]] || newids+=("$id"); done
        if ((${#newids[@]})); then
            last_new=$SECONDS
            while read -r id k st; do
                [[ $k =~ ^/(var/)?run/docker/netns/[0-9a-f]+$ ]] || continue
                key[$id]=$k
                started[$id]=$(date -u -d "$st" +%s%N 2>/dev/null || now_ns)
            done < <(timeout 60 $DOCKER inspect -f '{{.Id}} {{.NetworkSettings.SandboxKey}} {{.State.StartedAt}}' \
                "${newids[@]}" 2>/dev/null || true)
        fi
        n=0
        c=0
        for id in $ids; do
            n=$((n + 1))
            [[ -n ${key[$id]:-} ]] || continue
            if [[ -z ${conf[$id]:-} ]] && configured "$id"; then conf[$id]=$(now_ns); fi
            [[ -n ${conf[$id]:-} ]] && c=$((c + 1))
        done
        ((n >= CHAOS_STORM && c >= n)) && break
        ((SECONDS > deadline)) && break
        # every task runs, the stragglers are well past their 10 s: no need to wait longer
        ((n >= CHAOS_STORM && SECONDS - last_new > 30)) && break
        sleep 1
    done
    # A task seen configured: the time dird's status gives, when earlier, is the more precise
    # (a polling round over 20 tasks takes seconds under TCG).
    while read -r lid ms; do
        [[ -n ${logged[$lid]:-} ]] || logged[$lid]=$((ms * 1000000))
    done < <(configured_at)
    for id in $ids; do
        [[ -n ${conf[$id]:-} ]] || continue
        for lid in "${!logged[@]}"; do
            [[ $id == "$lid"* ]] || continue
            ((${logged[$lid]} >= ${conf[$id]})) || conf[$id]=${logged[$lid]}
            break
        done
    done
    for id in $ids; do
        [[ -n ${started[$id]:-} ]] || { never+=("${id:0:12}(no sandbox)"); continue; }
        due=${started[$id]}
        ((due >= back)) || due=$back
        if [[ -z ${conf[$id]:-} ]]; then
            never+=("${id:0:12}")
            continue
        fi
        lat=$(((${conf[$id]} - due) / 1000000))
        [[ -n $worst ]] && ((lat <= worst)) || worst=$lat
        ((lat <= 10000)) || late+=("${id:0:12}:${lat}ms")
    done
    # Tasks Docker itself could not restart (it reports why, e.g. "failed to find a load
    # balancer IP" after the kill) are not dird's to configure: noted; the running ones judged.
    # Fewer running with no error from Docker, or none of the storm, is a failure.
    if ((n < CHAOS_STORM)); then
        errs=$(task_errors "$SERVICE")
        if [[ $errs == *"none reported"* ]] || ((n <= CHAOS_BASE)); then
            add_why "only $n of $CHAOS_STORM tasks running $((SECONDS - t_kill)) s after the kill ($errs); "
        else
            note x-dockerd-kill-docker "Docker ran $n of $CHAOS_STORM tasks after the kill ($errs); the $n running ones are judged"
        fi
    fi
    ((${#late[@]} == 0)) || add_why "${#late[@]} task(s) configured later than 10 s after running/dockerd's return (${late[*]:0:4}); "
    ((${#never[@]} == 0)) || add_why "${#never[@]} running task(s) never configured within the wait (${never[*]:0:4}); "
    if [[ -z $why ]]; then
        pass x-dockerd-kill "kill -9 dockerd during a $CHAOS_STORM-task storm: $n running tasks all had dird's rules within 10 s of running/dockerd's return (the latest at $worst ms; below 0: before), dockerd back after $back_s s"
    else
        fail x-dockerd-kill "${why%; }"
    fi
    scale_to "$CHAOS_BASE" 300 || log "chaos: could not scale back to $CHAOS_BASE"
}
