"""CLI of the preprocess step.

    python -m components.preprocess --raw DIR --config YAML --output DIR [beam flags]

Flags it does not know are Beam pipeline options (`--runner DataflowRunner --project ...`);
by default the job runs on Beam's in-process FnApiRunner (components.common.beam_options).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from components.common import beam_options, fs
from components.common.beam_options import pipeline_options
from components.common.cli import run_cli
from components.common.config import load_section
from components.common.errors import InputDataError, ReconciliationError
from components.common.records import CsvOptions, header_columns
from components.ingest.ingest import DATA_DIR, MANIFEST
from components.preprocess.schema import PreprocessConfig

log = logging.getLogger(__name__)

RECORDS = "records"
DEAD_LETTER = "dead_letter"
NEAR_DUPLICATES = "near_duplicates"
STATS = "stats.json"


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="python -m components.preprocess", description=__doc__)
    parser.add_argument("--raw", required=True, help="raw snapshot folder written by ingest")
    parser.add_argument(
        "--config", required=True, help="pipeline config YAML (section: preprocess)"
    )
    parser.add_argument(
        "--output",
        required=True,
        type=Path,
        help="folder to create: records/*.jsonl, dead_letter/*.jsonl, near_duplicates/*.jsonl, "
        "stats.json",
    )
    beam_options.add_flag(parser)
    return parser.parse_known_args(argv)


DROPPED = ("dead_letter", "filtered", "duplicates_dropped", "near_duplicates_dropped")


def reconcile(counts: dict[str, int]) -> dict[str, int]:
    """Check rows_in == rows_out + dead letters + filtered + (near-)duplicates; raise if not."""
    c = {k: int(counts.get(k, 0)) for k in ("rows_in", "rows_out", *DROPPED)}
    accounted = c["rows_out"] + sum(c[k] for k in DROPPED)
    if c["rows_in"] != accounted:
        raise ReconciliationError(
            f"counts do not reconcile: rows_in={c['rows_in']} but out+dead_letter+filtered+"
            f"duplicates+near duplicates={accounted} ({c}); refusing to publish"
        )
    return c


def run(raw_dir: str, config_uri: str, output: Path, beam_args: list[str]) -> dict:
    import apache_beam as beam

    from components.preprocess import pipeline as pp

    config = load_section(config_uri, "preprocess", PreprocessConfig)
    manifest = fs.read_json(fs.join(raw_dir, MANIFEST))
    files = [(fs.join(raw_dir, DATA_DIR, f["name"]), f["format"]) for f in manifest["files"]]
    csv_options = CsvOptions.from_dict(manifest.get("csv"))  # as ingest read them
    for uri, fmt in files:
        columns = header_columns(uri, fmt, csv_options)
        missing = [c for c in config.required_columns if columns is not None and c not in columns]
        if missing:
            raise InputDataError(
                f"{uri}: missing required column(s) {missing}; "
                f"the header has {columns}; fix the data or the schema"
            )

    options = pipeline_options(beam_args)
    # Objects alive now (imports, config) outlive the job: freezing them keeps the collector's
    # full passes, which the in-process runner's buffered records trigger, from rescanning them.
    gc.collect()
    gc.freeze()
    with fs.staged_dir(output) as stage:
        with beam.Pipeline(options=options) as p:
            pp.build(
                p,
                files,
                config,
                out_prefix=str(stage / RECORDS / "part"),
                dead_prefix=str(stage / DEAD_LETTER / "part"),
                stats_prefix=str(stage / STATS),
                near_prefix=str(stage / NEAR_DUPLICATES / "part"),
                csv_options=csv_options,
                spread=not beam_options.in_process(beam_args),
            )
        counts = json.loads((stage / STATS).read_text())
        stats = {
            **counts,
            **reconcile(counts),
            "reconciled": True,
            "manifest_row_count": manifest["row_count"],
        }
        if stats["rows_in"] != manifest["row_count"]:
            raise ReconciliationError(
                f"read {stats['rows_in']} rows but the raw manifest lists "
                f"{manifest['row_count']}; the snapshot may be corrupt"
            )
        (stage / DEAD_LETTER).mkdir(exist_ok=True)
        (stage / NEAR_DUPLICATES).mkdir(exist_ok=True)
        (stage / RECORDS).mkdir(exist_ok=True)
        fs.write_json_atomic(stage / STATS, stats)
    log.info(
        "in=%d out=%d dead_letter=%d filtered=%d duplicates=%d near_duplicates=%d",
        stats["rows_in"],
        stats["rows_out"],
        stats["dead_letter"],
        stats["filtered"],
        stats["duplicates_dropped"],
        stats["near_duplicates_dropped"],
    )
    return stats


def _body(argv: Sequence[str] | None) -> int:
    args, unknown = parse_args(argv)
    beam_args = beam_options.beam_args(args, unknown)
    stats = run(args.raw, args.config, args.output, beam_args)
    print(
        json.dumps(
            {
                "output": str(args.output),
                **{
                    k: stats[k]
                    for k in (
                        "rows_in",
                        "rows_out",
                        "dead_letter",
                        "filtered",
                        "duplicates_dropped",
                        "near_duplicates_dropped",
                    )
                },
            }
        )
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("preprocess", _body, argv)
