"""The dataset executor: resolve the features and group key (from the config, or else the records'
schema), split the preprocessed records into TFRecord shards (the Beam job in
components.dataset.pipeline), reconcile the counts, write schema (with each feature's kind) and
statistics, compare them with a baseline for drift, and publish the dataset folder whole."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from components.common import fs, progress
from components.common.artifacts import (
    Dataset,
    DatasetSchema,
    DatasetStats,
    RecordField,
    Records,
    RecordsSchema,
    RecordsStats,
    SplitStats,
    TrainedModel,
)
from components.common.beam_options import pipeline_options
from components.common.config import load_section
from components.common.errors import InputDataError, ReconciliationError
from components.common.model import load_model
from components.dataset.split import DatasetConfig, DatasetSection
from components.dataset.stats import drift, infer_schema, mostly_unique

log = logging.getLogger(__name__)

STATS = Dataset.STATS
SCHEMA = Dataset.SCHEMA
FEATURES = "_features.json"  # the Beam job's per-feature statistics, removed before publishing
LABEL = Dataset.LABEL
# A nearly unique string feature is free text when its values average this many characters.
TEXT_CHARS = 40.0


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
    output: str | Path,
    beam_args: list[str],
    previous: tuple[str, DatasetStats] | None = None,
) -> DatasetStats:
    """Build the dataset from the preprocess output in `records_dir` into `output` (published
    whole), compared with `previous` (a label and its stats) for drift; its stats.json."""
    import apache_beam as beam

    from components.dataset import pipeline as dp

    section = load_section(config_uri, "dataset", DatasetSection, optional=True)
    records_schema = _records_schema(records_dir)
    config, sources = resolve(section, records_schema, config_uri)
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
    with fs.staged_output(output, last=STATS) as stage:
        with beam.Pipeline(options=options) as p:
            dp.build(
                p,
                records_glob,
                config,
                LABEL,
                stage,
                fs.join(stage, STATS),
                fs.join(stage, FEATURES),
            )
        raw = fs.read_json(fs.join(stage, STATS))
        per_feature = fs.read_json(fs.join(stage, FEATURES))
        fs.delete(fs.join(stage, FEATURES))
        splits: dict[str, SplitStats] = {
            name: raw.get(name, {"examples": 0, "label_counts": {}, "positive_rate": None})
            for name in config.splits
        }
        for name, split in splits.items():
            split["groups"] = raw.get(f"groups:{name}", 0)
            split["files"] = sorted(
                uri.rsplit("/", 1)[-1]
                for uri in fs.match(fs.join(stage, name, "*" + Dataset.TFRECORD_SUFFIX))
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
        feature_kinds = kinds(config, records_schema, splits)
        for split in splits.values():  # word lists: only for text (the monitor's vocabulary)
            for name, fstats in split.get("features", {}).items():
                if feature_kinds.get(name) != "text":
                    fstats.pop("words", None)
        for name, split in splits.items():
            fs.write_json(fs.join(stage, name, STATS), {"split": name, **split})
            fs.write_json(
                fs.join(stage, name, SCHEMA), infer_schema(config.features, split["features"])
            )
        if previous is not None:
            stats["drift"] = {
                "baseline": previous[0],
                **drift(dict(stats), dict(previous[1]), config.drift_threshold, config.features),
            }
            for warning in stats["drift"]["warnings"]:
                log.warning("drift: %s", warning)
        fs.write_json(fs.join(stage, STATS), stats)
        schema: DatasetSchema = {
            "features": dict(config.features),
            "label": LABEL,
            "compression": "GZIP",
            "kinds": feature_kinds,
            "sources": sources,
            "excluded": list(records_schema["excluded"]) if records_schema else [],
        }
        fs.write_json(fs.join(stage, SCHEMA), schema)
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


def report(stats: DatasetStats, config_uri: str, out: Path, dataset_dir: str | Path) -> None:
    """The HTML data report of `stats` (with its drift, if compared) at `out`, with the schema
    of the dataset in `dataset_dir` (types, kinds, where they came from)."""
    from components.dataset.report import label_names, provenance, render

    schema: DatasetSchema = fs.read_json(Dataset.schema(str(dataset_dir)))
    page = render(
        dict(stats),
        dict(schema["features"]),
        stats.get("drift"),
        label_names(config_uri),
        provenance(dict(stats), config_uri, out),
        schema=dict(schema),
    )
    fs.write_text_atomic(out, page)


def _records_schema(records_dir: str) -> RecordsSchema | None:
    """The records' schema.json; None for records written before preprocess wrote one."""
    uri = Records.schema(records_dir)
    return fs.read_json(uri) if fs.exists(uri) else None


