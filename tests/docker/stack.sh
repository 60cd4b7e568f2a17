# The stack checks, sourced by 2node-inner after node.sh: dird deployed as the repo's
# deploy/dird-stack.yml on both nodes (the image built from the repo's files by
# scripts/build-image on the host, imported in each VM), then removed, then uninstalled by a
# one-shot global job. Each check records one PASS/FAIL line (s-... names):
#   s-image              scripts/build-image --import made dird:<version> (both nodes)
#   s-stack-healthy      the stack's task runs on both nodes; this node's is healthy (/healthz)
#   s-via-manager        with one whoami task per node, every answer through the manager's
#   s-via-worker         (and through the worker's) published port shows the client
#   s-status             `dird status --json` inside the stack's container: tasks configured
#   s-rm-keeps-rules     after `docker stack rm`: dird's rules still in the sbox, client still seen
#   s-uninstall-job      the one-shot `--uninstall` global job completes on both nodes and
#                        leaves no rule of dird in this node's sbox (the worker checks its own)

STACK=dird
STACK_SERVICE=dird_dird
UNINSTALL_SERVICE=dird-uninstall
STACK_FILE=$REPO_ROOT/deploy/dird-stack.yml
DIRD_IMAGE=dird:$(sed -n 's/^version = "\(.*\)"$/\1/p' "$REPO_ROOT/Cargo.toml" | head -n 1)

# stack_prepare: what systemd does on every real host (shared mount propagation, which the
# rslave bind of /var/run/docker/netns needs), then the image: test-2node built it on the host
# from the repo's files (scripts/build-image --tar RESULTS/dird-image.tar), each node imports it
# (--import; output in RESULTS/image-NODE.log), in the background while the other phases run:
# stack_built records its outcome.
stack_prepare() {
    mount --make-rshared /
    DOCKER=$DOCKER "$REPO_ROOT/scripts/build-image" --import "$RESULTS/dird-image.tar" >"$RESULTS/image-$NODE.log" 2>&1 &
    IMAGE_PID=$!
}

# stack_built: waits for stack_prepare's build; PASS s-image, or the end of this script.
stack_built() {
    local rc=0 start=$SECONDS
    wait "$IMAGE_PID" || rc=$?
    if ((rc == 0)); then
        pass s-image "scripts/build-image: $(tail -n 1 "$RESULTS/image-$NODE.log" | sed 's/ (imported from .*//'), built on the host, imported here (waited $((SECONDS - start)) s for it)"
    else
        abort s-image "scripts/build-image failed (status $rc): $(tail -n 3 "$RESULTS/image-$NODE.log" | tr '\n' ' ')"
    fi
}

# The stack's container on this node, and its health as Docker reports it.
stack_container() { $DOCKER ps -q --filter "label=com.docker.swarm.service.name=$STACK_SERVICE" | head -n 1; }
stack_healthy() {
    local c
    c=$(stack_container)
    [[ -n $c && $($DOCKER inspect -f '{{.State.Health.Status}}' "$c" 2>/dev/null) == healthy ]]
}
no_stack_container() { [[ -z $($DOCKER ps -aq --filter "label=com.docker.stack.namespace=$STACK") ]]; }

# The one-shot job's tasks that completed.
job_complete() {
    [[ $($DOCKER service ps "$UNINSTALL_SERVICE" --format '{{.CurrentState}}' 2>/dev/null |
        grep -c '^Complete') == "$1" ]]
}

