"""The preprocess executor: read the raw snapshot's files as ingest listed them, infer the schema
when the config asks (components.preprocess.infer), run the Beam job
(components.preprocess.pipeline), reconcile the counts and publish the records folder whole,
with the schema it validated against."""

from __future__ import annotations

import gc
import logging
from pathlib import Path

from components.common import beam_options, fs, progress, shards
from components.common.artifacts import DROPPED, Raw, RawManifest, Records
from components.common.beam_options import pipeline_options
from components.common.config import load_section
from components.common.errors import InputDataError, ReconciliationError
from components.common.records import CsvOptions, header_columns
from components.preprocess import infer
from components.preprocess.schema import PreprocessConfig

log = logging.getLogger(__name__)
# Dead letters and near duplicates are a small part of the rows: fewer, fuller shards.
DROPPED_PER_SHARD = 10 * shards.PER_SHARD


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


def run(raw_dir: str, config_uri: str, output: str | Path, beam_args: list[str]) -> dict:
    """Preprocess the snapshot in `raw_dir` into `output` (a folder: a local path or gs://,
    written by the job's workers through Beam's FileSystems); the published stats.json."""
    import apache_beam as beam

    from components.preprocess import pipeline as pp

    config = load_section(config_uri, "preprocess", PreprocessConfig)
    manifest: RawManifest = fs.read_json(Raw.manifest(raw_dir))
    files = [(Raw.data_file(raw_dir, f["name"]), f["format"]) for f in manifest["files"]]
    csv_options = CsvOptions.from_dict(manifest.get("csv"))  # as ingest read them
    columns, rows = (
        infer.sample(files, csv_options, config.infer_rows) if config.inferred else ([], [])
    )
    config, schema = infer.resolve(config, columns, rows, f"{config_uri} on {raw_dir}")
    for uri, fmt in files:
        header = header_columns(uri, fmt, csv_options)
        missing = [c for c in config.required_columns if header is not None and c not in header]
        if missing:
            raise InputDataError(
                f"{uri}: missing required column(s) {missing}; "
                f"the header has {header}; fix the data or the schema"
            )

    options = pipeline_options(beam_args)
    # Objects alive now (imports, config) outlive the job: freezing them keeps the collector's
    # full passes, which the in-process runner's buffered records trigger, from rescanning them.
    gc.collect()
    gc.freeze()
    progress.report(
        f"beam: validating and deduplicating {manifest['row_count']} rows from {len(files)} file(s)"
    )
    row_count = int(manifest["row_count"])
    with fs.staged_output(output, last=Records.STATS) as stage:
        outputs = {  # the shard counts follow the row count: the same on every runner
            name: (fs.join(stage, name, Records.SHARD_PREFIX), shards.shard_count(row_count, per))
            for name, per in (
                (Records.RECORDS_DIR, shards.PER_SHARD),
                (Records.DEAD_LETTER_DIR, DROPPED_PER_SHARD),
                (Records.NEAR_DUPLICATES_DIR, DROPPED_PER_SHARD),
            )
        }
        with beam.Pipeline(options=options) as p:
            pp.build(
                p,
                files,
                config,
                outputs,
                stats_prefix=fs.join(stage, Records.STATS),
                csv_options=csv_options,
                spread=not beam_options.in_process(beam_args),
                names={Raw.data_file(raw_dir, f["name"]): f["name"] for f in manifest["files"]},
            )
        counts = fs.read_json(fs.join(stage, Records.STATS))
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
        fs.write_json(fs.join(stage, Records.STATS), stats)
        fs.write_json(fs.join(stage, Records.SCHEMA), schema)
    progress.report(
        f"{stats['rows_out']} of {stats['rows_in']} rows kept ({stats['dead_letter']} dead "
        f"letter, {stats['filtered']} filtered, "
        f"{stats['duplicates_dropped'] + stats['near_duplicates_dropped']} duplicates)"
    )
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
