"""The preprocess config (field schema, declared or inferred, filter rules, label mapping) and
per-record validation."""

from __future__ import annotations

import math
import unicodedata
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from components.common.config import Strict

FieldType = Literal["string", "int", "float", "bool"]
# What a field is for a model (components.common.features): categorical, numeric, free text, or
# an id no model should take as input.
FieldKind = Literal["categorical", "numeric", "text", "id"]
INFER = "infer"


class FieldSpec(Strict):
    """One field of a declared schema."""

    # The column (CSV header, JSON key, Parquet column).
    name: str
    # The value's type; CSV text is converted to it (bool: true/false, 1/0, yes/no).
    type: FieldType = "string"
    # A row without a value (missing, or empty for a non-string) is a dead letter.
    required: bool = True
    # The only values accepted (after conversion to `type`).
    allowed: list[Any] | None = None
    # A string's least number of non-blank characters.
    min_length: int | None = None
    # A number's least value.
    min: float | None = None
    # A number's greatest value.
    max: float | None = None
    # Optional: what the field is for a model; without it the dataset step decides from the type
    # and the statistics (strings categorical unless long free text or nearly unique).
    kind: FieldKind | None = None


class FieldOverride(Strict):
    """With `schema: infer`, the settings of one column that replace what was inferred; the
    keys left out keep the inferred values."""

    # The column; an error when the data has no such column.
    name: str
    # Its type, instead of the inferred one (e.g. `string` for zip codes read as numbers).
    type: FieldType | None = None
    # Instead of the inferred required-ness (required when no sampled row misses it).
    required: bool | None = None
    # Instead of the inferred kind (categorical, numeric, text, id).
    kind: FieldKind | None = None
    # The only values accepted.
    allowed: list[Any] | None = None
    # A string's least number of non-blank characters.
    min_length: int | None = None
    # A number's least value.
    min: float | None = None
    # A number's greatest value.
    max: float | None = None


class FilterRule(Strict):
    """Drop a valid record whose `field` equals `equals`; counted under `name`."""

    # The rule's name: stats.json counts `filtered:<name>`.
    name: str
    # The field compared.
    field: str
    # The value that drops the record.
    equals: Any


class NearDedupe(Strict):
    """Drop records whose `field` is nearly the same text as an earlier record's: the Jaccard
    similarity of their character `shingle`-grams, estimated by MinHash, at least `threshold`.
    Candidates come from LSH banding (`bands` x `rows` hash values), so the job scales."""

    # The text field compared.
    field: str
    # The least estimated Jaccard similarity that counts as a near duplicate.
    threshold: float = Field(0.8, gt=0, le=1)
    # The length of the character shingles.
    shingle: int = Field(5, ge=1)
    # LSH bands (more: finds pairs of lower similarity, at more cost).
    bands: int = Field(16, ge=1)
    # MinHash values per band.
    rows: int = Field(4, ge=1)
    # The MinHash seed: the same seed drops the same rows every run.
    seed: int = 1


class ProfileFeature(Strict):
    """One aggregate over the records sharing a profile key, added to each of them as `name`:
    `count` of records, `mean` of a numeric field, `mean_length` of a text field, or `share`
    of records whose `field` equals `equals`."""

    # The new field's name.
    name: str
    # The aggregate: count of records, mean of a number, mean_length of a text, share equal.
    agg: Literal["count", "mean", "mean_length", "share"]
    # The field aggregated (all but `count` need one).
    field: str | None = None
    # For `share`: the value whose share of the records is computed.
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

    # The id field the records are grouped by (a user, an item, a movie).
    key: str
    # The aggregates added to each record of the group.
    features: list[ProfileFeature] = Field(min_length=1)


class LabelSpec(Strict):
    """The label: `field`, and `mapping` from its values to the integer label. Without a
    mapping the field's values must already be integers (0/1); the keys may be strings or
    integers (`{">50K": 1, "<=50K": 0}` or `{0: 0, 1: 1}`): a key matches the field's typed value
    or its text (the int 1 and the string "1" both match a key 1)."""

    # The field holding the label.
    field: str
    # Its values -> the integer label; keys strings or integers; none: the values are 0/1.
    mapping: dict[str | int | bool, int] | None = None

    @field_validator("mapping", mode="before")
    @classmethod
    def _plain_keys(cls, value: Any) -> Any:
        if isinstance(value, dict):
            bad = [k for k in value if not isinstance(k, str | int) or isinstance(k, float)]
            if bad:
                raise ValueError(f"mapping keys must be strings or integers, got {bad}")
        return value

    def label_of(self, value: Any) -> int | None:
        """The integer label of the field's typed `value`; None when it has none."""
        if self.mapping is None:
            if isinstance(value, bool):
                return int(value)
            if isinstance(value, int):
                return value
            if isinstance(value, str) and value.strip().lstrip("-").isdigit():
                return int(value)
            return None
        if value in self.mapping and not isinstance(value, bool):
            return self.mapping[value]
        for key, label in self.mapping.items():  # "1" matches 1, 1 matches "1", True "true"
            if str(key).lower() == str(value).lower():
                return label
        return None

    def described(self) -> str:
        if self.mapping is None:
            return "an integer (no mapping configured)"
        return f"one of the mapped values {sorted(map(str, self.mapping))}"


