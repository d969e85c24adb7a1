"""The optional `ingest` section of a pipeline config: how to read the source files."""

from __future__ import annotations

from typing import Literal

from components.common.config import Strict
from components.common.records import CsvOptions
from components.ingest.events import StreamSettings


class CsvSettings(Strict):
    """For CSVs without a header row, with padded cells or missing-value markers."""

    columns: list[str] | None = None
    skip_initial_space: bool = False
    missing: list[str] = []
    comment: str | None = None

    def options(self) -> CsvOptions:
        return CsvOptions.from_dict(self.model_dump())


class IngestConfig(Strict):
    format: Literal["csv", "jsonl", "parquet"] | None = None  # default: from the file extension
    # Columns a CSV/Parquet header must have (a file without them fails before any row is read);
    # --required-columns overrides.
    required_columns: list[str] = []
    csv: CsvSettings = CsvSettings()
    stream: StreamSettings = StreamSettings()  # for pubsub:// sources
