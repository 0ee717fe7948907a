"""A paho-mqtt 2 subscriber (MQTT 5) that prints each message it receives as one JSON
line with every field an independent reader sees, for tests/client/jsonl.rs and
replay.rs: topic, payload in hex, qos, retain (the subscription asks for Retain As
Published, so a retained message forwarded live keeps its flag), the PUBLISH
properties, and the arrival time in ns. Prints "ready" once subscribed; exits after
COUNT messages or 60 s.

usage: jsonl_reader.py PORT FILTER COUNT
"""

import json
import sys
import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

port, filt, count = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
seen = 0


def on_connect(c, userdata, flags, reason_code, properties):
    c.subscribe(filt, options=SubscribeOptions(qos=2, retainAsPublished=True))


def on_subscribe(c, userdata, mid, reason_codes, properties):
    print("ready", flush=True)


def prop(props, name):
    return getattr(props, name, None) if props is not None else None


def on_message(c, userdata, msg):
    global seen
    p = msg.properties
    data = prop(p, "CorrelationData")
    line = {
        "topic": msg.topic,
        "payload_hex": msg.payload.hex(),
        "qos": msg.qos,
        "retain": bool(msg.retain),
        "content_type": prop(p, "ContentType"),
        "response_topic": prop(p, "ResponseTopic"),
        "correlation_data_hex": data.hex() if data is not None else None,
        "payload_format_indicator": prop(p, "PayloadFormatIndicator"),
        "message_expiry_interval": prop(p, "MessageExpiryInterval"),
        "user_properties": [list(kv) for kv in (prop(p, "UserProperty") or [])],
        "at_ns": time.time_ns(),
    }
    print(json.dumps(line), flush=True)
    seen += 1
    if seen >= count:
        c.disconnect()


client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
timer = threading.Timer(60, lambda: client.disconnect())
timer.daemon = True
timer.start()
client.connect("127.0.0.1", port)
client.loop_forever()
sys.exit(0)
