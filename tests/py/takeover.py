"""Client takeover with paho on a kept session: a subscriber holding three QoS 1
messages it has not acknowledged is taken over by a new connection with its client id;
the old connection is closed (MQTT 5: DISCONNECT 0x8E), its will is published, and the
new one gets all three messages again with DUP, then new ones: nothing lost.
"""
from peer import Peer, args, say

port, v = args()
t = f"take/{v}"
watcher = Peer(port, v, f"take-watch-{v}").connect()
watcher.subscribe(f"{t}/will", 0)
pub = Peer(port, v, f"take-pub-{v}").connect()
old = Peer(port, v, f"take-{v}", clean=False, session_expiry=300, manual_ack=True,
           will=(f"{t}/will", "old gone", 0, False)).connect()
old.subscribe(f"{t}/m", 1)
for i in range(3):
    pub.publish(f"{t}/m", f"m{i}", 1)
old.wait_messages(3)
say("old: " + ", ".join(old.lines()))

new = Peer(port, v, f"take-{v}", clean=False, session_expiry=300).connect()
say(f"new present: {new.connack[0]}")
new.wait_messages(3)
pub.publish(f"{t}/m", "m3", 1)
new.wait_messages(4)
say("new: " + ", ".join(new.lines()))
old.pump(lambda: old.disconnect_reason is not None, what="the old connection closed")
say(f"old closed with: {old.disconnect_reason:#x}" if v == "5" else "old closed")
watcher.wait_messages(1)
say("will: " + ", ".join(watcher.lines()))
