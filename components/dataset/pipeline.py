"""The dataset Beam pipeline: split by group key, write TFRecord shards, compute split stats."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import apache_beam as beam

from components.common.artifacts import Dataset
from components.common.example_proto import encode_example
from components.common.shards import WriteShards
from components.dataset.split import DatasetConfig, assign_split
from components.dataset.stats import FeatureStatistics

TFRECORD_SUFFIX = Dataset.TFRECORD_SUFFIX


class AssignSplit(beam.PTransform):
    def __init__(self, config: DatasetConfig) -> None:
        super().__init__()
        self._config = config

    def expand(self, records: beam.PCollection) -> beam.PCollection:
        config = self._config
        return records | "HashGroup" >> beam.Map(
            lambda r: (assign_split(str(r[config.group_key]), config), r)
        )


class _ToExample(beam.DoFn):
    """A record as a serialized tf.train.Example, encoded without TensorFlow (the same bytes
    as split.to_example_bytes; the step then never pays TensorFlow's import)."""

    def __init__(self, features: Mapping[str, str]) -> None:
        self._features = features

    def process(self, pair: tuple[str, dict[str, Any]]) -> Iterable[tuple[str, bytes]]:
        split, record = pair
        yield split, encode_example(record, self._features)


class WriteSplits(beam.PTransform):
    """Each split's examples as its `shards` TFRecord files, `outputs` being {split: (prefix,
    shards)} (a split not named is not written); which shard and where in it an example goes
    depend only on its bytes (components.common.shards), so the dataset is byte-identical from
    run to run and runner to runner (and the seeded training shuffle then sees the same order).
    All splits share one shuffle: on small data a job's stages, not its records, are what it
    spends its time on."""

    def __init__(self, outputs: Mapping[str, tuple[str, int]], features: Mapping[str, str]) -> None:
        super().__init__()
        self._outputs, self._features = dict(outputs), features

    def expand(self, pairs: beam.PCollection) -> beam.PCollection:
        outputs = self._outputs
        return (
            pairs
            | "Select" >> beam.Filter(lambda kv: kv[0] in outputs)
            | "ToExample" >> beam.ParDo(_ToExample(self._features))
            | "Shards" >> WriteShards(outputs, TFRECORD_SUFFIX, framing="tfrecord")
        )


class WriteSplit(beam.PTransform):
    """One split's examples as `shards` TFRecord files (WriteSplits for one split)."""

    def __init__(self, name: str, prefix: str, shards: int, features: Mapping[str, str]) -> None:
        super().__init__()
        self._outputs, self._features = {name: (prefix, shards)}, features

    def expand(self, pairs: beam.PCollection) -> beam.PCollection:
        return pairs | "Splits" >> WriteSplits(self._outputs, self._features)


def _split_stats(kv: tuple[str, Iterable[int]]) -> tuple[str, dict[str, Any]]:
    split, labels = kv
    counts: dict[str, int] = {}
    total = 0
    for label in labels:
        counts[str(label)] = counts.get(str(label), 0) + 1
        total += 1
    return split, {
        "examples": total,
        "label_counts": dict(sorted(counts.items())),
        "positive_rate": round(counts.get("1", 0) / total, 6) if total else None,
    }


class LeakedGroups(beam.PTransform):
    """Group keys found in more than one split (must be empty), from the distinct (split,
    group key) pairs."""

    def expand(self, split_groups: beam.PCollection) -> beam.PCollection:
        return (
            split_groups
            | "ByGroup" >> beam.MapTuple(lambda split, group: (group, split))
            | "SplitsPerGroup" >> beam.combiners.Count.PerKey()
            | "InMany" >> beam.Filter(lambda kv: kv[1] > 1)
            | "Keys" >> beam.Keys()
        )


def build(
    pipeline: beam.Pipeline,
    records_glob: str,
    config: DatasetConfig,
    label: str,
    out_dir: str,
    stats_prefix: str,
    features_prefix: str,
) -> None:
    records = (
        pipeline
        | "ReadRecords" >> beam.io.ReadFromText(records_glob)
        | "Parse" >> beam.Map(json.loads)
    )
    pairs = records | "AssignSplit" >> AssignSplit(config)
    outputs = {
        name: (f"{out_dir}/{name}/part", config.shards.get(name, 1)) for name in config.splits
    }
    _ = pairs | "WriteSplits" >> WriteSplits(outputs, config.features)

    per_split = (
        pairs
        | "LabelOf" >> beam.MapTuple(lambda split, r: (split, r[label]))
        | "BySplit" >> beam.GroupByKey()
        | "SplitStats" >> beam.Map(_split_stats)
    )
    split_groups = (
        pairs
        | "GroupOf" >> beam.MapTuple(lambda split, r: (split, str(r[config.group_key])))
        | "DistinctGroups" >> beam.Distinct()
    )
    groups = (
        split_groups
        | "GroupsPerSplit" >> beam.combiners.Count.PerKey()
        | "NameGroups" >> beam.MapTuple(lambda split, n: (f"groups:{split}", n))
    )
    leaked = (
        split_groups
        | "LeakedGroups" >> LeakedGroups()
        | "LeakList" >> beam.combiners.ToList()
        | "NameLeaks" >> beam.Map(lambda keys: ("leaked_groups", sorted(keys)[:20]))
    )
    _ = (
        pairs
        | "FeatureStats" >> FeatureStatistics(config.features)
        | "FeaturesToDict" >> beam.combiners.ToDict()
        | "FeaturesJson" >> beam.Map(lambda d: json.dumps(d, sort_keys=True))
        | "WriteFeatureStats"
        >> beam.io.WriteToText(features_prefix, num_shards=1, shard_name_template="")
    )
    _ = (
        (per_split, groups, leaked)
        | "AllStats" >> beam.Flatten()
        | "ToDict" >> beam.combiners.ToDict()
        | "StatsJson" >> beam.Map(lambda d: json.dumps(d, sort_keys=True, default=str))
        | "WriteStats" >> beam.io.WriteToText(stats_prefix, num_shards=1, shard_name_template="")
    )
