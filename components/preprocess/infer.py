"""`preprocess.schema: infer`: each column's type, required-ness and kind from the snapshot's
header and its first rows, with the config's overrides and exclusions applied; and the resolved
schema the step writes beside stats.json, saying which fields were inferred and which declared."""

from __future__ import annotations

import fnmatch
import logging
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from components.common import records
from components.common.errors import InputDataError
from components.preprocess.schema import FieldOverride, FieldSpec, PreprocessConfig

log = logging.getLogger(__name__)

# A string column is `text` when most of its values are distinct and they are long (at least
# TEXT_WORDS words or TEXT_CHARS characters on average); `id` when nearly all are distinct
# (ID_SHARE) and they are short; otherwise `categorical`. Below MIN_ROWS present values a
# column is too small to call unique: it stays categorical (or text).
TEXT_WORDS = 3.0
TEXT_CHARS = 40.0
TEXT_SHARE = 0.5
ID_SHARE = 0.9
MIN_ROWS = 20
DEFAULT_RECORD_ID = "record_id"
_INT = re.compile(r"[+-]?\d+")
_ID_NAME = re.compile(r"(^|_)id$", re.IGNORECASE)
# Profile aggregates: their type in the records.
PROFILE_TYPES = {"count": "int", "mean": "float", "mean_length": "float", "share": "float"}


def sample(
    files: Sequence[tuple[str, str]], csv_options: records.CsvOptions, rows: int
) -> tuple[list[str], list[dict[str, Any]]]:
    """The column names (the first file's header, or for JSONL the keys in the order first
    seen) and the fields of the first `rows` readable rows, over the files in order."""
    columns: list[str] | None = None
    seen: dict[str, None] = {}
    out: list[dict[str, Any]] = []
    for uri, fmt in files:
        if columns is None:
            columns = records.header_columns(uri, fmt, csv_options)
        for record in records.read_records(uri, fmt, csv_options):
            if len(out) >= rows:
                break
            if record.fields is None:
                continue
            out.append(record.fields)
            seen.update(dict.fromkeys(record.fields))
        if len(out) >= rows:
            break
    return (columns if columns is not None else list(seen)), out


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    if isinstance(value, float):
        return False
    text = str(value).strip()
    digits = text.lstrip("+-")
    # A leading zero ("02139", "007") is a code, not a number: keep it a string.
    if not _INT.fullmatch(text) or (len(digits) > 1 and digits.startswith("0")):
        return False
    return -(2**63) <= int(text) < 2**63


