#!/usr/bin/env python3
"""Open-loop, fixed-rate webhook client for tests/bench-intake.sh.

    fixed-rate.py --port PORT --rate 500 --duration 20 --body FILE --signature SIG \
                  --event ping --prefix lat [--warmup 1] [--connections 4] [--max-connections 64]

Request i is due at t0 + i / rate, whatever happened to the ones before it (open loop: a
slow answer does not delay the next request, so the client cannot hide a stall, the
"coordinated omission" of closed-loop tools such as wrk). Its latency is measured from that
due time to the last byte of the answer; the time from the actual send is reported too, as
is how late the client itself sent (its own timer error, so that it can be told apart from
the server's).

HTTP/1.1 over raw keep-alive sockets, one request at a time per connection. A request that
finds no idle connection opens a new one (up to --max-connections); past that it waits for
the first connection to come free, still timed from its due time.

Threads rather than asyncio: asyncio's timers wake with a millisecond's granularity (epoll),
half the 2 ms the target allows; time.sleep uses clock_nanosleep and wakes within ~0.1 ms.
One sender thread keeps the timetable; one reader thread per connection times the answers.
Prints one JSON object.
"""

import argparse
import collections
import json
import math
import socket
import sys
import threading
import time


class Shared:
    def __init__(self, n):
        self.lock = threading.Lock()
        self.idle = collections.deque()  # FIFO: every connection stays in use (keep-alive timers)
        self.waiting = collections.deque()  # requests due with no connection free
        self.due = [0.0] * n
        self.sent = [0.0] * n
        self.done = [0.0] * n
        self.status = [0] * n
        self.errors = []
        self.connections = 0
        self.finished = 0
        self.all_done = threading.Event()
        self.expected = n


class Connection:
    def __init__(self, shared, host, port, make_request):
        self.shared = shared
        self.make_request = make_request
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.current = None
        self.buf = bytearray()
        self.thread = threading.Thread(target=self.read_loop, daemon=True)
        self.thread.start()

    def send(self, i):
        self.current = i
        self.shared.sent[i] = time.perf_counter()
        try:
            self.sock.sendall(self.make_request(i))
        except OSError as e:
            self.fail(f"send: {e}")

    def fail(self, why):
        s = self.shared
        with s.lock:
            if self.current is not None:
                s.errors.append(why)
                s.status[self.current] = -1
                s.done[self.current] = time.perf_counter()
                self.current = None
                s.finished += 1
                if s.finished == s.expected:
                    s.all_done.set()
            try:
                s.idle.remove(self)
            except ValueError:
                pass
        try:
            self.sock.close()
        except OSError:
            pass

    def read_response(self):
        """One whole answer: (status). Raises EOFError when the server closed the socket."""
        buf = self.buf
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            self.fill()
        head = bytes(buf[:end]).decode("latin-1").split("\r\n")
        del buf[: end + 4]
        status = int(head[0].split(" ", 2)[1])
        length = None
        chunked = False
        for line in head[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value.strip())
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
        if chunked:
            while True:
                while (eol := buf.find(b"\r\n")) < 0:
                    self.fill()
                size = int(bytes(buf[:eol]).split(b";")[0], 16)
                del buf[: eol + 2]
                while len(buf) < size + 2:
                    self.fill()
                del buf[: size + 2]
                if size == 0:
                    break
        else:
            length = length or 0
            while len(buf) < length:
                self.fill()
            del buf[:length]
        return status

    def fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise EOFError("server closed the connection")
        self.buf += data

    def read_loop(self):
        s = self.shared
        while True:
            try:
                status = self.read_response()
            except (OSError, EOFError, ValueError, IndexError) as e:
                self.fail(f"read: {e}")
                return
            now = time.perf_counter()
            i = self.current
            if i is None:
                self.fail("an answer nobody asked for")
                return
            s.done[i] = now
            s.status[i] = status
            with s.lock:
                self.current = None
                s.finished += 1
                if s.finished == s.expected:
                    s.all_done.set()
                nxt = s.waiting.popleft() if s.waiting else None
                if nxt is None:
                    s.idle.append(self)
            if nxt is not None:
                self.send(nxt)


