"""The preprocess Beam pipeline as named composite transforms.

raw snapshot -> ReadRawRecords -> ValidateAndLabel (+ NFKC) -(valid)-> DropExactDuplicates
                  -> DropNearDuplicates -> JoinProfiles (per-id aggregates, CoGroupByKey)
                  -> SerializeLines -> records/*.jsonl (shards.WriteBatches)
                                                   -(dead_letter)-> dead_letter/*.jsonl
                                                   -(filtered)-> counted per rule
Every branch is counted into stats.json; the step checks in = out + dead letter + filtered.
Rows read and records written are counted where they are read and written (per file, per
bundle), not by a Count over the full collection: that would cost two Beam operations per
record. Bundle outputs are committed or retried whole, so the counts are exact on every runner.
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import apache_beam as beam
import numpy as np
import orjson
from apache_beam import pvalue

from components.common import records, shards
from components.preprocess.schema import (
    NearDedupe,
    PreprocessConfig,
    Profile,
    ProfileFeature,
    matching_filter,
    normalize,
    validate,
)

VALID = "valid"
DEAD_LETTER = "dead_letter"
FILTERED = "filtered"
DUPLICATE = "duplicate"
NEAR_DUPLICATE = "near_duplicate"
COUNT = "count"  # (name, n) pairs, summed into stats.json
# The outputs of the job, each a folder of JSONL shards (components.common.shards).
RECORDS, DEAD_LETTERS, NEAR_DUPLICATES = "records", "dead_letter", "near_duplicates"


def _in_global_window(value: Any) -> Any:
    """A value emitted from finish_bundle must carry its window: the global one here."""
    from apache_beam.transforms.window import GlobalWindows

    return GlobalWindows.windowed_value(value)


def _empty(pipeline: beam.Pipeline, label: str) -> beam.PCollection:
    return pipeline | label >> beam.Create([])


def dead_letter(source: str, raw: str, reason: str, step: str) -> dict[str, str]:
    return {"source": source, "raw": raw, "reason": reason, "step": step}


class ReadRawRecords(beam.PTransform):
    """Snapshot files -> one dict per row with its source location, undecodable rows included
    (main output), and one ("rows_in", n) pair per file (COUNT)."""

    def __init__(
        self,
        files: list[tuple[str, str]],
        csv_options: records.CsvOptions = records.PLAIN_CSV,
        spread: bool = True,
        names: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__()
        self._files = files  # (uri, format)
        self._csv = csv_options
        self._spread = spread
        self._names = dict(names or {})  # uri -> the name rows are reported under

    def expand(self, pbegin: beam.pvalue.PBegin) -> dict[str, beam.PCollection]:
        csv_options, names = self._csv, self._names

        def read(item: tuple[str, str]) -> Iterator[Any]:
            uri, fmt = item
            name = names.get(uri, uri)
            n = 0
            for rec in records.read_records(uri, fmt, csv_options):
                n += 1
                yield {
                    # "<name>:<row>": where the snapshot's file lies (a run folder, a pod's
                    # /tmp/inputs, a bucket) does not change a report's bytes
                    "source": name + rec.source[len(uri) :],
                    "fields": rec.fields,
                    "raw": rec.raw,
                    "error": rec.error,
                }
            yield pvalue.TaggedOutput(COUNT, ("rows_in", n))

        read_ = (
            pbegin
            | "ListFiles" >> beam.Create(self._files)
            | "ReadRows" >> beam.FlatMap(read).with_outputs(COUNT, main=VALID)
        )
        rows = read_[VALID]
        # Each file is read by one worker; a reshuffle spreads its rows over the workers of a
        # distributed runner. The in-process runner has one worker, so there it only costs time.
        if self._spread:
            rows = rows | "Spread" >> beam.Reshuffle()
        return {VALID: rows, COUNT: read_[COUNT]}


class _ValidateDoFn(beam.DoFn):
    def __init__(self, config: PreprocessConfig) -> None:
        self._config = config

    def process(self, row: dict[str, Any]) -> Iterator[Any]:
        source, raw = row["source"], row["raw"]
        if row["error"]:
            yield pvalue.TaggedOutput(DEAD_LETTER, dead_letter(source, raw, row["error"], "read"))
            return
        try:
            record = validate(row["fields"], self._config)
        except ValueError as err:
            yield pvalue.TaggedOutput(DEAD_LETTER, dead_letter(source, raw, str(err), "validate"))
            return
        rule = matching_filter(record, self._config)
        if rule:
            yield pvalue.TaggedOutput(FILTERED, rule)
            return
        label_spec = self._config.label
        label_value = record.get(label_spec.field)
        label = label_spec.label_of(label_value)
        if label is None:
            reason = (
                f"field '{label_spec.field}': {label_value!r} has no label; "
                f"expected {label_spec.described()}"
            )
            yield pvalue.TaggedOutput(DEAD_LETTER, dead_letter(source, raw, reason, "label"))
            return
        record["label"] = label
        if self._config.normalize_nfkc:
            record = normalize(record, self._config.normalize_nfkc)
        if self._config.record_id:
            content = json.dumps(record, sort_keys=True, ensure_ascii=False, default=str)
            record[self._config.record_id] = hashlib.sha256(content.encode()).hexdigest()[:20]
        record["_source"] = source
        yield record


class ValidateAndLabel(beam.PTransform):
    """Rows -> valid labelled records, NFKC-normalised (config.normalize_nfkc), dead-letter rows
    (raw, source, reason), filter names. Normalising here, not in a Map of its own, saves a
    Beam operation per record."""

    def __init__(self, config: PreprocessConfig) -> None:
        super().__init__()
        self._config = config

    def expand(self, rows: beam.PCollection) -> pvalue.DoOutputsTuple:
        return rows | "Validate" >> beam.ParDo(_ValidateDoFn(self._config)).with_outputs(
            DEAD_LETTER, FILTERED, main=VALID
        )


def _dedupe_key(record: dict[str, Any], fields: list[str]) -> bytes:
    """A digest of the dedupe fields' values (JSON, so "1" and 1 differ)."""
    return hashlib.sha256(orjson.dumps([record.get(f) for f in fields])).digest()


