"""A slowloris upgrade request against `wsdoctor serve` (issue 19): sends
a head of about SIZE bytes one byte per send (TCP_NODELAY, GAP seconds
between sends) to 127.0.0.1:PORT, and prints the CPU seconds the process
PID (the one listening: `ss -ltnp`, serve's worker, not its parent) spent
meanwhile, and the status line it answered with.

    wsdoctor serve --listen 127.0.0.1:18472 &
    python3 bench/head/slow_head.py 18472 LISTENER_PID 15000 0.0001

Measured on a loaded 2-core machine, debug build, a 14,930-byte head
(serve refuses heads over 16 KiB): 1.45 s and 1.49 s of serve CPU when the
head was parsed from its start after every read, 0.28-0.29 s with
`wsdoctor_wire::head::HeadProgress` (most of it the 15,000 reads)."""
import os, socket, sys, time

port, pid, size, gap = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
tick = os.sysconf("SC_CLK_TCK")

def cpu():
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick

lines = [
    "GET /ws HTTP/1.1", f"Host: 127.0.0.1:{port}", "Upgrade: websocket",
    "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    "Sec-WebSocket-Version: 13",
]
filler = 0
while len("\r\n".join(lines)) + 200 < size:
    lines.append(f"X-Filler-{filler:03}: " + "v" * 150)
    filler += 1
head = ("\r\n".join(lines) + "\r\n\r\n").encode()
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
before, started = cpu(), time.monotonic()
for b in head:
    s.send(bytes([b]))
    if gap:
        time.sleep(gap)
answer = s.recv(200).split(b"\r\n")[0].decode(errors="replace")
print(f"{len(head)} B head, {len(lines) - 6} filler headers: serve CPU {cpu() - before:.2f} s, wall {time.monotonic() - started:.1f} s, answer {answer!r}")
