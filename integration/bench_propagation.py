#!/usr/bin/env python3
"""Zone generator, editor and in-process poller for integration/bench-propagation.

A dig per poll costs 20-70 ms, so the servers are polled from one process over UDP: a
TXT query for bench.<zone> goes to every server not yet seen with the new token every
POLL seconds, and the first reply carrying the token marks that server converged.

  gen    ZONEFILE ZONE RECORDS TOKEN SERIAL       write the zone (SOA, NS, bench TXT, A records)
  wait   ZONE TOKEN TIMEOUT SERVER...             seconds until every server answers TOKEN,
                                                  from T0 (env, epoch seconds) if set
  edits  ZONEFILE ZONE RECORDS N TIMEOUT HOOK SERVER...
         N times: rewrite the zone with a new token and serial (temp file + rename), run
         HOOK (a shell command, "" for none; its run time is counted), poll until every
         server answers; prints one line per edit and a summary in milliseconds.
A SERVER is ADDR:PORT.
"""
import os
import random
import select
import socket
import statistics
import struct
import subprocess
import sys
import time

POLL = 0.002


def write_zone(path, zone, records, token, serial):
    """Writes by temp file + rename, like editors that save atomically."""
    origin = zone.rstrip(".") + "."
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"$ORIGIN {origin}\n$TTL 300\n")
        f.write(f"@ SOA ns0 hostmaster {serial} 3600 600 86400 300\n")
        f.write("@ NS ns0\nns0 A 127.0.0.1\n")
        f.write(f'bench TXT "{token}"\n')
        chunk = []
        for i in range(records):
            chunk.append(f"h{i} A 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}\n")
            if len(chunk) == 10000:
                f.write("".join(chunk))
                chunk = []
        f.write("".join(chunk))
    os.replace(tmp, path)


def query(zone, qid):
    labels = ["bench"] + [l for l in zone.rstrip(".").split(".") if l]
    qname = b"".join(bytes([len(l)]) + l.encode() for l in labels) + b"\0"
    return struct.pack(">HHHHHH", qid, 0, 1, 0, 0, 0) + qname + struct.pack(">HH", 16, 1)


def parse_server(s):
    addr, port = s.rsplit(":", 1)
    return (addr, int(port))


def poll(zone, token, servers, timeout, t0):
    """Returns {server: seconds after t0 when it first answered token} (None if never)."""
    want = bytes([len(token)]) + token.encode()
    socks = {}
    for s in servers:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.connect(parse_server(s))
        socks[sock] = s
    seen = {s: None for s in servers}
    pending = set(socks)
    deadline = t0 + timeout
    qid = random.randrange(65536)
    try:
        while pending and time.monotonic() < deadline:
            qid = (qid + 1) & 0xFFFF
            msg = query(zone, qid)
            for sock in pending:
                try:
                    sock.send(msg)
                except OSError:
                    pass
            until = time.monotonic() + POLL
            while pending:
                left = until - time.monotonic()
                if left <= 0:
                    break
                ready, _, _ = select.select(list(pending), [], [], left)
                now = time.monotonic()
                for sock in ready:
                    try:
                        data = sock.recv(4096)
                    except OSError:
                        continue
                    if want in data[12:]:
                        seen[socks[sock]] = now - t0
                        pending.discard(sock)
    finally:
        for sock in socks:
            sock.close()
    return seen


def fmt(x):
    return "-" if x is None else f"{x * 1000:.1f}"


def main(argv):
    cmd = argv[1]
    if cmd == "gen":
        path, zone, records, token, serial = argv[2:7]
        write_zone(path, zone, int(records), token, int(serial))
    elif cmd == "wait":
        zone, token, timeout = argv[2], argv[3], float(argv[4])
        t0 = time.monotonic()
        # T0 (wall-clock seconds) backdates the start to before this interpreter started,
        # e.g. to a server's launch.
        if os.environ.get("T0"):
            t0 -= time.time() - float(os.environ["T0"])
        seen = poll(zone, token, argv[5:], timeout + (time.monotonic() - t0), t0)
        missing = [s for s, t in seen.items() if t is None]
        if missing:
            print(f"not answering {token} after {timeout}s: {' '.join(missing)}", file=sys.stderr)
            return 1
        print(f"{max(seen.values()):.3f}")
    elif cmd == "edits":
        path, zone, records, n, timeout, hook = argv[2:8]
        servers = argv[8:]
        serial = int(time.time()) - 1_000_000_000
        totals = []
        firsts = []
        for k in range(int(n)):
            token = f"edit-{k}-{random.randrange(10**9)}"
            serial += 1
            write_zone(path + ".next", zone, int(records), token, serial)
            t0 = time.monotonic()
            os.replace(path + ".next", path)
            if hook:
                subprocess.run(hook, shell=True, check=False,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            seen = poll(zone, token, servers, float(timeout), t0)
            times = list(seen.values())
            done = None if None in times else max(times)
            totals.append(done)
            first = seen[servers[0]]
            firsts.append(first)
            print(f"edit {k + 1}: serial {serial} primary {fmt(first)} ms, all {fmt(done)} ms",
                  file=sys.stderr)
            time.sleep(0.3)
        ok = [t for t in totals if t is not None]
        fails = len(totals) - len(ok)
        prim = [t for t in firsts if t is not None]
        if ok:
            print(f"median_ms={statistics.median(ok) * 1000:.1f} max_ms={max(ok) * 1000:.1f} "
                  f"min_ms={min(ok) * 1000:.1f} n={len(ok)} timeouts={fails} "
                  f"primary_median_ms={statistics.median(prim) * 1000:.1f}")
        else:
            print(f"median_ms=- max_ms=- min_ms=- n=0 timeouts={fails}")
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
