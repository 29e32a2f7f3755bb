"""A hostile WebSocket client for wsdoctor's tests (standard library only).

usage: hostile_client.py MODE PORT [--tls] [--mb N] [--hold S]

Opens ws://127.0.0.1:PORT/ (wss:// with --tls, certificate not checked),
then, per MODE:

  pings      send N MB (default 16) of empty pings and never read
  echo       send N MB of 1 KB text messages to echo and never read
  bad-utf8   send a text message that is not UTF-8
  oversize   announce a 64 MiB binary frame
  fragments  send an endless fragmented message (until closed, at most N MB)

The flood modes stop when the server stops taking bytes (a send blocked
for 3 s), then hold the connection without reading for S seconds (default
30). Prints one JSON line: bytes sent, whether sending blocked, and the
close code the server answered with (the other modes read for it).
"""
import base64
import json
import os
import socket
import ssl
import sys
import time


def frame(opcode, payload, fin=True):
    # Masked with the zero key: valid, and the payload goes out as it is.
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([0x80 | 127]) + n.to_bytes(8, "big")
    return head + b"\0\0\0\0" + payload


def connect(port, tls):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    if tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.set_alpn_protocols(["http/1.1"])
        sock = context.wrap_socket(sock, server_hostname="localhost")
    key = base64.b64encode(os.urandom(16))
    sock.sendall(
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Key: " + key + b"\r\n\r\n"
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            raise SystemExit("no 101")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise SystemExit("not a 101: " + head.decode("latin-1").split("\r\n")[0])
    return sock


def flood(sock, batch, limit):
    sock.settimeout(3)
    sent = 0
    try:
        while sent < limit:
            sock.sendall(batch)
            sent += len(batch)
    except (socket.timeout, ssl.SSLError, OSError):
        return sent, True
    return sent, False


def close_code(sock, seconds=10):
    """Reads frames until a close frame; its code, or None."""
    sock.settimeout(seconds)
    buf = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        while len(buf) >= 2:
            n = buf[1] & 0x7F
            start = 2
            if n == 126:
                if len(buf) < 4:
                    break
                n, start = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    break
                n, start = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < start + n:
                break
            if buf[0] & 0x0F == 0x8:
                payload = buf[start : start + n]
                return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
            buf = buf[start + n :]
        try:
            chunk = sock.recv(65536)
        except (socket.timeout, OSError):
            return None
        if not chunk:
            return None
        buf += chunk
    return None


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    tls = "--tls" in sys.argv
    mb = int(sys.argv[sys.argv.index("--mb") + 1]) if "--mb" in sys.argv else 16
    hold = float(sys.argv[sys.argv.index("--hold") + 1]) if "--hold" in sys.argv else 30
    sock = connect(port, tls)
    result = {"sent": 0, "blocked": False, "close_code": None}
    if mode in ("pings", "echo"):
        one = frame(0x9, b"") if mode == "pings" else frame(0x1, b"x" * 1024)
        batch = one * (65536 // len(one))
        result["sent"], result["blocked"] = flood(sock, batch, mb << 20)
        print(json.dumps(result), flush=True)
        time.sleep(hold)
        return
    if mode == "bad-utf8":
        # "caf" and the first byte of "é" ... then "(": invalid across fragments.
        sock.sendall(frame(0x1, b"caf\xc3", fin=False) + frame(0x0, b"(", fin=True))
    elif mode == "oversize":
        sock.sendall(bytes([0x82, 0x80 | 127]) + (64 << 20).to_bytes(8, "big") + b"\0\0\0\0")
    elif mode == "fragments":
        sock.sendall(frame(0x2, b"\0" * 1024, fin=False))
        part = frame(0x0, b"\0" * 65536, fin=False)
        result["sent"], result["blocked"] = flood(sock, part, mb << 20)
    result["close_code"] = close_code(sock)
    print(json.dumps(result), flush=True)


main()
