"""Deterministic group split and tf.train.Example encoding, as plain functions Beam can call."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import model_validator

from components.common.config import Strict

FeatureType = Literal["string", "int", "float"]


class DatasetConfig(Strict):
    group_key: str
    salt: str = ""
    splits: dict[str, int]
    shards: dict[str, int] = {}
    features: dict[str, FeatureType]
    # Warn when a score of the drift comparison with the serving model's dataset exceeds this.
    drift_threshold: float = 0.1

    @model_validator(mode="after")
    def _check(self) -> DatasetConfig:
        if sum(self.splits.values()) != 100 or min(self.splits.values()) <= 0:
            raise ValueError(
                f"splits must be positive percentages adding up to 100, got {self.splits}"
            )
        if self.group_key not in self.features:
            raise ValueError(
                f"group_key '{self.group_key}' must be one of the features {sorted(self.features)}"
            )
        unknown = sorted(set(self.shards) - set(self.splits))
        if unknown:
            raise ValueError(f"shards names splits {unknown} that are not in splits")
        return self


def bucket(group: str, salt: str) -> int:
    """A stable bucket 0..99 for a group value: same input, same bucket, on every machine."""
    digest = hashlib.sha256(f"{salt}\x00{group}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100


def assign_split(group: str, config: DatasetConfig) -> str:
    b = bucket(group, config.salt)
    edge = 0
    for name, percent in config.splits.items():
        edge += percent
        if b < edge:
            return name
    raise AssertionError("unreachable: splits add up to 100")


def to_example_bytes(record: dict[str, Any], features: Mapping[str, str]) -> bytes:
    import tensorflow as tf

    feats = {}
    for name, kind in features.items():
        value: Any = record.get(name)
        # A missing value is an empty list (a parser fills in its default).
        values = [] if value is None else [value]
        if kind == "string":
            data = [str(v).encode("utf-8") for v in values]
            feats[name] = tf.train.Feature(bytes_list=tf.train.BytesList(value=data))
        elif kind == "int":
            ints = [int(v) for v in values]
            feats[name] = tf.train.Feature(int64_list=tf.train.Int64List(value=ints))
        else:
            floats = [float(v) for v in values]
            feats[name] = tf.train.Feature(float_list=tf.train.FloatList(value=floats))
    example = tf.train.Example(features=tf.train.Features(feature=feats))
    return example.SerializeToString(deterministic=True)  # map fields in key order
