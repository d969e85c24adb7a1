"""CLI of the ingest step: `python -m components.ingest --source URI --output DIR`.

A `pubsub://projects/P/subscriptions/S` source drains the subscription into event-time windows
(components.ingest.stream); anything else is a file snapshot (components.ingest.ingest).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from components.common.cli import run_cli
from components.common.config import load_section
from components.common.errors import ConfigError
from components.common.records import FORMATS
from components.ingest.config import IngestConfig
from components.ingest.ingest import Window, snapshot
from components.ingest.stream import is_stream, snapshot_stream


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m components.ingest", description=__doc__)
    parser.add_argument(
        "--source",
        required=True,
        help="file, folder or glob; local path, gs://bucket/..., "
        "pkg://<installed-package>/<path> for bundled sample data, or an event stream "
        "pubsub://projects/<project>/subscriptions/<name> (config section ingest.stream)",
    )
    parser.add_argument(
        "--output",
        required=True,
        type=Path,
        help="folder to create: data/ with the copied files, manifest.json",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="input format (default: from the file extension)",
    )
    parser.add_argument(
        "--required-columns",
        default="",
        help="comma-separated columns a CSV/Parquet header must have "
        "(default: ingest.required_columns of the config)",
    )
    parser.add_argument(
        "--config",
        default="",
        help="pipeline config YAML; its optional `ingest` section says how to read the files "
        "(format; CSV columns when there is no header row, missing-value markers, comments)",
    )
    parser.add_argument(
        "--window-end",
        default="",
        help="the run's scheduled time (RFC 3339); the window is the --window-days whole UTC "
        "days before its day (default: no window)",
    )
    parser.add_argument(
        "--window-days",
        type=int,
        default=0,
        help="days of date partitions to read: the source's {date} field is filled with each "
        "(e.g. gs://bucket/events/dt={date}/*.jsonl); 0 reads the source as given",
    )
    return parser.parse_args(argv)


def _body(argv: Sequence[str] | None) -> int:
    args = parse_args(argv)
    required = [c.strip() for c in args.required_columns.split(",") if c.strip()]
    window = Window.parse(args.window_end, args.window_days)
    settings = (
        load_section(args.config, "ingest", IngestConfig, optional=True)
        if args.config
        else IngestConfig()
    )
    if is_stream(args.source):
        if window is not None and window.days:
            raise ConfigError(
                f"{args.source}: --window-end/--window-days select date partitions of files; "
                "a stream source is windowed by event time (ingest.stream in the config)"
            )
        manifest = snapshot_stream(args.source, args.output, settings.stream)
    else:
        manifest = snapshot(
            args.source,
            args.output,
            args.format or settings.format,
            required or list(settings.required_columns),
            window,
            settings.csv.options(),
        )
    print(
        json.dumps(
            {
                "output": str(args.output),
                "row_count": manifest["row_count"],
                "files": len(manifest["files"]),
            }
        )
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("ingest", _body, argv)
