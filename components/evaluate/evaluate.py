"""Score the candidate (and the serving champion) on the test split; decide the blessing."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from components.common import features, fs, tfdata
from components.common.artifacts import Dataset, TrainedModel
from components.common.model_digest import model_digest, short
from components.common.registry import Registry
from components.evaluate import metrics as m
from components.evaluate import report
from components.evaluate.baseline import Baseline, Fitted, resolve

log = logging.getLogger(__name__)


@dataclass
class Evaluation:
    candidate: dict[str, Any]
    champion: dict[str, Any] | None
    champion_version: str | None
    baselines: dict[str, Fitted]
    blessed: bool
    reasons: list[str]
    roc: list[dict[str, float]]
    slices: dict[str, list[dict[str, Any]]]
    calibration: dict[str, Any]
    html: str
    rules: list[dict[str, Any]] = field(default_factory=list)

    @property
    def baseline(self) -> dict[str, Any] | None:
        """The first baseline that fitted: its metrics (what older readers call the baseline)."""
        return next((b.metrics for b in self.baselines.values() if b.metrics), None)


def pointless(
    saved_model: str, registry: Registry | None, champion: dict[str, Any] | None
) -> list[str]:
    """Why testing the SavedModel at `saved_model` would be pointless: one "not blessed" reason
    per registry version that computes the same (the champion as read, the challenger under
    test, a version an A/B test rolled back; Registry.twins). Empty without a registry."""
    if registry is None:
        return []
    digest = model_digest(saved_model)
    log.info("candidate model digest %s", short(digest))
    return [f"{twin}: not blessed" for twin in registry.twins(digest, champion=champion)]


def improvement(
    candidate: dict[str, Any], champion: dict[str, Any] | None, cfg: m.EvaluateConfig
) -> tuple[bool, list[str]]:
    """`evaluate.min_improvement`: with a champion, each named metric must beat the champion's
    by at least its margin (lower for the metrics where lower is better); a missing or NaN
    value never does. (True, []) when nothing is required or there is no champion."""
    if champion is None or not cfg.min_improvement:
        return True, []
    ok, reasons = True, []
    for name, margin in sorted(cfg.min_improvement.items()):
        mine, theirs = candidate.get(name), champion.get(name)
        if not m._usable(mine) or not m._usable(theirs):
            ok = False
            reasons.append(f"{name} missing or NaN for candidate or champion: not blessed")
            continue
        mine, theirs = float(mine), float(theirs)  # type: ignore[arg-type]
        gain = (theirs - mine) if name in m.LOWER_IS_BETTER else (mine - theirs)
        if gain < margin:
            ok = False
            reasons.append(
                f"{name} {mine:.4f} improves on the champion's {theirs:.4f} by {gain:+.4f}, "
                f"less than the required min_improvement {margin}: not blessed"
            )
        else:
            reasons.append(
                f"{name} {mine:.4f} improves on the champion's {theirs:.4f} by {gain:+.4f} "
                f"(min_improvement {margin})"
            )
    return ok, reasons


def fit_baselines(
    specs: list[Baseline],
    dataset_dir: str,
    types: dict[str, str],
    cfg: m.EvaluateConfig,
    test: dict[str, Any],
    labels: np.ndarray,
) -> dict[str, Fitted]:
    """Fit every (resolved) baseline on the train split and score it on the test columns; one
    that cannot be fit is kept with its error and no metrics."""
    if not specs:
        return {}
    from components.evaluate.baseline import fit

    wanted = list(dict.fromkeys(n for b in specs for n in b.features()))
    train, train_labels = tfdata.load_split(
        dataset_dir, "train", {n: types[n] for n in wanted}, cfg.label
    )
    out: dict[str, Fitted] = {}
    for spec in specs:
        fitted = fit(spec, train, train_labels, test)
        if fitted.scores is not None:
            fitted.metrics = m.classification_metrics(labels, fitted.scores, cfg.threshold)
            log.info(
                "baseline %s on the same split: roc_auc=%.4f (fit in %.2f s)",
                fitted.name,
                fitted.metrics["roc_auc"],
                fitted.fit_seconds,
            )
        out[fitted.name] = fitted
    return out


def evaluate(
    model_dir: str,
    dataset_dir: str,
    cfg: m.EvaluateConfig,
    registry: Registry | None,
    provenance: list[tuple[str, str]] | None = None,
) -> Evaluation:
    # The baselines and rules first: a rule naming no baseline fails before any scoring.
    specs = resolve(cfg.baselines, features.model_inputs(dataset_dir, exclude=(cfg.label,)))
    rules = cfg.rules([b.label for b in specs])
    candidate_fn = tfdata.load_serving_fn(fs.join(model_dir, TrainedModel.SAVED_MODEL))
    pointer = registry.champion() if registry else None
    champion_version = pointer["version"] if pointer else None
    champion_fn = (
        tfdata.load_serving_fn(registry.saved_model_uri(champion_version))
        if registry and champion_version
        else None
    )
    # Every column any scorer or slice reads, typed by the dataset's schema.
    names = [*candidate_fn.inputs, *(champion_fn.inputs if champion_fn else [])]
    names += [n for b in specs for n in b.features()]
    names += [s.feature for s in cfg.slices]
    types = tfdata.feature_types(dataset_dir, list(dict.fromkeys(names)))
    columns, labels = tfdata.load_split(dataset_dir, "test", types, cfg.label)

    scores = candidate_fn(columns)
    candidate = m.classification_metrics(labels, scores, cfg.threshold)
    log.info(
        "candidate on %d test examples: roc_auc=%.4f accuracy=%.4f",
        len(labels),
        candidate["roc_auc"],
        candidate["accuracy"],
    )
    champion = champion_scores = None
    if champion_fn:
        champion_scores = champion_fn(columns)
        champion = m.classification_metrics(labels, champion_scores, cfg.threshold)
        log.info(
            "champion %s on the same split: roc_auc=%.4f", champion_version, champion["roc_auc"]
        )
    baselines = fit_baselines(specs, dataset_dir, types, cfg, columns, labels)
    blessed, reasons = m.bless(candidate, champion, cfg)
    beats, rule_reasons, rule_rows = m.check_rules(candidate, champion, baselines, rules)
    improves, improvement_reasons = improvement(candidate, champion, cfg)
    twins = pointless(fs.join(model_dir, TrainedModel.SAVED_MODEL), registry, pointer)
    blessed = blessed and beats and improves and not twins
    reasons = [*twins, *reasons, *rule_reasons, *improvement_reasons]
    for reason in reasons:
        log.info("blessing: %s", reason)

    all_scores = {"candidate": scores, "champion": champion_scores}
    all_scores |= {report.key(n): b.scores for n, b in baselines.items() if b.scores is not None}
    slices = {
        spec.name: m.sliced_metrics(spec, columns[spec.feature], labels, all_scores, cfg.threshold)
        for spec in cfg.slices
    }
    calibration = m.calibration(labels, np.asarray(scores), cfg.calibration_bins)
    log.info("calibration: brier=%.4f ece=%.4f", calibration["brier"], calibration["ece"])

    history_path = Path(model_dir) / TrainedModel.HISTORY
    history = fs.read_json(str(history_path)) if history_path.exists() else None
    stats_uri = Dataset.stats(dataset_dir)
    dataset = fs.read_json(stats_uri) if fs.exists(stats_uri) else None
    best = report.best_epoch(history, report.monitor_of(model_dir)) if history else None
    plot_list = report.plots(
        labels,
        all_scores,
        candidate["confusion_matrix"],
        history,
        calibration,
        slices,
        best,
        cfg.threshold,
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
        None,
        slices,
        calibration,
        provenance,
        m.report_intervals(labels, all_scores, cfg.threshold),
        baselines={n: b.summary() for n, b in baselines.items()},
        rules=rule_rows,
    )
    return Evaluation(
        candidate,
        champion,
        champion_version,
        baselines,
        blessed,
        reasons,
        m.roc_points(labels, np.asarray(scores)),
        slices,
        calibration,
        html,
        rule_rows,
    )
