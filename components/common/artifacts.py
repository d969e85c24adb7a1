"""The layout of every artifact one step writes and another reads: folder and file names, and the
fields of its manifest or stats. Defined once here; the writer and every reader import it.

    raw snapshot (ingest)      data/<file>, manifest.json                    -> preprocess, record
    records (preprocess)       records/*.jsonl, dead_letter/, near_duplicates/, stats.json,
                               schema.json (declared or inferred fields, RecordsSchema)
                                                                             -> dataset
    dataset (dataset)          <split>/part-*.tfrecord.gz, <split>/{schema,stats}.json,
                               schema.json, stats.json        -> train, evaluate, record, replay
    model (train)              saved_model/, history.json, metrics.json, train_config.json,
                               signature.json, dataset_stats.json   -> evaluate, deploy, record
    evaluation (evaluate)      metrics JSON with the `blessing`           -> deploy, record
    deploy record (deploy)     version, uri, role, previous, ...; an InferenceService YAML
    readout (readout)          decision.json, dashboard.html, units.jsonl, latency.jsonl,
                               dead_letter.jsonl, counts.json                         -> promote
    serving logs (serve)       <root>/<model>/requests/<date>/*.jsonl, .../outcomes/...
                                                                          -> readout

Where do I change what the dataset step writes? Here (`Dataset`), then in the dataset step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from components.common import fs

# --- ingest -> preprocess, record ------------------------------------------------------------


class Raw:
    """The raw snapshot: the source files copied byte for byte under `data/`, and the manifest
    (written last) that lists them."""

    DATA_DIR = "data"
    MANIFEST = "manifest.json"

    @staticmethod
    def manifest(root: str) -> str:
        return fs.join(root, Raw.MANIFEST)

    @staticmethod
    def data_file(root: str, name: str) -> str:
        return fs.join(root, Raw.DATA_DIR, name)


@dataclass(frozen=True)
class SnapshotFile:
    """One entry of the raw manifest's `files`."""

    name: str  # relative to data/
    source: str
    format: str
    rows: int
    undecodable_rows: int
    bytes: int
    sha256: str


class RawManifest(TypedDict):
    source: str
    window: dict[str, Any] | None  # {end, days, dates} of a date-partitioned source
    csv: dict[str, Any] | None  # how the CSV files are read (CsvOptions.to_dict); preprocess too
    stream: NotRequired[dict[str, Any]]  # settings, watermark, windows, counts of a pubsub://
    created_utc: str
    row_count: int
    files: list[dict[str, Any]]  # SnapshotFile fields


# --- preprocess -> dataset -------------------------------------------------------------------


class Records:
    """Validated, deduplicated records as JSONL shards, what was dropped and why, and the counts
    that reconcile rows in with rows out."""

    RECORDS_DIR = "records"
    DEAD_LETTER_DIR = "dead_letter"
    NEAR_DUPLICATES_DIR = "near_duplicates"
    STATS = "stats.json"
    SCHEMA = "schema.json"  # RecordsSchema: the fields, declared or inferred, and their kinds
    SHARD_PREFIX = "part"

    @staticmethod
    def records_glob(root: str) -> str:
        return fs.join(root, Records.RECORDS_DIR, "*.jsonl")

    @staticmethod
    def stats(root: str) -> str:
        return fs.join(root, Records.STATS)

    @staticmethod
    def schema(root: str) -> str:
        return fs.join(root, Records.SCHEMA)


# Counts that, with rows_out, add up to rows_in (stats.json also holds "filtered:<reason>" keys).
DROPPED = ("dead_letter", "filtered", "duplicates_dropped", "near_duplicates_dropped")


class RecordsStats(TypedDict):
    rows_in: int
    rows_out: int
    dead_letter: int
    filtered: int
    duplicates_dropped: int
    near_duplicates_dropped: int
    reconciled: bool
    manifest_row_count: int


class RecordField(TypedDict):
    type: str  # string, int, float or bool
    kind: str | None  # categorical, numeric, text, id; None: the dataset step decides
    # inferred, overridden, declared (preprocess.schema), profile, record_id or label
    source: str


class RecordsSchema(TypedDict):
    """The records' schema.json: how preprocess validated the rows (`fields`, each with its
    `required` too) and what each record line holds (`record_fields`, label included), from
    which the dataset step defaults its features and kinds."""

    inferred: bool  # some field was inferred (preprocess.schema: infer)
    sample_rows: int | None  # the rows inferred from
    excluded: list[str]  # columns preprocess.exclude dropped
    label: dict[str, Any]  # {field, mapping}
    record_id: str | None
    fields: dict[str, dict[str, Any]]  # RecordField + required
    record_fields: dict[str, RecordField]


