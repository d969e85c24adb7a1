"""The dataset Beam pipeline: split by group key, write TFRecord shards, compute split stats."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import apache_beam as beam

from components.common.artifacts import Dataset
from components.dataset.split import DatasetConfig, assign_split, to_example_bytes
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
    def __init__(self, features: Mapping[str, str]) -> None:
        self._features = features

    def setup(self) -> None:
        import tensorflow  # noqa: F401  (load once per worker, not once per element)

    def process(self, record: dict[str, Any]) -> Iterable[bytes]:
        yield to_example_bytes(record, self._features)


def _digest(example: bytes) -> bytes:
    import hashlib

    return hashlib.sha256(example).digest()


class _WriteShard(beam.DoFn):
    """Write one shard: its examples in content-hash order, GZIP TFRecord framing (as
    WriteToTFRecord writes it), so the same records always give the same bytes."""

    def __init__(self, prefix: str, shards: int) -> None:
        self._prefix, self._shards = prefix, shards

    def process(self, kv: tuple[int, Iterable[bytes | None]]) -> Iterable[str]:
        from apache_beam.io.filesystem import CompressionTypes
        from apache_beam.io.filesystems import FileSystems
        from apache_beam.io.tfrecordio import _TFRecordUtil

        index, examples = kv
        path = f"{self._prefix}-{index:05d}-of-{self._shards:05d}{TFRECORD_SUFFIX}"
        ordered = sorted((e for e in examples if e is not None), key=_digest)
        with FileSystems.create(path, compression_type=CompressionTypes.GZIP) as handle:
            for example in ordered:
                _TFRecordUtil.write_record(handle, example)
        yield path


class WriteSplit(beam.PTransform):
    """One split's examples as `shards` TFRecord files; which shard and where in it an example
    goes depend only on its bytes, so the dataset is byte-identical from run to run (and the
    seeded training shuffle then sees the same order)."""

    def __init__(self, name: str, prefix: str, shards: int, features: Mapping[str, str]) -> None:
        super().__init__()
        self._name, self._prefix, self._shards, self._features = name, prefix, shards, features

    def expand(self, pairs: beam.PCollection) -> beam.PCollection:
        name, shards = self._name, self._shards
        keyed = (
            pairs
            | "Select" >> beam.Filter(lambda kv: kv[0] == name)
            | "Values" >> beam.Values()
            | "ToExample" >> beam.ParDo(_ToExample(self._features))
            | "ShardOf" >> beam.Map(lambda e: (int.from_bytes(_digest(e)[:8], "big") % shards, e))
        )
        every_shard = pairs.pipeline | "AllShards" >> beam.Create(
            [(i, None) for i in range(shards)]
        )
        return (
            (keyed, every_shard)
            | "WithEmpty" >> beam.Flatten()
            | "ByShard" >> beam.GroupByKey()
            | "Write" >> beam.ParDo(_WriteShard(self._prefix, shards))
        )


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
    """Group keys found in more than one split (must be empty)."""

    def __init__(self, group_key: str) -> None:
        super().__init__()
        self._key = group_key

    def expand(self, pairs: beam.PCollection) -> beam.PCollection:
        key = self._key
        return (
            pairs
            | "GroupAndSplit" >> beam.Map(lambda kv: (str(kv[1][key]), kv[0]))
            | "Distinct" >> beam.Distinct()
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
    for name in config.splits:
        _ = pairs | f"Write_{name}" >> WriteSplit(
            name, f"{out_dir}/{name}/part", config.shards.get(name, 1), config.features
        )

    per_split = (
        pairs
        | "LabelOf" >> beam.MapTuple(lambda split, r: (split, r[label]))
        | "BySplit" >> beam.GroupByKey()
        | "SplitStats" >> beam.Map(_split_stats)
    )
    groups = (
        pairs
        | "GroupOf" >> beam.MapTuple(lambda split, r: (split, str(r[config.group_key])))
        | "DistinctGroups" >> beam.Distinct()
        | "GroupsPerSplit" >> beam.combiners.Count.PerKey()
        | "NameGroups" >> beam.MapTuple(lambda split, n: (f"groups:{split}", n))
    )
    leaked = (
        pairs
        | "LeakedGroups" >> LeakedGroups(config.group_key)
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
