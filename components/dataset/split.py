"""Deterministic group split and tf.train.Example encoding, as plain functions Beam can call."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, model_validator

from components.common.config import Strict

FeatureType = Literal["string", "int", "float"]


class _Common(Strict):
    salt: str = Field(
        default="",
        description="mixed into the group hash: a new salt reshuffles the groups' splits",
    )
    splits: dict[str, int] = Field(
        default={"train": 80, "eval": 10, "test": 10},
        description="split name -> percentage of the groups; positive, adding up to 100",
    )
    shards: dict[str, int] = Field(
        default={}, description="split name -> TFRecord shards (default 1)"
    )
    drift_threshold: float = Field(
        default=0.1,
        description="warn when a score of the drift comparison with the serving model's "
        "dataset exceeds this",
    )

    def _check_splits(self) -> None:
        if not self.splits or sum(self.splits.values()) != 100 or min(self.splits.values()) <= 0:
            raise ValueError(
                f"splits must be positive percentages adding up to 100, got {self.splits}"
            )
        unknown = sorted(set(self.shards) - set(self.splits))
        if unknown:
            raise ValueError(f"shards names splits {unknown} that are not in splits")


class DatasetSection(_Common):
    """The `dataset` section as written. Without `features` the dataset takes every field of
    the records' schema (preprocess's schema.json: kept fields, profile features, record id,
    label; bool as int); without `group_key` it splits by the records' content-hash
    `record_id`. The dataset step resolves it into a DatasetConfig (components.dataset.executor)."""

    # The field whose value decides the split (no value in two splits); default: the records'
    # record_id (preprocess.record_id, a content hash).
    group_key: str | None = None
    # Feature -> string, int or float in the TFRecords; default: every field of the records.
    features: dict[str, FeatureType] | None = None

    @model_validator(mode="after")
    def _check(self) -> DatasetSection:
        self._check_splits()
        if self.group_key and self.features is not None and self.group_key not in self.features:
            raise ValueError(
                f"group_key '{self.group_key}' must be one of the features {sorted(self.features)}"
            )
        return self


class DatasetConfig(_Common):
    """The resolved dataset settings the Beam job runs with: every feature and the group key."""

    group_key: str
    features: dict[str, FeatureType]

    @model_validator(mode="after")
    def _check(self) -> DatasetConfig:
        self._check_splits()
        if self.group_key not in self.features:
            raise ValueError(
                f"group_key '{self.group_key}' must be one of the features {sorted(self.features)}"
            )
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
