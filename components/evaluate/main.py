"""CLI of the evaluate step: test-split metrics, KFP metric artifacts, HTML report, blessing.

    python -m components.evaluate --model DIR --dataset DIR --config YAML \
        --registry-root DIR --metrics FILE --classification-metrics FILE --report FILE \
        --blessed FILE [--executor-input JSON]
"""

from __future__ import annotations

import argparse
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from components.common import fs, kfp_io
from components.common.cli import run_cli
from components.common.config import load_section
from components.common.registry import Registry
from components.deploy.config import DeployConfig
from components.evaluate.metrics import EvaluateConfig

SCALARS = ("roc_auc", "pr_auc", "accuracy", "precision", "recall", "f1", "log_loss", "examples")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m components.evaluate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--model", required=True, help="model folder written by train")
    parser.add_argument("--dataset", required=True, help="dataset folder (test/ shards)")
    parser.add_argument(
        "--config", required=True, help="pipeline config YAML (sections: evaluate, deploy)"
    )
    parser.add_argument(
        "--registry-root",
        default="",
        help="model registry root to find the serving champion; empty = none",
    )
    parser.add_argument("--metrics", required=True, type=Path, help="metrics JSON to write")
    parser.add_argument(
        "--classification-metrics",
        required=True,
        type=Path,
        help="ROC points and confusion matrix JSON to write",
    )
    parser.add_argument("--report", required=True, type=Path, help="HTML report to write")
    parser.add_argument(
        "--blessed",
        required=True,
        type=Path,
        help="file to write 'true' or 'false' into (a KFP output parameter)",
    )
    parser.add_argument(
        "--executor-input",
        default=None,
        help="KFP executor input JSON ({{$}}): metrics are recorded as "
        "artifact metadata so the KFP UI shows them",
    )
    return parser.parse_args(argv)


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and (math.isnan(value) or math.isinf(value)) else value


def _body(argv: Sequence[str] | None) -> int:
    args = parse_args(argv)
    executor_input = kfp_io.parse_executor_input(args.executor_input)
    cfg = load_section(args.config, "evaluate", EvaluateConfig)
    deploy_cfg = load_section(args.config, "deploy", DeployConfig)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from components.evaluate.evaluate import evaluate

    registry = Registry(args.registry_root, deploy_cfg.model_name) if args.registry_root else None
    result = evaluate(args.model, args.dataset, cfg, registry)

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
    decision = {
        "blessed": result.blessed,
        "reasons": result.reasons,
        "champion_version": result.champion_version,
        "candidate": scalars,
    }
    slices = {
        name: [{k: _finite(v) for k, v in row.items()} for row in rows]
        for name, rows in result.slices.items()
    }
    fs.write_json_atomic(
        args.metrics,
        {
            **scalars,
            "blessing": decision,
            "slices": slices,
            "calibration": result.calibration["curve"],
        },
    )
    fs.write_json_atomic(args.classification_metrics, classification)
    fs.write_text_atomic(args.report, result.html)
    kfp_io.write_executor_output(
        executor_input,
        {
            "metrics": {k: v for k, v in scalars.items() if v is not None},
            "classification_metrics": classification,
        },
        {"blessed": result.blessed},
    )
    fs.write_text_atomic(args.blessed, json.dumps(result.blessed))
    print(
        json.dumps(
            {
                "blessed": result.blessed,
                "roc_auc": scalars["roc_auc"],
                "accuracy": scalars["accuracy"],
                "report": str(args.report),
            }
        )
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("evaluate", _body, argv)
