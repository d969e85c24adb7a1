"""The TF-free tf.train.Example encoder gives TensorFlow's bytes, value for value."""

from __future__ import annotations

import random
import subprocess
import sys
from typing import Any

import pytest

from components.common.errors import InputDataError
from components.common.example_proto import encode_example

# Keys that are prefixes of each other and an empty name: the runtime's own map order.
FEATURES = {
    "name": "string",
    "count": "int",
    "score": "float",
    "b": "string",
    "Z": "int",
    "name_long": "string",
    "": "float",
    "n": "int",
}

EDGE_RECORDS: list[dict[str, Any]] = [
    {"name": "ünïcode ✓", "count": 3, "score": 0.5, "b": "", "Z": -1},
    {"name": None, "count": None, "score": None},  # missing: empty lists
    {},
    {"name": "x" * 300, "count": 2**63 - 1, "score": 1e300, "b": "a", "Z": -(2**63)},
    {"count": 0, "score": -1e-45, "Z": 127, "b": 7},  # a non-string value written as str
    {"count": 128, "score": float("inf"), "Z": 300, "name": "-"},
    {"count": True, "score": -0.0, "Z": 16384, "name": "\x00"},
    {"count": "42", "score": "2.5", "Z": 2**35},  # strings parsed as TensorFlow's path does
]


def _random_records(n: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        rec: dict = {}
        if rng.random() > 0.1:
            rec["name"] = "".join(rng.choice("abcé✓ ") for _ in range(rng.randint(0, 20)))
        if rng.random() > 0.1:
            rec["count"] = rng.randint(-(2**40), 2**40)
        if rng.random() > 0.1:
            rec["score"] = rng.uniform(-1e6, 1e6)
        rec["b"] = str(rng.random())
        rec["Z"] = rng.choice([0, 1, -1, 2**31, -(2**31)])
        rec["name_long"] = rng.choice([None, "", "long"])
        rec[""] = rng.choice([None, 0.1, -3.0])
        rec["n"] = rng.choice([None, 5])
        out.append(rec)
    return out


def test_identical_to_tensorflow() -> None:
    """Every edge case and 500 random records: the same bytes as tf.train.Example."""
    from components.dataset.split import to_example_bytes  # imports TensorFlow

    records = EDGE_RECORDS + _random_records(500, seed=7)
    for record in records:
        assert encode_example(record, FEATURES) == to_example_bytes(record, FEATURES), record


def test_parses_back_with_tensorflow() -> None:
    import tensorflow as tf

    example = tf.train.Example.FromString(
        encode_example({"name": "a", "count": -5, "score": 0.25}, FEATURES)
    )
    feats = example.features.feature
    assert list(feats["name"].bytes_list.value) == [b"a"]
    assert list(feats["count"].int64_list.value) == [-5]
    assert list(feats["score"].float_list.value) == [0.25]
    assert feats["b"].WhichOneof("kind") == "bytes_list"
    assert list(feats["b"].bytes_list.value) == []


def test_int_out_of_range_names_the_feature() -> None:
    with pytest.raises(InputDataError, match=r"'count'.*out of range"):
        encode_example({"count": 2**63}, FEATURES)


def test_not_a_number_names_the_feature() -> None:
    with pytest.raises(InputDataError, match=r"'count'.*'abc' is not a valid int"):
        encode_example({"count": "abc"}, FEATURES)


def test_unknown_type_names_the_feature() -> None:
    with pytest.raises(InputDataError, match=r"'x'.*unknown type 'bool'"):
        encode_example({"x": 1}, {"x": "bool"})


def test_encoding_imports_no_tensorflow() -> None:
    code = (
        "import sys; from components.common.example_proto import encode_example; "
        "encode_example({'a': 1}, {'a': 'int'}); "
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
