"""A third-party wss:// server for wsdoctor's TLS tests: python-websockets'
echo server on 127.0.0.1 with the certificate chain and key given
(`CERT.pem KEY.pem`), no pings of its own. Prints its port."""
import asyncio
import ssl
import sys

import websockets


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main():
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[1], sys.argv[2])
    async with websockets.serve(echo, "127.0.0.1", 0, ssl=context, ping_interval=None) as server:
        print(server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()


asyncio.run(main())
