"""Protobuf fixtures from Python's protobuf package (an implementation independent of
mqtk's prost-reflect) for tests/client/codecs.rs. No protoc: the schema of
tests/client/codecs.rs's sensor.proto and common.proto is built here as descriptors.

  protobuf_fixtures.py encode PATH   writes a demo.Reading to PATH and prints its
                                     JSON (protobuf's JSON mapping, .proto field names)
  protobuf_fixtures.py decode HEX    parses HEX as a demo.Reading and prints its JSON
"""
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

F = descriptor_pb2.FieldDescriptorProto


def field(msg, name, number, kind, label=F.LABEL_OPTIONAL, type_name=None):
    f = msg.field.add(name=name, number=number, type=kind, label=label)
    if type_name:
        f.type_name = type_name


def schema():
    pool = descriptor_pool.DescriptorPool()
    common = descriptor_pb2.FileDescriptorProto(name="common.proto", package="common", syntax="proto3")
    point = common.message_type.add(name="Point")
    field(point, "x", 1, F.TYPE_DOUBLE)
    field(point, "y", 2, F.TYPE_DOUBLE)
    pool.Add(common)

    sensor = descriptor_pb2.FileDescriptorProto(name="sensor.proto", package="demo", syntax="proto3")
    sensor.dependency.append("common.proto")
    kind = sensor.enum_type.add(name="Kind")
    for i, name in enumerate(["KIND_UNKNOWN", "TEMPERATURE", "HUMIDITY"]):
        kind.value.add(name=name, number=i)
    reading = sensor.message_type.add(name="Reading")
    field(reading, "sensor_id", 1, F.TYPE_STRING)
    field(reading, "timestamp_ms", 2, F.TYPE_INT64)
    field(reading, "value", 3, F.TYPE_DOUBLE)
    field(reading, "kind", 4, F.TYPE_ENUM, type_name=".demo.Kind")
    field(reading, "samples", 5, F.TYPE_UINT32, label=F.LABEL_REPEATED)
    field(reading, "raw", 6, F.TYPE_BYTES)
    field(reading, "where", 7, F.TYPE_MESSAGE, type_name=".common.Point")
    field(reading, "counter", 8, F.TYPE_UINT64)
    pool.Add(sensor)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("demo.Reading"))


def to_json(msg):
    return json_format.MessageToJson(msg, preserving_proto_field_name=True, indent=None)


def main():
    Reading = schema()
    command, arg = sys.argv[1:3]
    if command == "encode":
        msg = Reading(
            sensor_id="t-1 °C",
            timestamp_ms=1700000000123,
            value=-21.25,
            kind=2,
            samples=[1, 300, 70000],
            raw=b"\x00\x01\xfe\xff",
            counter=18446744073709551615,
        )
        msg.where.x = 1.5
        msg.where.y = -2.0
        with open(arg, "wb") as f:
            f.write(msg.SerializeToString())
        print(to_json(msg))
    elif command == "decode":
        msg = Reading()
        msg.ParseFromString(bytes.fromhex(arg))
        print(to_json(msg))
    else:
        sys.exit(f"unknown command {command}")


main()