# --- dataset -> train, evaluate, record, serve.replay ----------------------------------------


class Dataset:
    """TFRecord shards per split, each split's schema and statistics, and the whole dataset's."""

    STATS = "stats.json"
    SCHEMA = "schema.json"
    TFRECORD_SUFFIX = ".tfrecord.gz"
    LABEL = "label"

    @staticmethod
    def stats(root: str) -> str:
        return fs.join(root, Dataset.STATS)

    @staticmethod
    def schema(root: str) -> str:
        return fs.join(root, Dataset.SCHEMA)

    @staticmethod
    def shards_glob(root: str, split: str) -> str:
        return fs.join(root, split, "*" + Dataset.TFRECORD_SUFFIX)


class SplitStats(TypedDict):
    examples: int
    label_counts: dict[str, int]
    positive_rate: float | None
    groups: int
    files: list[str]
    features: dict[str, dict[str, Any]]


class DatasetStats(TypedDict):
    group_key: str
    salt: str
    total_examples: int
    leaked_groups: int
    splits: dict[str, SplitStats]
    drift: NotRequired[dict[str, Any]]  # {baseline, warnings, ...} when compared with one


class DatasetSchema(TypedDict):
    features: dict[str, str]
    label: str
    compression: str
    # {feature: categorical|numeric|text|id} for every feature but the label
    # (components.common.features reads it)
    kinds: NotRequired[dict[str, str]]
    # {feature: inferred|overridden|declared|profile|record_id|label|config}: where its type
    # and kind came from
    sources: NotRequired[dict[str, str]]
    excluded: NotRequired[list[str]]  # the columns preprocess.exclude left out


# --- train -> evaluate, deploy, record --------------------------------------------------------


class TrainedModel:
    """The exported model folder. `dataset_stats.json` is the dataset's stats.json, kept with the
    model so every published version carries the statistics of the data it learned from."""

    SAVED_MODEL = "saved_model"
    HISTORY = "history.json"
    METRICS = "metrics.json"  # the best epoch's numbers
    TRAIN_CONFIG = "train_config.json"
    SIGNATURE = "signature.json"
    DATASET_STATS = "dataset_stats.json"


# --- evaluate -> deploy, record ---------------------------------------------------------------


class Blessing(TypedDict):
    """The `blessing` of the evaluate step's metrics JSON, beside the candidate's scalars at its
    top level, `slices` (rows per slice) and `calibration` (the reliability curve)."""

    blessed: bool
    reasons: list[str]
    champion_version: str | None
    candidate: dict[str, Any]


# --- deploy -----------------------------------------------------------------------------------


class DeployRecord(TypedDict):
    version: str
    uri: str
    role: str  # "champion" or "challenger"
    previous: str | None
    serving_uri: str
    manifest: str
    storage_uri: str
    traffic_percent: NotRequired[float]  # the share of traffic it serves: a challenger's canary


# --- readout -> promote -----------------------------------------------------------------------


class Readout:
    """The readout folder, published whole. `decision.json` is what promote applies."""

    DECISION = "decision.json"
    DASHBOARD = "dashboard.html"
    UNITS = "units.jsonl"
    LATENCY = "latency.jsonl"
    DEAD_LETTER = "dead_letter.jsonl"
    COUNTS = "counts.json"


PROMOTE, CONTINUE, ROLLBACK, NONE = "promote", "continue", "rollback", "none"
DECISIONS = (PROMOTE, ROLLBACK, CONTINUE, NONE)


# --- serve -> readout -------------------------------------------------------------------------


class ServingLogs:
    """Request and outcome logs under a log root, one folder per model and UTC date."""

    REQUESTS = "requests"
    OUTCOMES = "outcomes"
    # The status of a request line answered outside the A/B router (its arm is null): REJECTED
    # before routing (authentication, size limits, a body too slow, a bad body, no model) or
    # DIRECT (the model's status, a version's own endpoint). The readout counts them apart.
    REJECTED = "rejected"
    DIRECT = "direct"
    NOT_ROUTED = (REJECTED, DIRECT)

    @staticmethod
    def requests_glob(log_root: str, model_name: str) -> str:
        return f"{log_root.rstrip('/')}/{model_name}/{ServingLogs.REQUESTS}/*/*.jsonl"

    @staticmethod
    def outcomes_glob(log_root: str, model_name: str) -> str:
        return f"{log_root.rstrip('/')}/{model_name}/{ServingLogs.OUTCOMES}/*/*.jsonl"
