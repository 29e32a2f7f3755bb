#!/usr/bin/env python3
"""Loopback measurements for the lab (standard library only).

  hold URL N        open N idle WebSocket connections and keep them until killed
  rtt URL N         N sequential echo round trips on one connection; prints p50/p99 in µs
"""
import asyncio, base64, os, socket, struct, sys, time
from urllib.parse import urlparse

def request(url):
    u = urlparse(url)
    key = base64.b64encode(os.urandom(16)).decode()
    path = (u.path or "/") + (("?" + u.query) if u.query else "")
    return (u.hostname, u.port), (f"GET {path} HTTP/1.1\r\nHost: {u.netloc}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()

def frame(payload):
    mask = os.urandom(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + mask + body

async def open_one(url):
    addr, req = request(url)
    r, w = await asyncio.open_connection(*addr)
    w.write(req)
    head = await r.readuntil(b"\r\n\r\n")
    assert b" 101 " in head.split(b"\r\n")[0], head
    return r, w

async def hold(url, n):
    conns = []
    for i in range(0, n, 500):
        conns += await asyncio.gather(*(open_one(url) for _ in range(min(500, n - i))))
    print(f"holding {len(conns)} connections", flush=True)
    await asyncio.sleep(3600)

def rtt(url, n):
    addr, req = request(url)
    s = socket.create_connection(addr)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(req)
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
    msg = b"wsdoctor-bench-0123456789"
    f = frame(msg)
    want = 2 + len(msg)
    times = []
    for _ in range(n):
        t = time.perf_counter_ns()
        s.sendall(f)
        got = b""
        while len(got) < want:
            got += s.recv(4096)
        times.append((time.perf_counter_ns() - t) / 1000)
    times.sort()
    print(f"{n} round trips: p50 {times[n // 2]:.0f} µs, p99 {times[n * 99 // 100]:.0f} µs")

if __name__ == "__main__":
    cmd, url, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    asyncio.run(hold(url, n)) if cmd == "hold" else rtt(url, n)
