"""A hostile WebSocket server for wsdoctor's tests (standard library only).

Listens on 127.0.0.1, prints its port, answers each upgrade with a valid 101,
then misbehaves as MODE says:

  flood-then-deaf [MB]  send MB megabytes of pings (default 8), then never
                        read again (the receive buffer is kept small, so the
                        client's writes block soon); the socket stays open.
  bad-utf8              send a text message that is not UTF-8, then read and
                        drop whatever comes, for at most 30 s.
"""
import base64
import hashlib
import socket
import sys
import threading
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
HOLD_SECONDS = 60


def read_head(conn):
    head = b""
    while b"\r\n\r\n" not in head and len(head) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        head += chunk
    return head


def accept_101(conn):
    head = read_head(conn)
    if head is None:
        return False
    key = b""
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            key = value.strip()
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    conn.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    return True


def frame(opcode, payload):
    return bytes([0x80 | opcode, len(payload)]) + payload


def flood_then_deaf(conn, megabytes):
    ping = frame(0x9, b"p" * 125)
    batch = ping * 512
    conn.settimeout(5)
    sent = 0
    try:
        while sent < megabytes * 1024 * 1024:
            conn.sendall(batch)
            sent += len(batch)
    except OSError:
        pass
    # Deaf from now on: nothing is read, the socket stays open.
    time.sleep(HOLD_SECONDS)


def bad_utf8(conn):
    conn.sendall(frame(0x1, b"ok \xff\xfe not utf-8"))
    conn.settimeout(1)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if not conn.recv(4096):
                return
        except socket.timeout:
            continue
        except OSError:
            return


def serve(conn, mode, arg):
    with conn:
        if not accept_101(conn):
            return
        if mode == "flood-then-deaf":
            flood_then_deaf(conn, int(arg or 8))
        elif mode == "bad-utf8":
            bad_utf8(conn)


def main():
    mode = sys.argv[1]
    arg = sys.argv[2] if len(sys.argv) > 2 else None
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted sockets inherit it: a small window fills at once when we stop reading.
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    print(listener.getsockname()[1], flush=True)
    for _ in range(16):
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, mode, arg), daemon=True).start()
    time.sleep(HOLD_SECONDS)


main()
