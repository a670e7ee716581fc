"""A QUIC client on aioquic (not quinn) against tendril-net's `echo --transport quic`.

    python3 quic_echo.py PORT STREAMS LINES

Opens STREAMS bidirectional streams at once on one connection (ALPN `echo`), sends
LINES lines on each and finishes it, reads each stream to its end, and checks that
every stream came back exactly and finished. Prints one JSON line with what it saw;
any failure exits 1. Every wait is bounded.
"""
import asyncio
import json
import ssl
import sys

from aioquic.asyncio import connect
from aioquic.quic.configuration import QuicConfiguration


async def one_stream(client, index, lines):
    reader, writer = await client.create_stream()
    sent = b"".join(b"stream %d line %d\r\n" % (index, j) for j in range(lines))
    writer.write(sent)
    writer.write_eof()
    got = await reader.read()  # to the stream's end (the server's FIN)
    return sent == got, reader.at_eof()


async def main(port, streams, lines):
    config = QuicConfiguration(is_client=True, alpn_protocols=["echo"])
    config.verify_mode = ssl.CERT_NONE  # the example's certificate is self-signed
    config.server_name = "localhost"
    async with connect("127.0.0.1", port, configuration=config) as client:
        results = await asyncio.wait_for(
            asyncio.gather(*(one_stream(client, i, lines) for i in range(streams))), 20
        )
    exact = sum(1 for same, _ in results if same)
    finished = sum(1 for _, eof in results if eof)
    print(json.dumps({"streams": streams, "exact": exact, "finished": finished}))
    return exact == streams and finished == streams


if __name__ == "__main__":
    port, streams, lines = (int(arg) for arg in sys.argv[1:4])
    sys.exit(0 if asyncio.run(main(port, streams, lines)) else 1)