def _is_float(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return math.isfinite(value)
    try:
        return math.isfinite(float(str(value).strip()))
    except ValueError:
        return False


def infer_type(values: Sequence[Any]) -> str:
    """int, float, bool or string: the narrowest type every present value reads as."""
    if not values:
        return "string"
    if all(isinstance(v, bool) or str(v).strip().lower() in ("true", "false") for v in values):
        return "bool"
    if all(_is_int(v) for v in values):
        return "int"
    if any(_INT.fullmatch(str(v).strip()) and not _is_int(v) for v in values):
        return "string"  # digits with a leading zero or beyond 64 bits: a code, not a number
    if all(_is_float(v) for v in values):
        return "float"
    return "string"


def infer_kind(name: str, type_: str, values: Sequence[Any]) -> str:
    """categorical, numeric, text or id, from the type and the sample's values (see the
    thresholds above)."""
    distinct = len({str(v) for v in values})
    share = distinct / len(values) if values else 0.0
    if type_ in ("int", "float", "bool"):
        if type_ == "int" and _ID_NAME.search(name) and len(values) >= MIN_ROWS and share == 1:
            return "id"
        return "numeric"
    texts = [str(v) for v in values]
    words = sum(len(t.split()) for t in texts) / len(texts) if texts else 0.0
    chars = sum(len(t) for t in texts) / len(texts) if texts else 0.0
    if share >= TEXT_SHARE and (words >= TEXT_WORDS or chars >= TEXT_CHARS):
        return "text"
    if len(values) >= MIN_ROWS and share >= ID_SHARE:
        return "id"
    return "categorical"


def infer_field(name: str, column: Sequence[Any]) -> FieldSpec:
    """One column's FieldSpec from its sampled values (None for a row without the column)."""
    present = [v for v in column if not _missing(v)]
    type_ = infer_type(present)
    return FieldSpec.model_validate(
        {
            "name": name,
            "type": type_,
            "required": bool(column) and len(present) == len(column),
            "kind": infer_kind(name, type_, present),
        }
    )


def _override(spec: FieldSpec, override: FieldOverride, column: Sequence[Any]) -> FieldSpec:
    changes = override.model_dump(exclude_none=True, exclude={"name"})
    merged = {**spec.model_dump(), **changes}
    if "type" in changes and "kind" not in changes:  # a new type: its kind anew
        present = [v for v in column if not _missing(v)]
        merged["kind"] = infer_kind(spec.name, merged["type"], present)
    return FieldSpec.model_validate(merged)


def _excluded(columns: Sequence[str], patterns: Iterable[str]) -> tuple[list[str], list[str]]:
    """(excluded columns, patterns that match no column)."""
    out: list[str] = []
    unmatched: list[str] = []
    for pattern in patterns:
        hits = [c for c in columns if fnmatch.fnmatchcase(c, pattern)]
        if not hits:
            unmatched.append(pattern)
        out += [c for c in hits if c not in out]
    return out, unmatched


def resolve(
    config: PreprocessConfig,
    columns: Sequence[str],
    rows: Sequence[Mapping[str, Any]],
    where: str,
) -> tuple[PreprocessConfig, dict[str, Any]]:
    """The config with its inferred schema filled in, and the schema document (schema_doc).
    `where` names the data in errors. A declared schema comes back as it is."""
    if not config.inferred:
        return config, schema_doc(config, {f.name: "declared" for f in config.fields}, [])
    excluded, unmatched = _excluded(columns, config.exclude)
    problems = []
    if unmatched:
        problems.append(f"preprocess.exclude {unmatched} match(es) no column")
    unknown = [o.name for o in config.overrides if o.name not in columns]
    if unknown:
        problems.append(f"preprocess.overrides name column(s) {unknown} that do not exist")
    used = sorted(set(config.used_fields) - set(columns) - set(config.profile_fields))
    if used:
        problems.append(f"the config uses column(s) {used} that do not exist")
    dropped = sorted((set(config.used_fields) | {o.name for o in config.overrides}) & set(excluded))
    if dropped:
        problems.append(f"column(s) {dropped} are excluded but used by the config")
    if problems:
        raise InputDataError(
            f"{where}: {'; '.join(problems)}; the columns are {list(columns)} "
            "(fix the names in the config, or the data)"
        )
    overrides = {o.name: o for o in config.overrides}
    fields: list[FieldSpec] = []
    sources: dict[str, str] = {}
    for name in columns:
        if name in excluded:
            continue
        column = [row.get(name) for row in rows]
        spec = infer_field(name, column)
        sources[name] = "inferred"
        if name in overrides:
            spec = _override(spec, overrides[name], column)
            sources[name] = "overridden"
        fields.append(spec)
    record_id = config.record_id
    if record_id is None and DEFAULT_RECORD_ID not in columns:
        record_id = DEFAULT_RECORD_ID  # a content hash: the dataset's default group key
    data = config.model_dump(by_alias=True, exclude={"overrides", "exclude", "schema_"})
    data |= {"schema": [f.model_dump() for f in fields], "record_id": record_id}
    resolved = PreprocessConfig.model_validate(data)
    for spec in fields:
        log.info(
            "schema: %s %s%s %s (%s)",
            spec.name,
            spec.type,
            "" if spec.required else "?",
            spec.kind,
            sources[spec.name],
        )
    return resolved, schema_doc(resolved, sources, excluded, sample_rows=len(rows))


def schema_doc(
    config: PreprocessConfig,
    sources: Mapping[str, str],
    excluded: Sequence[str],
    sample_rows: int | None = None,
) -> dict[str, Any]:
    """What the records artifact's schema file holds (components.common.artifacts.Records):
    every validated field with its type, required-ness, kind and source (inferred, overridden,
    declared), and `record_fields`, the fields each record line has (label included)."""
    fields = {
        f.name: {
            "type": f.type,
            "required": f.required,
            "kind": f.kind,
            "source": sources.get(f.name, "declared"),
        }
        for f in config.fields
    }
    out: dict[str, dict[str, Any]] = {
        name: {k: fields[name][k] for k in ("type", "kind", "source")}
        for name in config.kept_fields
    }
    for profile in config.profiles:
        for feature in profile.features:
            out[feature.name] = {
                "type": PROFILE_TYPES[feature.agg],
                "kind": "numeric",
                "source": "profile",
            }
    if config.record_id:
        out[config.record_id] = {"type": "string", "kind": "id", "source": "record_id"}
    out["label"] = {"type": "int", "kind": None, "source": "label"}
    return {
        "inferred": config.inferred or any(s != "declared" for s in sources.values()),
        "sample_rows": sample_rows,
        "excluded": list(excluded),
        "label": {"field": config.label.field, "mapping": _mapping(config)},
        "record_id": config.record_id,
        "fields": fields,
        "record_fields": out,
    }


def _mapping(config: PreprocessConfig) -> dict[str, int] | None:
    mapping = config.label.mapping
    return None if mapping is None else {str(k): v for k, v in mapping.items()}
