"""A real python-socketio server (Engine.IO v4) for the tests, on 127.0.0.1.

    python3 tests/peers/python_socketio_server.py PORT PING_INTERVAL_S PING_TIMEOUT_S

Prints "listening PORT" once it listens (PORT 0 picks a free one).
"""

import asyncio
import socket
import sys

import socketio
from aiohttp import web


async def main() -> None:
    port, interval, timeout = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    sio = socketio.AsyncServer(
        async_mode="aiohttp", ping_interval=interval, ping_timeout=timeout, transports=["websocket"]
    )
    app = web.Application()
    sio.attach(app)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    site = web.SockSite(runner, sock)
    await site.start()
    print(f"listening {sock.getsockname()[1]}", flush=True)
    await asyncio.Event().wait()


asyncio.run(main())