class DropExactDuplicates(beam.PTransform):
    """Keep one record per dedupe key (the earliest by source); the others' sources leave
    through DUPLICATE."""

    def __init__(self, fields: list[str]) -> None:
        super().__init__()
        self._fields = fields

    def expand(self, records_: beam.PCollection) -> Any:
        fields = self._fields

        def keep_first(kv: tuple[bytes, Iterable[dict[str, Any]]]) -> Iterator[Any]:
            group = list(kv[1])
            if len(group) > 1:
                group.sort(key=lambda r: _source_order(r["_source"]))
                for dup in group[1:]:
                    yield pvalue.TaggedOutput(DUPLICATE, dup["_source"])
            yield group[0]

        if not fields:
            return {VALID: records_, DUPLICATE: _empty(records_.pipeline, "NoDuplicates")}
        return (
            records_
            | "KeyByContent" >> beam.Map(lambda r: (_dedupe_key(r, fields), r))
            | "GroupIdentical" >> beam.GroupByKey()
            | "KeepFirst" >> beam.FlatMap(keep_first).with_outputs(DUPLICATE, main=VALID)
        )


@functools.lru_cache(maxsize=4)
def _permutations(num_perm: int, seed: int) -> Any:
    """datasketch's MinHash permutations and scheme for (num_perm, seed), made once per process
    (making them costs more than hashing a review)."""
    from datasketch import MinHash

    sketch = MinHash(num_perm=num_perm, seed=seed)
    return sketch.permutations, sketch.scheme


def minhash(text: str, spec: NearDedupe) -> tuple[int, ...]:
    """MinHash signature of the text's character shingles: datasketch's MinHash (its default
    scheme: SHA-1 of each shingle, seeded permutations, so stable), computed as its update_batch
    does on one array of the shingles' hashes, without building a MinHash object per record."""
    from datasketch import minhash as dm

    k = spec.shingle
    shingles = {text[i : i + k] for i in range(max(1, len(text) - k + 1))}
    (a, b), scheme = _permutations(spec.bands * spec.rows, spec.seed)
    sha1 = hashlib.sha1  # datasketch's sha1_hash32: the digest's first 4 bytes, little-endian
    hashes = np.frombuffer(
        b"".join(sha1(s.encode("utf-8")).digest()[:4] for s in shingles), dtype="<u4"
    ).astype(dm._SCHEME_DTYPES[scheme])
    mixed = dm._fmix(hashes.reshape(-1, 1), dm._SCHEME_WIDTHS[scheme])
    return tuple((mixed * a + b).min(axis=0).tolist())


