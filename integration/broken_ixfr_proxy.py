#!/usr/bin/env python3
"""A primary whose IXFR is broken: a DNS proxy in front of a real primary.

    broken_ixfr_proxy.py LISTEN_ADDR PORT UPSTREAM_ADDR UPSTREAM_PORT LOG

UDP queries and TCP queries other than IXFR are relayed to the upstream primary as they
are. A TCP IXFR is relayed too, but only the first half of the upstream's first answer
message is passed on (under its full length prefix) before the connection is closed: a
broken stream, which a secondary must answer by falling back to AXFR. Every TCP query's
type is appended to LOG (one line each: IXFR, AXFR, ...), so a test can see both asked.
Standard library only; each connection is served by its own thread.
"""

import socket
import socketserver
import sys
import threading

LISTEN, PORT, UP, UP_PORT, LOG = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
TYPES = {6: "SOA", 251: "IXFR", 252: "AXFR"}
log_lock = threading.Lock()


def qtype(msg):
    """The QTYPE of a query's first question, or None if it does not parse."""
    i = 12
    while i < len(msg):
        n = msg[i]
        if n == 0:
            i += 1
            break
        if n & 0xC0:
            return None
        i += 1 + n
    if i + 2 > len(msg):
        return None
    return int.from_bytes(msg[i : i + 2], "big")


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def read_msg(sock):
    head = read_exact(sock, 2)
    if head is None:
        return None
    return read_exact(sock, int.from_bytes(head, "big"))


class Udp(socketserver.BaseRequestHandler):
    def handle(self):
        data, sock = self.request
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as up:
            up.settimeout(2)
            up.sendto(data, (UP, UP_PORT))
            try:
                reply, _ = up.recvfrom(65535)
            except OSError:
                return
        sock.sendto(reply, self.client_address)


class Tcp(socketserver.BaseRequestHandler):
    def handle(self):
        client = self.request
        client.settimeout(10)
        with socket.create_connection((UP, UP_PORT), timeout=10) as up:
            while True:
                query = read_msg(client)
                if query is None:
                    return
                t = qtype(query)
                with log_lock, open(LOG, "a") as f:
                    f.write(TYPES.get(t, str(t)) + "\n")
                up.sendall(len(query).to_bytes(2, "big") + query)
                if t == 251:
                    first = read_msg(up)
                    if first is not None:
                        client.sendall(len(first).to_bytes(2, "big") + first[: len(first) // 2])
                    return
                # Relay until the upstream closes or goes quiet (end of the answer).
                up.settimeout(1)
                try:
                    while True:
                        chunk = up.recv(65536)
                        if not chunk:
                            return
                        client.sendall(chunk)
                except socket.timeout:
                    up.settimeout(10)


class ThreadingUdp(socketserver.ThreadingMixIn, socketserver.UDPServer):
    daemon_threads = True
    allow_reuse_address = True


class ThreadingTcp(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    udp = ThreadingUdp((LISTEN, PORT), Udp)
    tcp = ThreadingTcp((LISTEN, PORT), Tcp)
    threading.Thread(target=udp.serve_forever, daemon=True).start()
    tcp.serve_forever()


if __name__ == "__main__":
    main()