class PreprocessConfig(Strict):
    """The preprocess section. `schema` is a list of fields (declared) or `infer`: the columns,
    their types, required-ness and kinds come from the snapshot's header and its first
    `infer_rows` rows, with `overrides` replacing what was inferred for named columns and
    `exclude` (names or globs such as `r_*`) dropping columns."""

    # The fields (a list of FieldSpec), or `infer`: every column of the data, typed from a sample.
    schema_: list[FieldSpec] | Literal["infer"] = Field(alias="schema")
    # With `schema: infer`: the settings of named columns that replace the inferred ones.
    overrides: list[FieldOverride] = []
    # With `schema: infer`: columns left out, by name or glob (`r_*`); one matching none fails.
    exclude: list[str] = []
    # With `schema: infer`: how many rows (from the first file on) the types are inferred from.
    infer_rows: int = Field(5000, ge=1)
    # Valid records dropped by a declared rule, and counted.
    filters: list[FilterRule] = []
    # The label field and how its values map to the integer label.
    label: LabelSpec
    # Text fields Unicode-NFKC normalised (full- and half-width forms unified).
    normalize_nfkc: list[str] = []
    # Records equal in these fields count once (the earliest is kept).
    dedupe_on: list[str] = []
    # Drop records whose text is nearly that of an earlier one (MinHash LSH).
    near_dedupe: NearDedupe | None = None
    # The fields written to the records (profile features, record id and label are added);
    # default: every schema field but the label field.
    keep_fields: list[str] = []
    # Per-id aggregates joined onto every record with that id.
    profiles: list[Profile] = []
    # Add a field with this name holding a hash of the record's content: a group key for data
    # without ids (identical rows share it, so they land in the same split). With
    # `schema: infer` it defaults to `record_id`, the dataset's default group key.
    record_id: str | None = None

    @property
    def inferred(self) -> bool:
        return self.schema_ == INFER

    @property
    def fields(self) -> list[FieldSpec]:
        """The declared (or resolved) fields; empty before an inferred schema is resolved."""
        return [] if isinstance(self.schema_, str) else self.schema_

    @property
    def used_fields(self) -> list[str]:
        """Every field a setting names (label, filters, dedupe, profiles, keep_fields)."""
        return (
            [r.field for r in self.filters]
            + [self.label.field]
            + self.normalize_nfkc
            + self.dedupe_on
            + ([self.near_dedupe.field] if self.near_dedupe else [])
            + self.keep_fields
            + [p.key for p in self.profiles]
            + [f.field for p in self.profiles for f in p.features if f.field]
        )

    @model_validator(mode="after")
    def _fields_exist(self) -> PreprocessConfig:
        if isinstance(self.schema_, list) and not self.schema_:
            raise ValueError("schema: declare at least one field, or write `schema: infer`")
        if not self.inferred and (self.overrides or self.exclude):
            raise ValueError(
                "overrides and exclude apply to an inferred schema (`schema: infer`); with a "
                "declared schema, change or leave out the field in `schema` instead"
            )
        names = {f.name for f in self.fields}
        overridden = [o.name for o in self.overrides]
        if len(overridden) != len(set(overridden)):
            raise ValueError(f"overrides name a column more than once: {overridden}")
        used = self.used_fields
        # With `schema: infer` the columns are known once the snapshot is read: preprocess
        # checks the names then (components.preprocess.infer.resolve).
        unknown = sorted(set(used) - names) if not self.inferred else []
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
        return [f.name for f in self.fields if f.required]

    @property
    def kept_fields(self) -> list[str]:
        """The record fields written out (before profile features, record id and label):
        `keep_fields`, or every schema field but the label field."""
        if self.keep_fields:
            return list(self.keep_fields)
        return [f.name for f in self.fields if f.name != self.label.field]


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
    for spec in config.fields:
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
