"""The evaluate executor: score the candidate (components.evaluate.evaluate), then write what the
step outputs: the metrics JSON with the blessing, the KFP metric artifacts, the report, the flag."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from components.common import fs, kfp_io
from components.common.artifacts import Blessing
from components.common.config import load_section
from components.common.model import load_model
from components.common.registry import Registry
from components.evaluate.baseline import Fitted
from components.evaluate.metrics import EvaluateConfig

SCALARS = ("roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1", "log_loss", "examples")
BASELINE_SCALARS = ("roc_auc", "accuracy")


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and (math.isnan(value) or math.isinf(value)) else value


def _clean(value: Any) -> Any:
    """JSON-safe: NaN and infinities as null, throughout."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return _finite(value)


def baseline_scalars(baselines: Mapping[str, Fitted]) -> dict[str, Any]:
    """Per baseline `baseline_<name>_{roc_auc,accuracy,fit_seconds}`; `baseline_roc_auc` and
    `baseline_accuracy`, the first fitted baseline's (what the single baseline of older configs
    wrote); `best_baseline_roc_auc`, the highest of them."""
    out: dict[str, Any] = {}
    fitted: list[tuple[str, dict[str, Any]]] = []
    for b in baselines.values():
        out[f"baseline_{b.name}_fit_seconds"] = b.fit_seconds
        if b.metrics is not None:
            fitted.append((b.name, b.metrics))
            out |= {f"baseline_{b.name}_{k}": _finite(b.metrics[k]) for k in BASELINE_SCALARS}
    if fitted:
        out |= {f"baseline_{k}": _finite(fitted[0][1][k]) for k in BASELINE_SCALARS}
        aucs = [auc for _, f in fitted if (auc := _finite(f["roc_auc"])) is not None]
        out["best_baseline_roc_auc"] = max(aucs) if aucs else None
    return out


def run(
    model_dir: str,
    dataset_dir: str,
    config_uri: str,
    registry_root: str,
    *,
    metrics_out: Path,
    classification_out: Path,
    report_out: Path,
    blessed_out: Path,
    executor_input: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The evaluate step: score the model in `model_dir` on the test split (and the serving
    champion of `registry_root`, if any), decide the blessing, write the metrics JSON, the KFP
    classification metrics, the HTML report and the blessed flag; the metrics JSON."""
    cfg = load_section(config_uri, "evaluate", EvaluateConfig)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from components.evaluate.evaluate import evaluate
    from components.evaluate.report import provenance

    registry = Registry(registry_root, load_model(config_uri).name) if registry_root else None
    result = evaluate(
        model_dir, dataset_dir, cfg, registry, provenance(model_dir, dataset_dir, config_uri)
    )

    scalars = {k: _finite(result.candidate[k]) for k in SCALARS}
    scalars |= {k: _finite(result.calibration[k]) for k in ("brier", "ece")}
    if result.champion:
        scalars |= {f"champion_{k}": _finite(result.champion[k]) for k in ("roc_auc", "accuracy")}
    scalars |= baseline_scalars(result.baselines)
    matrix = result.candidate["confusion_matrix"]
    classification = {
        "confidenceMetrics": result.roc,
        "confusionMatrix": {
            "annotationSpecs": [{"displayName": "0"}, {"displayName": "1"}],
            "rows": [{"row": row} for row in matrix],
        },
    }
    decision: Blessing = {
        "blessed": result.blessed,
        "reasons": result.reasons,
        "champion_version": result.champion_version,
        "candidate": scalars,
    }
    slices = {
        name: [{k: _finite(v) for k, v in row.items()} for row in rows]
        for name, rows in result.slices.items()
    }
    outputs = {
        **scalars,
        "blessing": decision,
        "slices": slices,
        "calibration": result.calibration["curve"],
        "baselines": {name: _clean(b.summary()) for name, b in result.baselines.items()},
        "bless_rules": [_clean(r) for r in result.rules],
    }
    fs.write_json_atomic(metrics_out, outputs)
    fs.write_json_atomic(classification_out, classification)
    fs.write_text_atomic(report_out, result.html)
    kfp_io.write_executor_output(
        executor_input,
        {
            "metrics": {k: v for k, v in scalars.items() if v is not None},
            "classification_metrics": classification,
        },
        {"blessed": result.blessed},
    )
    fs.write_text_atomic(blessed_out, json.dumps(result.blessed))
    return outputs
