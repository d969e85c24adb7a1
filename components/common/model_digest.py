"""A stable digest of what a SavedModel computes, so the registry can tell a retrained twin.

Two trainings on the same data with the same seed give the same weights but not the same bytes:
`fingerprint.pb` holds random ids, `saved_model.pb` names its functions with per-process
counters, and Keras' ExportArchive saves the variables twice, once (`variables/<i>`, in the
model's own order) and again (`_all_variables/<i>`) in the order of a Python set. The digest is
therefore taken over the checkpoint's tensors as values: every tensor's key, dtype, shape and
bytes, the `_all_variables` copies as an unordered set, the object graph (names with counters)
left out; and the bytes of every file under `assets/`. Scheme `weights-v1:<sha256>`.

A SavedModel without variables (a graph of constants) is what its graph computes: its digest is
then over the bytes of every file but `fingerprint.pb` (`files-v1:<sha256>`), so two such models
are equal only if their files are. Either way two different digests never mean the same model.

The checkpoint (`variables/variables.index`, a TensorFlow table of BundleEntryProto records) is
read here without TensorFlow, so steps in the Beam image (deploy, promote) can compute it too.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from components.common import fs
from components.common.errors import InputDataError

WEIGHTS = "weights-v1"
FILES = "files-v1"
INDEX = "variables/variables.index"
# Not part of what the model computes: random ids (fingerprint.pb), per-process names.
VOLATILE_FILES = ("fingerprint.pb",)
OBJECT_GRAPH = "_CHECKPOINTABLE_OBJECT_GRAPH"
UNORDERED_PREFIX = "_all_variables/"  # ExportArchive's set-ordered copy of `variables/`
TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
BLOCK_TRAILER = 5


@dataclass(frozen=True)
class Entry:
    """One tensor of a checkpoint (a BundleEntryProto): where its bytes are and what they are."""

    key: str
    dtype: int
    shape: bytes  # the TensorShapeProto as stored (deterministic for the same shape)
    shard: int
    offset: int
    size: int


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(message: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) of a protobuf message: varints as ints, the rest as bytes."""
    pos = 0
    while pos < len(message):
        tag, pos = _varint(message, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(message, pos)
            yield number, value
        elif wire == 1:
            yield number, message[pos : pos + 8]
            pos += 8
        elif wire == 2:
            length, pos = _varint(message, pos)
            yield number, message[pos : pos + length]
            pos += length
        elif wire == 5:
            yield number, message[pos : pos + 4]
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if pos > len(message):
            raise ValueError("truncated protobuf field")


def _block(data: bytes, offset: int, size: int) -> Iterator[tuple[bytes, bytes]]:
    """The (key, value) entries of one table block (prefix-compressed keys, restart array)."""
    if data[offset + size] != 0:  # the trailer's type byte: 0 = stored uncompressed
        raise ValueError(f"compressed table block (type {data[offset + size]}) is not supported")
    block = data[offset : offset + size]
    (restarts,) = struct.unpack_from("<I", block, len(block) - 4)
    end = len(block) - 4 * (1 + restarts)
    pos, key = 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        length, pos = _varint(block, pos)
        key = key[:shared] + block[pos : pos + unshared]
        pos += unshared
        yield key, block[pos : pos + length]
        pos += length


def _handle(data: bytes, pos: int) -> tuple[int, int, int]:
    offset, pos = _varint(data, pos)
    size, pos = _varint(data, pos)
    return offset, size, pos


def read_index(data: bytes) -> tuple[int, list[Entry]]:
    """A checkpoint's `variables.index` -> (number of data shards, its tensor entries)."""
    if len(data) < FOOTER_SIZE:
        raise ValueError("shorter than a table footer")
    footer = data[-FOOTER_SIZE:]
    low, high = struct.unpack_from("<II", footer, FOOTER_SIZE - 8)
    if (high << 32) | low != TABLE_MAGIC:
        raise ValueError("not a TensorFlow table (bad magic number)")
    _, _, pos = _handle(footer, 0)  # the metaindex, unused by tensor bundles
    index_offset, index_size, _ = _handle(footer, pos)
    shards, entries = 1, []
    for _, handle in _block(data, index_offset, index_size):
        offset, size, _ = _handle(handle, 0)
        for raw_key, value in _block(data, offset, size):
            key = raw_key.decode("utf-8")
            fields = dict(_fields(value))
            if key == "":  # the BundleHeaderProto
                shards = int(fields.get(1, 1))
                continue
            entries.append(
                Entry(
                    key,
                    int(fields.get(1, 0)),
                    bytes(fields.get(2, b"")),
                    int(fields.get(3, 0)),
                    int(fields.get(4, 0)),
                    int(fields.get(5, 0)),
                )
            )
    return shards, entries


def _read_bytes(uri: str) -> bytes:
    with fs.open_read_raw(uri) as handle:
        return handle.read()


def _files(saved_model: str) -> list[str]:
    """Every file under the SavedModel folder, as paths relative to it, sorted."""
    if fs.is_remote(saved_model):
        prefix = saved_model.rstrip("/") + "/"
        return sorted(u.removeprefix(prefix) for u in fs.match(prefix + "**"))
    root = fs.local_path(saved_model)
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def tensor_digests(saved_model: str, entries: list[Entry], shards: int) -> dict[str, str]:
    """{key: sha256 of dtype, shape and bytes} of every tensor in `entries`."""
    out: dict[str, str] = {}
    by_shard: dict[int, list[Entry]] = {}
    for entry in entries:
        by_shard.setdefault(entry.shard, []).append(entry)
    for shard, group in sorted(by_shard.items()):
        name = f"variables/variables.data-{shard:05d}-of-{shards:05d}"
        uri = fs.join(saved_model, name)
        with fs.open_read_raw(uri) as handle:
            for entry in sorted(group, key=lambda e: e.offset):
                handle.seek(entry.offset)
                raw = handle.read(entry.size)
                if len(raw) != entry.size:
                    raise InputDataError(
                        f"{uri}: {entry.key} needs {entry.size} bytes at {entry.offset}, the "
                        f"file ends first; the SavedModel is damaged"
                    )
                digest = hashlib.sha256(f"{entry.dtype}\0".encode() + entry.shape + b"\0")
                digest.update(raw)
                out[entry.key] = digest.hexdigest()
    return out


def model_digest(saved_model: str | Path) -> str:
    """The digest of the SavedModel folder `saved_model` (local or gs://): equal for two
    exports of the same weights and assets, whatever process wrote them (module docstring)."""
    root = str(saved_model)
    if not fs.exists(fs.join(root, "saved_model.pb")):
        raise InputDataError(f"{root}: no saved_model.pb; expected a SavedModel folder")
    files = _files(root)
    entries: list[Entry] = []
    shards = 1
    if INDEX in files:
        index_uri = fs.join(root, INDEX)
        try:
            shards, entries = read_index(_read_bytes(index_uri))
        except (ValueError, IndexError, struct.error, UnicodeDecodeError) as err:
            raise InputDataError(
                f"{index_uri}: not a readable TensorFlow checkpoint index ({err}); the "
                "SavedModel is damaged"
            ) from None
    tensors = [e for e in entries if e.key != OBJECT_GRAPH]
    digest = hashlib.sha256()
    if not tensors:
        for name in files:
            if Path(name).name not in VOLATILE_FILES:
                data = hashlib.sha256(_read_bytes(fs.join(root, name))).hexdigest()
                digest.update(f"{name}\0{data}\n".encode())
        return f"{FILES}:{digest.hexdigest()}"
    values = tensor_digests(root, tensors, shards)
    unordered = sorted(v for k, v in values.items() if k.startswith(UNORDERED_PREFIX))
    for key in sorted(k for k in values if not k.startswith(UNORDERED_PREFIX)):
        digest.update(f"{key}\0{values[key]}\n".encode())
    digest.update(f"{UNORDERED_PREFIX}\0{','.join(unordered)}\n".encode())
    for name in files:
        if name.startswith("assets/"):
            data = hashlib.sha256(_read_bytes(fs.join(root, name))).hexdigest()
            digest.update(f"{name}\0{data}\n".encode())
    return f"{WEIGHTS}:{digest.hexdigest()}"


def short(digest: str | None) -> str:
    """A digest as a message shows it: the scheme and 12 hex digits."""
    if not digest:
        return "unknown"
    scheme, _, value = digest.partition(":")
    return f"{scheme}:{value[:12]}" if value else digest[:12]