def similarity(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """Estimated Jaccard similarity: the share of equal MinHash values."""
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


class DropNearDuplicates(beam.PTransform):
    """Keep the earliest of nearly identical texts; the others leave through NEAR_DUPLICATE with
    the source they duplicate and the similarity. LSH banding finds candidate pairs: records
    sharing all `rows` values of any band meet in one group, where each is paired with the
    group's earliest. Only (band digest, source) crosses that shuffle, `bands` times per
    record; each record's signature is joined to its candidate pairs afterwards (twice: to the
    later and to the earlier record of a pair), and the pairs that reach the threshold mark the
    later record."""

    def __init__(self, spec: NearDedupe | None) -> None:
        super().__init__()
        self._spec = spec

    def expand(self, records_: beam.PCollection) -> Any:
        spec = self._spec
        if spec is None:
            return {VALID: records_, NEAR_DUPLICATE: _empty(records_.pipeline, "NoNearDuplicates")}

        def bands(kv: tuple[str, tuple[int, ...]]) -> Iterator[tuple[bytes, str]]:
            source, signature = kv
            for b in range(spec.bands):
                part = signature[b * spec.rows : (b + 1) * spec.rows]
                yield hashlib.sha256(repr((b, part)).encode()).digest()[:12], source

        def pair_with_first(kv: tuple[bytes, Iterable[str]]) -> Iterator[tuple[str, str]]:
            first, *later = sorted(kv[1], key=_source_order)
            for source in later:
                yield source, first  # (later, earlier): a candidate pair

        def with_later_signature(kv: tuple[str, dict[str, list[Any]]]) -> Iterator[Any]:
            source, joined = kv
            if joined["first"]:
                (signature,) = joined["signature"]
                for first in set(joined["first"]):
                    yield first, (source, signature)

        def score(kv: tuple[str, dict[str, list[Any]]]) -> Iterator[Any]:
            first, joined = kv
            if joined["later"]:
                (first_sig,) = joined["signature"]
                for source, signature in joined["later"]:
                    similar = similarity(first_sig, signature)
                    if similar >= spec.threshold:
                        yield source, (first, round(similar, 4))

        def earliest(kv: tuple[str, Iterable[tuple[str, float]]]) -> tuple[str, Any]:
            return kv[0], min(kv[1], key=lambda m: _source_order(m[0]))

        def split(kv: tuple[str, dict[str, list[Any]]]) -> Iterator[Any]:
            source, joined = kv
            (record,) = joined["record"]
            if joined["mark"]:
                kept, score = joined["mark"][0]
                yield pvalue.TaggedOutput(
                    NEAR_DUPLICATE,
                    {
                        "source": source,
                        "duplicates": kept,
                        "similarity": score,
                        spec.field: record[spec.field],
                    },
                )
            else:
                yield record

        signatures = records_ | "Signature" >> beam.Map(
            lambda r: (r["_source"], minhash(str(r[spec.field]), spec))
        )
        candidates = (
            signatures
            | "Bands" >> beam.FlatMap(bands)
            | "GroupBand" >> beam.GroupByKey()
            | "PairWithFirst" >> beam.FlatMap(pair_with_first)
        )
        later = (
            {"first": candidates, "signature": signatures}
            | "JoinLater" >> beam.CoGroupByKey()
            | "LaterSignature" >> beam.FlatMap(with_later_signature)
        )
        marks = (
            {"later": later, "signature": signatures}
            | "JoinFirst" >> beam.CoGroupByKey()
            | "Score" >> beam.FlatMap(score)
            | "PerRecord" >> beam.GroupByKey()
            | "Earliest" >> beam.Map(earliest)
        )
        keyed = records_ | "KeyBySource" >> beam.Map(lambda r: (r["_source"], r))
        return (
            {"record": keyed, "mark": marks}
            | "JoinMarks" >> beam.CoGroupByKey()
            | "Split" >> beam.FlatMap(split).with_outputs(NEAR_DUPLICATE, main=VALID)
        )


class _ProfileCombine(beam.CombineFn):
    """Per key: [records, (sum, n) per feature] -> {feature name: value}."""

    def __init__(self, features: list[ProfileFeature]) -> None:
        self._features = features

    def create_accumulator(self) -> list[Any]:
        return [0] + [[0, 0] for _ in self._features]

    def add_input(self, acc: list[Any], record: dict[str, Any]) -> list[Any]:
        acc[0] += 1
        for slot, feature in zip(acc[1:], self._features, strict=True):
            value = record.get(feature.field) if feature.field else None
            if feature.agg == "mean" and isinstance(value, int | float):
                slot[0] += value
                slot[1] += 1
            elif feature.agg == "mean_length" and isinstance(value, str):
                slot[0] += len(value)
                slot[1] += 1
            elif feature.agg == "share":
                slot[0] += int(value == feature.equals)
                slot[1] += 1
        return acc

    def merge_accumulators(self, accumulators: Iterable[list[Any]]) -> list[Any]:
        merged = self.create_accumulator()
        for acc in accumulators:
            merged[0] += acc[0]
            for slot, other in zip(merged[1:], acc[1:], strict=True):
                slot[0] += other[0]
                slot[1] += other[1]
        return merged

    def extract_output(self, acc: list[Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for (total, n), feature in zip(acc[1:], self._features, strict=True):
            if feature.agg == "count":
                out[feature.name] = acc[0]
            else:  # rounded: a float sum's last bits depend on the order bundles merge in
                out[feature.name] = round(total / n, 6) if n else None
        return out


class JoinProfile(beam.PTransform):
    """Aggregate the records per profile key (CombinePerKey) and join the aggregates back onto
    every record with that key (CoGroupByKey). A record without a key gets None features."""

    def __init__(self, profile: Profile) -> None:
        super().__init__()
        self._profile = profile

    def expand(self, records_: beam.PCollection) -> beam.PCollection:
        key, features = self._profile.key, self._profile.features
        names = [f.name for f in features]

        def attach(kv: tuple[Any, dict[str, list[Any]]]) -> Iterator[dict[str, Any]]:
            group, joined = kv
            profile = joined["profile"][0] if joined["profile"] and group is not None else {}
            for record in joined["records"]:
                yield {**record, **{n: profile.get(n) for n in names}}

        keyed = records_ | "KeyById" >> beam.Map(
            lambda r: (None if r.get(key) is None else json.dumps(r[key]), r)
        )
        aggregates = keyed | "AggregatePerId" >> beam.CombinePerKey(_ProfileCombine(features))
        return (
            {"records": keyed, "profile": aggregates}
            | "JoinById" >> beam.CoGroupByKey()
            | "Attach" >> beam.FlatMap(attach)
        )


class JoinProfiles(beam.PTransform):
    """Every configured profile, one JoinProfile after the other."""

    def __init__(self, profiles: list[Profile]) -> None:
        super().__init__()
        self._profiles = profiles

    def expand(self, records_: beam.PCollection) -> beam.PCollection:
        for profile in self._profiles:
            records_ = records_ | f"Profile[{profile.key}]" >> JoinProfile(profile)
        return records_


def _source_order(source: str) -> tuple[str, int]:
    uri, _, row = source.rpartition(":")
    return (uri, int(row) if row.isdigit() else 0)


class CountAs(beam.PTransform):
    """PCollection -> one (name, count) pair, zero when empty."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self._name = name

    def expand(self, pcoll: beam.PCollection) -> beam.PCollection:
        name = self._name
        return (
            pcoll
            | "Count" >> beam.combiners.Count.Globally()
            | "Name" >> beam.Map(lambda n: (name, n))
        )


class _SerializeLinesDoFn(beam.DoFn):
    """Records -> batches of JSON lines by RECORDS shard (shards.ShardBatcher), and per bundle
    ("rows_out", n) (COUNT)."""

    def __init__(
        self, keep: list[str], record_id: str | None, outputs: Mapping[str, tuple[str, int]]
    ) -> None:
        self._keep = keep
        self._record_id = record_id
        self._outputs = dict(outputs)

    def start_bundle(self) -> None:
        self._count = 0
        self._batcher = shards.ShardBatcher(self._outputs)

    def process(self, record: dict[str, Any]) -> Iterator[shards.Batch]:
        self._count += 1
        line = to_output(record, self._keep, self._record_id).encode("utf-8")
        yield from self._batcher.add(RECORDS, line)

    def finish_bundle(self) -> Iterator[Any]:
        yield from self._batcher.flush()
        yield pvalue.TaggedOutput(COUNT, _in_global_window(("rows_out", self._count)))


class SerializeLines(beam.PTransform):
    """Records -> JSON lines in shard batches for shards.WriteBatches (main) and ("rows_out",
    n) (COUNT)."""

    def __init__(
        self, keep: list[str], record_id: str | None, outputs: Mapping[str, tuple[str, int]]
    ) -> None:
        super().__init__()
        self._keep = keep
        self._record_id = record_id
        self._outputs = outputs

    def expand(self, records_: beam.PCollection) -> pvalue.DoOutputsTuple:
        return records_ | "ToJsonLines" >> beam.ParDo(
            _SerializeLinesDoFn(self._keep, self._record_id, self._outputs)
        ).with_outputs(COUNT, main=VALID)


def _as_line(output: str) -> Any:
    """A dropped row's dict -> (output, its JSON line bytes)."""
    return lambda d: (output, json.dumps(d, ensure_ascii=False).encode("utf-8"))


def to_output(record: dict[str, Any], keep: list[str], record_id: str | None = None) -> str:
    """The record as a JSON line: the `keep` fields (all but internal ones when empty), then
    its id and label. Profile features are among the kept fields (see build)."""
    out = (
        {k: record[k] for k in keep}
        if keep
        else {k: v for k, v in record.items() if not k.startswith("_")}
    )
    if record_id:
        out[record_id] = record[record_id]
    out["label"] = record["label"]
    return orjson.dumps(out, option=orjson.OPT_SORT_KEYS).decode("utf-8")


def build(
    pipeline: beam.Pipeline,
    files: list[tuple[str, str]],
    config: PreprocessConfig,
    outputs: Mapping[str, tuple[str, int]],
    stats_prefix: str,
    csv_options: records.CsvOptions = records.PLAIN_CSV,
    spread: bool = True,
    names: Mapping[str, str] | None = None,
) -> None:
    """Wire the whole job into `pipeline`. `outputs`: {RECORDS, DEAD_LETTERS, NEAR_DUPLICATES:
    (shard prefix, shards)}, written as JSONL shards whose bytes depend only on their lines;
    stats.json at `stats_prefix`. `spread`: reshuffle the rows after reading (for runners with
    more than one worker). `names`: file uri -> the name its rows' `source` gives (the
    snapshot's own file names), the uri itself where absent."""
    read = pipeline | "ReadRawRecords" >> ReadRawRecords(files, csv_options, spread, names)
    split = read[VALID] | "ValidateAndLabel" >> ValidateAndLabel(config)
    exact = split[VALID] | "DropExactDuplicates" >> DropExactDuplicates(config.dedupe_on)
    deduped = exact[VALID] | "DropNearDuplicates" >> DropNearDuplicates(config.near_dedupe)
    profiled = deduped[VALID]
    if config.profiles:
        profiled = profiled | "JoinProfiles" >> JoinProfiles(config.profiles)

    keep = config.kept_fields + config.profile_fields
    written = profiled | "SerializeLines" >> SerializeLines(keep, config.record_id, outputs)
    dropped = (
        (
            split[DEAD_LETTER] | "SerializeDeadLetter" >> beam.Map(_as_line(DEAD_LETTERS)),
            deduped[NEAR_DUPLICATE]
            | "SerializeNearDuplicates" >> beam.Map(_as_line(NEAR_DUPLICATES)),
        )
        | "DroppedLines" >> beam.Flatten()
        | "BatchDropped" >> beam.ParDo(shards.BatchByShard(outputs))
    )
    _ = (
        (written[VALID], dropped)
        | "AllLines" >> beam.Flatten()
        | "WriteShards" >> shards.WriteBatches(outputs, ".jsonl")
    )
    counts = [
        pipeline | "Zeros" >> beam.Create([("rows_in", 0), ("rows_out", 0)]),
        read[COUNT],
        written[COUNT],
        split[DEAD_LETTER] | "CountDeadLetter" >> CountAs("dead_letter"),
        exact[DUPLICATE] | "CountDuplicates" >> CountAs("duplicates_dropped"),
        deduped[NEAR_DUPLICATE] | "CountNearDuplicates" >> CountAs("near_duplicates_dropped"),
        split[FILTERED] | "CountFiltered" >> CountAs("filtered"),
    ]
    per_rule = (
        split[FILTERED]
        | "CountPerRule" >> beam.combiners.Count.PerElement()
        | "NameRule" >> beam.MapTuple(lambda rule, n: (f"filtered:{rule}", n))
    )
    per_reason = (
        split[DEAD_LETTER]
        | "StepOf" >> beam.Map(lambda d: d["step"])
        | "CountPerStep" >> beam.combiners.Count.PerElement()
        | "NameStep" >> beam.MapTuple(lambda step, n: (f"dead_letter:{step}", n))
    )
    _ = (
        (*counts, per_rule, per_reason)
        | "AllCounts" >> beam.Flatten()
        | "SumPerName" >> beam.CombinePerKey(sum)
        | "ToDict" >> beam.combiners.ToDict()
        | "StatsJson" >> beam.Map(lambda d: json.dumps(d, sort_keys=True))
        | "WriteStats" >> beam.io.WriteToText(stats_prefix, num_shards=1, shard_name_template="")
    )
