"""CLI of the record step: log the retraining run to MLflow tracking.

    python -m components.record --raw DIR --dataset DIR --model DIR --metrics FILE \
        --config YAML --registry-root DIR [--tracking-uri URI] [--job-name N --job-id ID] \
        [--images JSON] --record FILE [--executor-input JSON]

With no --tracking-uri, a local registry gets a SQLite store beside it
(<registry_root>/../mlflow/mlflow.db); a remote registry and no tracking server: the run record
is written to --record only, with a warning saying to pass a tracking URI.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from components.common import interface, kfp_io
from components.common.cli import run_cli
from components.record.record import run


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The flags components/record/component.py declares; the run's name and id come from the
    engine (KFP placeholders) rather than from a pipeline parameter."""
    parser = interface.parser("components.record", __doc__)
    parser.add_argument("--job-name", default="", help="the KFP or Argo run's name")
    parser.add_argument("--job-id", default="", help="the KFP run id or Argo workflow uid")
    return parser.parse_args(argv)


def _body(argv: Sequence[str] | None) -> int:
    args = parse_args(argv)
    summary = run(
        args.raw,
        args.dataset,
        args.model,
        args.metrics,
        args.config,
        registry_root=args.registry_root,
        tracking_uri=args.tracking_uri,
        job_name=args.job_name,
        job_id=args.job_id,
        run_url=args.run_url,
        images=args.images,
        reason=args.reason,
        record_out=args.record,
        executor_input=kfp_io.parse_executor_input(args.executor_input),
    )
    print(json.dumps({k: summary.get(k) for k in ("experiment", "run_id", "tracking_uri")}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("record", _body, argv)
