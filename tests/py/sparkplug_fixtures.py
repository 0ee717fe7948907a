"""Sparkplug B fixtures from Python's protobuf package (an implementation independent
of mqtk's prost-reflect) for tests/client/sparkplug.rs. No protoc and no .proto file:
the Payload and Metric messages are built here as descriptors, field by field, from
the Sparkplug 3.0 specification (§6.4).

  sparkplug_fixtures.py encode PATH   writes an NBIRTH-like Payload to PATH
  sparkplug_fixtures.py decode HEX    parses HEX as a Payload and prints its JSON
                                      (protobuf's JSON mapping, .proto field names)
"""
import sys

from google.protobuf import descriptor_pb2, descriptor_pool, json_format, message_factory

F = descriptor_pb2.FieldDescriptorProto


def field(msg, name, number, kind, label=F.LABEL_OPTIONAL, type_name=None, oneof=None):
    f = msg.field.add(name=name, number=number, type=kind, label=label)
    if type_name:
        f.type_name = type_name
    if oneof is not None:
        f.oneof_index = oneof


def payload_class():
    spec = descriptor_pb2.FileDescriptorProto(
        name="spb_fixture.proto", package="org.eclipse.tahu.protobuf", syntax="proto2"
    )
    payload = spec.message_type.add(name="Payload")
    metric = payload.nested_type.add(name="Metric")
    field(metric, "name", 1, F.TYPE_STRING)
    field(metric, "alias", 2, F.TYPE_UINT64)
    field(metric, "timestamp", 3, F.TYPE_UINT64)
    field(metric, "datatype", 4, F.TYPE_UINT32)
    field(metric, "is_historical", 5, F.TYPE_BOOL)
    field(metric, "is_transient", 6, F.TYPE_BOOL)
    field(metric, "is_null", 7, F.TYPE_BOOL)
    metric.oneof_decl.add(name="value")
    for name, number, kind in [
        ("int_value", 10, F.TYPE_UINT32),
        ("long_value", 11, F.TYPE_UINT64),
        ("float_value", 12, F.TYPE_FLOAT),
        ("double_value", 13, F.TYPE_DOUBLE),
        ("boolean_value", 14, F.TYPE_BOOL),
        ("string_value", 15, F.TYPE_STRING),
        ("bytes_value", 16, F.TYPE_BYTES),
    ]:
        field(metric, name, number, kind, oneof=0)
    field(payload, "timestamp", 1, F.TYPE_UINT64)
    field(payload, "metrics", 2, F.TYPE_MESSAGE, F.LABEL_REPEATED,
          ".org.eclipse.tahu.protobuf.Payload.Metric")
    field(payload, "seq", 3, F.TYPE_UINT64)
    field(payload, "uuid", 4, F.TYPE_STRING)
    field(payload, "body", 5, F.TYPE_BYTES)
    pool = descriptor_pool.DescriptorPool()
    pool.Add(spec)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("org.eclipse.tahu.protobuf.Payload")
    )


def main():
    Payload = payload_class()
    command, arg = sys.argv[1:3]
    if command == "encode":
        p = Payload(timestamp=1700000000123, seq=0)
        # Datatype numbers (§6.4.16): Int16 2, Int64 4, UInt32 7, Float 9, Double 10,
        # Boolean 11, String 12, DateTime 13, Bytes 17.
        p.metrics.add(name="bdSeq", alias=0, datatype=4, long_value=(-7) & (2**64 - 1))
        p.metrics.add(name="temp", alias=1, timestamp=1700000000100, datatype=10, double_value=21.5)
        p.metrics.add(name="level", alias=2, datatype=2, int_value=(-300) & 0xFFFFFFFF)
        p.metrics.add(name="count", alias=3, datatype=7, int_value=4000000000)
        p.metrics.add(name="ratio", datatype=9, float_value=0.25)
        p.metrics.add(name="on", datatype=11, boolean_value=True)
        p.metrics.add(name="label", datatype=12, string_value="Pump 1 °C")
        p.metrics.add(name="raw", datatype=17, bytes_value=b"\x00\xff")
        p.metrics.add(name="missing", datatype=13, is_null=True)
        with open(arg, "wb") as f:
            f.write(p.SerializeToString())
    elif command == "decode":
        p = Payload()
        p.ParseFromString(bytes.fromhex(arg))
        print(json_format.MessageToJson(p, preserving_proto_field_name=True, indent=None))
    else:
        sys.exit(f"unknown command {command}")


main()
