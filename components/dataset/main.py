"""CLI of the dataset step: `python -m components.dataset --records DIR --config YAML --output DIR`.

Unknown flags (and --beam-options) are Beam pipeline options; the default is the in-process runner.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Sequence
from pathlib import Path

from components.common import beam_options, fs
from components.common.beam_options import pipeline_options
from components.common.cli import run_cli
from components.common.config import load_section
from components.common.errors import InputDataError, ReconciliationError
from components.dataset.split import DatasetConfig
from components.dataset.stats import drift, infer_schema

log = logging.getLogger(__name__)

STATS = "stats.json"
SCHEMA = "schema.json"
FEATURES = "_features.json"
LABEL = "label"
# The train step keeps the dataset's stats.json under this name in the model it exports, so
# every published version carries the statistics of the data it was trained on.
DATASET_STATS = "dataset_stats.json"


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="python -m components.dataset", description=__doc__)
    parser.add_argument(
        "--records", required=True, help="preprocess output folder (records/*.jsonl and stats.json)"
    )
    parser.add_argument("--config", required=True, help="pipeline config YAML (section: dataset)")
    parser.add_argument(
        "--output",
        required=True,
        type=Path,
        help="folder to create: <split>/part-*.tfrecord.gz, <split>/{schema,stats}.json, "
        "schema.json, stats.json",
    )
    parser.add_argument("--report", type=Path, default=None, help="HTML data report to write")
    parser.add_argument(
        "--registry-root",
        default="",
        help="model registry root: compare with the dataset the serving champion was trained on",
    )
    parser.add_argument(
        "--baseline-stats",
        default="",
        help="a previous dataset's stats.json to compare with (instead of the champion's)",
    )
    beam_options.add_flag(parser)
    return parser.parse_known_args(argv)


def baseline(args: argparse.Namespace, config_uri: str) -> tuple[str, dict] | None:
    """The statistics to compare with: given, or those published with the serving champion."""
    if args.baseline_stats:
        return args.baseline_stats, fs.read_json(args.baseline_stats)
    if not args.registry_root:
        return None
    from components.common.registry import Registry
    from components.deploy.config import DeployConfig

    model = load_section(config_uri, "deploy", DeployConfig).model_name
    registry = Registry(args.registry_root, model)
    pointer = registry.champion()
    if pointer is None:
        log.info("no serving champion of %s yet: no drift comparison", model)
        return None
    uri = fs.join(registry.version_uri(pointer["version"]), DATASET_STATS)
    if not fs.exists(uri):
        log.info("champion %s has no %s: no drift comparison", pointer["version"], DATASET_STATS)
        return None
    return f"{model} {pointer['version']}", fs.read_json(uri)


def run(
    records_dir: str,
    config_uri: str,
    output: Path,
    beam_args: list[str],
    previous: tuple[str, dict] | None = None,
) -> dict:
    import apache_beam as beam

    from components.dataset import pipeline as dp

    config = load_section(config_uri, "dataset", DatasetConfig)
    if LABEL not in config.features:
        raise InputDataError(f"{config_uri}: dataset.features must include '{LABEL}'")
    upstream = fs.read_json(fs.join(records_dir, STATS))
    records_glob = fs.join(records_dir, "records", "*.jsonl")
    if not fs.match(records_glob):
        raise InputDataError(f"{records_dir}: no records/*.jsonl; run preprocess first")

    options = pipeline_options(beam_args)
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
        splits = {
            name: raw.get(name, {"examples": 0, "label_counts": {}, "positive_rate": None})
            for name in config.splits
        }
        for name, split in splits.items():
            split["groups"] = raw.get(f"groups:{name}", 0)
            split["files"] = sorted(p.name for p in (stage / name).glob("*" + dp.TFRECORD_SUFFIX))
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
        stats: dict = {
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
                **drift(stats, previous[1], config.drift_threshold),
            }
            for warning in stats["drift"]["warnings"]:
                log.warning("drift: %s", warning)
        fs.write_json_atomic(stage / STATS, stats)
        fs.write_json_atomic(
            stage / SCHEMA, {"features": config.features, "label": LABEL, "compression": "GZIP"}
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


def _body(argv: Sequence[str] | None) -> int:
    args, unknown = parse_args(argv)
    beam_args = beam_options.beam_args(args, unknown)
    stats = run(args.records, args.config, args.output, beam_args, baseline(args, args.config))
    if args.report:
        from components.dataset.report import render

        config = load_section(args.config, "dataset", DatasetConfig)
        fs.write_text_atomic(args.report, render(stats, dict(config.features), stats.get("drift")))
    print(
        json.dumps(
            {"output": str(args.output), **{n: s["examples"] for n, s in stats["splits"].items()}}
        )
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("dataset", _body, argv)
