"""A paho-mqtt 2 client driven step by step from the interop scenarios in tests/py/.

Owns: connecting a paho client of either protocol version to 127.0.0.1:PORT, pumping its
network loop in the calling thread (no background thread, so a scenario decides exactly
when packets are read and written), recording what arrives, and leaving a connection
abruptly (socket closed without DISCONNECT) or going silent.
Must not: sleep without a deadline, or assert anything itself beyond "this happened
within the timeout": scenarios print what they observed and the Rust test checks it.
"""

import socket
import sys
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

TIMEOUT = 10.0


def fail(msg):
    """Ends the scenario with status 3 and says what did not happen."""
    print(f"scenario failed: {msg}", file=sys.stderr, flush=True)
    sys.exit(3)


def say(line):
    """One observation on stdout, for the Rust test to compare."""
    print(line, flush=True)


def props(packet_type, **values):
    p = Properties(packet_type)
    for name, value in values.items():
        setattr(p, name, value)
    return p


class Peer:
    """One paho client. `version` is "311" or "5"."""

    def __init__(self, port, version, client_id, clean=True, session_expiry=None,
                 manual_ack=False, keepalive=60, will=None, will_props=None):
        self.port = port
        self.version = version
        self.v5 = version == "5"
        self.messages = []
        self.connack = None
        self.disconnect_reason = None
        self.subacks = []
        self.acked_mids = set()
        self.ack_reasons = {}
        proto = mqtt.MQTTv5 if self.v5 else mqtt.MQTTv311
        kwargs = dict(client_id=client_id, protocol=proto, manual_ack=manual_ack)
        if not self.v5:
            kwargs["clean_session"] = clean
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **kwargs)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        if will is not None:
            topic, payload, qos, retain = will
            self.client.will_set(topic, payload, qos, retain, properties=will_props)
        self.clean = clean
        self.session_expiry = session_expiry
        self.keepalive = keepalive

    # callbacks
    def _on_connect(self, _c, _u, flags, reason, _p):
        self.connack = (int(flags.session_present), reason.value)

    def _on_message(self, _c, _u, msg):
        self.messages.append(msg)

    def _on_subscribe(self, _c, _u, _mid, reasons, _p):
        self.subacks.append([r.value for r in reasons])

    def _on_disconnect(self, _c, _u, _flags, reason, _p):
        self.disconnect_reason = reason.value

    def _on_publish(self, _c, _u, mid, reason, _p):
        self.acked_mids.add(mid)
        self.ack_reasons[mid] = reason.value

    # driving
    def pump(self, until, timeout=TIMEOUT, what="condition"):
        """Runs the network loop until `until()` is true; fails after `timeout`."""
        deadline = time.monotonic() + timeout
        while not until():
            if time.monotonic() > deadline:
                fail(f"{what} not reached within {timeout}s")
            rc = self.client.loop(0.05)
            if rc not in (mqtt.MQTT_ERR_SUCCESS,) and not until():
                # The connection ended: report it through disconnect_reason once.
                if self.disconnect_reason is None:
                    self.disconnect_reason = -int(rc)
                return

    def pump_for(self, seconds):
        """Runs the network loop for `seconds` (collecting whatever arrives)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.client.loop(0.05) != mqtt.MQTT_ERR_SUCCESS:
                return

    def connect(self, expect_present=None):
        properties = None
        clean_start = self.clean
        if self.v5 and self.session_expiry is not None:
            properties = props(PacketTypes.CONNECT, SessionExpiryInterval=self.session_expiry)
        self.connack = None
        self.disconnect_reason = None
        if self.v5:
            self.client.connect("127.0.0.1", self.port, self.keepalive,
                                clean_start=clean_start, properties=properties)
        else:
            self.client.connect("127.0.0.1", self.port, self.keepalive)
        self.pump(lambda: self.connack is not None, what="CONNACK")
        if self.connack[1] != 0:
            fail(f"connection refused: {self.connack}")
        if expect_present is not None and self.connack[0] != int(expect_present):
            fail(f"session present is {self.connack[0]}, expected {int(expect_present)}")
        return self

    def subscribe(self, topic, qos, **options):
        n = len(self.subacks)
        if self.v5:
            opts = mqtt.SubscribeOptions(qos=qos, **options)
            self.client.subscribe(topic, options=opts)
        else:
            self.client.subscribe(topic, qos)
        self.pump(lambda: len(self.subacks) > n, what=f"SUBACK for {topic}")
        return self.subacks[-1]

    def publish(self, topic, payload, qos=0, retain=False, properties=None, wait=True):
        info = self.client.publish(topic, payload, qos, retain, properties=properties)
        if wait and qos > 0:
            self.pump(lambda: info.mid in self.acked_mids, what=f"ack of {payload!r}")
        elif wait:
            self.pump(lambda: info.is_published(), what=f"send of {payload!r}")
        return info

    def wait_messages(self, n, timeout=TIMEOUT):
        self.pump(lambda: len(self.messages) >= n, timeout, what=f"{n} messages")

    def disconnect(self, properties=None):
        """A normal DISCONNECT, then the socket closes."""
        self.client.disconnect(properties=properties)
        self.pump(lambda: self.client.socket() is None, what="disconnect")

    def drop(self):
        """Closes the socket without DISCONNECT (like a crash or a cable pulled)."""
        sock = self.client.socket()
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def wait_readable(self, timeout=TIMEOUT):
        """Waits until the broker sent something, without letting paho read it."""
        import select
        r, _, _ = select.select([self.client.socket()], [], [], timeout)
        if not r:
            fail("the broker sent nothing")

    def lines(self):
        """One line per received message: `topic payload qN rN dN`."""
        return [f"{m.topic} {m.payload.decode(errors='replace')} q{m.qos} r{int(m.retain)} d{int(m.dup)}"
                for m in self.messages]


def pump_client(client, done, what):
    """Runs a bare paho client's network loop until `done()`, through closed connections
    too (a scenario may wait for a close); exits 3 after TIMEOUT."""
    deadline = time.monotonic() + TIMEOUT
    while not done():
        if time.monotonic() > deadline:
            print(f"scenario failed: no {what} within {TIMEOUT}s", file=sys.stderr)
            sys.exit(3)
        client.loop(timeout=0.05)


def wait_broker_logged(text):
    """Blocks until the test runner saw `text` in `mqtk serve -v`'s log and answers on
    stdin (the runner bounds that wait). For sync points no MQTT packet gives, e.g. the
    broker has finished handling a DISCONNECT the client sent before closing."""
    print(f"SYNC {text}", flush=True)
    if sys.stdin.readline().strip() != "go":
        fail(f"the runner did not see {text!r} in the broker's log")


def args():
    """`PORT VERSION` from the command line."""
    if len(sys.argv) != 3 or sys.argv[2] not in ("311", "5"):
        fail("usage: SCENARIO.py PORT 311|5")
    return int(sys.argv[1]), sys.argv[2]
