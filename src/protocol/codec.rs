//! Wire primitives, written once for both versions: variable byte integers, two-byte
//! integers, UTF-8 strings, binary data and the fixed header (MQTT 5.0 §1.5, §2.1).
//! Must not know any packet's layout.
