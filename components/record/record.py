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

from components.common import fs

log = logging.getLogger(__name__)

LOCAL_STORE = "mlflow"  # beside the registry folder: <registry_root>/../mlflow/
MAX_PARAM = 500  # MLflow's limit on a parameter value's length


def local_tracking(folder: Path) -> tuple[str, str]:
    """(tracking URI, artifact location) of the local store in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder.resolve() / 'mlflow.db'}", (folder.resolve() / "artifacts").as_uri()


def resolve_tracking(tracking_uri: str, registry_root: str) -> tuple[str, str | None] | None:
    """The tracking URI to use and the artifact location for a new experiment: the given URI,
    or the local store beside a local registry; None when there is neither."""
    if tracking_uri:
        return tracking_uri, None
    if registry_root and not fs.is_remote(registry_root):
        return local_tracking(Path(registry_root).parent / LOCAL_STORE)
    return None


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

    manifest = fs.read_json(fs.join(raw, "manifest.json"))
    stats = fs.read_json(fs.join(dataset, "stats.json"))
    evaluation = fs.read_json(metrics)
    train_metrics = fs.read_json(fs.join(model, "metrics.json"))
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


def log_mlflow_run(
    tracking: tuple[str, str | None],
    experiment: str,
    run_name: str,
    params: dict[str, str],
    metrics: dict[str, float],
    tags: dict[str, str],
    dicts: dict[str, Any],
    files: tuple[Path, ...] = (),
) -> dict[str, str]:
    """One MLflow run (the experiment is created on first use); {run_id, experiment_id,
    tracking_uri}. `dicts` are logged as JSON/YAML artifacts under their names, `files` as is."""
    import mlflow
    from mlflow.tracking import MlflowClient

    uri, artifact_location = tracking
    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = (
        found.experiment_id
        if found
        else client.create_experiment(experiment, artifact_location=artifact_location)
    )
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name) as run:
        mlflow.log_params(params)
        mlflow.log_metrics({k: float(v) for k, v in metrics.items()})
        mlflow.set_tags(tags)
        for name, value in dicts.items():
            mlflow.log_dict(value, name)
        for path in files:
            mlflow.log_artifact(str(path))
    log.info("MLflow run %s in experiment %r at %s", run.info.run_id, experiment, uri)
    return {"run_id": run.info.run_id, "experiment_id": experiment_id, "tracking_uri": uri}


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
            "dataset_stats.json": record["stats"],
            "evaluation.json": record["evaluation"],
        },
    )
