"""A third-party WebSocket server for wsdoctor's tests: python-websockets'
echo server on 127.0.0.1 with a chosen ping interval. Prints its port.

    python_websockets_echo.py [PING_INTERVAL_S] [--close-after S] [--close-reason TEXT] [--subprotocols A,B] [--backlog N] [--host ADDR]

PING_INTERVAL_S: the server's keepalive ping interval (default 20, the
library's; 0 turns pings off). --close-after: the server ends every
connection itself after S seconds with close code 1000 and --close-reason.
--subprotocols: the only subprotocols the server accepts (python-websockets
refuses a handshake that offers none of them). --backlog: the listen backlog
passed to asyncio's create_server (its default, and so the library's, is 100).
--host: the address to listen on (127.0.0.1 unless told; a network namespace's
address for a target that is not on this machine's loopback).
"""
import argparse
import asyncio

import websockets


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("ping_interval", nargs="?", type=float, default=20.0)
    parser.add_argument("--close-after", type=float, default=None)
    parser.add_argument("--close-reason", default="")
    parser.add_argument("--subprotocols", default=None)
    parser.add_argument("--backlog", type=int, default=None)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()

    async def echo(ws):
        async for message in ws:
            await ws.send(message)

    async def handler(ws):
        if args.close_after is None:
            await echo(ws)
            return
        try:
            await asyncio.wait_for(echo(ws), timeout=args.close_after)
        except asyncio.TimeoutError:
            await ws.close(code=1000, reason=args.close_reason)

    # 0 turns the server's own pings off (to see the path's idle timer alone).
    ping_interval = args.ping_interval if args.ping_interval > 0 else None
    subprotocols = args.subprotocols.split(",") if args.subprotocols else None
    listen = {} if args.backlog is None else {"backlog": args.backlog}
    async with websockets.serve(
        handler,
        args.host,
        0,
        ping_interval=ping_interval,
        subprotocols=subprotocols,
        **listen,
    ) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()


asyncio.run(main())
