#!/usr/bin/env python3
"""The x-churn client (chaos.sh): one process, run in the client namespace, that opens a new
TCP connection to HOST:PORT every INTERVAL seconds until STOP exists, sends
GET /cgi-bin/ip and reads the answer; many requests are in flight at once (non-blocking
sockets on one selector, no thread or process per request).

usage: churn-client.py OUT STOP HOST PORT INTERVAL [DEADLINE]

The schedule is t0 + k * INTERVAL on the monotonic clock, not a sleep after each request;
when the client falls behind by more than MAX_BURST ticks it skips the missed ones (counted
on stderr at the end) instead of bursting. Each request has DEADLINE seconds (default 5) in
all, connect included. One line per request is appended to OUT (flushed at once, so that a
partial file parses):
    ok MS remote=ADDR host=NAME retrans=N
                                   an answer with the CGI's body (ADDR as plain IPv4 when the
                                   server saw an IPv4-mapped address), MS from connect to EOF,
                                   N the segments this client sent again (TCP_INFO
                                   tcpi_total_retrans: its SYN or request was lost or not
                                   acknowledged within the retransmission timeout, 1 s for a
                                   SYN; -1 when the kernel does not tell)
    fail MS REASON                 no such answer: refused, reset, unreachable,
                                   connect-timeout (no connection within DEADLINE, or the
                                   kernel gave up on the SYN), timeout (connected, no complete
                                   answer within DEADLINE), eof (closed without a remote=
                                   line), error (anything else)
OUT.launched holds the count of requests started (rewritten every second and at the end).
On STOP no new request starts; the ones in flight finish or hit their deadline; exit 0.
"""

import errno
import os
import selectors
import socket
import sys
import time

MAX_BURST = 3  # at most this many overdue ticks are launched at once
REQUEST = b"GET /cgi-bin/ip HTTP/1.0\r\nHost: x\r\n\r\n"
MAX_ANSWER = 64 * 1024


def norm_addr(a):
    """[::ffff:10.0.0.2], ::ffff:10.0.0.2, 10.0.0.2 -> 10.0.0.2 (others unchanged but bare)."""
    a = a.strip("[]")
    if a.lower().startswith("::ffff:") and "." in a:
        a = a[7:]
    return a


def body_line(data):
    """The CGI's "remote=… host=…" line of an answer, remote normalised; None if there is none."""
    for raw in data.split(b"\n"):
        line = raw.rstrip(b"\r").decode("utf-8", "replace")
        if line.startswith("remote="):
            first, sep, rest = line.partition(" ")
            return "remote=" + norm_addr(first[len("remote="):]) + sep + rest
    return None


class Req:
    __slots__ = ("sock", "t0", "deadline", "state", "out", "data")

    def __init__(self, sock, t0, deadline):
        self.sock = sock
        self.t0 = t0
        self.deadline = deadline
        self.state = "connect"
        self.out = REQUEST
        self.data = bytearray()


TCP_INFO_TOTAL_RETRANS = 100  # offset of tcpi_total_retrans (u32) in struct tcp_info


