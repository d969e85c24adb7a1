"""Acceptance: the compiled retraining DAG, run locally on the full review corpus.

Marked slow (about 6 minutes on 2 cores): `make test-slow`, and CI runs it. Wall time is measured
by bench/e2e.py, not asserted here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.common.registry import Registry
from tests.conftest import DEPLOY_TASK, REPO, run_cli


@pytest.mark.slow
def test_full_corpus_run(tmp_path: Path) -> None:
    registry = tmp_path / "registry"
    result = run_cli(
        "pipelines",
        "run",
        "retrain",
        "--runs-dir",
        tmp_path / "runs",
        "-p",
        f"registry_root={registry}",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").glob("retrain-*")
    tasks = json.loads((run_dir / "run.json").read_text())["tasks"]

    def out(task: str, name: str) -> Path:
        return Path(tasks[task]["artifacts"][name]["uri"])

    manifest = json.loads((out("ingest", "raw") / "manifest.json").read_text())
    assert manifest["row_count"] == 13905
    pre = json.loads((out("preprocess", "records") / "stats.json").read_text())
    assert pre["rows_in"] == 13905
    assert pre["rows_in"] == (
        pre["rows_out"]
        + pre["dead_letter"]
        + pre["filtered"]
        + pre["duplicates_dropped"]
        + pre["near_duplicates_dropped"]
    )
    assert pre["near_duplicates_dropped"] == 42  # MinHash is seeded: the same rows every run
    # 1,097 plot rows: filtered by the declared rule, or dead-lettered when their text is empty.
    assert pre["filtered:plot_summary_not_a_review"] + pre["dead_letter"] == 1097
    data = json.loads((out("build-dataset", "dataset") / "stats.json").read_text())
    assert data["leaked_groups"] == 0 and data["total_examples"] == pre["rows_out"]

    metrics = json.loads(out("evaluate", "metrics").read_text())
    print(f"test ROC AUC {metrics['roc_auc']:.4f}, baseline {metrics['baseline_roc_auc']:.4f}")
    # The model at least matches the TF-IDF + logistic regression baseline fit in the same
    # step on the same split.
    assert 0.80 <= metrics["baseline_roc_auc"] <= 1, metrics
    assert metrics["roc_auc"] >= metrics["baseline_roc_auc"], metrics
    assert metrics["slices"]["text length"] and 0 <= metrics["ece"] <= 1
    assert metrics["blessing"]["blessed"] is True
    champion = Registry(str(registry), "reviews-sentiment").champion()
    assert champion is not None
    record = json.loads(out(DEPLOY_TASK, "record").read_text())
    assert champion["version"] == record["version"]
    assert tasks["record"]["status"] == "succeeded"  # the run is an MLflow run too


@pytest.mark.slow
def test_adult_model_beats_its_baseline(tmp_path: Path) -> None:
    """UCI Adult through ingest, preprocess, dataset, train and evaluate with config/adult.yaml:
    categorical embeddings, bucketised and normalised numbers, the annealing sampler."""
    from tests.components.test_adult import adult_file

    src = tmp_path / "src"
    src.mkdir()
    for name in ("adult.data", "adult.test"):
        (src / name).write_bytes(adult_file(name).read_bytes())
    config = REPO / "config" / "adult.yaml"
    steps = [
        ("components.ingest", "--source", f"{src}/adult.*", "--output", tmp_path / "raw"),
        ("components.preprocess", "--raw", tmp_path / "raw", "--output", tmp_path / "pre"),
        ("components.dataset", "--records", tmp_path / "pre", "--output", tmp_path / "ds"),
        ("components.train", "--dataset", tmp_path / "ds", "--output", tmp_path / "model"),
        (
            "components.evaluate",
            "--model",
            tmp_path / "model",
            "--dataset",
            tmp_path / "ds",
            "--metrics",
            tmp_path / "metrics.json",
            "--classification-metrics",
            tmp_path / "cm.json",
            "--report",
            tmp_path / "report.html",
            "--blessed",
            tmp_path / "blessed",
        ),
    ]
    for module, *args in steps:
        result = run_cli(module, *args, "--config", config)
        assert result.returncode == 0, f"{module}: {result.stderr[-3000:]}"
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    print(
        f"Adult test ROC AUC {metrics['roc_auc']:.4f}, baseline {metrics['baseline_roc_auc']:.4f}"
    )
    assert metrics["roc_auc"] >= 0.90, metrics
    assert metrics["roc_auc"] >= metrics["baseline_roc_auc"], metrics  # logreg, listed first
    assert metrics["baseline_gbt_roc_auc"] is not None, metrics  # reported beside it
    assert {r["slice"] for r in metrics["slices"]["sex"]} == {"Female", "Male"}
    assert metrics["blessing"]["blessed"] is True
