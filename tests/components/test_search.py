"""Hyperparameter search: Optuna trials locally, the same space as a Katib Experiment."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, run_cli, small_config

# Katib's StdOut metrics collector's default filter (katib pkg/metricscollector/v1beta1/common).
KATIB_FILTER = re.compile(r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)")


def test_katib_experiment_from_the_config_search_space() -> None:
    result = run_cli(
        "scripts.katib_experiment",
        "--config",
        REPO / "config" / "adult.yaml",
        "--dataset",
        "gs://retrain-dev-artifacts/run-1/dataset",
    )
    assert result.returncode == 0, result.stderr
    exp = yaml.safe_load(result.stdout)
    assert exp["apiVersion"] == "kubeflow.org/v1beta1" and exp["kind"] == "Experiment"
    spec = exp["spec"]
    assert spec["objective"] == {
        "type": "maximize",
        "objectiveMetricName": "val_auc",
        "additionalMetricNames": ["val_accuracy", "val_loss"],
    }
    assert (
        spec["maxTrialCount"] == 8 and spec["metricsCollectorSpec"]["collector"]["kind"] == "StdOut"
    )
    by_name = {p["name"]: p for p in spec["parameters"]}
    assert by_name["optimizer-learning-rate"]["feasibleSpace"] == {
        "min": "0.0003",
        "max": "0.01",
        "distribution": "logUniform",
    }
    assert by_name["batch-size"]["feasibleSpace"] == {"list": ["128", "256", "512"]}
    template = spec["trialTemplate"]
    referenced = {p["reference"] for p in template["trialParameters"]}
    assert referenced == set(by_name)  # every parameter reaches the trial
    job = template["trialSpec"]
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    for p in template["trialParameters"]:
        assert f"{p['description']}=${{trialParameters.{p['name']}}}" in args

    # The trial Job against Kubernetes' own schema, the placeholders filled as Katib fills them.
    import kubernetes_validate

    filled = json.loads(re.sub(r"\$\{trialParameters\.[^}]+\}", "0.1", json.dumps(job)))
    filled["metadata"] = {"name": "trial"}
    kubernetes_validate.validate(filled, "1.30", strict=True)


def test_katib_needs_a_remote_dataset_and_a_search() -> None:
    local = run_cli(
        "scripts.katib_experiment",
        "--config",
        REPO / "config" / "adult.yaml",
        "--dataset",
        "/tmp/x",
    )
    assert local.returncode == 2 and "give the gs:// dataset" in local.stderr
    none = run_cli(
        "scripts.katib_experiment",
        "--config",
        REPO / "config" / "reviews.yaml",
        "--dataset",
        "gs://b/ds",
    )
    assert none.returncode == 2 and "no train.search section" in none.stderr


@pytest.mark.integration
def test_trial_prints_the_metrics_katib_collects(tmp_path: Path, built_dataset: Path) -> None:
    """A trial's command: --set overrides, and name=value lines Katib's filter reads."""
    result = run_cli(
        "components.train",
        "--dataset",
        built_dataset,
        "--config",
        small_config(tmp_path),
        "--output",
        tmp_path / "model",
        "--epochs",
        "1",
        "--set",
        "optimizer.learning_rate=0.003",
        "--set",
        "inputs.0.encoder.dropout=0.25",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    collected = {m.group(1): float(m.group(2)) for m in KATIB_FILTER.finditer(result.stdout)}
    assert 0 <= collected["val_auc"] <= 1 and "val_loss" in collected
    saved = json.loads((tmp_path / "model" / "train_config.json").read_text())
    assert saved["optimizer"]["learning_rate"] == 0.003
    assert saved["inputs"][0]["encoder"]["dropout"] == 0.25
    bad = run_cli(
        "components.train",
        "--dataset",
        built_dataset,
        "--config",
        small_config(tmp_path),
        "--output",
        tmp_path / "m2",
        "--set",
        "optimizer.momentum=0.9",
    )
    assert bad.returncode == 2 and "optimizer.momentum: no such setting" in bad.stderr


@pytest.mark.integration
def test_optuna_search_records_the_best_trial(tmp_path: Path, built_dataset: Path) -> None:
    cfg = yaml.safe_load(small_config(tmp_path).read_text())
    cfg["train"]["search"] = {
        "trials": 3,
        "epochs": 1,
        "space": {
            "optimizer.learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
            "batch_size": {"type": "categorical", "choices": [16, 32]},
        },
    }
    config = tmp_path / "search.yaml"
    config.write_text(yaml.safe_dump(cfg))
    args = ("--dataset", built_dataset, "--config", config, "--output", tmp_path / "search")
    result = run_cli("components.train.search", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads((tmp_path / "search" / "search.json").read_text())
    assert len(found["trials"]) == 3 and found["metric"] == "val_auc"
    values = [t["value"] for t in found["trials"]]
    assert found["best"]["value"] == max(values)
    best = yaml.safe_load((tmp_path / "search" / "best_config.yaml").read_text())
    assert best["train"]["batch_size"] == found["best_params"]["batch_size"]
    assert best["train"]["optimizer"]["learning_rate"] == pytest.approx(
        found["best_params"]["optimizer.learning_rate"]
    )
    assert best["evaluate"] == cfg["evaluate"]  # the rest of the file as it was
    # Seeded TPE: a second search proposes the same trials.
    again = run_cli("components.train.search", *args[:-1], tmp_path / "again")
    assert again.returncode == 0, again.stderr[-3000:]
    repeat = json.loads((tmp_path / "again" / "search.json").read_text())
    assert [t["params"] for t in repeat["trials"]] == [t["params"] for t in found["trials"]]