def total_retrans(sock):
    """The segments the kernel sent again on this connection; -1 if it cannot tell."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    except OSError:
        return -1
    if len(info) < TCP_INFO_TOTAL_RETRANS + 4:
        return -1
    return int.from_bytes(info[TCP_INFO_TOTAL_RETRANS:TCP_INFO_TOTAL_RETRANS + 4], sys.byteorder)


def reason_of(err):
    if err in (errno.ECONNREFUSED,):
        return "refused"
    if err in (errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED):
        return "reset"
    if err in (errno.ETIMEDOUT,):
        return "timeout"
    if err in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return "unreachable"
    return "error"


def main(argv):
    if len(argv) not in (6, 7):
        sys.stderr.write("usage: churn-client.py OUT STOP HOST PORT INTERVAL [DEADLINE]\n")
        return 2
    out_path, stop_path, host, port = argv[1], argv[2], argv[3], int(argv[4])
    interval = float(argv[5])
    limit = float(argv[6]) if len(argv) == 7 else 5.0
    addr = (host, port)
    out = open(out_path, "a", buffering=1)  # line-buffered: each result on disk at once
    sel = selectors.DefaultSelector()
    inflight = set()
    launched = 0
    skipped = 0
    errors_seen = {}

    def write_launched():
        tmp = out_path + ".launched.tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % launched)
        os.replace(tmp, out_path + ".launched")

    def finish(r, now, line):
        sel.unregister(r.sock)
        retrans = total_retrans(r.sock)
        r.sock.close()
        inflight.discard(r)
        ms = int((now - r.t0) * 1000)
        if line is None:
            out.write("fail %d %s\n" % (ms, r.state))
        else:
            out.write("ok %d %s retrans=%d\n" % (ms, line, retrans))

    def fail(r, now, why):
        r.state = why
        finish(r, now, None)

    def launch(now):
        nonlocal launched
        launched += 1
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        except OSError as e:  # out of descriptors etc.: a failed request, not a crash
            errors_seen[e.errno] = errors_seen.get(e.errno, 0) + 1
            out.write("fail 0 error\n")
            return
        s.setblocking(False)
        r = Req(s, now, now + limit)
        err = s.connect_ex(addr)
        inflight.add(r)
        sel.register(s, selectors.EVENT_WRITE, r)
        if err not in (0, errno.EINPROGRESS, errno.EAGAIN, errno.EWOULDBLOCK):
            fail(r, now, reason_of(err))

    def on_event(r, now):
        if r.state == "connect":
            err = r.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:  # (ETIMEDOUT here: the kernel gave up on the SYN, tcp_syn_retries)
                return fail(r, now, "connect-timeout" if err == errno.ETIMEDOUT else reason_of(err))
            r.state = "send"
        if r.state == "send":
            try:
                n = r.sock.send(r.out)
            except BlockingIOError:
                return
            except OSError as e:
                return fail(r, now, reason_of(e.errno))
            r.out = r.out[n:]
            if not r.out:
                r.state = "read"
                sel.modify(r.sock, selectors.EVENT_READ, r)
            return
        # read
        try:
            chunk = r.sock.recv(4096)
        except BlockingIOError:
            return
        except OSError as e:
            line = body_line(bytes(r.data))
            if line is not None:  # a reset after the whole answer still is an answer
                return finish(r, now, line)
            return fail(r, now, reason_of(e.errno))
        if chunk:
            r.data += chunk
            if len(r.data) <= MAX_ANSWER:
                return
        line = body_line(bytes(r.data))
        if line is None:
            return fail(r, now, "eof")
        finish(r, now, line)

    t0 = time.monotonic()
    k = 0  # the next tick: t0 + k * interval
    stopping = False
    last_launched_write = t0
    while True:
        now = time.monotonic()
        if not stopping and os.path.exists(stop_path):
            stopping = True
        if not stopping:
            due = int((now - t0) / interval) + 1  # ticks 0 .. due-1 are due
            if due - k > MAX_BURST:
                skipped += due - k - MAX_BURST
                k = due - MAX_BURST
            while k < due:
                launch(now)
                k += 1
        elif not inflight:
            break
        # deadlines
        for r in [r for r in inflight if r.deadline <= now]:
            line = body_line(bytes(r.data))
            if line is not None:  # the answer came, the close did not: late (slow), not lost
                finish(r, now, line)
            else:
                fail(r, now, "connect-timeout" if r.state == "connect" else "timeout")
        if now - last_launched_write >= 1:
            write_launched()
            last_launched_write = now
        # wait for the next tick, the earliest deadline or an event
        wake = t0 + k * interval if not stopping else now + 0.2
        if inflight:
            wake = min(wake, min(r.deadline for r in inflight))
        timeout = max(0.0, wake - time.monotonic())
        for key, _ in sel.select(timeout):
            r = key.data
            if r in inflight:
                on_event(r, time.monotonic())
    write_launched()
    out.close()
    if skipped:
        sys.stderr.write("churn-client: fell behind, %d tick(s) of %g s skipped\n" % (skipped, interval))
    if errors_seen:
        sys.stderr.write("churn-client: socket() failed: %s\n" % errors_seen)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
