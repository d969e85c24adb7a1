"""CLI of the ingest step: `python -m components.ingest --source URI --output DIR`.

A `pubsub://projects/P/subscriptions/S` source drains the subscription into event-time windows
(components.ingest.stream); anything else is a file snapshot (components.ingest.ingest).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from components.common import interface
from components.common.cli import run_cli
from components.common.config import load_section, validate_all
from components.common.errors import ConfigError
from components.common.records import FORMATS
from components.ingest.config import IngestConfig
from components.ingest.ingest import Window, snapshot
from components.ingest.stream import is_stream, snapshot_stream


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The flags components/ingest/component.py declares, and the CLI's own."""
    parser = interface.parser("components.ingest", __doc__)
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="input format (default: from the file extension)",
    )
    return parser.parse_args(argv)


def _body(argv: Sequence[str] | None) -> int:
    args = parse_args(argv)
    required = [c.strip() for c in args.required_columns.split(",") if c.strip()]
    window = Window.parse(args.window_end, args.window_days)
    if args.config:  # the first step: every section is checked now, not when its step runs
        validate_all(args.config)
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
