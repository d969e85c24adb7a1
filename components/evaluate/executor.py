"""The evaluate executor: score the candidate (components.evaluate.evaluate), then write what the
step outputs: the metrics JSON with the blessing, the KFP metric artifacts, the report, the flag."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

from components.common import fs, kfp_io
from components.common.artifacts import Blessing
from components.common.config import load_section
from components.common.model import load_model
from components.common.registry import Registry
from components.evaluate.metrics import EvaluateConfig

SCALARS = ("roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1", "log_loss", "examples")


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and (math.isnan(value) or math.isinf(value)) else value


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
    if result.baseline:
        scalars |= {f"baseline_{k}": _finite(result.baseline[k]) for k in ("roc_auc", "accuracy")}
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
