"""The preprocess config (field schema, filter rules, label mapping) and per-record validation."""

from __future__ import annotations

import math
import unicodedata
from typing import Any, Literal

from pydantic import Field, model_validator

from components.common.config import Strict

FieldType = Literal["string", "int", "float", "bool"]


class FieldSpec(Strict):
    name: str
    type: FieldType = "string"
    required: bool = True
    allowed: list[Any] | None = None
    min_length: int | None = None
    min: float | None = None
    max: float | None = None


class FilterRule(Strict):
    """Drop a valid record whose `field` equals `equals`; counted under `name`."""

    name: str
    field: str
    equals: Any


class NearDedupe(Strict):
    """Drop records whose `field` is nearly the same text as an earlier record's: the Jaccard
    similarity of their character `shingle`-grams, estimated by MinHash, at least `threshold`.
    Candidates come from LSH banding (`bands` x `rows` hash values), so the job scales."""

    field: str
    threshold: float = Field(0.8, gt=0, le=1)
    shingle: int = Field(5, ge=1)
    bands: int = Field(16, ge=1)
    rows: int = Field(4, ge=1)
    seed: int = 1


class ProfileFeature(Strict):
    """One aggregate over the records sharing a profile key, added to each of them as `name`:
    `count` of records, `mean` of a numeric field, `mean_length` of a text field, or `share`
    of records whose `field` equals `equals`."""

    name: str
    agg: Literal["count", "mean", "mean_length", "share"]
    field: str | None = None
    equals: Any = None

    @model_validator(mode="after")
    def _needs(self) -> ProfileFeature:
        if self.agg != "count" and self.field is None:
            raise ValueError(f"profile feature '{self.name}': agg '{self.agg}' needs a field")
        if self.agg == "share" and self.equals is None:
            raise ValueError(f"profile feature '{self.name}': agg 'share' needs `equals`")
        return self


class Profile(Strict):
    """Per-id aggregates over the run's records (for example per user, item or movie), computed
    in Beam and joined back onto every record with that id by CoGroupByKey."""

    key: str
    features: list[ProfileFeature] = Field(min_length=1)


class LabelSpec(Strict):
    field: str
    mapping: dict[str, int]


class PreprocessConfig(Strict):
    schema_: list[FieldSpec] = Field(alias="schema", min_length=1)
    filters: list[FilterRule] = []
    label: LabelSpec
    normalize_nfkc: list[str] = []
    dedupe_on: list[str] = []
    near_dedupe: NearDedupe | None = None
    keep_fields: list[str] = []
    profiles: list[Profile] = []
    # Add a field with this name holding a hash of the record's content: a group key for data
    # without ids (identical rows share it, so they land in the same split).
    record_id: str | None = None

    @model_validator(mode="after")
    def _fields_exist(self) -> PreprocessConfig:
        names = {f.name for f in self.schema_}
        used = (
            [r.field for r in self.filters]
            + [self.label.field]
            + self.normalize_nfkc
            + self.dedupe_on
            + ([self.near_dedupe.field] if self.near_dedupe else [])
            + self.keep_fields
            + [p.key for p in self.profiles]
            + [f.field for p in self.profiles for f in p.features if f.field]
        )
        unknown = sorted(set(used) - names)
        if unknown:
            raise ValueError(
                f"fields {unknown} are used but not declared in schema {sorted(names)}"
            )
        for feature in (f for p in self.profiles for f in p.features):
            if feature.field == self.label.field:
                raise ValueError(
                    f"profile feature '{feature.name}' aggregates the label field "
                    f"'{self.label.field}': that leaks the label into the features; "
                    "aggregate another field"
                )
            if feature.name in names or feature.name in {"label", self.record_id}:
                raise ValueError(
                    f"profile feature '{feature.name}' would overwrite a field of the record; "
                    "give it another name"
                )
        produced = self.profile_fields
        if len(produced) != len(set(produced)):
            raise ValueError(f"profile feature names must be unique, got {produced}")
        return self

    @property
    def profile_fields(self) -> list[str]:
        return [f.name for p in self.profiles for f in p.features]

    @property
    def required_columns(self) -> list[str]:
        return [f.name for f in self.schema_ if f.required]


_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def _coerce(spec: FieldSpec, value: Any) -> Any:
    """Convert one raw value to the declared type or raise ValueError saying what was expected."""
    if spec.type == "string":
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {type(value).__name__} {value!r}")
        return value
    if spec.type == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise ValueError(f"expected a boolean (true/false), got {value!r}")
    if isinstance(value, bool):
        raise ValueError(f"expected {spec.type}, got a boolean")
    try:
        number = int(value) if spec.type == "int" else float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected {spec.type}, got {value!r}") from None
    if spec.type == "int" and isinstance(value, float) and value != int(value):
        raise ValueError(f"expected int, got {value!r}")
    if spec.type == "int" and not -(2**63) <= number < 2**63:
        raise ValueError(f"expected a 64-bit int, got {value!r}, which is out of range")
    if spec.type == "float" and not math.isfinite(number):
        raise ValueError(f"expected a finite float, got {value!r}")
    return number


def validate(fields: dict[str, Any], config: PreprocessConfig) -> dict[str, Any]:
    """Typed, checked copy of `fields`; ValueError names the field and what was expected."""
    out: dict[str, Any] = {}
    for spec in config.schema_:
        value = fields.get(spec.name)
        if value is None or (isinstance(value, str) and value == "" and spec.type != "string"):
            if spec.required:
                raise ValueError(f"field '{spec.name}': required but missing")
            out[spec.name] = None
            continue
        try:
            typed = _coerce(spec, value)
        except ValueError as err:
            raise ValueError(f"field '{spec.name}': {err}") from None
        if spec.allowed is not None and typed not in spec.allowed:
            raise ValueError(f"field '{spec.name}': {typed!r} is not one of {spec.allowed}")
        if spec.min_length is not None and len(typed.strip()) < spec.min_length:
            raise ValueError(
                f"field '{spec.name}': shorter than {spec.min_length} non-blank characters"
            )
        if spec.min is not None and typed < spec.min:
            raise ValueError(f"field '{spec.name}': {typed} is below the minimum {spec.min}")
        if spec.max is not None and typed > spec.max:
            raise ValueError(f"field '{spec.name}': {typed} is above the maximum {spec.max}")
        out[spec.name] = typed
    return out


def matching_filter(record: dict[str, Any], config: PreprocessConfig) -> str | None:
    for rule in config.filters:
        if record.get(rule.field) == rule.equals:
            return rule.name
    return None


def normalize(record: dict[str, Any], fields: list[str]) -> dict[str, Any]:
    """Unicode NFKC on the named text fields (full-width and half-width forms unified)."""
    out = dict(record)
    for name in fields:
        if isinstance(out.get(name), str):
            out[name] = unicodedata.normalize("NFKC", out[name])
    return out
