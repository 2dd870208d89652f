#!/usr/bin/env python3
"""A QUIC server that is not ours, for interop tests and bench/quic.sh: aioquic.

    quic_server.py --cert CERT.pem --key KEY.pem [--host ::] [--port 0] [--alpn h3,...]

Listens on HOST:PORT (default [::]:0: one socket takes both families while
net.ipv6.bindv6only is 0), prints "ready PORT" on stdout once bound, and echoes every
bidirectional stream back to its sender (FIN answered with FIN) so a relay can be checked;
the ALPN list (default h3) is offered as given. It answers no HTTP/3: a handshake is all a
Happy Eyeballs attempt needs. Ends on SIGTERM/SIGINT, or with --watch-stdin when stdin
ends (a test that dies without killing it).
"""

import argparse
import asyncio
import signal
import sys
import threading

from aioquic.asyncio import QuicConnectionProtocol, serve
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import StreamDataReceived


class Echo(QuicConnectionProtocol):
    def quic_event_received(self, event):
        if isinstance(event, StreamDataReceived):
            self._quic.send_stream_data(event.stream_id, event.data, end_stream=event.end_stream)
            self.transmit()


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--host", default="::")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--alpn", default="h3")
    p.add_argument("--watch-stdin", action="store_true", help="stop when stdin ends")
    a = p.parse_args()
    cfg = QuicConfiguration(is_client=False, alpn_protocols=a.alpn.split(","))
    cfg.load_cert_chain(a.cert, a.key)
    server = await serve(a.host, a.port, configuration=cfg, create_protocol=Echo)
    port = server._transport.get_extra_info("sockname")[1]
    print(f"ready {port}", flush=True)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for s in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(s, stop.set)
    if a.watch_stdin:
        # The test that started us may die without killing us: stdin's end stops us too.
        def watch():
            while sys.stdin.buffer.read1(4096):
                pass
            loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=watch, daemon=True).start()
    await stop.wait()
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
