"""CLI of the ingest step: `python -m components.ingest --source URI --output DIR`."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from components.common.cli import run_cli
from components.common.records import FORMATS
from components.ingest.ingest import snapshot


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m components.ingest", description=__doc__)
    parser.add_argument(
        "--source",
        required=True,
        help="file, folder or glob; local path, gs://bucket/..., or "
        "pkg://<installed-package>/<path> for bundled sample data",
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
        help="comma-separated columns a CSV/Parquet header must have",
    )
    return parser.parse_args(argv)


def _body(argv: Sequence[str] | None) -> int:
    args = parse_args(argv)
    required = [c.strip() for c in args.required_columns.split(",") if c.strip()]
    manifest = snapshot(args.source, args.output, args.format, required)
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
