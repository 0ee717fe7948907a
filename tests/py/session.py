"""Kept sessions with paho: subscriptions and QoS 1/2 messages queued while offline
survive a disconnect (delivered at min(published, granted) QoS); a clean session drops
them; on MQTT 5, session expiry 0 ends the session at disconnect even with clean start
0, and a DISCONNECT that sets session expiry 0 ends a session that asked for more.
"""
from peer import Peer, args, props, say, wait_broker_logged
from paho.mqtt.packettypes import PacketTypes

port, v = args()
t = f"sess/{v}"
pub = Peer(port, v, f"sess-pub-{v}").connect()

sub = Peer(port, v, f"sess-{v}", clean=False, session_expiry=300).connect()
say(f"first present: {sub.connack[0]}")
sub.subscribe(f"{t}/#", 1)
sub.disconnect()
pub.publish(f"{t}/a", "q1", 1)
pub.publish(f"{t}/b", "q2", 2)
back = Peer(port, v, f"sess-{v}", clean=False, session_expiry=300).connect()
say(f"kept present: {back.connack[0]}")
back.wait_messages(2)
pub.publish(f"{t}/c", "live", 2)
back.wait_messages(3)
say("kept: " + ", ".join(back.lines()))
back.disconnect()

# A clean session: nothing of the old one.
pub.publish(f"{t}/d", "lost", 1)
clean = Peer(port, v, f"sess-{v}", clean=True).connect()
say(f"clean present: {clean.connack[0]}")
pub.publish(f"{t}/e", "unseen", 1)
clean.subscribe(f"{t}/marker", 0)
pub.publish(f"{t}/marker", "m", 0)
clean.wait_messages(1)
say("clean: " + ", ".join(clean.lines()))
clean.disconnect()

if v == "5":
    # Session expiry 0 with clean start 0: the session ends with the connection.
    zero = Peer(port, v, f"sess0-{v}", clean=False, session_expiry=0).connect()
    zero.subscribe(f"{t}/zero", 1)
    zero.disconnect()
    # The DISCONNECT is on its way when paho closes the socket; a reconnect that
    # overtakes it would be a takeover of the live session, so wait for the broker.
    wait_broker_logged(f"Client sess0-{v} disconnected.")
    zero = Peer(port, v, f"sess0-{v}", clean=False, session_expiry=0).connect()
    say(f"expiry 0 present: {zero.connack[0]}")
    zero.disconnect()
    # DISCONNECT may lower the expiry to 0 (MQTT 5 3.14.2.2.2).
    lower = Peer(port, v, f"sess-lower-{v}", clean=False, session_expiry=300).connect()
    lower.subscribe(f"{t}/lower", 1)
    lower.disconnect(properties=props(PacketTypes.DISCONNECT, SessionExpiryInterval=0))
    wait_broker_logged(f"Client sess-lower-{v} disconnected.")
    lower = Peer(port, v, f"sess-lower-{v}", clean=False, session_expiry=300).connect()
    say(f"lowered to 0 present: {lower.connack[0]}")
