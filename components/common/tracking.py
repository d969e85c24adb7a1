"""MLflow tracking for the steps that record runs (record: the retraining run; readout: the A/B
readout): where the store is, and one run logged with its parameters, metrics, tags and files.

MLflow is the store (a tracking server on clusters; locally a SQLite file beside the model
registry), so runs are listed and compared with MLflow's own UI and client, or with
`python -m pipelines runs`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from components.common import fs

log = logging.getLogger(__name__)

LOCAL_STORE = "mlflow"  # beside the registry folder: <registry_root>/../mlflow/


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
