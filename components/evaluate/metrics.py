"""Classification metrics and the blessing rule, as plain functions over labels and scores."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import Field

from components.common.config import Strict
from components.evaluate.baseline import BaselineConfig


class EvaluateConfig(Strict):
    label: str = "label"
    text_feature: str = "text"
    threshold: float = Field(default=0.5, gt=0, lt=1)
    floors: dict[str, float] = {"roc_auc": 0.75}
    max_regression: dict[str, float] = {"roc_auc": 0.01}
    # A TF-IDF + logistic regression model trained in this step and reported beside the model.
    baseline: BaselineConfig | None = None


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
