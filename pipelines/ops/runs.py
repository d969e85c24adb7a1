"""`python -m pipelines runs`: list and compare retraining runs from MLflow tracking.

The record step logs every run (config, data window, metrics, blessing, images, artifact URIs,
the KFP/Argo run); this reads them back with MLflow's client. Default store: the local one the
local runs write (local-gcs/<models bucket>/mlflow/mlflow.db); `--tracking-uri` for a server.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from pipelines import platform

COLUMNS = ("roc_auc", "baseline_roc_auc", "champion_roc_auc", "accuracy", "ece")


def default_tracking_uri(platform_file: Path, local_gcs: Path) -> str:
    """The local store of local runs: beside the registry in the local stand-in of the models
    bucket."""
    from components.common.tracking import LOCAL_STORE

    bucket = platform.load(platform_file).bucket("models").removeprefix("gs://")
    return f"sqlite:///{(local_gcs / bucket / LOCAL_STORE).resolve() / 'mlflow.db'}"


def _client(uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        raise SystemExit(
            f"no run records at {uri}: run `make demo` (or `python -m pipelines run retrain`) "
            "first, or pass --tracking-uri"
        )
    return MlflowClient(uri)


def _experiments(client: Any, name: str | None) -> list[Any]:
    if name:
        found = client.get_experiment_by_name(name)
        if found is None:
            names = [e.name for e in client.search_experiments()]
            raise SystemExit(f"no experiment {name!r}; the store has {names}")
        return [found]
    return [e for e in client.search_experiments() if e.name != "Default"]


def list_runs(uri: str, experiment: str | None, limit: int) -> str:
    client = _client(uri)
    experiments = _experiments(client, experiment)
    if not experiments:
        return f"no runs recorded at {uri}"
    runs = client.search_runs(
        [e.experiment_id for e in experiments], order_by=["start_time DESC"], max_results=limit
    )
    names = {e.experiment_id: e.name for e in experiments}
    header = ("started (UTC)", "run id", "experiment", "run", "data window end", "blessed")
    rows = [[*header, *COLUMNS]]
    for run in runs:
        start = dt.datetime.fromtimestamp(run.info.start_time / 1000, dt.UTC)
        metrics, params, tags = run.data.metrics, run.data.params, run.data.tags
        rows.append(
            [
                start.strftime("%Y-%m-%d %H:%M"),
                run.info.run_id[:12],
                names.get(run.info.experiment_id, "?"),
                run.info.run_name or "",
                params.get("data.window_end", ""),
                tags.get("blessed", ""),
                *(f"{metrics[c]:.4f}" if c in metrics else "-" for c in COLUMNS),
            ]
        )
    return _table(rows)


def compare_runs(uri: str, run_ids: list[str]) -> str:
    """Side by side: every metric, and the parameters and tags that differ."""
    client = _client(uri)
    runs = [_find(client, r) for r in run_ids]
    rows = [["", *(r.info.run_id[:12] for r in runs)]]
    for key in sorted({k for r in runs for k in r.data.metrics}):
        rows.append([key, *(_num(r.data.metrics.get(key)) for r in runs)])
    for kind, get in (("param", lambda r: r.data.params), ("tag", lambda r: r.data.tags)):
        keys = sorted({k for r in runs for k in get(r) if not k.startswith("mlflow.")})
        for key in keys:
            values = [get(r).get(key, "") for r in runs]
            if len(set(values)) > 1:
                rows.append([f"{kind} {key}", *(v[:40] for v in values)])
    return _table(rows)


def _find(client: Any, prefix: str) -> Any:
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id], max_results=10000):
            if run.info.run_id.startswith(prefix):
                return run
    raise SystemExit(f"no run with id {prefix!r}; `python -m pipelines runs` lists them")


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    return str(int(value)) if float(value).is_integer() and abs(value) > 1 else f"{value:.4f}"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
