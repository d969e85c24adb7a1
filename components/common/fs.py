"""File access for local paths and gs:// through Beam's FileSystems, plus atomic publishing.

Every output a component leaves is written to a temporary name first and moved into place last,
so a killed step never leaves a partial artifact or replaces a good one.
"""

from __future__ import annotations

import bz2
import contextlib
import fcntl
import gzip
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from components.common.errors import InputDataError

GCS_PREFIX = "gs://"

log = logging.getLogger(__name__)


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
    """The JSON document at `uri`; InputDataError naming the file when it is not JSON."""
    try:
        return json.loads(read_text(uri))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputDataError(f"{uri}: not a JSON document ({err}); check or rewrite it") from None


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def tree_sha256(folder: Path) -> str:
    """sha256 over the relative paths and bytes of every file under `folder`: the same files,
    the same digest (deploy's content hash, whose first 8 hex digits end a version id)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        digest.update(sha256_file(path).encode())
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


# A leftover (a staging folder of a killed step) is removed when it is older than this and no
# live process holds its lock. Age alone would do for steps that finish within it; the lock
# keeps a longer one (a multi-day training) safe too.
STALE_AFTER_S = 24 * 3600


@contextlib.contextmanager
def locked_new_dir(path: Path) -> Iterator[Path]:
    """Create the folder `path` and hold an exclusive flock on it until the block ends, so
    `remove_stale` can tell a live staging folder from a killed step's: the kernel drops the
    lock when its process dies, however it dies. The lock goes with the folder when it is
    renamed into place. Where the file system has no flock (some network mounts) the folder
    is protected by its age alone."""
    path.mkdir(parents=True)
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield path
    finally:
        os.close(fd)


def remove_stale(
    parent: Path, pattern: str, max_age_s: float = STALE_AFTER_S, now: float | None = None
) -> list[Path]:
    """Remove what matches `pattern` in `parent` that was last modified more than `max_age_s`
    ago and whose lock (locked_new_dir) no live process holds; the paths removed. Never a
    younger one: a step that has just created its folder may not hold the lock yet."""
    now = time.time() if now is None else now
    removed = []
    for path in sorted(parent.glob(pattern)) if parent.is_dir() else []:
        try:
            if now - path.lstat().st_mtime < max_age_s:
                continue
            if path.is_symlink() or not path.is_dir():
                path.unlink()
            else:
                fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
                try:
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        continue  # its step is alive
                    except OSError:
                        pass  # no flock here: the age decides
                    shutil.rmtree(path)
                finally:
                    os.close(fd)
        except FileNotFoundError:
            continue  # another run removed it first
        removed.append(path)
    if removed:
        log.info(
            "removed %d leftover(s) of killed steps older than %.0f h in %s: %s",
            len(removed),
            max_age_s / 3600,
            parent,
            [p.name for p in removed],
        )
    return removed


@contextlib.contextmanager
def staged_dir(final: Path) -> Iterator[Path]:
    """Yield an empty staging folder beside `final`; on success it is renamed to `final` at once.

    On a failure the staging folder is removed; a kill leaves it behind under a dot-name that
    readers ignore, and `final` keeps its previous content. The next staged_dir of the same
    `final` removes such leftovers once they are older than STALE_AFTER_S and unlocked (a live
    one is locked: locked_new_dir). An existing non-empty `final` is replaced in one rename,
    as KFP's launcher does for an output artifact.
    """
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(final.parent, f".{final.name}.staging-*")
    if final.exists():  # else an .old- folder may hold the only copy of the last output
        remove_stale(final.parent, f".{final.name}.old-*")
    stage = final.parent / f".{final.name}.staging-{uuid.uuid4().hex[:8]}"
    with locked_new_dir(stage):
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


def write_json(uri: str, payload: Any) -> None:
    """A small JSON document written whole, at a local path or a gs:// URI."""
    write_marker(uri, json.dumps(payload, indent=2, sort_keys=True) + "\n")


def delete(uri: str) -> None:
    """Remove one file, local or gs://."""
    if is_remote(uri):
        beam_filesystems().delete([uri])
    else:
        local_path(uri).unlink()


def files_under(uri: str) -> list[str]:
    """Every file below the folder or prefix `uri`, sorted; [] when there is none."""
    if not is_remote(uri):
        return sorted(str(p) for p in local_path(uri).rglob("*") if p.is_file())
    prefix = uri.rstrip("/") + "/"
    return [f for f in match(prefix + "**") if f.startswith(prefix)]


