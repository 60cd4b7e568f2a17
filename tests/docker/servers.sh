# In-VM: real servers behind the routing mesh, asked from the client namespace. Sourced by
# 1node-inner after node.sh.
#   dns: dnsmasq (Debian's dnsmasq-base) on 53/udp and 53/tcp, published as 5353, answering
#        `*.dird.test` with 192.0.2.53 and logging `query[A] NAME from CLIENT` (it replies from
#        the address asked, IP_PKTINFO) into DNS_LOGS/<task hostname>.log (a bind mount); asked
#        with dig, each query a name of its own, so its log line tells which task saw which
#        client;
#   udp: socat bound to 0.0.0.0:9999/udp, published as 9999, answering each datagram with the
#        peer it saw and its task's hostname; the kernel picks its reply's source address (the
#        original daemon's issue #11 case).
# The image holds busybox, dnsmasq, socat and their shared libraries (ldd), as scripts/
# build-image packs iptables.

SERVERS_IMAGE=dird-test/servers:1
DNS_SERVICE=dns
DNS_PORT=5353
DNS_ANSWER=192.0.2.53
DNS_LOGS=/tmp/dird-dns-logs
UDP_SERVICE=udpecho
UDP_PORT=9999

# copy_with_libs ROOT PROGRAM...: each program into ROOT/bin, its shared libraries (and the
# dynamic loader) at their own paths under ROOT.
copy_with_libs() {
    local root=$1 p lib
    shift
    for p in "$@"; do
        cp "$p" "$root/bin/"
        for lib in $(ldd "$p" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
            mkdir -p "$root$(dirname "$lib")"
            cp -L "$lib" "$root$lib"
        done
    done
}

build_servers_image() {
    local dir=/tmp/dird-servers
    rm -rf "$dir"
    mkdir -p "$dir/bin" "$dir/etc" "$dir/tmp"
    cp /bin/busybox "$dir/bin/busybox"
    ln -s busybox "$dir/bin/sh"
    ln -s busybox "$dir/bin/cat"
    copy_with_libs "$dir" /usr/sbin/dnsmasq /usr/bin/socat
    printf 'root:x:0:0:root:/:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$dir/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$dir/etc/group"
    tar -C "$dir" -c . | $DOCKER import - "$SERVERS_IMAGE" >/dev/null ||
        abort servers-image "docker import of the servers' image failed"
    log "image $SERVERS_IMAGE built"
}

# create_servers: the two services, one task each.
create_servers() {
    build_servers_image
    mkdir -p "$DNS_LOGS"
    # (the image's /bin/sh names the log after the task's hostname)
    # shellcheck disable=SC2016
    $DOCKER service create --detach --quiet --name "$DNS_SERVICE" --no-resolve-image \
        --publish "published=$DNS_PORT,target=53,protocol=udp" \
        --publish "published=$DNS_PORT,target=53,protocol=tcp" \
        --mount "type=bind,source=$DNS_LOGS,target=/log" \
        "$SERVERS_IMAGE" /bin/sh -c 'exec /bin/dnsmasq --keep-in-foreground --log-queries \
            --log-facility=/log/$(cat /etc/hostname).log --no-resolv --no-hosts --user=root \
            --pid-file --address=/dird.test/'"$DNS_ANSWER" >/dev/null ||
        abort servers "docker service create $DNS_SERVICE failed"
    # (the SYSTEM command is socat's own, run by the image's /bin/sh)
    # shellcheck disable=SC2016
    $DOCKER service create --detach --quiet --name "$UDP_SERVICE" --no-resolve-image \
        --publish "published=$UDP_PORT,target=$UDP_PORT,protocol=udp" \
        "$SERVERS_IMAGE" /bin/socat "UDP-RECVFROM:$UDP_PORT,fork" \
        'SYSTEM:echo peer=$SOCAT_PEERADDR host=$(cat /etc/hostname)' >/dev/null ||
        abort servers "docker service create $UDP_SERVICE failed"
    wait_servers 1
}

# wait_servers N: N running tasks of each server service, or abort with Docker's reasons.
wait_servers() {
    local s
    for s in "$DNS_SERVICE" "$UDP_SERVICE"; do
        wait_until 480 "$1 running task(s) of $s" svc_running "$s" "$1" ||
            abort servers "$1 task(s) of $s not running within 480 s; $(task_errors "$s")"
    done
}

# scale_servers N: both services to N tasks, without waiting (wait_servers N does).
scale_servers() {
    $DOCKER service scale --detach "$DNS_SERVICE=$1" "$UDP_SERVICE=$1" >/dev/null
}

# ask_dns udp|tcp: one query for a fresh name; prints "CLIENT TASK" from the log line of the
# task that answered (CLIENT as dnsmasq saw it).
ask_dns() {
    local name="q$RANDOM$RANDOM.dird.test" answer c line opt=+notcp
    [[ $1 == tcp ]] && opt=+tcp
    answer=$(ip netns exec "$CLIENT_NS" dig @"$CLIENT_GW" -p "$DNS_PORT" "$name" A +short \
        "$opt" +time=3 +tries=1 2>/dev/null) || return 1
    [[ $answer == "$DNS_ANSWER" ]] || return 1
    local try
    for try in 1 2 3 4 5; do
        line=$(grep -H -F -m1 "query[A] $name from " "$DNS_LOGS"/*.log 2>/dev/null) && break
        ((try < 5)) || return 1
        sleep 0.2
    done
    c=${line%%:*}
    c=${c##*/}
    printf '%s %s\n' "${line##* from }" "${c%.log}"
}
ask_dns_udp() { ask_dns udp; }
ask_dns_tcp() { ask_dns tcp; }

# ask_udp: one datagram to the echo; prints "PEER HOST" from its answer (which arrives only if
# it came from the address asked).
ask_udp() {
    local out
    out=$(printf 'x\n' | timeout 8 ip netns exec "$CLIENT_NS" socat -T 3 - \
        "UDP:$CLIENT_GW:$UDP_PORT" 2>/dev/null) || return 1
    [[ $out =~ peer=([0-9.]+)(:[0-9]+)?\ host=([^ ]+) ]] || return 1
    printf '%s %s\n' "${BASH_REMATCH[1]}" "${BASH_REMATCH[3]}"
}

# check_servers TAG WANT TASKS: every server's answers come from TASKS tasks that all saw WANT
# (checks TAG-dns-udp, TAG-dns-tcp, TAG-udp-any).
check_servers() {
    local tag=$1 want=$2 tasks=$3
    OBSERVE_ASK=ask_dns_udp observe "$tag-dns-udp" "$want" "$tasks" 180 || true
    OBSERVE_ASK=ask_dns_tcp observe "$tag-dns-tcp" "$want" "$tasks" 180 || true
    OBSERVE_ASK=ask_udp observe "$tag-udp-any" "$want" "$tasks" 180 || true
}
