"""Per-split feature statistics (Beam), the schema they imply, and drift against a baseline.

For every split and feature: count, missing, distinct values, the most frequent values, numeric
range, mean and standard deviation, and quantiles (of the value for numbers, of the length for
strings). TFDV computes the same kind of statistics; these are plain JSON a person can read.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import apache_beam as beam

from components.common.artifacts import Dataset
from components.common.features import words as split_words

TOP_K = 10
# A string/int feature with at most this many distinct values (and strings of at most
# VALUE_CHARS characters) gets its whole value list with counts: the vocabulary a model embeds.
VOCAB_MAX = 1000
VALUE_CHARS = 80
# A text feature's most frequent words (components.common.features.words) and their total: the
# vocabulary the serving monitor measures out-of-vocabulary words against. The executor keeps
# them for the features whose kind is text.
WORDS_MAX = 5000
QUANTILES = 11  # min, deciles, max
DOMAIN_MAX = 20  # a string/int feature with at most this many values gets a domain in the schema
LABEL_BALANCE = "(label balance)"  # the drift entry of the label distribution
# A feature whose values are mostly unique (free text, ids) has no meaningful "most frequent"
# values: the report does not list them and drift does not compare them.
UNIQUE_SHARE = 0.5
MISSING_RATE_TOLERANCE = 0.01  # a missing-rate change above this is a schema anomaly
# A number is out of the baseline's range only past this share of the range's width beyond
# either end: a new sample's extremes move a little without anything being wrong.
RANGE_MARGIN = 0.1
# Each drift measure: its name in the report and what it measures.
MEASURES = {
    "label_linf": (
        "L-infinity distance, labels",
        "the largest change of any label's share of the split (TFDV's drift measure for "
        "categorical features): 0 the same balance, 1 disjoint",
    ),
    "top_values_linf": (
        "L-infinity distance, top values",
        f"the largest change of the share of any of the {TOP_K} most frequent values, shares "
        "taken among those values (TFDV's categorical measure)",
    ),
    "quantile_shift": (
        "quantile shift",
        f"the mean move of the {QUANTILES} quantiles (min, deciles, max) of the value, or of "
        "the length for strings, in units of the baseline's range: 0.1 moves the median by "
        "about a tenth of the range",
    ),
    "missing_rate_change": (
        "missing-rate change",
        "the absolute change of the share of examples without a value",
    ),
}


def _add_exact(partials: list[float], x: float) -> None:
    """Add `x` to `partials`, non-overlapping floats whose exact sum is the running total
    (Shewchuk's algorithm, as math.fsum keeps them)."""
    i = 0
    for y in partials:
        if abs(x) < abs(y):
            x, y = y, x
        hi = x + y
        lo = y - (hi - x)
        if lo:
            partials[i] = lo
            i += 1
        x = hi
    partials[i:] = [x]


class _Basic(beam.CombineFn):
    """count, missing, min, max, and the exact sum and sum of squares of the measure (value or
    string length): whole numbers as ints, the others as fsum partials. Exact sums do not depend
    on the order the runner adds and merges them in, so every runner writes the same mean and
    std (a float sum's last bits would differ between runners)."""

    def create_accumulator(self) -> list[Any]:
        return [0, 0, math.inf, -math.inf, 0, 0, [], []]

    def add_input(self, acc: list[Any], value: Any) -> list[Any]:
        acc[0] += 1
        if value is None:
            acc[1] += 1
            return acc
        x = float(len(value)) if isinstance(value, str) else float(value)
        acc[2], acc[3] = min(acc[2], x), max(acc[3], x)
        if x.is_integer():
            whole = int(x)
            acc[4] += whole
            acc[5] += whole * whole
        else:
            _add_exact(acc[6], x)
            _add_exact(acc[7], x * x)
        return acc

    def merge_accumulators(self, accs: Iterable[list[Any]]) -> list[Any]:
        out = self.create_accumulator()
        for a in accs:
            out[0] += a[0]
            out[1] += a[1]
            out[2], out[3] = min(out[2], a[2]), max(out[3], a[3])
            out[4] += a[4]
            out[5] += a[5]
            for mine, theirs in ((out[6], a[6]), (out[7], a[7])):
                for partial in theirs:
                    _add_exact(mine, partial)
        return out

    def extract_output(self, acc: list[Any]) -> dict[str, Any]:
        count, missing, lo, hi, whole, whole_squares, partials, square_partials = acc
        present = count - missing
        total = math.fsum([float(whole), *partials])
        squares = math.fsum([float(whole_squares), *square_partials])
        mean = total / present if present else None
        var = max(squares / present - mean * mean, 0.0) if present and mean is not None else None
        return {
            "count": int(count),
            "missing": int(missing),
            "min": lo if present else None,
            "max": hi if present else None,
            "mean": mean,
            "std": math.sqrt(var) if var is not None else None,
        }


def _measure(value: Any) -> float | None:
    if value is None:
        return None
    return float(len(value)) if isinstance(value, str) else float(value)


class _BasicAndQuantiles(beam.CombineFn):
    """_Basic over every cell, and the quantiles of the measures of the present ones as Beam's
    ApproximateQuantiles.PerKey(QUANTILES) computes them, in one combine (one shuffle less
    than two): (basic statistics, quantiles)."""

    def __init__(self) -> None:
        from apache_beam.transforms.stats import ApproximateQuantilesCombineFn

        self._basic = _Basic()
        self._quantiles = ApproximateQuantilesCombineFn.create(num_quantiles=QUANTILES)

    def create_accumulator(self) -> tuple[Any, Any]:
        return self._basic.create_accumulator(), self._quantiles.create_accumulator()

    def add_input(self, acc: tuple[Any, Any], value: Any) -> tuple[Any, Any]:
        basic, quantiles = acc
        basic = self._basic.add_input(basic, value)
        if value is not None:
            quantiles = self._quantiles.add_input(quantiles, _measure(value))
        return basic, quantiles

    def merge_accumulators(self, accs: Iterable[tuple[Any, Any]]) -> tuple[Any, Any]:
        accs = list(accs)
        return (
            self._basic.merge_accumulators([a[0] for a in accs]),
            self._quantiles.merge_accumulators([a[1] for a in accs]),
        )

    def compact(self, acc: tuple[Any, Any]) -> tuple[Any, Any]:
        return self._basic.compact(acc[0]), self._quantiles.compact(acc[1])

    def extract_output(self, acc: tuple[Any, Any]) -> tuple[dict[str, Any], list[Any]]:
        return self._basic.extract_output(acc[0]), list(self._quantiles.extract_output(acc[1]))


class FeatureStatistics(beam.PTransform):
    """(split, record) pairs -> (split, {feature: statistics}), one element per split."""

    def __init__(self, features: Mapping[str, str]) -> None:
        super().__init__()
        self._features = dict(features)

    def expand(self, pairs: beam.PCollection) -> beam.PCollection:
        features = self._features
        cells = pairs | "Cells" >> beam.FlatMapTuple(
            lambda split, r: [((split, name), r.get(name)) for name in sorted(features)]
        )
        present = cells | "Present" >> beam.Filter(lambda kv: kv[1] is not None)
        basic = cells | "BasicAndQuantiles" >> beam.CombinePerKey(_BasicAndQuantiles())
        categorical = present | "Categorical" >> beam.Filter(
            lambda kv: features[kv[0][1]] in ("string", "int")
        )
        values = categorical | "Value" >> beam.MapTuple(lambda key, v: (key, str(v)[:VALUE_CHARS]))
        # One count per distinct value gives both the ranking and the number of distinct
        # values (a separate Distinct would be one more shuffle for the same number).
        counted = values | "CountValues" >> beam.combiners.Count.PerElement()
        top = (
            counted
            | "ByFeature" >> beam.MapTuple(lambda kv, n: (kv[0], (n, kv[1])))
            | "Top" >> beam.combiners.Top.PerKey(VOCAB_MAX)
        )
        distinct = (
            counted
            | "DistinctValues" >> beam.MapTuple(lambda kv, n: (kv[0], None))
            | "CountDistinct" >> beam.combiners.Count.PerKey()
        )
        word_cells = (
            present
            | "Strings" >> beam.Filter(lambda kv: features[kv[0][1]] == "string")
            | "SplitWords" >> beam.FlatMapTuple(lambda key, v: [(key, w) for w in split_words(v)])
        )
        word_total = word_cells | "CountWordsTotal" >> beam.combiners.Count.PerKey()
        top_words = (
            word_cells
            | "CountWords" >> beam.combiners.Count.PerElement()
            | "WordsByFeature" >> beam.MapTuple(lambda kw, n: (kw[0], (n, kw[1])))
            | "TopWords" >> beam.combiners.Top.PerKey(WORDS_MAX)
        )
        return (
            {
                "basic": basic,
                "top": top,
                "distinct": distinct,
                "words": top_words,
                "word_total": word_total,
            }
            | "Join" >> beam.CoGroupByKey()
            | "Assemble" >> beam.MapTuple(lambda key, parts: _assemble(key, parts, features))
            | "BySplit" >> beam.GroupByKey()
            | "ToDict" >> beam.MapTuple(lambda split, items: (split, dict(sorted(items))))
        )


def _assemble(
    key: tuple[str, str], parts: dict[str, list[Any]], kinds: Mapping[str, str]
) -> tuple[str, Any]:
    split, feature = key
    basic, quantiles = parts["basic"][0] if parts["basic"] else ({"count": 0, "missing": 0}, [])
    stats = dict(basic)
    stats["missing_rate"] = round(stats["missing"] / stats["count"], 6) if stats["count"] else None
    stats["quantiles"] = list(quantiles)
    if parts["distinct"]:
        stats["distinct"] = parts["distinct"][0]
    if parts["top"]:
        ranked = [[value, count] for count, value in parts["top"][0]]
        stats["top"] = ranked[:TOP_K]
        short = kinds[feature] != "string" or (stats.get("max") or 0) <= VALUE_CHARS
        if stats.get("distinct", 0) <= VOCAB_MAX and short:
            stats["vocabulary"] = ranked
    if parts.get("words"):
        total = parts["word_total"][0] if parts.get("word_total") else 0
        stats["words"] = {"total": total, "top": [[w, n] for n, w in parts["words"][0]]}
    return split, (feature, stats)


def infer_schema(kinds: Mapping[str, str], features: Mapping[str, dict[str, Any]]) -> dict:
    """What one split's data looks like, as a schema a later dataset can be checked against."""
    out: dict[str, Any] = {}
    for name, kind in sorted(kinds.items()):
        stats = features.get(name, {})
        entry: dict[str, Any] = {"type": kind, "required": stats.get("missing", 0) == 0}
        if kind in ("int", "float") and stats.get("min") is not None:
            entry["range"] = [stats["min"], stats["max"]]
        if kind == "string" and stats.get("min") is not None:
            entry["length_range"] = [int(stats["min"]), int(stats["max"])]
        top = stats.get("top", [])
        distinct = stats.get("distinct", 0)
        if kind in ("string", "int") and 0 < distinct <= min(DOMAIN_MAX, len(top)):
            entry["domain"] = sorted(v for v, _ in top)
        out[name] = entry
    return {"features": out}


def mostly_unique(stats: Mapping[str, Any]) -> bool:
    """Whether most present values are distinct (free text, ids): top values mean nothing."""
    present = stats.get("count", 0) - stats.get("missing", 0)
    distinct = stats.get("distinct", 0)
    return present > 0 and distinct > DOMAIN_MAX and distinct >= UNIQUE_SHARE * present


def status(value: float, threshold: float) -> str:
    """'drift' above the threshold, 'warn' above half of it (a trend to watch), else 'ok'."""
    return "drift" if value > threshold else "warn" if value > threshold / 2 else "ok"


def drift_rows(result: Mapping[str, Any]) -> list[dict[str, Any]]:
    """drift()'s scores as table rows (split, feature, measure, value, status), the worst
    first (drift, warn, ok; then by value)."""
    threshold = result["threshold"]
    rows = [
        {
            "split": split,
            "feature": name,
            "measure": measure,
            "value": value,
            "status": status(value, threshold),
        }
        for split, features in result.get("splits", {}).items()
        for name, scores in features.items()
        for measure, value in scores.items()
    ]
    rank = {"drift": 0, "warn": 1, "ok": 2}
    return sorted(rows, key=lambda r: (rank[r["status"]], -r["value"], r["split"], r["feature"]))


def schema_anomalies(
    current: Mapping[str, Any], baseline: Mapping[str, Any], kinds: Mapping[str, str]
) -> list[dict[str, Any]]:
    """TFDV-style anomalies of `current` against the schema inferred from the baseline's train
    split (infer_schema): values outside a declared domain, numbers outside the declared range
    (by more than RANGE_MARGIN of its width),
    missing values in a feature the baseline always had, missing-rate changes above
    MISSING_RATE_TOLERANCE (against the same split of the baseline), and features absent on
    one side. Each: split, feature, kind, severity (error or warn), detail."""
    splits = baseline.get("splits", {})
    reference = splits.get("train") or next(iter(splits.values()), None)
    if reference is None:
        return []
    schema = infer_schema(kinds, reference.get("features", {}))["features"]
    out: list[dict[str, Any]] = []

    def add(split: str, feature: str, kind: str, severity: str, detail: str) -> None:
        out.append(
            {
                "split": split,
                "feature": feature,
                "kind": kind,
                "severity": severity,
                "detail": detail,
            }
        )

    for split, now in current.get("splits", {}).items():
        before = splits.get(split, {}).get("features", {})
        for name in sorted(kinds):
            stats = now.get("features", {}).get(name)
            declared = schema.get(name, {})
            if not stats or not stats.get("count"):
                continue  # data_anomalies reports it, with or without a baseline
            if name not in reference.get("features", {}):
                add(split, name, "new feature", "warn", "not in the baseline's data")
                continue
            present = max(stats["count"] - stats.get("missing", 0), 1)
            if declared.get("required") and stats.get("missing", 0):
                add(
                    split,
                    name,
                    "missing values",
                    "error",
                    f"{stats['missing']} examples without a value; the baseline had none",
                )
            if "domain" in declared:
                values = stats.get("vocabulary") or stats.get("top") or []
                unknown = [(v, c) for v, c in values if v not in set(declared["domain"])]
                if unknown:
                    count = sum(c for _, c in unknown)
                    shown = ", ".join(f"{v!r} ({c})" for v, c in unknown[:5])
                    add(
                        split,
                        name,
                        "values outside the domain",
                        "error",
                        f"{count} examples ({count / present:.1%}) with values not in the "
                        f"baseline's {len(declared['domain'])}: {shown}"
                        + (" …" if len(unknown) > 5 else ""),
                    )
            if "range" in declared and stats.get("min") is not None:
                lo, hi = declared["range"]
                margin = (hi - lo) * RANGE_MARGIN
                if stats["min"] < lo - margin or stats["max"] > hi + margin:
                    add(
                        split,
                        name,
                        "values outside the range",
                        "warn",
                        f"min {stats['min']:g}, max {stats['max']:g}; the baseline's range is "
                        f"[{lo:g}, {hi:g}] (tolerance {RANGE_MARGIN:.0%} of its width)",
                    )
            old = before.get(name, {}).get("missing_rate")
            new = stats.get("missing_rate")
            if old is not None and new is not None and abs(new - old) > MISSING_RATE_TOLERANCE:
                add(
                    split,
                    name,
                    "missing rate changed",
                    "warn",
                    f"{old:.1%} in the baseline, {new:.1%} now "
                    f"(tolerance {MISSING_RATE_TOLERANCE:.0%})",
                )
        for name in sorted(set(reference.get("features", {})) - set(kinds)):
            add(split, name, "feature dropped", "warn", "in the baseline's data, not in this one")
    return out


def data_anomalies(
    current: Mapping[str, Any], kinds: Mapping[str, str], label_values: Iterable[str] | None
) -> list[dict[str, Any]]:
    """What is wrong without a baseline: a declared feature with no values in a split, and
    label values outside the config's label mapping (`label_values`, None: not checked)."""
    known = None if label_values is None else set(label_values)
    out = []
    for split, now in current.get("splits", {}).items():
        for name in sorted(kinds):
            if not now.get("features", {}).get(name, {}).get("count"):
                out.append(
                    {
                        "split": split,
                        "feature": name,
                        "kind": "feature absent",
                        "severity": "error",
                        "detail": "no values in this split",
                    }
                )
        odd = sorted(set(now.get("label_counts", {})) - known) if known is not None else []
        if odd:
            out.append(
                {
                    "split": split,
                    "feature": "label",
                    "kind": "label outside the mapping",
                    "severity": "error",
                    "detail": f"values {odd}; the config maps to {sorted(known or [])}",
                }
            )
    return out


def _distribution(pairs: Iterable[list[Any]]) -> dict[str, float]:
    items = list(pairs)
    total = sum(c for _, c in items)
    return {str(v): c / total for v, c in items} if total else {}


def _linf(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    return max((abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in set(a) | set(b)), default=0.0)


def _quantile_shift(current: list[float], baseline: list[float]) -> float | None:
    """Mean absolute shift of matching quantiles, in units of the baseline's range."""
    if len(current) != len(baseline) or len(baseline) < 2:
        return None
    span = (baseline[-1] - baseline[0]) or 1.0
    return sum(abs(c - b) for c, b in zip(current, baseline, strict=True)) / len(baseline) / span


def drift(
    current: dict[str, Any],
    baseline: dict[str, Any],
    threshold: float,
    kinds: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Compare two datasets' stats.json, split by split; a score above `threshold` warns.

    Scores (MEASURES): L-infinity distance between label distributions and between top-value
    frequencies (as TFDV does for categorical features; not for mostly unique values), the
    mean quantile shift for numbers and string lengths (in units of the baseline's range), and
    the change of the missing rate. With the features' `kinds`, also the schema anomalies.
    """
    out: dict[str, Any] = {"threshold": threshold, "splits": {}, "warnings": []}
    if kinds is not None:
        out["anomalies"] = schema_anomalies(current, baseline, kinds)
    for split, now in current["splits"].items():
        before = baseline.get("splits", {}).get(split)
        if before is None:
            continue
        scores: dict[str, dict[str, float]] = {
            LABEL_BALANCE: {
                "label_linf": round(
                    _linf(
                        _distribution(now.get("label_counts", {}).items()),
                        _distribution(before.get("label_counts", {}).items()),
                    ),
                    6,
                )
            }
        }
        for name, stats in now.get("features", {}).items():
            old = before.get("features", {}).get(name)
            if old is None or name == Dataset.LABEL:  # the label: its balance, above
                continue
            feature: dict[str, float] = {}
            unique = mostly_unique(stats) or mostly_unique(old)
            if "top" in stats and "top" in old and not unique:
                top_now, top_old = _distribution(stats["top"]), _distribution(old["top"])
                feature["top_values_linf"] = round(_linf(top_now, top_old), 6)
            shift = _quantile_shift(stats.get("quantiles", []), old.get("quantiles", []))
            if shift is not None:
                feature["quantile_shift"] = round(shift, 6)
            if stats.get("missing_rate") is not None and old.get("missing_rate") is not None:
                feature["missing_rate_change"] = round(
                    abs(stats["missing_rate"] - old["missing_rate"]), 6
                )
            scores[name] = feature
        out["splits"][split] = scores
        for name, feature in scores.items():
            for measure, value in feature.items():
                if value > threshold:
                    out["warnings"].append(
                        f"{split}/{name}: {measure} {value:.3f} > threshold {threshold}"
                    )
    return out
