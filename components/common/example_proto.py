"""`tf.train.Example` without TensorFlow: the dataset step writes TFRecords without paying
TensorFlow's import (about 14 s here) for three small protobuf messages.

The messages are declared here as TensorFlow declares them (tensorflow/core/example/
{example,feature}.proto, same package, names and field numbers) in a private descriptor pool,
and serialized by the installed protobuf runtime, the one TensorFlow's own classes use: the
same bytes as `tf.train.Example(...).SerializeToString(deterministic=True)`, map entries
included (upb orders them its own way: memcmp, a longer key before its prefix). Checked against
TensorFlow in tests/components/test_example_proto.py.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from components.common.errors import InputDataError

_PACKAGE = "tensorflow"
_LISTS = {"string": "bytes_list", "int": "int64_list", "float": "float_list"}


@functools.cache
def example_class() -> Any:
    """The Example message class (with Features, Feature and the lists), built once."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    f = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="components/common/example_proto/example.proto",
        package=_PACKAGE,
        syntax="proto3",
    )

    def message(name: str, *fields: tuple[str, int, int, int, str]) -> Any:
        msg = proto.message_type.add(name=name)
        for field_name, number, label, kind, type_name in fields:
            field = msg.field.add(name=field_name, number=number, label=label, type=kind)
            if type_name:
                field.type_name = type_name
        return msg

    repeated, optional = f.LABEL_REPEATED, f.LABEL_OPTIONAL
    message("BytesList", ("value", 1, repeated, f.TYPE_BYTES, ""))
    message("FloatList", ("value", 1, repeated, f.TYPE_FLOAT, ""))  # packed: proto3 default
    message("Int64List", ("value", 1, repeated, f.TYPE_INT64, ""))
    feature = message(
        "Feature",
        ("bytes_list", 1, optional, f.TYPE_MESSAGE, ".tensorflow.BytesList"),
        ("float_list", 2, optional, f.TYPE_MESSAGE, ".tensorflow.FloatList"),
        ("int64_list", 3, optional, f.TYPE_MESSAGE, ".tensorflow.Int64List"),
    )
    feature.oneof_decl.add(name="kind")
    for field in feature.field:
        field.oneof_index = 0
    features = message(
        "Features", ("feature", 1, repeated, f.TYPE_MESSAGE, ".tensorflow.Features.FeatureEntry")
    )
    entry = features.nested_type.add(name="FeatureEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, label=optional, type=f.TYPE_STRING)
    entry.field.add(
        name="value",
        number=2,
        label=optional,
        type=f.TYPE_MESSAGE,
        type_name=".tensorflow.Feature",
    )
    message("Example", ("features", 1, optional, f.TYPE_MESSAGE, ".tensorflow.Features"))

    pool = descriptor_pool.DescriptorPool()  # private: no clash with TensorFlow's own classes
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.Example"))


def encode_example(record: Mapping[str, Any], features: Mapping[str, str]) -> bytes:
    """`record`'s `features` ({name: string|int|float}) as a serialized tf.train.Example. A
    value that is None or absent is an empty list (a parser fills in its default), exactly as
    components.dataset.split.to_example_bytes writes it with TensorFlow."""
    example = example_class()()
    feature_map = example.features.feature
    for name, kind in features.items():
        if kind not in _LISTS:
            raise InputDataError(
                f"feature '{name}': unknown type '{kind}'; expected string, int or float"
            )
        value = record.get(name)
        values = getattr(feature_map[name], _LISTS[kind])
        values.SetInParent()  # an empty list is still this kind of list
        if value is None:
            continue
        try:
            if kind == "string":
                values.value.append(str(value).encode("utf-8"))
            elif kind == "int":
                values.value.append(int(value))
            else:
                values.value.append(float(value))
        except (ValueError, TypeError) as err:
            raise InputDataError(
                f"feature '{name}': {value!r} is not a valid {kind} ({err}); fix the record "
                "or the feature's type in dataset.features"
            ) from None
    return example.SerializeToString(deterministic=True)
