#!/usr/bin/env python3
"""Writes the hand-made seed inputs of every fuzz target into
fuzz/corpus/TARGET/seed-*. Finds that cargo-fuzz minimizes are added next to
them under other names. Run from anywhere; needs only Python 3."""
import base64, json, os, struct, zlib

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CONTROL16 = bytes(16)   # zero control bytes: whole reads / default choices
CHUNKY16 = bytes([3, 7, 1, 200, 5, 9, 2, 64, 11, 1, 17, 3, 2, 90, 4, 1])

def put(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)

def frame(opcode, payload, mask=b"\x11\x22\x33\x44", fin=True, rsv=0):
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n < 65536:
        head = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if mask:
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        return head + mask + payload
    return head + payload

UPGRADE = ("GET /ws{q} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n")

def upgrade(q="", extra=""):
    return UPGRADE.format(q=q, extra=extra)

# lab_request_head: request heads as the lab and serve read them.
put("lab_request_head", "upgrade", upgrade())
put("lab_request_head", "faults", upgrade("?fault=ping:1s,close:1011:2s&reason=overloaded&server=nginx/1.24.0"))
put("lab_request_head", "status", upgrade("?fault=status:502"))
put("lab_request_head", "bad-accept", upgrade("?fault=bad-accept,no-upgrade-header", "Sec-WebSocket-Protocol: chat, superchat\r\n"))
put("lab_request_head", "server-crlf", upgrade("?server=x%0d%0aSet-Cookie:%20a=b&fault=http10"))
put("lab_request_head", "protocol-crlf", upgrade("", "Sec-WebSocket-Protocol: a\rb, c\r\n"))
put("lab_request_head", "not-get", "POST /v1/browser HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}")
put("lab_request_head", "http10", "GET / HTTP/1.0\r\n\r\n")
put("lab_request_head", "malformed", "GET /\x00 HTTP/1.1\r\n\r\n")
put("lab_request_head", "many-headers", "GET / HTTP/1.1\r\n" + "X: y\r\n" * 120 + "\r\n")
put("lab_request_head", "partial", "GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgr")

# lab_frames: 16 control bytes (chunk sizes), then client frames.
msgs = (frame(1, b"hello") + frame(9, b"ping") + frame(2, bytes(300)) +
        frame(1, b"frag", fin=False) + frame(0, b"ment") + frame(10, b"") +
        frame(8, struct.pack(">H", 1000) + b"bye"))
put("lab_frames", "messages", CONTROL16 + msgs)
put("lab_frames", "messages-chunked", CHUNKY16 + msgs)
put("lab_frames", "unmasked", CONTROL16 + frame(1, b"hi", mask=None))
put("lab_frames", "bad-utf8", CHUNKY16 + frame(1, b"\xff\xfe"))
put("lab_frames", "big-header", CONTROL16 + bytes([0x82, 0xff]) + struct.pack(">Q", 1 << 40) + b"\x01\x02\x03\x04")
put("lab_frames", "close-codes", CONTROL16 + frame(8, struct.pack(">H", 1005)) + frame(8, b"\x03"))
put("lab_frames", "deflate-bit", CONTROL16 + frame(1, b"x", rsv=4))
put("lab_frames", "long", CHUNKY16 + frame(2, bytes(70000)))

