"""Hostile clients against `keyroll serve`'s front door, and the server's memory meanwhile.

Used by tests/bench-front-door.sh. Each phase opens its connections at once, then probes
/healthz and a signed delivery while they are open, samples the server's resident memory
(VmRSS) every 50 ms, and waits (up to --deadline seconds) for the server to close every
connection. Prints one JSON object per phase.
"""

import argparse
import asyncio
import hashlib
import hmac
import json
import time
import uuid


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def sample_rss(pid, stop, peak):
    while not stop.is_set():
        peak[0] = max(peak[0], rss_kib(pid))
        try:
            await asyncio.wait_for(stop.wait(), 0.05)
        except asyncio.TimeoutError:
            pass


async def hostile(port, head, trickle, gap, deadline):
    """Sends head, then `trickle` bytes every `gap` s until the server closes the connection.
    Returns (closed_by_server, seconds_open, first_status_line)."""
    start = time.monotonic()
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return (True, 0.0, "connect failed")
    answer = b""
    try:
        w.write(head)
        await w.drain()
        while True:
            try:
                data = await asyncio.wait_for(r.read(4096), gap)
            except asyncio.TimeoutError:
                if time.monotonic() - start > deadline:
                    return (False, time.monotonic() - start, None)
                if trickle:
                    w.write(trickle)
                    await w.drain()
                continue
            if not data:
                break
            answer += data
    except (ConnectionError, OSError):
        pass
    finally:
        w.close()
    status = answer.split(b"\r\n", 1)[0].decode(errors="replace") or None
    return (True, time.monotonic() - start, status)


async def request(port, raw):
    """One request on its own connection; the status code and seconds it took."""
    start = time.monotonic()
    try:
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(raw)
        await w.drain()
        answer = await asyncio.wait_for(r.read(4096), 30)
        w.close()
        code = int(answer.split(b" ", 2)[1])
    except (OSError, ValueError, IndexError, asyncio.TimeoutError) as e:
        return (str(e) or type(e).__name__, time.monotonic() - start)
    return (code, time.monotonic() - start)


def signed_ping(secret, delivery):
    body = b'{"zen":"Design for failure.","hook_id":1,"hook":{"type":"App","id":1}}'
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return (
        f"POST /webhook HTTP/1.1\r\nHost: keyroll\r\nContent-Type: application/json\r\n"
        f"X-GitHub-Event: ping\r\nX-GitHub-Delivery: {delivery}\r\n"
        f"X-Hub-Signature-256: {sig}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode() + body


HEALTHZ = b"GET /healthz HTTP/1.1\r\nHost: keyroll\r\nConnection: close\r\n\r\n"


def body_head(declared, delivery):
    return (
        f"POST /webhook HTTP/1.1\r\nHost: keyroll\r\nContent-Type: application/json\r\n"
        f"X-GitHub-Event: push\r\nX-GitHub-Delivery: {delivery}\r\n"
        f"X-Hub-Signature-256: sha256={'0' * 64}\r\nContent-Length: {declared}\r\n\r\n"
    ).encode()


async def phase(args, name, clients):
    before = rss_kib(args.pid)
    peak = [before]
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample_rss(args.pid, stop, peak))
    tasks = [asyncio.create_task(c) for c in clients]
    await asyncio.sleep(1.0)
    healthz = await request(args.port, HEALTHZ)
    # A delivery id as GitHub sends them (a GUID); the phase names hold spaces.
    signed = await request(args.port, signed_ping(args.secret, str(uuid.uuid4())))
    results = await asyncio.gather(*tasks)
    await asyncio.sleep(2.0)
    stop.set()
    await sampler
    statuses = {}
    for _, _, status in results:
        statuses[status or "closed, no answer"] = statuses.get(status or "closed, no answer", 0) + 1
    closed = [r for r in results if r[0]]
    print(json.dumps({
        "phase": name,
        "connections": len(results),
        "closed_by_server": len(closed),
        "longest_open_s": round(max((r[1] for r in closed), default=0), 1),
        "statuses": statuses,
        "healthz_during": healthz[0],
        "healthz_s": round(healthz[1], 3),
        "signed_during": signed[0],
        "signed_s": round(signed[1], 3),
        "rss_before_mib": round(before / 1024, 1),
        "rss_peak_mib": round(peak[0] / 1024, 1),
        "rss_after_mib": round(rss_kib(args.pid) / 1024, 1),
    }), flush=True)


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--deadline", type=float, default=40)
    p.add_argument("--max-body", type=int, default=5 * 1024 * 1024)
    args = p.parse_args()
    d = args.deadline
    slowloris = b"POST /webhook HTTP/1.1\r\nHost: keyroll\r\nX-Padding: "
    # Headers a byte every 100 ms.
    await phase(args, "100 slowloris", [hostile(args.port, slowloris, b"a", 0.1, d) for _ in range(100)])
    await phase(args, "300 slowloris + 50 trickling bodies",
                [hostile(args.port, slowloris, b"a", 0.1, d) for _ in range(300)]
                + [hostile(args.port, body_head(args.max_body, f"t{i}"), b" " * 64, 0.1, d) for i in range(50)])
    # Bodies of the largest declared size, 80% sent at once, then nothing.
    big = args.max_body * 4 // 5
    await phase(args, f"100 unsigned bodies, {big >> 20} MiB sent of {args.max_body >> 20} MiB declared, then stalled",
                [hostile(args.port, body_head(args.max_body, f"b{i}") + b" " * big, b"", 0.1, d) for i in range(100)])
    await phase(args, "600 slowloris (over the connection cap)",
                [hostile(args.port, slowloris, b"a", 0.1, d) for _ in range(600)])


asyncio.run(main())
