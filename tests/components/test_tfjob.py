"""Several workers: the TFJob the train step launches (checked against Kubernetes' own pod
schema), and real MultiWorkerMirroredStrategy training of two local processes under the
TF_CONFIG a TFJob gives its workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from components.common.errors import ConfigError, InputDataError
from components.train import tfjob
from tests.conftest import REPO, free_port, run_cli, small_config

SETTINGS = tfjob.TFJobSettings(
    image="registry.example/retrain-tf-gpu@sha256:" + "a" * 64,
    root="gs://retrain-dev-artifacts/tfjobs",
    node_selector=tfjob.parse_labels("retrain-pipelines/pool=gpu"),
    tolerations=tfjob.parse_taints("nvidia.com/gpu=present:NoSchedule"),
)


def test_tfjob_runs_the_train_command_on_every_worker() -> None:
    name = tfjob.job_name("/gcs/retrain-dev-artifacts/run-1/train/model")
    args = tfjob.worker_args(
        "/gcs/retrain-dev-artifacts/run-1/build-dataset/dataset",
        "config/reviews.yaml",
        name,
        SETTINGS,
        ["head.dropout=0.2"],
    )
    job = tfjob.manifest(name, 4, args, SETTINGS)
    assert job["apiVersion"] == "kubeflow.org/v1" and job["kind"] == "TFJob"
    assert job["metadata"] == {"name": name, "namespace": "ml-pipelines"}
    worker = job["spec"]["tfReplicaSpecs"]["Worker"]
    assert worker["replicas"] == 4 and worker["restartPolicy"] == "OnFailure"
    assert job["spec"]["runPolicy"]["cleanPodPolicy"] == "Running"
    (container,) = worker["template"]["spec"]["containers"]
    assert container["name"] == "tensorflow"  # the name the operator looks for
    assert container["command"] == ["python", "-m", "components.train"]
    flags = dict(zip(container["args"][::2], container["args"][1::2], strict=True))
    assert flags["--dataset"] == "gs://retrain-dev-artifacts/run-1/build-dataset/dataset"
    assert flags["--checkpoint-dir"] == f"gs://retrain-dev-artifacts/tfjobs/{name}/checkpoints"
    assert flags["--publish-uri"] == f"gs://retrain-dev-artifacts/tfjobs/{name}/model"
    assert flags["--set"] == "head.dropout=0.2"
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert worker["template"]["spec"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}
    ]

    # The pod template against Kubernetes' own schema, unknown fields rejected.
    import kubernetes_validate

    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "worker", **worker["template"]["metadata"]},
        "spec": worker["template"]["spec"],
    }
    kubernetes_validate.validate(pod, "1.30", strict=True)


def test_tfjob_inputs_are_checked() -> None:
    with pytest.raises(InputDataError, match="must be on gs://"):
        tfjob.gcs_uri("/tmp/dataset")
    assert tfjob.gcs_uri("/gcs/b/k/dataset") == "gs://b/k/dataset"
    with pytest.raises(ConfigError, match="2 or more workers"):
        tfjob.manifest("x", 1, [], SETTINGS)
    with pytest.raises(ConfigError, match="key\\[=value\\]:NoSchedule"):
        tfjob.parse_taints("nvidia.com/gpu=present")
    assert tfjob.parse_taints("dedicated:NoExecute") == [
        {"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}
    ]


def test_train_with_workers_launches_a_tfjob(tmp_path: Path) -> None:
    """--workers 2 --dry-run: the launcher prints the TFJob it would create."""
    result = run_cli(
        "components.train",
        "--dataset",
        "gs://retrain-dev-artifacts/run-1/dataset",
        "--config",
        REPO / "config" / "reviews.yaml",
        "--output",
        tmp_path / "model",
        "--workers",
        "2",
        "--tfjob-image",
        SETTINGS.image,
        "--tfjob-root",
        SETTINGS.root,
        "--dry-run",
    )
    assert result.returncode == 0, result.stderr
    assert "would create TFJob ml-pipelines/train-" in result.stderr
    job = json.loads(result.stdout)
    assert job["spec"]["tfReplicaSpecs"]["Worker"]["replicas"] == 2
    assert not (tmp_path / "model").exists()

    missing = run_cli(
        "components.train",
        "--dataset",
        tmp_path,
        "--config",
        REPO / "config" / "reviews.yaml",
        "--output",
        tmp_path / "model",
        "--workers",
        "2",
    )
    assert missing.returncode == 2
    assert "--workers > 1 needs --tfjob-image and a gs:// --tfjob-root" in missing.stderr


@pytest.mark.integration
def test_two_workers_train_with_multi_worker_mirrored_strategy(
    tmp_path: Path, built_dataset: Path
) -> None:
    """Two processes on loopback with the TF_CONFIG the operator sets: both train in lockstep
    (collective all-reduce), only worker 0 (the chief) exports and publishes the model."""
    ports = [free_port(), free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    config = small_config(tmp_path)
    procs = []
    for index in range(2):
        env = {
            **os.environ,
            "TF_CONFIG": json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": index}}
            ),
            "CUDA_VISIBLE_DEVICES": "",
        }
        cmd = [
            sys.executable,
            "-m",
            "components.train",
            "--dataset",
            str(built_dataset),
            "--config",
            str(config),
            "--output",
            str(tmp_path / f"worker{index}" / "model"),
            "--checkpoint-dir",
            str(tmp_path / "checkpoints"),
            "--publish-uri",
            str(tmp_path / "published"),
        ]
        procs.append(
            subprocess.Popen(
                cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
        )
    outputs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err[-3000:]
    assert "MultiWorkerMirroredStrategy" in outputs[0][1]
    assert (tmp_path / "worker0" / "model" / "saved_model" / "saved_model.pb").exists()
    assert not (tmp_path / "worker1" / "model").exists()  # only the chief publishes
    assert (tmp_path / "published" / tfjob.DONE).exists()
    assert (tmp_path / "published" / "saved_model" / "saved_model.pb").exists()
    history = json.loads((tmp_path / "worker0" / "model" / "history.json").read_text())
    assert len(history["loss"]) == 2