def percentile(sorted_values, p):
    if not sorted_values:
        return 0.0
    k = min(len(sorted_values) - 1, max(0, math.ceil(p / 100.0 * len(sorted_values)) - 1))
    return sorted_values[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--warmup", type=float, default=1.0, help="seconds sent at the rate but left out of the figures")
    ap.add_argument("--body", required=True)
    ap.add_argument("--signature", required=True)
    ap.add_argument("--event", default="ping")
    ap.add_argument("--prefix", required=True)
    ap.add_argument("--connections", type=int, default=4)
    ap.add_argument("--max-connections", type=int, default=64)
    ap.add_argument("--drain", type=float, default=10.0, help="seconds to wait for the last answers")
    args = ap.parse_args()

    # Other threads wait at most this long for the interpreter lock (default 5 ms).
    sys.setswitchinterval(0.0001)

    body = open(args.body, "rb").read()
    head = (
        "POST /webhook HTTP/1.1\r\n"
        f"Host: {args.host}:{args.port}\r\n"
        "User-Agent: GitHub-Hookshot/bench\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-GitHub-Event: {args.event}\r\n"
        f"X-Hub-Signature-256: {args.signature}\r\n"
        "X-GitHub-Delivery: "
    ).encode()

    def make_request(i):
        return head + f"{args.prefix}-{i}\r\n\r\n".encode() + body

    warm = int(args.warmup * args.rate)
    n = warm + int(args.duration * args.rate)
    s = Shared(n)
    conns = []

    def open_connection():
        c = Connection(s, args.host, args.port, make_request)
        conns.append(c)
        s.connections += 1
        return c

    for _ in range(args.connections):
        s.idle.append(open_connection())

    interval = 1.0 / args.rate
    t0 = time.perf_counter() + 0.05
    for i in range(n):
        due = t0 + i * interval
        s.due[i] = due
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        with s.lock:
            conn = s.idle.popleft() if s.idle else None
            if conn is None and s.connections >= args.max_connections:
                s.waiting.append(i)
                continue
        if conn is None:
            try:
                conn = open_connection()
            except OSError as e:
                with s.lock:
                    s.errors.append(f"connect: {e}")
                    s.status[i] = -1
                    s.finished += 1
                continue
        conn.send(i)
    ended_sending = time.perf_counter()
    s.all_done.wait(timeout=args.drain)
    for c in conns:
        try:
            c.sock.close()
        except OSError:
            pass

    idx = range(warm, n)
    answered = [i for i in idx if s.done[i] > 0 and s.status[i] > 0]
    lat = sorted((s.done[i] - s.due[i]) * 1000.0 for i in answered)
    svc = sorted((s.done[i] - s.sent[i]) * 1000.0 for i in answered)
    late = sorted(max(0.0, s.sent[i] - s.due[i]) * 1000.0 for i in answered)
    statuses = collections.Counter(s.status[i] for i in idx)
    unanswered = sum(1 for i in idx if s.done[i] == 0)
    result = {
        "rate": args.rate,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "requests": len(idx),
        "answered": len(answered),
        "unanswered": unanswered,
        "statuses": {str(k): v for k, v in sorted(statuses.items()) if k > 0},
        "errors": len(s.errors),
        "first_errors": s.errors[:3],
        "connections_used": s.connections,
        "achieved_rate": round(len(idx) / max(1e-9, ended_sending - s.due[warm]) if n > warm else 0.0, 1),
        "latency_ms": {p: round(percentile(lat, float(p)), 3) for p in ("50", "90", "99", "99.9")},
        "latency_max_ms": round(lat[-1], 3) if lat else 0.0,
        "service_ms": {p: round(percentile(svc, float(p)), 3) for p in ("50", "99")},
        "service_max_ms": round(svc[-1], 3) if svc else 0.0,
        "send_late_ms": {p: round(percentile(late, float(p)), 3) for p in ("50", "99")},
        "send_late_max_ms": round(late[-1], 3) if late else 0.0,
    }
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
