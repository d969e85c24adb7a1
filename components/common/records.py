"""Read raw tabular files (CSV, JSONL, Parquet; plain, .gz or .bz2) one record at a time.

A record that cannot be decoded is not an exception: it comes back with `error` set and its raw
text, so callers can route it to a dead-letter output with its file and row.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from components.common import fs
from components.common.errors import InputDataError

FORMATS = ("csv", "jsonl", "parquet")
_COMPRESSED = (".gz", ".bz2")
_BOM = "\ufeff".encode()


@dataclass(frozen=True)
class RawRecord:
    """One input row: where it came from, its fields (None when undecodable) and why not."""

    source: str  # "<file>:<row>", row 1 being the first data row
    fields: dict[str, Any] | None
    raw: str
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CsvOptions:
    """How to read a CSV that is not the plain header-first kind (UCI files, exports)."""

    columns: tuple[str, ...] | None = None  # no header row: the columns, in order
    skip_initial_space: bool = False  # "a, b" reads as ["a", "b"]
    missing: tuple[str, ...] = ()  # cell values that mean "no value" (read as None)
    comment: str | None = None  # lines starting with this are not rows
    delimiter: str = ","  # one character, or "whitespace": runs of spaces and tabs
    quote: str = '"'  # the quote character
    encoding: str = "utf-8"  # the files' text encoding (utf-8 also drops a byte-order mark)
    duplicate_columns: str = "error"  # "rename": a repeated header name gets _2, _3, ...

    @classmethod
    def from_dict(cls, value: dict[str, Any] | None) -> CsvOptions:
        value = value or {}
        columns = value.get("columns")
        return cls(
            columns=tuple(columns) if columns else None,
            skip_initial_space=bool(value.get("skip_initial_space", False)),
            missing=tuple(value.get("missing", ())),
            comment=value.get("comment"),
            delimiter=str(value.get("delimiter") or ","),
            quote=str(value.get("quote") or '"'),
            encoding=str(value.get("encoding") or "utf-8"),
            duplicate_columns=str(value.get("duplicate_columns") or "error"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": list(self.columns) if self.columns else None,
            "skip_initial_space": self.skip_initial_space,
            "missing": list(self.missing),
            "comment": self.comment,
            "delimiter": self.delimiter,
            "quote": self.quote,
            "encoding": self.encoding,
            "duplicate_columns": self.duplicate_columns,
        }


PLAIN_CSV = CsvOptions()
WHITESPACE = "whitespace"  # CsvOptions.delimiter for space- or tab-separated files


def detect_format(uri: str) -> str:
    name = uri.lower()
    for suffix in _COMPRESSED:
        name = name.removesuffix(suffix)
    for fmt, suffixes in {
        "csv": (".csv",),
        "jsonl": (".jsonl", ".json", ".ndjson"),
        "parquet": (".parquet", ".pq"),
    }.items():
        if name.endswith(suffixes):
            return fmt
    raise InputDataError(
        f"{uri}: cannot tell the format from the file name; expected one of "
        ".csv, .jsonl, .parquet (optionally .gz or .bz2), or pass --format"
    )


def _surrogate_field(row: dict[str, Any]) -> str | None:
    for key, value in row.items():
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as err:
                return f"field '{key}' has bytes that are not valid UTF-8 (at char {err.start})"
    return None


def _visible(text: str) -> str:
    """Raw text with undecodable bytes shown as \\xNN, safe to write as JSON."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


# A larger CSV cell is a dead-letter row, not a crash (the csv module's default is 128 KiB).
CSV_FIELD_LIMIT = 1 << 24


