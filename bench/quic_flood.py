"""A flood of QUIC handshakes that never complete, against `echo --transport quic`,
and a real client's time to be served before and after it (aioquic).

    python3 bench/quic_flood.py PORT [HANDSHAKES]    (default 5,000)

Each flood handshake is a client Initial (a real TLS ClientHello) sent from a fresh
UDP socket of its own that never reads or answers again: a Retry, a Handshake, all
go unanswered. The real client connects (following a Retry if it gets one), opens a
stream, sends a line and reads it back; its time is printed before and right after
the flood. Sockets stay open until the end, so every flood source stays "alive".
"""
import asyncio
import json
import socket
import ssl
import sys
import time

from aioquic.asyncio import connect
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection


def configuration():
    config = QuicConfiguration(is_client=True, alpn_protocols=["echo"])
    config.verify_mode = ssl.CERT_NONE
    config.server_name = "localhost"
    return config


async def real_client(port):
    start = time.monotonic()
    async with connect("127.0.0.1", port, configuration=configuration()) as client:
        reader, writer = await client.create_stream()
        writer.write(b"real client\r\n")
        writer.write_eof()
        echoed = await asyncio.wait_for(reader.read(), 10)
    assert echoed == b"real client\r\n", echoed
    return time.monotonic() - start


def flood(port, count):
    sockets = []
    start = time.monotonic()
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.setblocking(False)
        connection = QuicConnection(configuration=configuration())
        now = time.time()
        connection.connect(("127.0.0.1", port), now=now)
        for data, addr in connection.datagrams_to_send(now=now):
            sock.sendto(data, addr)
        sockets.append(sock)
    return sockets, time.monotonic() - start


def main():
    port = int(sys.argv[1])
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    before = asyncio.run(real_client(port))
    sockets, took = flood(port, count)
    after = asyncio.run(real_client(port))
    print(json.dumps({
        "handshakes": count,
        "flood_seconds": round(took, 2),
        "real_client_before_ms": round(before * 1000, 1),
        "real_client_after_ms": round(after * 1000, 1),
    }))
    for sock in sockets:
        sock.close()


if __name__ == "__main__":
    main()
