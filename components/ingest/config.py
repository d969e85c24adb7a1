"""The optional `ingest` section of a pipeline config: how to read the source files."""

from __future__ import annotations

import codecs
from typing import Literal

from pydantic import field_validator

from components.common.config import Strict
from components.common.records import CsvOptions
from components.ingest.events import StreamSettings


class CsvSettings(Strict):
    """For CSVs without a header row, with padded cells or missing-value markers, another
    delimiter, quote character or encoding, or repeated header names."""

    # The column names, in order, of files without a header row (every line is a row).
    columns: list[str] | None = None
    # Skip spaces after a delimiter: "a, b" reads as ["a", "b"].
    skip_initial_space: bool = False
    # Cell values that mean "no value", read as missing (e.g. "?", "NA").
    missing: list[str] = []
    # Lines starting with this are not rows (e.g. "#").
    comment: str | None = None
    # One character (";", "|", "\t"), or "whitespace": cells separated by runs of spaces/tabs.
    delimiter: str = ","
    # The quote character around cells that hold the delimiter, quotes or line breaks.
    quote: str = '"'
    # The files' text encoding, any Python codec name: latin-1, cp1252, utf-16, ...
    encoding: str = "utf-8"
    # A header naming a column twice is an error naming the file and columns; `rename` keeps
    # both, the second as <name>_2 (a third <name>_3).
    duplicate_columns: Literal["error", "rename"] = "error"

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, value: str) -> str:
        if value != "whitespace" and len(value) != 1:
            raise ValueError(
                f"delimiter {value!r}: expected one character (e.g. ';' or '\\t') or 'whitespace'"
            )
        return value

    @field_validator("quote")
    @classmethod
    def _quote(cls, value: str) -> str:
        if len(value) != 1:
            raise ValueError(f"quote {value!r}: expected one character, e.g. '\"' or \"'\"")
        return value

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, value: str) -> str:
        try:
            codecs.lookup(value)
        except LookupError:
            raise ValueError(
                f"encoding {value!r} is not a known codec; e.g. utf-8, latin-1, cp1252"
            ) from None
        return value

    def options(self) -> CsvOptions:
        return CsvOptions.from_dict(self.model_dump())


class IngestConfig(Strict):
    # The source files' format; default: from the file extension (--format overrides).
    format: Literal["csv", "jsonl", "parquet"] | None = None
    # Columns a CSV/Parquet header must have (a file without them fails before any row is read);
    # --required-columns overrides.
    required_columns: list[str] = []
    # How CSV files are read (preprocess reads the snapshot the same way).
    csv: CsvSettings = CsvSettings()
    # For pubsub:// sources.
    stream: StreamSettings = StreamSettings()
