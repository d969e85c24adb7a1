"""Classification metrics and the blessing rule, as plain functions over labels and scores."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, model_validator

from components.common.config import Strict
from components.common.errors import ConfigError
from components.evaluate.baseline import BaselineConfig, Fitted, check_names

SLICE_METRICS = ("examples", "positive_rate", "roc_auc", "accuracy", "log_loss")
SLICE_CI_METRICS = ("roc_auc", "accuracy", "log_loss")
# Bootstrap confidence intervals: resample the test examples with replacement (seeded, so a
# rerun gives the same bounds) and take the 2.5th and 97.5th percentiles of the metric.
BOOTSTRAP_RESAMPLES = 500
BOOTSTRAP_SEED = 0
CI_LEVEL = 0.95
# The metrics with a bootstrap interval, computed for all resamples at once.
CI_METRICS = ("roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1", "log_loss")
LOWER_IS_BETTER = frozenset({"log_loss", "brier", "ece"})


class SliceConfig(Strict):
    """Test examples grouped by a feature: by its `value` (a categorical column), by its
    `length` in characters (text) or by its numeric value, cut at `boundaries`."""

    feature: str = Field(description="the dataset feature to slice the test split by")
    by: Literal["value", "length", "bucket"] = Field(
        default="value",
        description="value: one slice per value; length: a text's length in characters, cut at "
        "`boundaries`; bucket: a number, cut at `boundaries`",
    )
    boundaries: list[float] | None = Field(
        default=None, description="the cut points of `length` and `bucket` (required for them)"
    )
    max_values: int = Field(
        default=20, ge=1, description="by value: only this many most frequent values"
    )

    @model_validator(mode="after")
    def _boundaries(self) -> SliceConfig:
        if self.by != "value" and not self.boundaries:
            raise ValueError(f"slice of {self.feature!r} by {self.by} needs boundaries: [...]")
        return self

    @property
    def name(self) -> str:
        return self.feature if self.by == "value" else f"{self.feature} {self.by}"


CHAMPION = "champion"
BEST_BASELINE = "best_baseline"


class BlessRule(Strict):
    """The candidate must beat a reference on the same test split by at least `margin`:
    candidate - reference >= margin (for log_loss, lower is better: reference - candidate >=
    margin). A negative margin allows the candidate to be that much worse."""

    against: str = Field(
        description="champion (the serving model; skipped while there is none), best_baseline "
        "(the best of all baselines on `metric`) or a baseline's name"
    )
    metric: Literal["roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1", "log_loss"] = (
        Field(default="roc_auc", description="the metric compared, on the test split")
    )
    margin: float = Field(
        default=0.0,
        allow_inf_nan=False,
        description="the least candidate-minus-reference difference (in the metric's better "
        "direction) that passes",
    )

    def describe(self) -> str:
        return f"{{against: {self.against}, metric: {self.metric}, margin: {self.margin:g}}}"


# When `evaluate.bless` is absent: no worse than the best baseline minus 0.01 ROC AUC (the
# champion rule is `max_regression`'s default).
DEFAULT_BLESS = (BlessRule(against=BEST_BASELINE, metric="roc_auc", margin=-0.01),)


class EvaluateConfig(Strict):
    label: str = Field(default="label", description="the dataset's label feature (0/1)")
    threshold: float = Field(
        default=0.5,
        gt=0,
        lt=1,
        description="a score at or above it is predicted positive: sets accuracy, precision, "
        "recall, F1 and the confusion matrix; ROC AUC, PR AUC and log loss do not depend on it",
    )
    floors: dict[str, float] = Field(
        default={"roc_auc": 0.75},
        description="{metric: least value}: the candidate must reach each (champion or not)",
    )
    max_regression: dict[str, float] = Field(
        default={"roc_auc": 0.01},
        description="{metric: allowed drop}: with a champion, the candidate may be at most this "
        "much below it (the same as a `bless` rule against champion with margin -drop)",
    )
    # With a champion, each metric named here must beat the champion's by at least this margin
    # (log_loss: be lower by it); none by default. The gate is in components/evaluate/evaluate.py.
    min_improvement: dict[str, Annotated[float, Field(ge=0, allow_inf_nan=False)]] = Field(
        default={},
        description="{metric: margin}: with a champion, the candidate must beat it by at least "
        "the margin (log_loss: be lower by it)",
    )
    baselines: list[BaselineConfig] | None = Field(
        default=None,
        description="models fit on the train split in this step and reported beside the "
        "candidate; omitted: logreg and gbt for a table's categorical and numeric features, "
        "tfidf for a text feature (the dataset schema's kinds); []: none",
    )
    bless: list[BlessRule] | None = Field(
        default=None,
        description="rules against the champion or a baseline, all required; omitted: "
        "[{against: best_baseline, metric: roc_auc, margin: -0.01}] when there are baselines",
    )
    slices: list[SliceConfig] = Field(
        default=[], description="groups of test examples scored apart, every model beside"
    )
    calibration_bins: int = Field(
        default=10, ge=2, description="equal-width score bins of the reliability curve and ECE"
    )

    @model_validator(mode="before")
    @classmethod
    def _single_baseline(cls, data: Any) -> Any:
        """An older config's single `baseline: {...}` (kind tfidf_logreg when omitted) is read
        as `baselines: [{...}]`; `baseline: null` as no baselines."""
        if not isinstance(data, dict) or "baseline" not in data:
            return data
        if "baselines" in data:
            raise ValueError(
                "both `baseline` and `baselines` are set; move the single `baseline` into the "
                "`baselines` list"
            )
        out = {k: v for k, v in data.items() if k != "baseline"}
        old = data["baseline"]
        if isinstance(old, dict):
            old = {"kind": "tfidf_logreg", **old}
        out["baselines"] = [] if old is None else [old]
        return out

    @model_validator(mode="after")
    def _names(self) -> EvaluateConfig:
        if self.baselines is not None:
            check_names(self.baselines)
            known = {b.label for b in self.baselines}
            for rule in self.bless or []:
                if rule.against in (CHAMPION, BEST_BASELINE) or rule.against in known:
                    continue
                raise ValueError(
                    f"bless rule {rule.describe()} names no baseline; the baselines are "
                    f"{sorted(known)} (or use champion, best_baseline)"
                )
            if not known and any(r.against == BEST_BASELINE for r in self.bless or []):
                raise ValueError("a bless rule names best_baseline but `baselines` is empty")
        return self

    def rules(self, baselines: list[str]) -> list[BlessRule]:
        """The bless rules for these (resolved) baseline names: `bless`, or the default when it
        is absent (none when there are no baselines). A rule naming a baseline that is not
        there is a ConfigError listing those that are."""
        if self.bless is None:
            return list(DEFAULT_BLESS) if baselines else []
        for rule in self.bless:
            if rule.against == BEST_BASELINE and not baselines:
                raise ConfigError(
                    f"evaluate.bless {rule.describe()}: there are no baselines; configure "
                    "`evaluate.baselines` or drop the rule"
                )
            if rule.against not in (CHAMPION, BEST_BASELINE, *baselines):
                raise ConfigError(
                    f"evaluate.bless {rule.describe()}: no baseline {rule.against!r}; the "
                    f"baselines are {baselines} (defaults: from the dataset's feature kinds)"
                )
        return list(self.bless)


def classification_metrics(
    labels: np.ndarray, scores: np.ndarray, threshold: float = 0.5
) -> dict[str, Any]:
    from sklearn import metrics as skm

    if len(labels) == 0:
        raise ValueError("no examples to evaluate")
    preds = (scores >= threshold).astype(int)
    both = len(set(labels.tolist())) == 2
    cm = skm.confusion_matrix(labels, preds, labels=[0, 1])
    return {
        "examples": len(labels),
        "positive_rate": float(labels.mean()),
        "accuracy": float(skm.accuracy_score(labels, preds)),
        "roc_auc": float(skm.roc_auc_score(labels, scores)) if both else float("nan"),
        "pr_auc": float(skm.average_precision_score(labels, scores)) if both else float("nan"),
        "log_loss": float(skm.log_loss(labels, np.clip(scores, 1e-7, 1 - 1e-7), labels=[0, 1])),
        "precision": float(skm.precision_score(labels, preds, zero_division=0)),
        "recall": float(skm.recall_score(labels, preds, zero_division=0)),
        "f1": float(skm.f1_score(labels, preds, zero_division=0)),
        "confusion_matrix": cm.tolist(),
    }


def roc_points(labels: np.ndarray, scores: np.ndarray, max_points: int = 200) -> list[dict]:
    """ROC curve as KFP ClassificationMetrics confidenceMetrics, thinned to at most max_points."""
    from sklearn.metrics import roc_curve

    fpr, tpr, thresholds = roc_curve(labels, scores)
    idx = np.unique(np.linspace(0, len(fpr) - 1, min(max_points, len(fpr))).astype(int))
    return [
        {
            "confidenceThreshold": float(min(thresholds[i], 1.0)),
            "falsePositiveRate": float(fpr[i]),
            "recall": float(tpr[i]),
        }
        for i in idx
    ]


def _usable(value: Any) -> bool:
    return isinstance(value, int | float) and not math.isnan(value) and not math.isinf(value)


def bless(
    candidate: dict[str, Any], champion: dict[str, Any] | None, config: EvaluateConfig
) -> tuple[bool, list[str]]:
    """True only if every floor is met and no watched metric regresses the champion too far.

    A missing or NaN metric is never blessed. Returns the decision and the reasons behind it.
    """
    reasons: list[str] = []
    ok = True
    for name, floor in sorted(config.floors.items()):
        value = candidate.get(name)
        if value is None or not _usable(value):
            ok = False
            reasons.append(f"{name} is missing or NaN: not blessed")
        elif value < floor:
            ok = False
            reasons.append(f"{name} {value:.4f} is below the floor {floor}")
        else:
            reasons.append(f"{name} {value:.4f} meets the floor {floor}")
    if champion is None:
        reasons.append("no serving champion: judged on the floors alone")
        return ok, reasons
    for name, allowed in sorted(config.max_regression.items()):
        mine, theirs = candidate.get(name), champion.get(name)
        if mine is None or theirs is None or not _usable(mine) or not _usable(theirs):
            ok = False
            reasons.append(f"{name} missing or NaN for candidate or champion: not blessed")
        elif mine < theirs - allowed:
            ok = False
            reasons.append(
                f"{name} {mine:.4f} regresses the champion's {theirs:.4f} by more than {allowed}"
            )
        else:
            reasons.append(f"{name} {mine:.4f} vs champion {theirs:.4f} (allowed drop {allowed})")
    return ok, reasons


def _gain(metric: str, mine: float, theirs: float) -> float:
    return theirs - mine if metric in LOWER_IS_BETTER else mine - theirs


def _reference(
    rule: BlessRule, champion: dict[str, Any] | None, baselines: Mapping[str, Fitted]
) -> tuple[str, str, dict[str, Any] | None, str | None]:
    """(the reference's name, how a reason calls it, its metrics, why it cannot be compared)."""
    if rule.against == CHAMPION:
        return CHAMPION, "the champion", champion, None
    names = list(baselines) if rule.against == BEST_BASELINE else [rule.against]
    problems = []
    for n in names:
        metrics_ = baselines[n].metrics
        if metrics_ is None:
            problems.append(f"baseline {n} failed to fit ({baselines[n].error})")
        elif not _usable(metrics_.get(rule.metric)):
            problems.append(f"baseline {n} has no {rule.metric} (NaN)")
    if problems:
        return rule.against, rule.against, None, "; ".join(problems)
    if rule.against != BEST_BASELINE:
        return rule.against, f"baseline {rule.against}", baselines[rule.against].metrics, None
    pick = min if rule.metric in LOWER_IS_BETTER else max
    best = pick(names, key=lambda n: float((baselines[n].metrics or {})[rule.metric]))
    return best, f"the best baseline ({best})", baselines[best].metrics, None


def check_rules(
    candidate: dict[str, Any],
    champion: dict[str, Any] | None,
    baselines: Mapping[str, Fitted],
    rules: list[BlessRule],
) -> tuple[bool, list[str], list[dict[str, Any]]]:
    """Each rule: candidate minus reference (in the metric's better direction) at least its
    margin. A rule against the champion passes while there is none; one against a baseline that
    failed to fit, or with a missing or NaN value on either side, fails and says why. Returns
    the decision, one reason per rule, and per rule the row the report's table shows."""
    rows = []
    for rule in rules:
        mine = candidate.get(rule.metric)
        row: dict[str, Any] = {
            **rule.model_dump(),
            "reference": rule.against,
            "candidate": mine,
            "value": None,
            "difference": None,
            "passed": False,
        }
        rows.append(row)
        if rule.against == CHAMPION and champion is None:
            row["passed"] = True
            row["reason"] = f"no serving champion: rule {rule.describe()} does not apply"
            continue
        name, title, reference, problem = _reference(rule, champion, baselines)
        row["reference"] = name
        theirs = (reference or {}).get(rule.metric)
        if problem:
            row["reason"] = f"rule {rule.describe()} cannot be checked: {problem}: not blessed"
            continue
        if not _usable(mine) or not _usable(theirs):
            row["reason"] = (
                f"{rule.metric} missing or NaN for the candidate or {title}: rule "
                f"{rule.describe()}: not blessed"
            )
            continue
        gain = _gain(rule.metric, float(mine), float(theirs))  # type: ignore[arg-type]
        row |= {"value": float(theirs), "difference": gain, "passed": gain >= rule.margin}  # type: ignore[arg-type]
        text = (
            f"{rule.metric} {float(mine):.4f} vs {title}'s {float(theirs):.4f}: "  # type: ignore[arg-type]
            f"difference {gain:+.4f}"
        )
        row["reason"] = (
            f"{text} meets the required margin {rule.margin:+g}"
            if row["passed"]
            else f"{text} is below the required margin {rule.margin:+g}: not blessed"
        )
    return all(r["passed"] for r in rows), [r["reason"] for r in rows], rows


def calibration(labels: np.ndarray, scores: np.ndarray, bins: int) -> dict[str, Any]:
    """Reliability curve (mean predicted vs observed rate per equal-width bin), the Brier score
    and the expected calibration error (bin-size weighted gap)."""
    from sklearn.calibration import calibration_curve
    from sklearn.metrics import brier_score_loss

    observed, predicted = calibration_curve(labels, scores, n_bins=bins, strategy="uniform")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(scores, edges[1:-1]), 0, bins - 1)
    counts = np.bincount(which, minlength=bins)
    occupied = counts[counts > 0]
    ece = float(np.sum(occupied / len(scores) * np.abs(observed - predicted)))
    return {
        "brier": float(brier_score_loss(labels, scores)),
        "ece": ece,
        "curve": [
            {"predicted": float(p), "observed": float(o), "examples": int(n)}
            for p, o, n in zip(predicted, observed, occupied, strict=True)
        ],
    }


