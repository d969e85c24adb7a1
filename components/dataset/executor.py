"""The dataset executor: split the preprocessed records into TFRecord shards (the Beam job in
components.dataset.pipeline), reconcile the counts, write schema and statistics, compare them with a
baseline for drift, and publish the dataset folder whole."""

from __future__ import annotations

import json
import logging
from pathlib import Path

from components.common import fs, progress
from components.common.artifacts import (
    Dataset,
    DatasetSchema,
    DatasetStats,
    Records,
    RecordsStats,
    SplitStats,
    TrainedModel,
)
from components.common.beam_options import pipeline_options
from components.common.config import load_section
from components.common.errors import InputDataError, ReconciliationError
from components.common.model import load_model
from components.dataset.split import DatasetConfig
from components.dataset.stats import drift, infer_schema

log = logging.getLogger(__name__)

STATS = Dataset.STATS
SCHEMA = Dataset.SCHEMA
FEATURES = "_features.json"  # the Beam job's per-feature statistics, removed before publishing
LABEL = Dataset.LABEL


def baseline(
    baseline_stats: str, registry_root: str, config_uri: str
) -> tuple[str, DatasetStats] | None:
    """The statistics to compare with: the file `baseline_stats`, or else those published with
    the serving champion in `registry_root`; None when neither is given or there is none."""
    if baseline_stats:
        return baseline_stats, fs.read_json(baseline_stats)
    if not registry_root:
        return None
    from components.common.registry import Registry

    model = load_model(config_uri).name
    registry = Registry(registry_root, model)
    pointer = registry.champion()
    if pointer is None:
        log.info("no serving champion of %s yet: no drift comparison", model)
        return None
    uri = fs.join(registry.version_uri(pointer["version"]), TrainedModel.DATASET_STATS)
    if not fs.exists(uri):
        log.info(
            "champion %s has no %s: no drift comparison",
            pointer["version"],
            TrainedModel.DATASET_STATS,
        )
        return None
    return f"{model} {pointer['version']}", fs.read_json(uri)


def run(
    records_dir: str,
    config_uri: str,
    output: Path,
    beam_args: list[str],
    previous: tuple[str, DatasetStats] | None = None,
) -> DatasetStats:
    """Build the dataset from the preprocess output in `records_dir` into `output` (published
    whole), compared with `previous` (a label and its stats) for drift; its stats.json."""
    import apache_beam as beam

    from components.dataset import pipeline as dp

    config = load_section(config_uri, "dataset", DatasetConfig)
    if LABEL not in config.features:
        raise InputDataError(f"{config_uri}: dataset.features must include '{LABEL}'")
    upstream: RecordsStats = fs.read_json(Records.stats(records_dir))
    records_glob = Records.records_glob(records_dir)
    if not fs.match(records_glob):
        raise InputDataError(
            f"{records_dir}: no {Records.RECORDS_DIR}/*.jsonl; run preprocess first"
        )

    options = pipeline_options(beam_args)
    progress.report(
        f"beam: {upstream['rows_out']} records into splits {'/'.join(config.splits)}, "
        "TFRecords and statistics"
    )
    with fs.staged_dir(output) as stage:
        with beam.Pipeline(options=options) as p:
            dp.build(
                p,
                records_glob,
                config,
                LABEL,
                str(stage),
                str(stage / STATS),
                str(stage / FEATURES),
            )
        raw = json.loads((stage / STATS).read_text())
        per_feature = json.loads((stage / FEATURES).read_text())
        (stage / FEATURES).unlink()
        splits: dict[str, SplitStats] = {
            name: raw.get(name, {"examples": 0, "label_counts": {}, "positive_rate": None})
            for name in config.splits
        }
        for name, split in splits.items():
            split["groups"] = raw.get(f"groups:{name}", 0)
            split["files"] = sorted(
                p.name for p in (stage / name).glob("*" + Dataset.TFRECORD_SUFFIX)
            )
            split["features"] = per_feature.get(name, {})
        total = sum(s["examples"] for s in splits.values())
        if total != upstream["rows_out"]:
            raise ReconciliationError(
                f"dataset holds {total} examples but preprocess wrote "
                f"{upstream['rows_out']} records"
            )
        if raw.get("leaked_groups"):
            raise ReconciliationError(
                f"group key '{config.group_key}' values found in more "
                f"than one split: {raw['leaked_groups']}"
            )
        empty = [n for n, s in splits.items() if s["examples"] == 0]
        if empty:
            raise InputDataError(
                f"split(s) {empty} got no examples from {total} records; "
                f"use more data or wider split percentages"
            )
        stats: DatasetStats = {
            "group_key": config.group_key,
            "salt": config.salt,
            "total_examples": total,
            "leaked_groups": 0,
            "splits": splits,
        }
        for name, split in splits.items():
            fs.write_json_atomic(stage / name / STATS, {"split": name, **split})
            fs.write_json_atomic(
                stage / name / SCHEMA, infer_schema(config.features, split["features"])
            )
        if previous is not None:
            stats["drift"] = {
                "baseline": previous[0],
                **drift(dict(stats), dict(previous[1]), config.drift_threshold, config.features),
            }
            for warning in stats["drift"]["warnings"]:
                log.warning("drift: %s", warning)
        fs.write_json_atomic(stage / STATS, stats)
        schema: DatasetSchema = {
            "features": dict(config.features),
            "label": LABEL,
            "compression": "GZIP",
        }
        fs.write_json_atomic(stage / SCHEMA, schema)
    progress.report(
        ", ".join(f"{name} {split['examples']}" for name, split in splits.items())
        + " examples"
        + (f"; {len(stats['drift']['warnings'])} drift warning(s)" if "drift" in stats else "")
    )
    for name, split in splits.items():
        log.info(
            "%s: %d examples, %d groups, positive rate %s",
            name,
            split["examples"],
            split["groups"],
            split["positive_rate"],
        )
    return stats


def report(stats: DatasetStats, config_uri: str, out: Path) -> None:
    """The HTML data report of `stats` (with its drift, if compared) at `out`."""
    from components.dataset.report import label_names, provenance, render

    config = load_section(config_uri, "dataset", DatasetConfig)
    page = render(
        dict(stats),
        dict(config.features),
        stats.get("drift"),
        label_names(config_uri),
        provenance(dict(stats), config_uri, out),
    )
    fs.write_text_atomic(out, page)
