"""Retained messages with paho: one per topic (replaced by the next, deleted by an
empty payload), sent on subscribe to wildcard filters with the retain flag set and at
min(retained QoS, granted QoS). MQTT 5: retain handling 0 (send on every subscribe),
1 (only when the subscription is new), 2 (never), retain as published, and message
expiry applied to retained messages.
"""
from peer import Peer, args, props, say
from paho.mqtt.packettypes import PacketTypes

port, v = args()
t = f"ret/{v}"
pub = Peer(port, v, f"ret-pub-{v}").connect()
pub.publish(f"{t}/a", "a1", 2, retain=True)
pub.publish(f"{t}/a", "a2", 2, retain=True)   # replaces a1
pub.publish(f"{t}/b", "b1", 1, retain=True)
pub.publish(f"{t}/c", "c1", 1, retain=True)
pub.publish(f"{t}/c", "", 1, retain=True)     # deletes c
pub.publish(f"{t}/x/deep", "d1", 0, retain=True)


def fresh(name, filt, qos, n, **options):
    """A new subscriber to `filt`; returns once `n` messages (the retained ones) came."""
    p = Peer(port, v, f"ret-{name}-{v}").connect()
    p.subscribe(filt, qos, **options)
    p.wait_messages(n)
    return p


def settled(p, n):
    """After `n` messages, a marker on a topic of its own proves nothing else is coming."""
    p.wait_messages(n)
    p.subscribe(f"{t}/marker/{p.client._client_id.decode()}", 0)
    pub.publish(f"{t}/marker/{p.client._client_id.decode()}", "end", 0)
    p.pump(lambda: p.messages and p.messages[-1].topic.startswith(f"{t}/marker"), what="marker")
    return sorted(line for line in p.lines() if f"{t}/marker" not in line)


p = fresh("plus", f"{t}/+", 1, 2)
say("plus: " + ", ".join(settled(p, 2)))
p = fresh("hash", f"{t}/#", 2, 3)
say("hash: " + ", ".join(settled(p, 3)))

if v == "5":
    p = fresh("rh2", f"{t}/#", 1, 0, retainHandling=2)
    say("rh2: " + ", ".join(settled(p, 0)))
    # Retain handling 1: retained on the first subscribe, not on a repeat.
    p = fresh("rh1", f"{t}/+", 1, 2, retainHandling=1)
    p.subscribe(f"{t}/+", 1, retainHandling=1)
    say("rh1 then repeat: " + ", ".join(settled(p, 2)))
    # Retain handling 0: on a repeat too.
    p = fresh("rh0", f"{t}/b", 1, 1)
    p.subscribe(f"{t}/b", 1)
    say("rh0 then repeat: " + ", ".join(settled(p, 2)))
    # Retain as published: a live retained publish keeps its flag.
    p = fresh("rap", f"{t}/live", 1, 0, retainAsPublished=True)
    q = fresh("norap", f"{t}/live", 1, 0)
    pub.publish(f"{t}/live", "L", 1, retain=True)
    say("rap: " + ", ".join(settled(p, 1)) + " / norap: " + ", ".join(settled(q, 1)))
    # Message expiry: a retained message that expired is not sent.
    pub.publish(f"{t}/exp", "gone", 1, retain=True,
                properties=props(PacketTypes.PUBLISH, MessageExpiryInterval=1))
    pub.publish(f"{t}/keep", "kept", 1, retain=True,
                properties=props(PacketTypes.PUBLISH, MessageExpiryInterval=100))
    pub.pump_for(2.2)
    p = fresh("exp", f"{t}/+", 1, 4)
    keep = [m for m in p.messages if m.topic.endswith("/keep")]
    left = keep[0].properties.MessageExpiryInterval if keep else None
    say("expired: " + ", ".join(settled(p, 4)) + f" (keep expiry left <= 98: {left is not None and left <= 98})")