# lab_proxy_head: 16 control bytes (bit 0 of the first: request), then a head.
put("lab_proxy_head", "request", bytes([1]) + CHUNKY16[1:] + upgrade().encode() + msgs)
put("lab_proxy_head", "post", bytes([1]) + CONTROL16[1:] + b"POST /v1/browser HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n{}")
put("lab_proxy_head", "response", bytes([0]) + CONTROL16[1:] + b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nServer: lab\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n" + frame(1, b"x", mask=None))
put("lab_proxy_head", "response-502", bytes([0]) + CHUNKY16[1:] + b"HTTP/1.1 502 Bad Gateway\r\nServer: nginx\r\nContent-Length: 3\r\n\r\nbad")
put("lab_proxy_head", "huge", bytes([1]) + CONTROL16[1:] + b"GET / HTTP/1.1\r\n" + b"X: " + b"a" * 17000 + b"\r\n\r\n")

# lab_proxy_pump: 16 control bytes (rules, websocket, inject, chunks), then frames.
put("lab_proxy_pump", "pass", bytes([0, 1, 0]) + CHUNKY16[3:] + msgs)
put("lab_proxy_pump", "drop-pongs", bytes([1, 1, 1, 2]) + CHUNKY16[4:] + msgs)
put("lab_proxy_pump", "stall", bytes([4, 1, 1, 0]) + CHUNKY16[4:] + msgs)
put("lab_proxy_pump", "server-side", bytes([2, 1, 0]) + CHUNKY16[3:] + frame(1, b"tick 1", mask=None) + frame(8, b"\x03\xe8", mask=None))
put("lab_proxy_pump", "plain", bytes([8, 0, 0]) + CHUNKY16[3:] + b"HTTP/1.1 502 Bad Gateway\r\n\r\n")

# fault_query: fault lists, proxy faults, presets.
for i, text in enumerate([
    "ping:1s,close:1011:2s", "status:502", "rst:500ms,fin-mid-frame:1s", "no-pong,pong-delay:3s,tick:250ms,greet",
    "huge-frame", "hang", "not-http", "close:4000", "close:999999:1s", "ping:0s", "status:99999",
    "idle-timeout=60s:rst:down-only,max-lifetime=2h:close-1001", "random-drop=1s-5s:http-504",
    "max-conns=3:drop,latency=20ms,inject-close=1011@2s,stall=1s,mass-disconnect@3s:rst",
    "alb", "nginx-default", "api-gateway", "fault=ping:1s&fault=close:1000&reason=r&ping=off&tick=1s&echo=off&conn-id=abc",
]):
    put("fault_query", f"{i:02}", text)

# serve_conn: first byte picks the mode (0 raw, 1 h2 preface + frames,
# 2 /v1/browser body, 3 upgrade + client frames).
def h2frame(kind, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload

def hpack_literal(name, value):
    return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value

settings = h2frame(4, 0, 0, b"")
connect = b"".join(hpack_literal(n, v) for n, v in [
    (b":method", b"CONNECT"), (b":protocol", b"websocket"), (b":scheme", b"http"),
    (b":path", b"/ws?fault=ping:1s"), (b":authority", b"127.0.0.1"), (b"sec-websocket-version", b"13")])
whoami = b"".join(hpack_literal(n, v) for n, v in [
    (b":method", b"GET"), (b":scheme", b"http"), (b":path", b"/whoami"), (b":authority", b"127.0.0.1")])
put("serve_conn", "raw-whoami", b"\x00GET /whoami HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
put("serve_conn", "raw-page", b"\x00GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
put("serve_conn", "raw-ledger", b"\x00GET /v1/connections/abc HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
put("serve_conn", "raw-fault", b"\x00" + upgrade("?fault=status:503").encode())
put("serve_conn", "raw-bad-fault", b"\x00" + upgrade("?fault=nonsense").encode())
put("serve_conn", "h2-connect", b"\x01" + settings + h2frame(1, 4, 1, connect) + h2frame(0, 0, 1, frame(1, b"hi", mask=None)))
put("serve_conn", "h2-whoami", b"\x01" + settings + h2frame(1, 5, 1, whoami) + h2frame(6, 0, 0, bytes(8)))
put("serve_conn", "h2-fault", b"\x01" + settings + h2frame(1, 4, 1, connect.replace(b"ping:1s", b"status:5")) )
report = {"session": "s1", "page_url": "http://127.0.0.1/?token=abc", "websocket_url": "ws://127.0.0.1/ws",
          "user_agent": "Mozilla/5.0", "page_protocol": "http/1.1",
          "settings": {"heartbeat_ms": 500, "reconnect_ms": 1000, "drops": 2, "max_ms": 20000},
          "ran_ms": 5000, "finished": True,
          "connections": [{"arm": "idle", "attempt": 1, "conn_id": "b-1", "started_ms": 10, "opened_ms": 20,
                           "closed_ms": 2020, "code": 1006, "reason": "", "was_clean": False}],
          "visibility": [{"at_ms": 100, "hidden": True}]}
report_json = json.dumps(report).encode()
put("serve_conn", "browser", b"\x02" + report_json)
put("serve_conn", "upgrade-frames", b"\x03" + frame(1, b"hello") + frame(9, b"p") + frame(8, b"\x03\xe8"))
comp = zlib.compressobj(6, zlib.DEFLATED, -15)
deflated = comp.compress(b"hello hello hello") + comp.flush(zlib.Z_SYNC_FLUSH)
put("serve_conn", "upgrade-deflate", b"\x03" + frame(1, deflated[:-4], rsv=4) + frame(8, b"\x03\xe8"))

# browser_report
put("browser_report", "report", report_json)
put("browser_report", "server-view", report_json.replace(b'"was_clean": false}', b'"was_clean": false, "server": {"id": "forged", "instance": "x", "end": null, "frames_received": 0, "frames_sent": 0, "last_received_us": null, "last_sent_us": null}}'))
put("browser_report", "empty", b"{}")

# deflate: 24 control bytes (params, side, chunkings), then text + data.
put("deflate", "answer", bytes(24) + b"permessage-deflate; client_max_window_bits=10; server_no_context_takeover")
put("deflate", "offers", bytes(24) + b"x-webkit-deflate-frame, permessage-deflate; server_max_window_bits=8, permessage-deflate")
put("deflate", "message", bytes([1, 0, 3, 0, 1]) + bytes(19) + deflated[:-4])
bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
put("deflate", "bomb", bytes([0, 0, 0, 0, 1]) + bytes(19) + bomb.compress(bytes(1 << 20)) + bomb.flush(zlib.Z_SYNC_FLUSH)[:-4])
put("deflate", "final-block", bytes(24) + zlib.compress(b"abc")[2:])

# proxy_reply: first byte: scheme (mod 3: http, socks5, socks5h), bit 2: credentials.
put("proxy_reply", "connect-200", b"\x00HTTP/1.1 200 Connection established\r\n\r\n")
put("proxy_reply", "connect-407", b"\x04HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=x\r\nContent-Length: 5\r\n\r\nhello")
put("proxy_reply", "connect-extra", b"\x00HTTP/1.1 200 OK\r\n\r\nSSH-2.0")
put("proxy_reply", "connect-chunked", b"\x00HTTP/1.1 403 Forbidden\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
put("proxy_reply", "socks-ok", b"\x01\x05\x00\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x50")
put("proxy_reply", "socks-auth", b"\x05\x05\x02\x01\x00\x05\x00\x00\x03\x04abcd\x00\x50")
put("proxy_reply", "socks-refused", b"\x02\x05\x00\x05\x05\x00\x04")
put("proxy_reply", "socks-no-method", b"\x06\x05\xff")

# redaction: the target builds URLs and headers from the bytes.
put("redaction", "a", b"\x05user\x07example\x03/ws\x01\x02\x03")
put("redaction", "b", os.urandom(0) + bytes(range(64)))

# durations
for i, text in enumerate(["500ms", "25s", "10m", "1h30m", "0", "30", "1.5s", "-1s", "9999999999999999999h",
                          "18446744073709551615s", "1y", "  2 days ", "1ns", "5µs", ""]):
    put("durations", f"{i:02}", text)

# har
with open(os.path.join(ROOT, "crates/logs/tests/fixtures/chrome.har"), "rb") as f:
    put("har", "chrome", f.read())
put("har", "empty-log", b'{"log":{"entries":[]}}')

# lint_include: the target builds a file tree from the bytes.
put("lint_include", "a", bytes([5, 0, 1, 2, 3, 0, 12, 13, 14, 15, 16, 17, 18, 2, 9, 9, 4, 1, 0, 0, 3]) * 4)

# load_merge / load_histogram: a real `load --shard 0/2 --json` report.
with open(os.path.join(ROOT, "crates/fuzz-targets/load_base.json"), "rb") as f:
    load = json.load(f)
put("load_merge", "observations-load", json.dumps(load).encode())
put("load_merge", "report", json.dumps({"schema": "wsdoctor.report/v1", "command": "load",
                                         "observations": {"load": load}}).encode())
for step in load["steps"]:
    for key in ("handshake", "echo_rtt"):
        h = step.get(key, {}).get("histogram")
        if h:
            put("load_histogram", f"{step['index']}-{key}", base64.b64decode(h))
            put("load_merge", "no-plan", json.dumps({k: v for k, v in load.items() if k != "plan"}).encode())
