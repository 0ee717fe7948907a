"""A short paho-mqtt 2 session against `mqtk serve --trace`, for the Rust test
(tests/serve/trace.rs) to match packet by packet with the broker's trace: CONNECT,
SUBSCRIBE, a QoS 1 PUBLISH to itself and its delivery, UNSUBSCRIBE, DISCONNECT.

Owns: one client (id trace-VERSION), stepped by hand, every wait bounded. Prints each
packet paho logged (its on_log), `sent TYPE` or `received TYPE`, with `qN mN` for a
PUBLISH and `mN` for a PUBACK. Usage: trace_session.py PORT 311|5
"""

import re
import sys

import paho.mqtt.client as mqtt

from peer import pump_client as pump



def main():
    port, version = int(sys.argv[1]), sys.argv[2]
    v5 = version == "5"
    lines = []
    state = {"connected": False, "subscribed": False, "message": False,
             "acked": False, "unsubscribed": False}
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"trace-{version}",
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
    )

    def on_log(_c, _u, _level, buf):
        m = re.match(r"(Sending|Received) ([A-Z]+)(.*)", buf)
        if not m:
            return
        verb = "sent" if m.group(1) == "Sending" else "received"
        kind, rest = m.group(2), m.group(3)
        extra = ""
        if kind == "PUBLISH":
            f = re.search(r"q(\d), r\d, m(\d+)", rest)
            extra = f" q{f.group(1)} m{f.group(2)}"
        elif kind == "PUBACK":
            f = re.search(r"Mid: (\d+)", rest)
            extra = f" m{f.group(1)}"
        lines.append(f"{verb} {kind}{extra}")

    client.on_log = on_log
    client.on_connect = lambda *a: state.update(connected=True)
    client.on_subscribe = lambda *a: state.update(subscribed=True)
    client.on_message = lambda *a: state.update(message=True)
    client.on_publish = lambda *a: state.update(acked=True)
    client.on_unsubscribe = lambda *a: state.update(unsubscribed=True)

    topic = f"trace/{version}"
    client.connect("127.0.0.1", port, keepalive=60)
    pump(client, lambda: state["connected"], "CONNACK")
    client.subscribe(topic, qos=1)
    pump(client, lambda: state["subscribed"], "SUBACK")
    client.publish(topic, b"hello", qos=1)
    pump(client, lambda: state["message"] and state["acked"], "the message and its PUBACK")
    client.unsubscribe(topic)
    pump(client, lambda: state["unsubscribed"], "UNSUBACK")
    client.disconnect()
    client.loop(timeout=0.05)
    for line in lines:
        print(line, flush=True)


main()
