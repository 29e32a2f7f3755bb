"""A SignalR hub that requires negotiation, replaying the exchange of
ASP.NET Core's published specification (dotnet/aspnetcore
src/SignalR/docs/specs/TransportProtocols.md and HubProtocol.md, read
2026-12-06): no real SignalR server runs here (it needs ASP.NET Core), so
this aiohttp server answers as one does, with the spec's own example
answer. Prints its port.

    signalr_transcript_server.py [PING_INTERVAL_S]

POST /chathub/negotiate?negotiateVersion=1 -> the spec's version-1 answer
(connectionToken, connectionId, availableTransports). GET /chathub with
`id=<connectionToken>` upgrades; without it (or another id) 404 "No
Connection with that ID", as ASP.NET Core answers when negotiation is
required. After the handshake request `{"protocol":"json","version":1}`
+ 0x1E it answers `{}` + 0x1E and sends a ping `{"type":6}` + 0x1E every
PING_INTERVAL_S (KeepAliveInterval, 15 s by default; scaled down here).
"""
import asyncio
import json
import sys

from aiohttp import WSMsgType, web

RS = "\x1e"
TOKEN = "05265228-1e2c-46c5-82a1-6a5bcc3f0143"
NEGOTIATE = {
    "connectionToken": TOKEN,
    "connectionId": "807809a5-31bf-470d-9e23-afaee35d8a0d",
    "negotiateVersion": 1,
    "availableTransports": [
        {"transport": "WebSockets", "transferFormats": ["Text", "Binary"]},
        {"transport": "ServerSentEvents", "transferFormats": ["Text"]},
        {"transport": "LongPolling", "transferFormats": ["Text", "Binary"]},
    ],
}


async def negotiate(request):
    if request.query.get("negotiateVersion") != "1":
        return web.Response(status=400, text="negotiateVersion=1 expected")
    return web.json_response(NEGOTIATE)


async def hub(request, ping_interval):
    if request.query.get("id") != TOKEN:
        return web.Response(status=404, text="No Connection with that ID")
    ws = web.WebSocketResponse(autoping=True)
    await ws.prepare(request)

    async def pinger():
        while not ws.closed:
            await asyncio.sleep(ping_interval)
            await ws.send_str(json.dumps({"type": 6}) + RS)

    task = None
    async for msg in ws:
        if msg.type != WSMsgType.TEXT:
            continue
        for record in msg.data.split(RS):
            if not record:
                continue
            value = json.loads(record)
            if "protocol" in value and task is None:
                await ws.send_str("{}" + RS)
                task = asyncio.ensure_future(pinger())
    if task:
        task.cancel()
    return ws


async def main():
    ping_interval = float(sys.argv[1]) if len(sys.argv) > 1 else 15.0
    app = web.Application()
    app.router.add_post("/chathub/negotiate", negotiate)
    app.router.add_get("/chathub", lambda r: hub(r, ping_interval))
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(site._server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Future()


asyncio.run(main())