def resolve(
    section: DatasetSection, records_schema: RecordsSchema | None, config_uri: str
) -> tuple[DatasetConfig, dict[str, str]]:
    """The dataset settings with `features` and `group_key` filled in from the records' schema
    when the config leaves them out, and where each feature's type came from."""
    fields: Mapping[str, RecordField] = records_schema["record_fields"] if records_schema else {}
    features: dict[str, str]
    if section.features is not None:
        features = dict(section.features)
        sources = {n: fields[n]["source"] if n in fields else "config" for n in features}
    elif records_schema is None:
        raise InputDataError(
            f"{config_uri}: dataset.features is not set and the records have no "
            f"{Records.SCHEMA} to default it from; rerun preprocess or list dataset.features"
        )
    else:
        # The TFRecord types: a bool is an int 0/1.
        features = {
            n: "int" if f["type"] in ("bool", "int") else f["type"] for n, f in fields.items()
        }
        sources = {n: f["source"] for n, f in fields.items()}
    group_key = section.group_key or (records_schema["record_id"] if records_schema else None)
    if not group_key:
        raise InputDataError(
            f"{config_uri}: dataset.group_key is not set and preprocess wrote no record_id; "
            "set dataset.group_key to an id field (a user, an item), or preprocess.record_id "
            "to split by a content hash"
        )
    data = section.model_dump(exclude={"features", "group_key"})
    try:
        config = DatasetConfig.model_validate(
            {**data, "features": features, "group_key": group_key}
        )
    except ValidationError as err:
        raise InputDataError(
            f"{config_uri}: dataset: {'; '.join(e['msg'] for e in err.errors())} (features "
            f"from {'dataset.features' if section.features is not None else 'the records schema'})"
        ) from None
    return config, sources


def kinds(
    config: DatasetConfig,
    records_schema: RecordsSchema | None,
    splits: Mapping[str, SplitStats],
) -> dict[str, str]:
    """{feature: categorical|numeric|text|id} for every feature but the label (the contract of
    components.common.features). The group key and the record id are ids; a kind the records'
    schema holds (inferred, overridden, declared) stands; otherwise numbers are numeric and a
    string is categorical unless the statistics show it is nearly unique: text when its values
    are long (TEXT_CHARS characters on average), an id when short."""
    fields: Mapping[str, RecordField] = records_schema["record_fields"] if records_schema else {}
    record_id = records_schema["record_id"] if records_schema else None
    out: dict[str, str] = {}
    for name, type_ in sorted(config.features.items()):
        if name == LABEL:
            continue
        declared = fields[name]["kind"] if name in fields else None
        if name in (config.group_key, record_id):
            out[name] = "id"
        elif declared:
            out[name] = str(declared)
        elif type_ != "string":
            out[name] = "numeric"
        else:
            stats = [s.get("features", {}).get(name, {}) for s in splits.values()]
            unique = any(mostly_unique(f) for f in stats)
            long = max((f.get("mean") or 0 for f in stats), default=0) >= TEXT_CHARS
            out[name] = ("text" if long else "id") if unique else "categorical"
    return out
