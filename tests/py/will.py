"""Last will with paho: published with its QoS and retain flag when the socket closes
without DISCONNECT and when keep alive expires (the client goes silent); not after a
normal DISCONNECT. MQTT 5: will properties forwarded; a will delay interval holds the
will back, and a reconnect of the session within the delay cancels it.
"""
import time

from peer import Peer, args, props, say
from paho.mqtt.packettypes import PacketTypes

port, v = args()
t = f"will/{v}"
watcher = Peer(port, v, f"will-watch-{v}").connect()
watcher.subscribe(f"{t}/#", 2)


def next_will(what):
    n = len(watcher.messages)
    watcher.wait_messages(n + 1)
    m = watcher.messages[n]
    line = f"{what}: {m.topic} {m.payload.decode()} q{m.qos} r{int(m.retain)}"
    if v == "5":
        p = m.properties
        line += f" ct={getattr(p, 'ContentType', None)} up={getattr(p, 'UserProperty', None)}"
    say(line)


will_props = props(PacketTypes.WILLMESSAGE, ContentType="text/plain",
                   UserProperty=[("k", "v")]) if v == "5" else None
# 1. Normal DISCONNECT: no will. 2. Socket closed: the will, retained, QoS 1.
polite = Peer(port, v, f"will-polite-{v}", will=(f"{t}/polite", "bad", 1, False)).connect()
polite.disconnect()
crash = Peer(port, v, f"will-crash-{v}", will=(f"{t}/crash", "crashed", 1, True),
             will_props=will_props).connect()
crash.drop()
next_will("dropped")
late_sub = Peer(port, v, f"will-late-sub-{v}").connect()
late_sub.subscribe(f"{t}/crash", 1)
late_sub.wait_messages(1)
say("retained will: " + ", ".join(late_sub.lines()))

# 3. Silent past keep alive 1 (the broker allows 1.5 s): the will comes.
silent = Peer(port, v, f"will-silent-{v}", keepalive=1, will=(f"{t}/silent", "timed out", 0, False)).connect()
started = time.monotonic()
next_will("silent")
elapsed = time.monotonic() - started
say(f"silent will after at least 1.4 s: {elapsed >= 1.4}")

if v == "5":
    delay = props(PacketTypes.WILLMESSAGE, WillDelayInterval=2)
    # 4. Reconnect within the will delay: no will.
    back = Peer(port, v, f"will-delay-{v}", clean=False, session_expiry=60,
                will=(f"{t}/cancelled", "bad", 0, False), will_props=delay).connect()
    back.drop()
    back = Peer(port, v, f"will-delay-{v}", clean=False, session_expiry=60).connect()
    # 5. Not reconnecting: the will, after the delay.
    late = Peer(port, v, f"will-late-{v}", clean=False, session_expiry=60,
                will=(f"{t}/delayed", "late", 0, False), will_props=delay).connect()
    late.drop()
    started = time.monotonic()
    next_will("delayed")
    say(f"delayed will after at least 1.9 s: {time.monotonic() - started >= 1.9}")

# Marker: nothing else was published on will/... in between.
pub = Peer(port, v, f"will-pub-{v}").connect()
pub.publish(f"{t}/marker", "end", 0)
watcher.wait_messages(len(watcher.messages) + 1)
say("all: " + ", ".join(m.topic for m in watcher.messages))
