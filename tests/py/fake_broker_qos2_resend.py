"""A scripted MQTT 3.1.1 broker for one client, to check the client side of QoS 2
exactly once across a restart (MQTT 3.1.1 §4.3.3, method A).

Connection 1: CONNACK, SUBACK, then PUBLISH QoS 2 id 7 "once"; it reads the PUBREC and
then waits for the client to die (the test SIGKILLs it after it printed "once").
Connection 2 (session present): PUBLISH id 7 "once" again with DUP, as a broker that
never got the PUBREC would; the client must answer PUBREC and not print it again. Then
PUBREL 7 (expects PUBCOMP) and a QoS 0 "marker". Prints `listening PORT` first, then
one line per packet it got, and ends after the second connection.
"""
import socket
import sys

TIMEOUT = 20


def read_packet(conn):
    head = conn.recv(1)
    if not head:
        return None, b""
    length, mult = 0, 1
    while True:
        b = conn.recv(1)[0]
        length += (b & 0x7F) * mult
        mult *= 128
        if b < 0x80:
            break
    body = b""
    while len(body) < length:
        chunk = conn.recv(length - len(body))
        if not chunk:
            break
        body += chunk
    return head[0], body


def expect(conn, kind, what):
    head, body = read_packet(conn)
    if head is None or head >> 4 != kind:
        print(f"expected {what}, got {head!r} {body!r}", flush=True)
        sys.exit(3)
    return body


def publish(dup, packet_id, payload, qos=2):
    topic = b"eo/t"
    var = len(topic).to_bytes(2, "big") + topic
    if qos:
        var += packet_id.to_bytes(2, "big")
    body = var + payload
    return bytes([0x30 | (0x08 if dup else 0) | (qos << 1), len(body)]) + body


listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(1)
listener.settimeout(TIMEOUT)
print(f"listening {listener.getsockname()[1]}", flush=True)



def next_packet(conn, wanted, what):
    """The next packet of kind `wanted`, answering any SUBSCRIBE on the way."""
    while True:
        head, body = read_packet(conn)
        if head is None:
            print(f"connection closed while waiting for {what}", flush=True)
            sys.exit(3)
        if head >> 4 == 8 and wanted != 8:
            conn.sendall(bytes([0x90, 3]) + body[:2] + bytes([2]))
            continue
        if head >> 4 != wanted:
            print(f"expected {what}, got {head:#x} {body!r}", flush=True)
            sys.exit(3)
        return body


for n in (1, 2):
    conn, _ = listener.accept()
    conn.settimeout(TIMEOUT)
    expect(conn, 1, "CONNECT")
    conn.sendall(bytes([0x20, 2, 1 if n == 2 else 0, 0]))
    if n == 1:
        sub = expect(conn, 8, "SUBSCRIBE")
        conn.sendall(bytes([0x90, 3]) + sub[:2] + bytes([2]))
    conn.sendall(publish(n == 2, 7, b"once"))
    pubrec = next_packet(conn, 5, "PUBREC")
    print(f"connection {n}: PUBREC {int.from_bytes(pubrec[:2], 'big')}", flush=True)
    if n == 1:
        # Wait for the client to be killed.
        while True:
            head, _ = read_packet(conn)
            if head is None:
                break
        conn.close()
        continue
    conn.sendall(bytes([0x62, 2, 0, 7]))
    pubcomp = next_packet(conn, 7, "PUBCOMP")
    print(f"connection 2: PUBCOMP {int.from_bytes(pubcomp[:2], 'big')}", flush=True)
    conn.sendall(publish(False, 0, b"marker", qos=0))
    # Let the client read it before we go.
    try:
        conn.recv(1)
    except OSError:
        pass
    conn.close()
