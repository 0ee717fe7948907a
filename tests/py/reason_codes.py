"""Reason codes paho sees for what it asked: a SUBSCRIBE with one invalid filter among
valid ones (MQTT 5: SUBACK 0x8F for that filter, the others granted; 3.1.1: the
connection is closed) and a QoS 1 publish that matches no subscription (MQTT 5:
PUBACK 0x10 No matching subscribers; 3.1.1: a plain PUBACK).
paho checks wildcards itself, so the invalid filter is a shared one without a filter
after its group, which only the broker refuses.
"""
import paho.mqtt.client as mqtt

from peer import Peer, args, say

port, v = args()
t = f"rc/{v}"
p = Peer(port, v, f"rc-{v}").connect()
filters = [(f"{t}/ok", 1), ("$share/grp", 1), (f"{t}/x/+", 2)]
if p.v5:
    filters = [(f, mqtt.SubscribeOptions(qos=q)) for f, q in filters]
p.client.subscribe(filters)
p.pump(lambda: p.subacks or p.disconnect_reason is not None, what="SUBACK or close")
if p.subacks:
    say(f"suback: {p.subacks[-1]}")
else:
    say("suback: closed")
    p = Peer(port, v, f"rc-{v}").connect()
    p.subscribe(f"{t}/ok", 1)

info = p.publish(f"rc-none/{v}/x", "nobody", 1)
say(f"no subscriber: {p.ack_reasons[info.mid]:#04x}")
info = p.publish(f"{t}/ok", "mine", 1)
p.wait_messages(1)
say(f"subscriber: {p.ack_reasons[info.mid]:#04x} ({p.lines()[0]})")
