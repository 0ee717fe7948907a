"""paho-mqtt 2 against `mqtk serve --fault`: a QoS 1 PUBLISH whose PUBACK the broker
drops, then a connection the broker closes (on the next PINGREQ); paho reconnects with
its session and sends the PUBLISH again, with DUP set.

Owns: one client of the given protocol version (id dup-VERSION), stepped by hand (no
background thread), every wait bounded. Prints what paho did, one line each, for the Rust
test (tests/serve/faults.rs) to compare. Usage: fault_dup.py PORT 311|5
"""

import re
import sys

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from peer import pump_client as pump



def main():
    port, version = int(sys.argv[1]), sys.argv[2]
    v5 = version == "5"
    events = []
    state = {"connected": False, "acked": False}
    kwargs = {} if v5 else {"clean_session": False}
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"dup-{version}",
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        **kwargs,
    )

    def on_log(_c, _u, _level, buf):
        m = re.match(r"Sending PUBLISH \((d\d)", buf)
        if m:
            events.append(f"sent PUBLISH {m.group(1)}")

    def on_connect(_c, _u, flags, reason, _p):
        state["connected"] = True
        events.append(f"connected session_present={int(flags.session_present)}")

    def on_disconnect(_c, _u, _flags, _reason, _p):
        state["connected"] = False
        events.append("disconnected")

    def on_publish(_c, _u, _mid, _reason, _p):
        state["acked"] = True
        events.append("acked")

    client.on_log = on_log
    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    client.on_publish = on_publish

    props = None
    if v5:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = 60
    client.connect("127.0.0.1", port, keepalive=1, properties=props)
    pump(client, lambda: state["connected"], "CONNACK")
    client.publish("fault/dup", b"hello", qos=1)
    pump(client, lambda: not state["connected"], "the fault's close")
    client.reconnect()
    pump(client, lambda: state["acked"], "the PUBACK of the resent PUBLISH")
    client.disconnect()
    for line in events:
        print(line, flush=True)


main()