def _csv_rows(handle: Any, options: CsvOptions) -> Iterator[list[str] | tuple[csv.Error, str]]:
    """CSV rows; a row the csv module cannot parse comes back as (its csv.Error, its raw
    lines), and the reader goes on with the next line."""
    csv.field_size_limit(CSV_FIELD_LIMIT)
    # utf-8-sig: a byte-order mark (Excel and Windows exports write one) is not part of the
    # first column's name; without it the file reads as plain UTF-8.
    encoding = "utf-8-sig" if codecs.lookup(options.encoding).name == "utf-8" else options.encoding
    text = io.TextIOWrapper(handle, encoding=encoding, errors="surrogateescape", newline="")
    consumed: list[str] = []
    spaced = options.delimiter == WHITESPACE

    def lines() -> Iterator[str]:
        for line in text:
            if not (options.comment and line.startswith(options.comment)):
                consumed.append(line)
                # Whitespace-separated: tabs are spaces, and runs of them one separator (below).
                yield line.replace("\t", " ").strip(" \r\n") + "\n" if spaced else line

    reader = csv.reader(
        lines(),
        delimiter=" " if spaced else options.delimiter,
        quotechar=options.quote,
        skipinitialspace=options.skip_initial_space or spaced,
    )
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            yield err, "".join(consumed).rstrip("\r\n")
        else:
            yield row
        consumed.clear()


def rename_duplicates(names: Sequence[str]) -> list[str]:
    """Repeated names made unique: the second `x` becomes `x_2`, the third `x_3` (skipping a
    name the header already has)."""
    taken = {n.strip() for n in names}
    seen: dict[str, int] = {}
    out = []
    for name in names:
        key = name.strip()
        seen[key] = seen.get(key, 0) + 1
        if key and seen[key] > 1:
            n = seen[key]
            while f"{key}_{n}" in taken:
                n += 1
            seen[key] = n
            name = f"{key}_{n}"
            taken.add(name)
        out.append(name)
    return out


def check_column_names(uri: str, names: Sequence[str], duplicates: str = "error") -> list[str]:
    """`names` as a list, or an InputDataError naming the file and the empty or repeated names.

    A row becomes a dict keyed by these names: a repeated name would keep only its last cell
    and an empty one a column nobody can ask for, both silently. Every header (a CSV's first
    row, configured `columns`, a Parquet schema) passes through here. `duplicates="rename"`
    (ingest.csv.duplicate_columns) renames repeated names instead (rename_duplicates)."""
    names = rename_duplicates(names) if duplicates == "rename" else list(names)
    empty = [i + 1 for i, n in enumerate(names) if not n.strip()]
    seen: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        seen.setdefault(n.strip(), []).append(i + 1)
    repeated = {n: at for n, at in seen.items() if n and len(at) > 1}
    problems = []
    if repeated:
        problems.append(
            "repeated column name(s) "
            + ", ".join(f"'{n}' (columns {', '.join(map(str, at))})" for n, at in repeated.items())
        )
    if empty:
        problems.append(f"empty column name(s) at column(s) {', '.join(map(str, empty))}")
    if problems:
        raise InputDataError(
            f"{uri}: {'; '.join(problems)} in the header {names}; every column needs its own "
            "non-empty name (rename them in the file, set ingest.csv.columns, or set "
            "ingest.csv.duplicate_columns: rename to suffix repeats with _2, _3)"
        )
    return names


def _csv_header(
    uri: str, reader: Iterator[list[str] | tuple[csv.Error, str]], options: CsvOptions
) -> list[str]:
    """The column names of a CSV: the configured `columns`, or its first row (consumed from
    `reader`); checked by `check_column_names`. The one place a CSV header is read."""
    if options.columns:
        return check_column_names(uri, options.columns, options.duplicate_columns)
    try:
        first = next(reader)
    except StopIteration:
        raise InputDataError(f"{uri}: the file is empty; expected a CSV header row") from None
    if isinstance(first, tuple):
        raise InputDataError(f"{uri}: the header row is not readable CSV: {first[0]}")
    if not any(h.strip() for h in first):
        raise InputDataError(f"{uri}: the first line is blank; expected a CSV header row")
    return check_column_names(uri, first, options.duplicate_columns)


