"""A hostile WebSocket server for wsdoctor's tests (Python standard library
only), on 127.0.0.1, printing its port. Modes:

  silent    accept and read the upgrade request, never answer
  drip      answer a valid 101 one byte every 300 ms (never done in time)
  badframe  answer a valid 101, then send a frame with a reserved opcode
            (0x3), which RFC 6455 section 5.2 says fails the connection
"""
import base64
import hashlib
import socket
import sys
import threading
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def read_head(conn):
    data = b""
    while b"\r\n\r\n" not in data and len(data) < 65536:
        chunk = conn.recv(4096)
        if not chunk:
            return None
        data += chunk
    return data


def answer(head):
    key = b""
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            key = value.strip()
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )


def handle(conn, mode):
    try:
        head = read_head(conn)
        if head is None or mode == "silent":
            time.sleep(3600)
            return
        reply = answer(head)
        if mode == "drip":
            for byte in reply:
                conn.sendall(bytes([byte]))
                time.sleep(0.3)
            time.sleep(3600)
            return
        conn.sendall(reply + b"\x83\x00")
        time.sleep(3600)
    except OSError:
        pass
    finally:
        conn.close()


def main():
    mode = sys.argv[1]
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(128)
    print(server.getsockname()[1], flush=True)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=handle, args=(conn, mode), daemon=True).start()


main()
