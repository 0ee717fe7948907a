"""A paho-mqtt 2 responder for `mqtk rr` tests (MQTT 5): subscribes to REQUEST_TOPIC,
prints "ready" once subscribed, and answers each request on its Response Topic twice:
first with correlation data that is not the request's (the requester must ignore it),
then with the request's own correlation data and the payload "re:PAYLOAD". Exits
after 30 s at most.

usage: rr_responder.py PORT REQUEST_TOPIC
"""

import sys
import threading

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

port, request_topic = int(sys.argv[1]), sys.argv[2]
client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)


def on_connect(c, userdata, flags, reason_code, properties):
    c.subscribe(request_topic, qos=1)


def on_subscribe(c, userdata, mid, reason_codes, properties):
    print("ready", flush=True)


def correlated(data):
    props = Properties(PacketTypes.PUBLISH)
    props.CorrelationData = data
    return props


def on_message(c, userdata, msg):
    response_topic = msg.properties.ResponseTopic
    data = msg.properties.CorrelationData
    print(f"request {msg.payload.decode()} {data.decode()}", flush=True)
    c.publish(response_topic, b"not for you", qos=1, properties=correlated(b"x" + data))
    c.publish(response_topic, b"re:" + msg.payload, qos=1, properties=correlated(data))


client.on_connect = on_connect
client.on_subscribe = on_subscribe
client.on_message = on_message
threading.Timer(30, lambda: client.disconnect()).start()
client.connect("127.0.0.1", port)
client.loop_forever()