def slice_keys(spec: SliceConfig, values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The slice each test example falls in, as a readable label; and the slices in report
    order (most frequent values first, or buckets in order)."""
    if spec.by == "value":
        text = np.asarray(
            [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values], dtype=object
        )
        keys = np.where(text == "", "(missing)", text)
        counts = Counter(str(k) for k in keys)
        ranked = sorted(counts, key=lambda name: (-counts[name], name))
        return keys, ranked[: spec.max_values]
    measure = (
        np.asarray([len(v.decode("utf-8") if isinstance(v, bytes) else str(v)) for v in values])
        if spec.by == "length"
        else np.asarray(values, dtype=float)
    )
    bounds = list(spec.boundaries or [])
    names = [f"< {bounds[0]:g}"]
    names += [f"{lo:g}-{hi:g}" for lo, hi in itertools.pairwise(bounds)]
    names += [f">= {bounds[-1]:g}"]
    keys = np.asarray([names[i] for i in np.digitize(measure, bounds)], dtype=object)
    return keys, [n for n in names if (keys == n).any()]


def sliced_metrics(
    spec: SliceConfig,
    values: np.ndarray,
    labels: np.ndarray,
    scores: dict[str, np.ndarray | None],
    threshold: float,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> list[dict[str, Any]]:
    """Per slice: examples, positive rate, ROC AUC (NaN with one class), accuracy and log loss
    of the candidate, and the ROC AUC of every other scored model beside it; each metric with
    its 95% bootstrap interval (`<metric>_ci`, [low, high], None when too few resamples have
    both classes)."""
    keys, order = slice_keys(spec, values)
    rows = []
    for name in order:
        mask = keys == name
        row: dict[str, Any] = {"slice": name}
        idx = resample_indices(int(mask.sum()), resamples, seed)
        for model, s in scores.items():
            if s is None:
                continue
            m = classification_metrics(labels[mask], s[mask], threshold)
            boot = resampled_metrics(labels[mask], s[mask], idx, threshold)
            if model == "candidate":
                row |= {k: m[k] for k in SLICE_METRICS}
                row |= {f"{k}_ci": interval(boot[k]) for k in SLICE_CI_METRICS}
            else:
                row[f"{model}_roc_auc"] = m["roc_auc"]
                row[f"{model}_roc_auc_ci"] = interval(boot["roc_auc"])
        rows.append(row)
    return rows


def resample_indices(
    n: int, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED
) -> np.ndarray:
    """(resamples, n) example indices drawn with replacement; the same for the same seed."""
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def resampled_metrics(
    labels: np.ndarray, scores: np.ndarray, idx: np.ndarray, threshold: float
) -> dict[str, np.ndarray]:
    """Every CI metric on every resample (a row of `idx`), as sklearn computes it on that
    resample; NaN where a resample has one class (ROC AUC) or no positive (precision, recall)."""
    from scipy.stats import rankdata

    y = np.asarray(labels)[idx].astype(float)
    s = np.asarray(scores, dtype=float)[idx]
    pred = (s >= threshold).astype(float)
    pos = y.sum(axis=1)
    neg = y.shape[1] - pos
    ranks = rankdata(s, axis=1)  # average ranks: ties count half, as roc_auc_score does
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = ((ranks * y).sum(axis=1) - pos * (pos + 1) / 2) / (pos * neg)
        tp = (pred * y).sum(axis=1)
        precision = tp / pred.sum(axis=1)
        recall = tp / pos
        f1 = 2 * tp / (pred.sum(axis=1) + pos)
    # Average precision as sklearn computes it: the precision at each distinct score (the end
    # of its group of tied scores, in descending order), weighted by the recall it adds.
    order = np.argsort(-s, axis=1, kind="stable")
    s_desc = np.take_along_axis(s, order, axis=1)
    y_desc = np.take_along_axis(y, order, axis=1)
    k = np.arange(s.shape[1])
    is_end = np.ones_like(s_desc, dtype=bool)
    is_end[:, :-1] = s_desc[:, :-1] != s_desc[:, 1:]
    ends = np.minimum.accumulate(np.where(is_end, k, s.shape[1])[:, ::-1], axis=1)[:, ::-1]
    tp_at = np.take_along_axis(np.cumsum(y_desc, axis=1), ends, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        pr_auc = (y_desc * tp_at / (ends + 1)).sum(axis=1) / pos
    clipped = np.clip(s, 1e-7, 1 - 1e-7)
    loss = -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped)).mean(axis=1)
    return {
        "roc_auc": np.where((pos > 0) & (neg > 0), auc, np.nan),
        "pr_auc": pr_auc,
        "accuracy": (pred == y).mean(axis=1),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "log_loss": loss,
    }


def interval(values: np.ndarray, level: float = CI_LEVEL) -> list[float] | None:
    """The central `level` percentile interval of the finite values; None with fewer than 10."""
    finite = values[np.isfinite(values)]
    if len(finite) < 10:
        return None
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(finite, [tail, 100 - tail])
    return [round(float(lo), 6), round(float(hi), 6)]


def metric_intervals(
    labels: np.ndarray,
    scores: np.ndarray,
    threshold: float,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, list[float] | None]:
    """95% bootstrap interval of every CI metric of one model."""
    idx = resample_indices(len(labels), resamples, seed)
    return {k: interval(v) for k, v in resampled_metrics(labels, scores, idx, threshold).items()}


def delta_intervals(
    labels: np.ndarray,
    scores: Mapping[str, np.ndarray | None],
    threshold: float,
    resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> dict[str, dict[str, list[float] | None]]:
    """Paired bootstrap of candidate minus each other scored model, per CI metric: the same
    resampled examples score both models, so the interval is that of the difference. A delta
    whose interval holds 0 is within the test set's noise."""
    candidate = scores.get("candidate")
    if candidate is None or len(labels) == 0:
        return {}
    idx = resample_indices(len(labels), resamples, seed)
    mine = resampled_metrics(labels, candidate, idx, threshold)
    out: dict[str, dict[str, list[float] | None]] = {}
    for model, other in scores.items():
        if model == "candidate" or other is None:
            continue
        theirs = resampled_metrics(labels, other, idx, threshold)
        out[model] = {k: interval(mine[k] - theirs[k]) for k in CI_METRICS}
    return out


def judge_delta(metric: str, delta: float, ci: list[float] | None) -> str:
    """'better', 'worse' or 'same' for the candidate, by the metric's direction (log loss,
    Brier and ECE: lower is better); 'same' when the delta's interval holds 0 or it is 0."""
    if not math.isfinite(delta) or delta == 0 or (ci is not None and ci[0] <= 0 <= ci[1]):
        return "same"
    better = delta < 0 if metric in LOWER_IS_BETTER else delta > 0
    return "better" if better else "worse"


def report_intervals(
    labels: np.ndarray, scores: Mapping[str, np.ndarray | None], threshold: float
) -> dict[str, Any]:
    """What the report's metrics table shows beside the numbers: the candidate's own 95%
    intervals and those of its deltas against every other scored model."""
    candidate = scores.get("candidate")
    if candidate is None or len(labels) == 0:
        return {}
    return {
        "candidate": metric_intervals(labels, candidate, threshold),
        "deltas": delta_intervals(labels, scores, threshold),
    }
