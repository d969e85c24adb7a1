"""One retraining run as an MLflow tracking run: its config, data window, dataset statistics,
code version, images, metrics, artifact URIs and the KFP/Argo run it belongs to.

MLflow is the store (a tracking server on clusters; locally a SQLite file beside the model
registry), so runs are listed and compared with MLflow's own UI and client, or with
`python -m pipelines runs`.
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path
from typing import Any

from components.common import fs, kfp_io
from components.common.artifacts import Dataset, Raw, RawManifest, TrainedModel
from components.common.errors import ConfigError
from components.common.model import load_model
from components.common.tracking import log_mlflow_run, resolve_tracking

log = logging.getLogger(__name__)

MAX_PARAM = 500  # MLflow's limit on a parameter value's length


def flatten(value: Any, prefix: str = "") -> dict[str, str]:
    """Nested config -> {"train.optimizer.learning_rate": "0.001", ...}."""
    out: dict[str, str] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            out |= flatten(item, f"{prefix}{key}.")
    elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
        for i, item in enumerate(value):
            out |= flatten(item, f"{prefix}{i}.")
    else:
        out[prefix.rstrip(".")] = str(value)[:MAX_PARAM]
    return out


def code_version() -> str:
    """The git commit of the code, when it runs from a checkout ("+dirty" with local edits);
    in an image, the image reference is the code version (see the `images` tag)."""
    here = Path(__file__).resolve().parent
    try:
        sha = subprocess.run(
            ["git", "-C", str(here), "describe", "--always", "--dirty=+dirty", "--abbrev=12"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return os.environ.get("RETRAIN_CODE_VERSION", "unknown (no git checkout)")
    return sha or "unknown"


def gather(
    raw: str,
    dataset: str,
    model: str,
    metrics: str,
    config: str,
) -> dict[str, Any]:
    """What the run record holds, read from the steps' outputs."""
    from components.common.config import load_yaml

    manifest: RawManifest = fs.read_json(Raw.manifest(raw))
    stats = fs.read_json(Dataset.stats(dataset))
    evaluation = fs.read_json(metrics)
    train_metrics = fs.read_json(fs.join(model, TrainedModel.METRICS))
    window = manifest.get("window") or {}
    scalars = {
        k: v
        for k, v in evaluation.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and v is not None
    }
    scalars |= {f"train_{k}": v for k, v in train_metrics.items() if isinstance(v, int | float)}
    scalars |= {f"{s}_examples": info["examples"] for s, info in stats["splits"].items()}
    blessing = evaluation.get("blessing", {})
    return {
        "config": load_yaml(config),
        "config_uri": config,
        "data": {
            "source": manifest.get("source"),
            "rows": manifest.get("row_count"),
            "window_end": window.get("end"),
            "window_days": window.get("days"),
            "window_dates": ",".join(window.get("dates") or []),
        },
        "metrics": scalars,
        "blessed": bool(blessing.get("blessed")),
        "reasons": blessing.get("reasons", []),
        "champion_version": blessing.get("champion_version"),
        "stats": stats,
        "evaluation": evaluation,
    }


def log_run(
    record: dict[str, Any],
    tracking: tuple[str, str | None],
    experiment: str,
    run_name: str,
    tags: dict[str, str],
) -> dict[str, str]:
    """Write the retraining run's record as one MLflow run."""
    params = flatten({"train": record["config"].get("train", {})})
    params |= {f"data.{k}": str(v) for k, v in record["data"].items() if v not in (None, "")}
    params["config"] = record["config_uri"]
    return log_mlflow_run(
        tracking,
        experiment,
        run_name,
        params,
        record["metrics"],
        {
            **tags,
            "blessed": str(record["blessed"]).lower(),
            "champion_version": record["champion_version"] or "",
            "mlflow.note.content": "\n".join(record["reasons"]),
        },
        {
            "config.yaml": record["config"],
            TrainedModel.DATASET_STATS: record["stats"],
            "evaluation.json": record["evaluation"],
        },
    )


def artifact_uris(executor_input: dict[str, Any] | None) -> dict[str, str]:
    """The input artifacts' URIs (gs:// on a cluster), as KFP passes them."""
    if not executor_input:
        return {}
    given = executor_input.get("inputs", {}).get("artifacts", {})
    return {
        name: value["artifacts"][0].get("uri", "")
        for name, value in given.items()
        if value.get("artifacts")
    }


def fill_run_url(template: str, job_name: str, job_id: str) -> str:
    try:
        return template.format(job_name=job_name, job_id=job_id)
    except (KeyError, IndexError, ValueError) as err:
        raise ConfigError(
            f"--run-url {template!r}: only {{job_name}} and {{job_id}} can be filled in ({err})"
        ) from err


def run(
    raw: str,
    dataset: str,
    model: str,
    metrics: str,
    config_uri: str,
    *,
    registry_root: str = "",
    tracking_uri: str = "",
    job_name: str = "",
    job_id: str = "",
    run_url: str = "",
    images: str = "{}",
    reason: str = "",
    record_out: Path,
    executor_input: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The record step: gather the run's record from the steps' outputs, log it as an MLflow run
    in the experiment named after the model (when there is a store), write the summary to
    `record_out` and as the KFP run_record artifact; the summary."""
    model_name = load_model(config_uri).name
    record = gather(raw, dataset, model, metrics, config_uri)
    uris = artifact_uris(executor_input) or {
        "raw": raw,
        "dataset": dataset,
        "model": model,
        "metrics": metrics,
    }
    tags = {f"artifact.{k}": v for k, v in uris.items()}
    tags |= {
        "pipeline.job_name": job_name,
        "pipeline.job_id": job_id,
        "pipeline.run_url": fill_run_url(run_url, job_name, job_id),
        "code_version": code_version(),
        "images": images,
        "registry_root": registry_root,
        "pipeline.reason": reason,
    }
    tracking = resolve_tracking(tracking_uri, registry_root)
    summary: dict[str, Any] = {
        "experiment": model_name,
        "run_name": job_name,
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
            registry_root,
            record_out,
        )
    else:
        summary |= log_run(record, tracking, model_name, job_name, tags)
    fs.write_json_atomic(record_out, summary)
    kfp_io.write_executor_output(
        executor_input,
        {"run_record": {k: summary[k] for k in ("run_id", "tracking_uri") if k in summary}},
    )
    return summary
