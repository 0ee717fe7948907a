"""Payload fixtures from independent implementations (cbor2, msgpack, for tests/client/codecs.rs.

  codec_fixtures.py write KIND PATH    writes the KIND fixture's bytes to PATH and
                                       prints, on one line, the JSON that
                                       `mqtk sub --decode KIND` must show for it
  codec_fixtures.py roundtrip KIND PATH  the same for a fixture whose bytes mqtk's
                                       encoder must reproduce (no byte strings, the
                                       shortest forms: cbor2's canonical encoding)
  codec_fixtures.py decode KIND HEX    decodes the payload given in hex and prints it
                                       as JSON (sorted keys), byte strings as base64
KIND is cbor or msgpack.
"""
import base64
import json
import sys

import cbor2
import msgpack

# Everything JSON can carry, plus what it cannot (byte strings, non-string keys, an
# integer beyond 64 bits for CBOR), in the JSON view `mqtk sub --decode` documents.
VALUE = {
    "name": "sensor-1 °C",
    "t": 21.5,
    "n": -7,
    "big": 18446744073709551615,
    "ok": True,
    "none": None,
    "list": [1, [2, 3], {"deep": "x"}],
    "raw": b"\x00\x01\xfe\xff",
    7: "int key",
}
EXPECTED = {
    "name": "sensor-1 °C",
    "t": 21.5,
    "n": -7,
    "big": 18446744073709551615,
    "ok": True,
    "none": None,
    "list": [1, [2, 3], {"deep": "x"}],
    "raw": "AAH+/w==",
    "7": "int key",
}
ROUNDTRIP = {"id": 42, "temp": 21.5, "tags": ["a", "b"], "on": False, "neg": -300}


def encode(kind, value, canonical=False):
    if kind == "cbor":
        return cbor2.dumps(value, canonical=canonical)
    if kind == "msgpack":
        return msgpack.packb(value, use_bin_type=True)
    sys.exit(f"unknown kind {kind}")


def jsonable(value):
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    return value


def main():
    command, kind, arg = sys.argv[1:4]
    if command == "write":
        value, shown = dict(VALUE), dict(EXPECTED)
        if kind == "cbor":
            # Tags (RFC 8949 §3.4): epoch time shows as its content, bignums (tags 2
            # and 3, which cbor2 writes for integers beyond 64 bits) as decimal text.
            value.update(when=cbor2.CBORTag(1, 1700000000), huge=2**70, tiny=-(2**70))
            shown.update(when=1700000000, huge=str(2**70), tiny=str(-(2**70)))
        data = encode(kind, value)
    elif command == "roundtrip":
        data, shown = encode(kind, ROUNDTRIP, canonical=True), ROUNDTRIP
    elif command == "decode":
        data = bytes.fromhex(arg)
        value = cbor2.loads(data) if kind == "cbor" else msgpack.unpackb(data, raw=False, strict_map_key=False)
        print(json.dumps(jsonable(value), sort_keys=True, ensure_ascii=False))
        return
    else:
        sys.exit(f"unknown command {command}")
    with open(arg, "wb") as f:
        f.write(data)
    print(json.dumps(shown, ensure_ascii=False))


main()