@contextlib.contextmanager
def staged_output(uri: str | Path, last: str) -> Iterator[str]:
    """staged_dir for a folder that is a local path or a gs:// prefix: yield a staging URI
    that the job (its workers included) writes to, and commit it as `uri` on success.

    Locally that is staged_dir's one rename. An object store has no rename of a prefix, so the
    staging objects are copied under `uri` with `last` (a file name relative to the folder, the
    one every reader opens first) removed before and written after all others: a reader sees
    the whole output or none, and a failed job leaves `uri` as it was. A job that fails removes
    its staging prefix; a killed one leaves it under a dot-name, beside `uri`, that no reader
    lists (a bucket lifecycle rule can expire such leftovers).
    """
    if not is_remote(str(uri)):
        with staged_dir(local_path(str(uri))) as folder:
            yield str(folder)
        return
    final = str(uri).rstrip("/")
    parent, _, name = final.rpartition("/")
    stage = f"{parent}/.{name}.staging-{uuid.uuid4().hex[:8]}"
    FileSystems = beam_filesystems()
    try:
        yield stage
        staged = files_under(stage)
        relative = [f[len(stage) + 1 :] for f in staged]
        if last not in relative:
            raise RuntimeError(f"{stage}: the job wrote no {last}; nothing is committed")
        marker = join(final, last)
        if exists(marker):
            FileSystems.delete([marker])
        old = set(files_under(final))
        rest = [r for r in relative if r != last]
        targets = [join(final, *r.split("/")) for r in rest]
        if rest:
            FileSystems.copy([join(stage, *r.split("/")) for r in rest], targets)
        stale = sorted(old - set(targets))
        if stale:  # an earlier output's files the new one does not have
            FileSystems.delete(stale)
        FileSystems.copy([join(stage, last)], [marker])
    finally:
        leftover = files_under(stage)
        if leftover:
            FileSystems.delete(leftover)


GCS_TIMEOUT_ENV = "RETRAIN_GCS_TIMEOUT_SECONDS"  # how long a gs:// source may take to answer
GCS_TIMEOUT_DEFAULT = 30.0


def gcs_timeout() -> float:
    """Seconds a bucket may take to answer before a step gives up (RETRAIN_GCS_TIMEOUT_SECONDS,
    default 30)."""
    text = os.environ.get(GCS_TIMEOUT_ENV, "")
    try:
        value = float(text) if text else GCS_TIMEOUT_DEFAULT
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        from components.common.errors import ConfigError

        raise ConfigError(f"{GCS_TIMEOUT_ENV}={text!r}: expected a positive number of seconds")
    return value


def check_bucket(uri: str, timeout: float | None = None) -> None:
    """Fail within `timeout` seconds, saying what to check, when the bucket of the gs:// `uri`
    cannot be listed: unreachable (UnreachableError, retryable), missing (InputDataError) or
    forbidden (ConfigError). Beam's own retries would take 120 s and end in a bare BeamIOError."""
    from google.api_core import exceptions as api
    from google.api_core.retry import Retry
    from google.auth import exceptions as auth
    from google.cloud import storage

    from components.common.errors import ConfigError, UnreachableError

    limit = gcs_timeout() if timeout is None else timeout
    bucket = uri.removeprefix(GCS_PREFIX).split("/", 1)[0]
    where = os.environ.get("STORAGE_EMULATOR_HOST") or "storage.googleapis.com"
    try:
        client = storage.Client()
        pages = client.list_blobs(
            bucket, max_results=1, timeout=min(limit, 10.0), retry=Retry(timeout=limit)
        ).pages
        next(iter(pages), None)
    except auth.DefaultCredentialsError as err:
        raise ConfigError(
            f"{uri}: no Google Cloud credentials ({err}); on a cluster check the step's Workload "
            "Identity service account, locally run `gcloud auth application-default login`"
        ) from None
    except api.NotFound:
        raise InputDataError(
            f"{uri}: bucket {bucket} does not exist; check the bucket name"
        ) from None
    except (api.Forbidden, api.Unauthorized) as err:
        raise ConfigError(
            f"{uri}: not allowed to list bucket {bucket} ({err.message}); check that the step's "
            "service account may list and read objects in it (roles/storage.objectViewer)"
        ) from None
    except (api.RetryError, api.ServerError, auth.TransportError, OSError) as err:
        cause = err.cause if isinstance(err, api.RetryError) and err.cause else err
        reason = " ".join(str(cause).split())[:200]
        raise UnreachableError(
            f"{uri}: bucket {bucket} did not answer within {limit:.0f} s "
            f"({type(cause).__name__}: {reason}); check the network path to {where}, the bucket "
            f"name and the credentials, or raise {GCS_TIMEOUT_ENV} on a slow network"
        ) from None
