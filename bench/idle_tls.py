#!/usr/bin/env python3
"""Resident memory per idle TLS connection of a server: open N TLS connections
(handshake done, nothing sent), print the server's RSS delta / N.

    python3 bench/idle_tls.py PID PORT [N=2000]

PID is the server's process (echo --tls-self-signed), PORT its port."""
import socket, ssl, sys, time

def rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024

pid, port = int(sys.argv[1]), int(sys.argv[2])
n = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
context = ssl.create_default_context()
context.check_hostname = False
context.verify_mode = ssl.CERT_NONE
def connect():
    raw = socket.create_connection(("127.0.0.1", port))
    return context.wrap_socket(raw, server_hostname="localhost")
warm = [connect() for _ in range(50)]
time.sleep(0.5)
before = rss(pid)
held = [connect() for _ in range(n)]
time.sleep(1.0)
after = rss(pid)
print(f"{n} idle TLS connections: {(after - before) / n:.0f} bytes each")
