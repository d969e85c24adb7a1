"""File access for local paths and gs:// through Beam's FileSystems, plus atomic publishing.

Every output a component leaves is written to a temporary name first and moved into place last,
so a killed step never leaves a partial artifact or replaces a good one.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from components.common.errors import InputDataError

GCS_PREFIX = "gs://"


def beam_filesystems() -> Any:
    """Beam's FileSystems, ready for gs:// (and any scheme Beam knows).

    Against a GCS emulator (STORAGE_EMULATOR_HOST set, as google-cloud-storage reads it) there are
    no credentials to find, and Beam would spend about 30 s of retries looking before it connects
    anonymously; it is told up front instead.
    """
    from apache_beam.io.filesystems import FileSystems

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from apache_beam.internal.gcp import auth

        auth._Credentials._credentials_init = True  # anonymous, what Beam ends with anyway
    return FileSystems


def is_remote(uri: str) -> bool:
    return "://" in uri and not uri.startswith("file://")


def local_path(uri: str) -> Path:
    return Path(uri.removeprefix("file://"))


def join(base: str, *parts: str) -> str:
    if is_remote(base):
        FileSystems = beam_filesystems()

        return FileSystems.join(base, *parts)
    return str(local_path(base).joinpath(*parts))


def exists(uri: str) -> bool:
    if is_remote(uri):
        FileSystems = beam_filesystems()

        return bool(FileSystems.exists(uri))
    return local_path(uri).exists()


def match(pattern: str) -> list[str]:
    """Files matching a glob, sorted; local paths and gs:// alike."""
    if not is_remote(pattern):
        import glob

        return sorted(p for p in glob.glob(str(local_path(pattern))) if Path(p).is_file())
    FileSystems = beam_filesystems()

    results = FileSystems.match([pattern])[0].metadata_list
    return sorted(m.path for m in results)


@contextlib.contextmanager
def open_read_raw(uri: str) -> Iterator[IO[bytes]]:
    """Open for reading the stored bytes as they are (no decompression), for verbatim copies."""
    if not exists(uri):
        raise InputDataError(f"{uri}: no such file; check the path or bucket name")
    if not is_remote(uri):
        with local_path(uri).open("rb") as handle:
            yield handle
        return
    from apache_beam.io.filesystem import CompressionTypes

    FileSystems = beam_filesystems()

    with FileSystems.open(uri, compression_type=CompressionTypes.UNCOMPRESSED) as handle:
        yield handle


@contextlib.contextmanager
def open_read(uri: str) -> Iterator[IO[bytes]]:
    """Open for reading as bytes, decompressing .gz and .bz2 by extension."""
    with open_read_raw(uri) as raw:
        if uri.endswith(".gz"):
            with gzip.GzipFile(fileobj=raw) as handle:
                yield handle  # type: ignore[misc]
        elif uri.endswith(".bz2"):
            with bz2.BZ2File(raw) as handle:
                yield handle
        else:
            yield raw


def upload_tree(local_dir: Path, uri: str) -> list[str]:
    """Copy every file under `local_dir` to the same relative names under `uri` (local or
    gs://); the URIs written."""
    written = []
    for path in sorted(p for p in local_dir.rglob("*") if p.is_file()):
        target = join(uri, *path.relative_to(local_dir).parts)
        if is_remote(uri):
            FileSystems = beam_filesystems()
            with path.open("rb") as src, FileSystems.create(target) as out:
                shutil.copyfileobj(src, out)
        else:
            local_path(target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, local_path(target))
        written.append(target)
    return written


def write_marker(uri: str, text: str) -> None:
    """A small file written whole (gs:// objects appear whole; locally written atomically)."""
    if is_remote(uri):
        with beam_filesystems().create(uri) as out:
            out.write(text.encode())
    else:
        write_text_atomic(local_path(uri), text)


def download_tree(uri: str, local_dir: Path) -> int:
    """Copy every file under `uri` into `local_dir` (created); the number of files."""
    prefix = uri.rstrip("/") + "/"
    files = (
        [f for f in match(prefix + "**") if f.startswith(prefix)]
        if is_remote(uri)
        else [str(p) for p in local_path(uri).rglob("*") if p.is_file()]
    )
    base = prefix if is_remote(uri) else str(local_path(uri)) + os.sep
    for name in files:
        target = local_dir / name[len(base) :]
        target.parent.mkdir(parents=True, exist_ok=True)
        with open_read_raw(name) as src, target.open("wb") as out:
            shutil.copyfileobj(src, out)
    return len(files)


def read_text(uri: str) -> str:
    with open_read(uri) as handle:
        return handle.read().decode("utf-8")


def read_json(uri: str) -> Any:
    return json.loads(read_text(uri))


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_text_atomic(path: Path, text: str) -> None:
    """Write a small file so readers see the old content or the new, never a mix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; published files are readable like any other
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json_atomic(path: Path, payload: Any) -> None:
    write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")


@contextlib.contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """Yield an empty staging folder beside `final`; on success it is renamed to `final` at once.

    On any failure (or a kill) the staging folder is left behind under a dot-name that readers
    ignore and `final` keeps its previous content. An existing non-empty `final` is replaced in
    one rename, as KFP's launcher does for an output artifact.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = final.parent / f".{final.name}.staging-{uuid.uuid4().hex[:8]}"
    stage.mkdir()
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    if final.exists():
        trash = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:8]}"
        os.replace(final, trash)
        os.replace(stage, final)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        os.replace(stage, final)
