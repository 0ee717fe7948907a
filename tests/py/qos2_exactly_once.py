"""QoS 2 exactly once across reconnects, both directions, with paho persistent sessions.

1. A subscriber gets a QoS 2 message up to PUBREL but never sends PUBCOMP, its socket
   closes; a second QoS 2 message is published while it is offline; it reconnects: the
   broker resends PUBREL (not the PUBLISH) and then the queued message.
2. A publisher's QoS 2 PUBLISH reaches the broker (PUBREC comes back) but its socket
   closes before it reads the PUBREC; it reconnects and resends the PUBLISH with DUP:
   subscribers get the message once.
Prints `KEY: value` observations for the Rust test.
"""
from peer import Peer, args, say

port, v = args()
topic = f"eo/{v}"

# 1. The subscriber side.
sub = Peer(port, v, f"eo-sub-{v}", clean=False, session_expiry=300, manual_ack=True)
sub.connect()
sub.subscribe(topic, 2)
pub = Peer(port, v, f"eo-pub-{v}").connect()
pub.publish(topic, "m1", 2)
sub.wait_messages(1)  # paho hands it over on PUBREL; PUBCOMP is held back (manual ack)
say("first session: " + ", ".join(sub.lines()))
sub.drop()
pub.publish(topic, "m2", 2)

again = Peer(port, v, f"eo-sub-{v}", clean=False, session_expiry=300)
pubrels = []
again.client.on_log = lambda _c, _u, _l, text: text.startswith("Received PUBREL") and pubrels.append(text)
again.connect()
say(f"session present: {again.connack[0]}")
pub.publish(topic, "end", 2)
again.pump(lambda: any(m.payload == b"end" for m in again.messages), what="the end marker")
say("second session: " + ", ".join(again.lines()))
# PUBRELs for packet ids of no message of this session: the resent PUBREL of m1.
mids = {m.mid for m in again.messages}
resent = [t for t in pubrels if int(t.split("Mid: ")[1].rstrip(")")) not in mids]
say(f"pubrel resent: {len(resent)}")

# 2. The publisher side.
watcher = Peer(port, v, f"eo-watch-{v}").connect()
watcher.subscribe(f"{topic}/in", 2)
sender = Peer(port, v, f"eo-sender-{v}", clean=False, session_expiry=300)
sender.connect()
sender.publish(f"{topic}/in", "once", 2, wait=False)
sender.wait_readable()  # the PUBREC is there, unread
sender.drop()
sender.connect()  # paho resends the PUBLISH with DUP on the kept session
say(f"sender session present: {sender.connack[0]}")
sender.pump(lambda: len(sender.acked_mids) >= 1, what="PUBCOMP after the resend")
sender.publish(f"{topic}/in", "after", 2)
watcher.pump(lambda: any(m.payload == b"after" for m in watcher.messages), what="the after marker")
say("watcher: " + ", ".join(watcher.lines()))
