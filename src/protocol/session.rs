//! The QoS and keep-alive state machine of one end of an MQTT connection, shared by the
//! client and the broker: packet ids, outgoing QoS 1/2 inflight with the receive
//! maximum, incoming QoS 2 state, resend on reconnect, keep-alive deadlines.
//! Plain state: `handle_*(…, now)` takes input, `poll_*` gives output. No I/O, no clock.
