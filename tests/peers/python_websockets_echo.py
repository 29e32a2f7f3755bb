"""A third-party WebSocket server for wsdoctor's tests: python-websockets'
echo server on 127.0.0.1 with a chosen ping interval. Prints its port."""
import asyncio
import sys

import websockets


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main():
    interval = float(sys.argv[1]) if len(sys.argv) > 1 else 20.0
    # 0 turns the server's own pings off (to see the path's idle timer alone).
    ping_interval = interval if interval > 0 else None
    async with websockets.serve(echo, "127.0.0.1", 0, ping_interval=ping_interval) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()


asyncio.run(main())