# stack_phase: the whole stack run on the manager (the worker answers worker_do steps).
stack_phase() {
    local out c
    # Requests through the worker's published port: the manager forwards the client's packets
    # and the worker routes its answers back (set up there).
    forward_client
    out=$($DOCKER stack deploy -c "$STACK_FILE" "$STACK" 2>&1) ||
        abort s-stack-healthy "docker stack deploy failed: $(tr '\n' ' ' <<<"$out")"
    log "stack deploy: $(tr '\n' ' ' <<<"$out")"
    if wait_until 240 "the stack's task runs on both nodes" svc_running "$STACK_SERVICE" 2 &&
        wait_until 180 "this node's dird container is healthy" stack_healthy; then
        pass s-stack-healthy "$STACK_SERVICE runs on both nodes; this node's container is healthy (dird health)"
    else
        fail s-stack-healthy "$STACK_SERVICE: $($DOCKER service ps --format '{{.Node}} {{.CurrentState}}' "$STACK_SERVICE" | tr '\n' ';') health $($DOCKER inspect -f '{{.State.Health.Status}}' "$(stack_container)" 2>&1); $(task_errors "$STACK_SERVICE")"
        $DOCKER service logs --tail 30 "$STACK_SERVICE" >"$RESULTS/stack-logs.txt" 2>&1 || true
    fi

    $DOCKER service update --detach --constraint-rm node.role==worker --replicas-max-per-node 1 \
        --replicas 2 "$SERVICE" >/dev/null
    wait_tasks_or_abort 2 s-via-manager
    observe s-via-manager "$CLIENT_IP" 2 240 || true
    ASK_HOST=$WORKER_IP observe s-via-worker "$CLIENT_IP" 2 240 || true

    c=$(stack_container)
    out=$($DOCKER exec "$c" dird status --json 2>&1) || true
    if (($(grep -c '"state": "configured"' <<<"$out") >= 1)) && ! grep -Eq '"state": "(failing|pending)"' <<<"$out"; then
        pass s-status "dird status --json in the stack's container: $(grep -c '"state": "configured"' <<<"$out") task(s) configured, none failing or pending"
    else
        fail s-status "dird status --json in the stack's container: $(head -c 300 <<<"$out" | tr '\n' ' ')"
    fi
    $DOCKER service logs "$STACK_SERVICE" >"$RESULTS/stack-logs.txt" 2>&1 || true

    $DOCKER stack rm "$STACK" >/dev/null
    wait_until 120 "the stack's containers are gone" no_stack_container ||
        fail s-rm-keeps-rules "the stack's containers were still there 120 s after docker stack rm"
    sbox_rules >"$RESULTS/sbox-$NODE-s-stack-removed.txt"
    if ! sbox_is in-place auto; then
        fail s-rm-keeps-rules "dird doctor: dird's rules are not in the sbox after docker stack rm (${SBOX_DOCTOR_OUT##*/})"
    else
        observe s-rm-keeps-rules "$CLIENT_IP" 2 60 || true
    fi

    # The one-shot uninstall: the stack's grants, --uninstall, once on every node.
    out=$($DOCKER service create --detach --quiet --name "$UNINSTALL_SERVICE" --mode global-job \
        --network host --cap-add NET_ADMIN --cap-add SYS_ADMIN --no-resolve-image \
        --env XTABLES_LOCKFILE=/host/run/xtables.lock \
        --mount type=bind,source=/var/run/docker.sock,target=/var/run/docker.sock,readonly \
        --mount type=bind,source=/var/run/docker/netns,target=/var/run/docker/netns,readonly,bind-propagation=rslave \
        --mount type=bind,source=/run,target=/host/run \
        "$DIRD_IMAGE" --uninstall 2>&1) || fail s-uninstall-job "docker service create (global job) failed: $out"
    if wait_until 180 "the uninstall job completed on both nodes" job_complete 2; then
        check_no_rules s-uninstall-job s-uninstalled "this sbox after the --uninstall global job completed on both nodes"
    else
        fail s-uninstall-job "the --uninstall job: $($DOCKER service ps --format '{{.Node}} {{.CurrentState}}' "$UNINSTALL_SERVICE" | tr '\n' ';'); $(task_errors "$UNINSTALL_SERVICE")"
    fi
    $DOCKER service logs "$UNINSTALL_SERVICE" >"$RESULTS/uninstall-job-logs.txt" 2>&1 || true
    worker_do check s-uninstall-job-worker
}
