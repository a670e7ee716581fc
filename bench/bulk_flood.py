#!/usr/bin/env python3
"""Bulk-transfer flood against `echo --framer length-u32`: peers that send large
length-prefixed frames as fast as the server takes them and never read a reply, while
one well-behaved probe asks for a small frame twice a second.

    python3 bench/bulk_flood.py PID PORT [PEERS=200] [SECONDS=20] [FRAME=65536]

PID is the server's process id (its resident memory is read from /proc). Prints the
largest resident set seen, the probe's slowest answer, and how many frames the flood
got through. Loopback only.
"""

import selectors
import socket
import struct
import sys
import time


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    pid, port = int(sys.argv[1]), int(sys.argv[2])
    peers = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 20.0
    size = int(sys.argv[5]) if len(sys.argv) > 5 else 65536
    frame = struct.pack(">I", size) + bytes(size)
    base = rss_kib(pid)

    sel = selectors.DefaultSelector()
    sent = {}
    for _ in range(peers):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_WRITE)
        sent[sock] = 0

    probe = socket.create_connection(("127.0.0.1", port))
    probe.settimeout(10)
    worst, answered, next_probe = 0.0, 0, time.monotonic()
    peak = base
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for key, _ in sel.select(timeout=0.05):
            sock = key.fileobj
            try:
                offset = sent[sock] % len(frame)
                sent[sock] += sock.send(frame[offset:])
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                sel.unregister(sock)
        now = time.monotonic()
        if now >= next_probe:
            next_probe = now + 0.5
            start = time.monotonic()
            probe.sendall(struct.pack(">I", 5) + b"hello")
            got = b""
            while len(got) < 9:
                chunk = probe.recv(9 - len(got))
                if not chunk:
                    raise SystemExit("the probe's connection was closed")
                got += chunk
            assert got == struct.pack(">I", 5) + b"hello", got
            worst = max(worst, time.monotonic() - start)
            answered += 1
            peak = max(peak, rss_kib(pid))
    frames = sum(sent.values()) // len(frame)
    open_peers = len(sel.get_map())
    print(
        f"peers={peers} frame={size} B: {frames} frames sent in {seconds:.0f} s, "
        f"{open_peers} peers still open; server RSS {base} KiB -> peak {peak} KiB "
        f"(+{(peak - base) / 1024:.1f} MiB); probe answered {answered} times, "
        f"slowest {worst * 1000:.1f} ms"
    )


if __name__ == "__main__":
    main()
