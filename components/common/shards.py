"""Deterministic file shards for the Beam steps: the same elements give the same files, byte for
byte, on any runner and with any bundling.

Which shard an element goes to and where in it depend only on its bytes (their sha256), so the
in-process runner, two worker processes and a portable runner (Prism, Flink, Dataflow) write
identical records, dead letters and TFRecords. Every shard is written, empty ones too, so a
reader finds the same file names whatever the data. Files go through Beam's FileSystems: a
local path or gs:// alike, written by the worker that holds the shard, never by the launcher.

A shard's elements are sorted in the memory of one worker: size the shard count to the data
(`shard_count`), not the other way round.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal

import apache_beam as beam

Framing = Literal["lines", "tfrecord"]
# Records per shard that `shard_count` aims at: a shard is sorted in one worker's memory.
PER_SHARD = 250_000


def shard_count(rows: int, per_shard: int = PER_SHARD) -> int:
    """How many shards `rows` elements take, known before the job runs (from a manifest's row
    count), so it is the same on every runner."""
    return max(1, math.ceil(rows / per_shard))


def shard_name(prefix: str, index: int, shards: int, suffix: str) -> str:
    """`prefix-00000-of-00004<suffix>`, the shard names Beam's file sinks write."""
    return f"{prefix}-{index:05d}-of-{shards:05d}{suffix}"


def _digest(element: bytes) -> bytes:
    return hashlib.sha256(element).digest()


# What crosses the shuffle: a shard's key and a batch, one bytes object holding up to SIZE
# frames of sha256 (32 bytes), length (4 bytes, big-endian) and element. One object per batch
# keeps the in-process runner's buffered shuffle small and cheap to encode, whatever the
# element count; the digest, computed once where the element is made, orders the shard.
Batch = tuple[tuple[str, int], bytes]
_LENGTH = struct.Struct(">I")


def frames(batch: bytes) -> Iterator[tuple[bytes, bytes]]:
    """The (digest, element) pairs of a batch."""
    view, at = memoryview(batch), 0
    while at < len(batch):
        (size,) = _LENGTH.unpack_from(view, at + 32)
        yield batch[at : at + 32], batch[at + 36 : at + 36 + size]
        at += 36 + size


class ShardBatcher:
    """Collects one bundle's elements by shard, into batches of up to `size`, for the DoFn
    that makes them (its process adds, its finish_bundle flushes): a bundle's elements of one
    shard then cross the shuffle as one object, not one by one."""

    SIZE = 4096

    def __init__(self, outputs: Mapping[str, tuple[str, int]], size: int = SIZE) -> None:
        self._shards = {name: shards for name, (_, shards) in outputs.items()}
        self._size = size
        self._batches: dict[tuple[str, int], list[bytes]] = {}

    def add(self, name: str, element: bytes) -> Iterator[Batch]:
        """Add one element of output `name`; yields a batch when one is full."""
        digest = _digest(element)
        key = (name, int.from_bytes(digest[:8], "big") % self._shards[name])
        parts = self._batches.setdefault(key, [])
        parts += (digest, _LENGTH.pack(len(element)), element)
        if len(parts) >= 3 * self._size:
            del self._batches[key]
            yield key, b"".join(parts)

    def flush(self) -> Iterator[Any]:
        """The batches not yet full, as values of the global window (finish_bundle's output)."""
        from apache_beam.transforms.window import GlobalWindows

        for key, parts in self._batches.items():
            yield GlobalWindows.windowed_value((key, b"".join(parts)))
        self._batches = {}


class _WriteShard(beam.DoFn):
    def __init__(self, outputs: Mapping[str, tuple[str, int]], suffix: str, framing: Framing):
        self._outputs, self._suffix, self._framing = dict(outputs), suffix, framing

    def process(self, kv: tuple[tuple[str, int], Iterable[bytes]]) -> Any:
        from apache_beam.io.filesystem import CompressionTypes
        from apache_beam.io.tfrecordio import _TFRecordUtil

        from components.common.fs import beam_filesystems

        FileSystems = beam_filesystems()  # on a worker too: gs:// without a credentials hunt
        (name, index), batches = kv
        prefix, shards = self._outputs[name]
        path = shard_name(prefix, index, shards, self._suffix)
        ordered = sorted(pair for batch in batches for pair in frames(batch))
        if self._framing == "tfrecord":  # GZIP TFRecord framing, as WriteToTFRecord writes it
            with FileSystems.create(path, compression_type=CompressionTypes.GZIP) as handle:
                for _, element in ordered:
                    _TFRecordUtil.write_record(handle, element)
        else:
            with FileSystems.create(path, compression_type=CompressionTypes.UNCOMPRESSED) as out:
                for _, element in ordered:
                    out.write(element + b"\n")
        yield path


class BatchByShard(beam.DoFn):
    """(output name, element bytes) -> shard batches (ShardBatcher)."""

    def __init__(self, outputs: Mapping[str, tuple[str, int]]) -> None:
        self._outputs = dict(outputs)

    def start_bundle(self) -> None:
        self._batcher = ShardBatcher(self._outputs)

    def process(self, pair: tuple[str, bytes]) -> Iterator[Batch]:
        yield from self._batcher.add(*pair)

    def finish_bundle(self) -> Iterator[Any]:
        yield from self._batcher.flush()


class WriteBatches(beam.PTransform):
    """Shard batches (from ShardBatcher, BatchByShard) as each output's shard files; `outputs`
    is {name: (prefix, shards)}. One shuffle serves every output; every shard is written, empty
    ones too. The result is the PCollection of the paths written."""

    def __init__(
        self, outputs: Mapping[str, tuple[str, int]], suffix: str, framing: Framing = "lines"
    ) -> None:
        super().__init__()
        self._outputs, self._suffix, self._framing = dict(outputs), suffix, framing

    def expand(self, batches: beam.PCollection) -> beam.PCollection:
        every_shard = batches.pipeline | "AllShards" >> beam.Create(
            [((name, i), b"") for name, (_, shards) in self._outputs.items() for i in range(shards)]
        )
        return (
            (batches, every_shard)
            | "WithEmpty" >> beam.Flatten()
            | "ByShard" >> beam.GroupByKey()
            | "Write" >> beam.ParDo(_WriteShard(self._outputs, self._suffix, self._framing))
        )


class WriteShards(beam.PTransform):
    """(output name, element bytes) pairs as each output's shard files: BatchByShard, then
    WriteBatches."""

    def __init__(
        self, outputs: Mapping[str, tuple[str, int]], suffix: str, framing: Framing = "lines"
    ) -> None:
        super().__init__()
        self._outputs, self._suffix, self._framing = dict(outputs), suffix, framing

    def expand(self, pairs: beam.PCollection) -> beam.PCollection:
        return (
            pairs
            | "BatchByShard" >> beam.ParDo(BatchByShard(self._outputs))
            | "Write" >> WriteBatches(self._outputs, self._suffix, self._framing)
        )
