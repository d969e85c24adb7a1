"""Score the candidate (and the serving champion) on the test split; decide the blessing."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from components.common import fs, tfdata
from components.common.registry import Registry
from components.evaluate import metrics as m
from components.evaluate import report

log = logging.getLogger(__name__)

SAVED_MODEL = "saved_model"


@dataclass
class Evaluation:
    candidate: dict[str, Any]
    champion: dict[str, Any] | None
    champion_version: str | None
    baseline: dict[str, Any] | None
    blessed: bool
    reasons: list[str]
    roc: list[dict[str, float]]
    html: str


def evaluate(
    model_dir: str, dataset_dir: str, cfg: m.EvaluateConfig, registry: Registry | None
) -> Evaluation:
    texts, labels = tfdata.load_text_labels(dataset_dir, "test", cfg.text_feature, cfg.label)
    scores = tfdata.load_serving_fn(fs.join(model_dir, SAVED_MODEL))(texts)
    candidate = m.classification_metrics(labels, scores, cfg.threshold)
    log.info(
        "candidate on %d test examples: roc_auc=%.4f accuracy=%.4f",
        len(labels),
        candidate["roc_auc"],
        candidate["accuracy"],
    )

    champion = champion_version = champion_scores = None
    pointer = registry.champion() if registry else None
    if pointer and registry:
        champion_version = pointer["version"]
        champion_scores = tfdata.load_serving_fn(registry.saved_model_uri(champion_version))(texts)
        champion = m.classification_metrics(labels, champion_scores, cfg.threshold)
        log.info(
            "champion %s on the same split: roc_auc=%.4f", champion_version, champion["roc_auc"]
        )
    baseline = baseline_scores = None
    if cfg.baseline:
        from components.evaluate.baseline import fit_and_score

        train_texts, train_labels = tfdata.load_text_labels(
            dataset_dir, "train", cfg.text_feature, cfg.label
        )
        baseline_scores = fit_and_score(cfg.baseline, train_texts, train_labels, texts)
        baseline = m.classification_metrics(labels, baseline_scores, cfg.threshold)
        log.info(
            "baseline on the same split: roc_auc=%.4f (candidate %+.4f)",
            baseline["roc_auc"],
            candidate["roc_auc"] - baseline["roc_auc"],
        )
    blessed, reasons = m.bless(candidate, champion, cfg)
    for reason in reasons:
        log.info("blessing: %s", reason)

    history_path = Path(model_dir) / "history.json"
    history = fs.read_json(str(history_path)) if history_path.exists() else None
    stats_uri = fs.join(dataset_dir, "stats.json")
    dataset = fs.read_json(stats_uri) if fs.exists(stats_uri) else None
    plot_list = report.plots(
        labels,
        {"candidate": scores, "champion": champion_scores, "baseline": baseline_scores},
        candidate["confusion_matrix"],
        history,
    )
    html = report.render(
        registry.model_name if registry else "model",
        candidate,
        champion,
        champion_version,
        blessed,
        reasons,
        plot_list,
        dataset,
        baseline,
    )
    return Evaluation(
        candidate,
        champion,
        champion_version,
        baseline,
        blessed,
        reasons,
        m.roc_points(labels, np.asarray(scores)),
        html,
    )
