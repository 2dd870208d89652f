#!/usr/bin/env python3
"""Hold N idle connections to a server (used by bench/serve.sh).

    idle_clients.py PORT N MODE [FAMILIES]

MODE: `never` (connect, send nothing) or `ka` (one keep-alive request, read the reply,
then stay idle). FAMILIES: `both` (half to 127.0.0.1, half to [::1]) or `v4`. IPv4
connections come from 127.0.0.2, 127.0.0.3, ... (20,000 per source address) so more than
one port range fits. Prints `ready N` once all are open, then waits for stdin to close.
Loopback only; every loop is bounded.
"""
import socket
import sys
import time

port, n, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
families = sys.argv[4] if len(sys.argv) > 4 else "both"
REQ = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
IP_BIND_ADDRESS_NO_PORT = 24

socks = []
deadline = time.time() + 300
v6 = 0
for i in range(n):
    if time.time() > deadline:
        break
    if families == "both" and i % 2 == 1:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        dst = ("::1", port)
        v6 += 1
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        s.bind(("127.0.0.%d" % (2 + (i - v6) // 20000), 0))
        dst = ("127.0.0.1", port)
    s.settimeout(10)
    try:
        s.connect(dst)
        if mode == "ka":
            s.sendall(REQ)
            got = b""
            while b"\r\n\r\n" not in got:
                chunk = s.recv(4096)
                if not chunk:
                    raise OSError("closed")
                got += chunk
    except OSError as e:
        print("stopped at %d: %s" % (len(socks), e), file=sys.stderr)
        s.close()
        break
    socks.append(s)
print("ready", len(socks), flush=True)
sys.stdin.read()
