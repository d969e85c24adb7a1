"""CLI of the evaluate step: test-split metrics, KFP metric artifacts, HTML report, blessing.

    python -m components.evaluate --model DIR --dataset DIR --config YAML \
        --registry-root DIR --metrics FILE --classification-metrics FILE --report FILE \
        --blessed FILE [--executor-input JSON]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from components.common import interface, kfp_io
from components.common.cli import run_cli
from components.evaluate.executor import run


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The flags components/evaluate/component.py declares."""
    return interface.parser("components.evaluate", __doc__).parse_args(argv)


def _body(argv: Sequence[str] | None) -> int:
    args = parse_args(argv)
    outputs = run(
        args.model,
        args.dataset,
        args.config,
        args.registry_root,
        metrics_out=args.metrics,
        classification_out=args.classification_metrics,
        report_out=args.report,
        blessed_out=args.blessed,
        executor_input=kfp_io.parse_executor_input(args.executor_input),
    )
    print(
        json.dumps(
            {
                "blessed": outputs["blessing"]["blessed"],
                "roc_auc": outputs["roc_auc"],
                "accuracy": outputs["accuracy"],
                "report": str(args.report),
            }
        )
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("evaluate", _body, argv)