def read_csv(uri: str, options: CsvOptions = PLAIN_CSV) -> Iterator[RawRecord]:
    spaced = options.delimiter == WHITESPACE
    with fs.open_read(uri) as handle:
        reader = _csv_rows(handle, options)
        header = _csv_header(uri, reader, options)
        row_no = 0
        for cells in reader:
            if not cells:  # a blank line is not a row
                continue
            row_no += 1
            source = f"{uri}:{row_no}"
            if isinstance(cells, tuple):
                err, raw_lines = cells
                reason = f"not readable as CSV: {err}"
                if "field larger" in str(err):
                    reason = f"a cell is larger than {CSV_FIELD_LIMIT} characters"
                yield RawRecord(source, None, _visible(raw_lines), reason)
                continue
            raw = (" " if spaced else options.delimiter).join(cells)
            if len(cells) != len(header):
                yield RawRecord(
                    source,
                    None,
                    _visible(raw),
                    f"expected {len(header)} columns {header}, found {len(cells)}",
                )
                continue
            fields: dict[str, Any] = dict(zip(header, cells, strict=True))
            if options.missing:
                fields = {k: None if v in options.missing else v for k, v in fields.items()}
            bad = _surrogate_field(fields)
            if bad:
                yield RawRecord(source, None, _visible(raw), bad)
            else:
                yield RawRecord(source, fields, raw)


def read_jsonl(uri: str) -> Iterator[RawRecord]:
    import orjson  # several times faster than json on the per-record path

    with fs.open_read(uri) as handle:
        for row_no, line_bytes in enumerate(handle, start=1):
            data = line_bytes.rstrip(b"\r\n")
            if row_no == 1:
                data = data.removeprefix(_BOM)  # as for CSV: a byte-order mark is no content
            source = f"{uri}:{row_no}"
            try:
                line = data.decode("utf-8")
            except UnicodeDecodeError as err:
                yield RawRecord(
                    source,
                    None,
                    _visible(data.decode("utf-8", "surrogateescape")),
                    f"bytes that are not valid UTF-8 at byte {err.start}",
                )
                continue
            if not line.strip():
                yield RawRecord(source, None, line, "blank line")
                continue
            try:
                value = orjson.loads(data)
            except orjson.JSONDecodeError as err:
                yield RawRecord(source, None, line, f"not valid JSON: {err}")
                continue
            if not isinstance(value, dict):
                yield RawRecord(
                    source, None, line, f"expected a JSON object, got {type(value).__name__}"
                )
                continue
            yield RawRecord(source, value, line)


def read_parquet(uri: str) -> Iterator[RawRecord]:
    import pyarrow.parquet as pq

    with fs.open_read(uri) as handle:
        try:
            table = pq.ParquetFile(handle)
        except Exception as err:  # pyarrow raises ArrowInvalid and friends
            raise InputDataError(f"{uri}: not a readable Parquet file: {err}") from err
        check_column_names(uri, table.schema_arrow.names)
        row_no = 0
        for batch in table.iter_batches(batch_size=4096):
            for row in batch.to_pylist():
                row_no += 1
                yield RawRecord(f"{uri}:{row_no}", row, json.dumps(row, default=str))


def read_records(
    uri: str, fmt: str | None = None, csv_options: CsvOptions = PLAIN_CSV
) -> Iterator[RawRecord]:
    fmt = fmt or detect_format(uri)
    if fmt == "csv":
        return read_csv(uri, csv_options)
    readers = {"jsonl": read_jsonl, "parquet": read_parquet}
    if fmt not in readers:
        raise InputDataError(f"{uri}: unknown format '{fmt}'; expected one of {FORMATS}")
    return readers[fmt](uri)


def header_columns(
    uri: str, fmt: str | None = None, csv_options: CsvOptions = PLAIN_CSV
) -> list[str] | None:
    """Column names a file declares up front (CSV header, Parquet schema); None for JSONL."""
    fmt = fmt or detect_format(uri)
    if fmt == "csv":
        if csv_options.columns:
            return check_column_names(uri, csv_options.columns, csv_options.duplicate_columns)
        with fs.open_read(uri) as handle:
            return _csv_header(uri, _csv_rows(handle, csv_options), csv_options)
    if fmt == "parquet":
        import pyarrow.parquet as pq

        with fs.open_read(uri) as handle:
            return check_column_names(uri, pq.ParquetFile(handle).schema_arrow.names)
    return None
