"""Paho's interoperability case test_flow_control2 with paho-mqtt 2: an MQTT 5 client
that ignores the broker's Receive Maximum floods QoS 2 messages and must read the
broker's DISCONNECT 0x93 (receive maximum exceeded), not lose the connection to a reset.

Usage: flow_control2.py PORT. Prints `disconnect REASON` (paho's own 128 when the
connection was lost before the reason could be read).
Must not: wait without a deadline.
"""

import sys
import time

import paho.mqtt.client as mqtt

from peer import TIMEOUT, fail, say


def main():
    port = int(sys.argv[1])
    reasons = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paho-flood",
                         protocol=mqtt.MQTTv5)
    # Far above the broker's Receive Maximum (20): paho then sends all at once.
    client.max_inflight_messages_set(1000)
    client.on_disconnect = lambda _c, _u, _f, reason, _p: reasons.append(reason.value)
    client.connect("127.0.0.1", port)
    deadline = time.monotonic() + TIMEOUT
    while not client.is_connected():
        if time.monotonic() > deadline:
            fail("no CONNACK")
        client.loop(0.05)
    for _ in range(200):
        client.publish("flood", b"x" * 1000, qos=2)
    while not reasons:
        if time.monotonic() > deadline:
            fail("still connected after the flood")
        client.loop(0.05)
    say(f"disconnect {reasons[0]}")


if __name__ == "__main__":
    main()
