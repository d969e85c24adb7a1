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
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from components.common import fs, kfp_io
from components.common.cli import run_cli
from components.common.config import load_section
from components.common.errors import ConfigError
from components.deploy.config import DeployConfig
from components.record.record import code_version, gather, log_run, resolve_tracking

log = logging.getLogger(__name__)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m components.record",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--raw", required=True, help="raw snapshot folder written by ingest")
    parser.add_argument("--dataset", required=True, help="dataset folder written by dataset")
    parser.add_argument("--model", required=True, help="model folder written by train")
    parser.add_argument("--metrics", required=True, help="metrics JSON written by evaluate")
    parser.add_argument("--config", required=True, help="pipeline config YAML")
    parser.add_argument("--registry-root", default="", help="model registry root")
    parser.add_argument(
        "--tracking-uri", default="", help="MLflow tracking URI (default: local store)"
    )
    parser.add_argument("--job-name", default="", help="the KFP or Argo run's name")
    parser.add_argument("--job-id", default="", help="the KFP run id or Argo workflow uid")
    parser.add_argument(
        "--run-url",
        default="",
        help="the run's page in the KFP or Argo UI, with {job_name} and {job_id} filled in, "
        "e.g. https://KFP_HOST/#/runs/details/{job_id} or "
        "https://ARGO_HOST/workflows/NAMESPACE/{job_name}",
    )
    parser.add_argument("--images", default="{}", help="JSON: image family -> reference")
    parser.add_argument("--record", required=True, type=Path, help="run record JSON to write")
    parser.add_argument("--executor-input", default=None, help="KFP executor input ({{$}})")
    return parser.parse_args(argv)


def _artifact_uris(executor_input: dict[str, Any] | None) -> dict[str, str]:
    """The input artifacts' URIs (gs:// on a cluster), as KFP passes them."""
    if not executor_input:
        return {}
    given = executor_input.get("inputs", {}).get("artifacts", {})
    return {
        name: value["artifacts"][0].get("uri", "")
        for name, value in given.items()
        if value.get("artifacts")
    }


def _run_url(template: str, job_name: str, job_id: str) -> str:
    try:
        return template.format(job_name=job_name, job_id=job_id)
    except (KeyError, IndexError, ValueError) as err:
        raise ConfigError(
            f"--run-url {template!r}: only {{job_name}} and {{job_id}} can be filled in ({err})"
        ) from err


def _body(argv: Sequence[str] | None) -> int:
    args = parse_args(argv)
    executor_input = kfp_io.parse_executor_input(args.executor_input)
    deploy_cfg = load_section(args.config, "deploy", DeployConfig)
    record = gather(args.raw, args.dataset, args.model, args.metrics, args.config)
    uris = _artifact_uris(executor_input) or {
        "raw": args.raw,
        "dataset": args.dataset,
        "model": args.model,
        "metrics": args.metrics,
    }
    tags = {f"artifact.{k}": v for k, v in uris.items()}
    tags |= {
        "pipeline.job_name": args.job_name,
        "pipeline.job_id": args.job_id,
        "pipeline.run_url": _run_url(args.run_url, args.job_name, args.job_id),
        "code_version": code_version(),
        "images": args.images,
        "registry_root": args.registry_root,
    }
    tracking = resolve_tracking(args.tracking_uri, args.registry_root)
    summary: dict[str, Any] = {
        "experiment": deploy_cfg.model_name,
        "run_name": args.job_name,
        "blessed": record["blessed"],
        "data": record["data"],
        "metrics": record["metrics"],
        "tags": tags,
    }
    if tracking is None:
        log.warning(
            "no MLflow tracking URI and the registry %s is not local: the run record is only "
            "in %s; pass --tracking-uri (the pipeline's tracking_uri parameter) to keep it in "
            "MLflow",
            args.registry_root,
            args.record,
        )
    else:
        summary |= log_run(record, tracking, deploy_cfg.model_name, args.job_name, tags)
    fs.write_json_atomic(args.record, summary)
    kfp_io.write_executor_output(
        executor_input,
        {"run_record": {k: summary[k] for k in ("run_id", "tracking_uri") if k in summary}},
    )
    print(json.dumps({k: summary.get(k) for k in ("experiment", "run_id", "tracking_uri")}))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("record", _body, argv)
