"""Deploy: immutable versions, the champion pointer, KServe canary, and a kill mid-publish."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from components.common.errors import ConflictError, PublishError
from components.common.registry import Registry
from tests.conftest import REPO, run_cli

BLESSED = {"roc_auc": 0.9, "blessing": {"blessed": True, "reasons": ["test"]}}


def fake_model(root: Path, files: int = 1, size: int = 10) -> Path:
    """A model folder with the layout deploy checks (saved_model/saved_model.pb)."""
    saved = root / "saved_model"
    (saved / "variables").mkdir(parents=True)
    (saved / "saved_model.pb").write_bytes(os.urandom(size))
    for i in range(files):
        (saved / "variables" / f"shard-{i:05d}").write_bytes(os.urandom(size))
    return root


def deploy_args(tmp: Path, model: Path, metrics: dict, canary: int = 10) -> list:
    metrics_file = tmp / f"metrics-{time.monotonic_ns()}.json"
    metrics_file.write_text(json.dumps(metrics))
    return [
        "--model",
        model,
        "--metrics",
        metrics_file,
        "--config",
        REPO / "config" / "reviews.yaml",
        "--registry-root",
        tmp / "registry",
        "--canary-percent",
        str(canary),
        "--manifest",
        tmp / "isvc.yaml",
    ]


def test_publish_then_canary(tmp_path: Path) -> None:
    first = run_cli(
        "components.deploy",
        *deploy_args(tmp_path, fake_model(tmp_path / "m1"), BLESSED),
        "--version",
        "v1",
    )
    assert first.returncode == 0, first.stderr
    isvc = yaml.safe_load((tmp_path / "isvc.yaml").read_text())
    assert "canaryTrafficPercent" not in isvc["spec"]["predictor"]  # first model takes all
    second = run_cli(
        "components.deploy",
        *deploy_args(tmp_path, fake_model(tmp_path / "m2"), BLESSED, canary=25),
        "--version",
        "v2",
    )
    assert second.returncode == 0, second.stderr
    isvc = yaml.safe_load((tmp_path / "isvc.yaml").read_text())
    predictor = isvc["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 25
    assert predictor["model"]["storageUri"].endswith("reviews-sentiment/versions/v2/model")
    assert isvc["metadata"]["annotations"]["retrain-pipelines/champion-version"] == "v1"
    registry = Registry(str(tmp_path / "registry"), "reviews-sentiment")
    assert registry.versions() == ["v1", "v2"]
    champion, challenger = registry.champion(), registry.challenger()
    # A/B rollout: v2 is the challenger on 25% of units; v1 keeps serving as champion.
    assert champion is not None and champion["version"] == "v1"
    assert challenger is not None and challenger["version"] == "v2"
    assert challenger["percent"] == 25 and challenger["salt"] == "v2"
    assert (Path(registry.saved_model_uri("v2")) / "saved_model.pb").exists()
    third = run_cli(
        "components.deploy",
        *deploy_args(tmp_path, fake_model(tmp_path / "m3"), BLESSED, canary=10),
        "--version",
        "v3",
    )
    assert third.returncode == 0, third.stderr
    challenger = registry.challenger()
    assert challenger is not None and challenger["version"] == "v3"
    assert "supersedes challenger v2" in challenger["reason"]
    moves = [(h["pointer"], h["version"], h["previous"]) for h in registry.history()]
    assert moves == [
        ("champion", "v1", None),
        ("challenger", "v2", None),
        ("challenger", "v3", "v2"),
    ]


def test_replace_rollout_moves_champion_at_once(tmp_path: Path) -> None:
    cfg = yaml.safe_load((REPO / "config" / "reviews.yaml").read_text())
    cfg["deploy"]["rollout"] = "replace"
    (tmp_path / "replace.yaml").write_text(yaml.safe_dump(cfg))
    for version in ("v1", "v2"):
        args = deploy_args(tmp_path, fake_model(tmp_path / version), BLESSED)
        args[args.index("--config") + 1] = tmp_path / "replace.yaml"
        assert run_cli("components.deploy", *args, "--version", version).returncode == 0
    registry = Registry(str(tmp_path / "registry"), "reviews-sentiment")
    champion = registry.champion()
    assert champion is not None and champion["version"] == "v2" and champion["previous"] == "v1"
    assert registry.challenger() is None
    isvc = yaml.safe_load((tmp_path / "isvc.yaml").read_text())
    assert "canaryTrafficPercent" not in isvc["spec"]["predictor"]


def test_pointer_moves_are_compare_and_swap(tmp_path: Path) -> None:
    registry = Registry(str(tmp_path / "registry"), "reviews-sentiment")
    for version in ("v1", "v2"):
        registry.publish(fake_model(tmp_path / version) / "saved_model", version, {})
    registry.move("champion", "v1", "first", expect=None)
    with pytest.raises(ConflictError, match=r"is v1 \(generation 1\), expected nothing"):
        registry.move("champion", "v2", "stale writer", expect=None)
    challenger = registry.move("challenger", "v2", "test", expect=None, percent=10)
    registry.move("challenger", None, "rolled back", expect=challenger)
    assert registry.challenger() is None
    assert [h["reason"] for h in registry.history()] == ["first", "test", "rolled back"]
    with pytest.raises(PublishError, match="not a committed version"):
        registry.move("challenger", "v9", "unknown", expect=None)


def test_versions_are_immutable_and_unblessed_is_refused(tmp_path: Path) -> None:
    model = fake_model(tmp_path / "m")
    assert (
        run_cli(
            "components.deploy", *deploy_args(tmp_path, model, BLESSED), "--version", "v1"
        ).returncode
        == 0
    )
    other = fake_model(tmp_path / "other")  # another model: the same one is refused as a twin
    again = run_cli("components.deploy", *deploy_args(tmp_path, other, BLESSED), "--version", "v1")
    assert again.returncode == 2 and "versions are immutable" in again.stderr
    twin = run_cli("components.deploy", *deploy_args(tmp_path, model, BLESSED), "--version", "v2")
    assert twin.returncode == 2 and "identical to the champion v1" in twin.stderr
    refused = run_cli(
        "components.deploy",
        *deploy_args(
            tmp_path, model, {"blessing": {"blessed": False, "reasons": ["roc_auc too low"]}}
        ),
    )
    assert refused.returncode == 2
    assert "did not bless this model (roc_auc too low)" in refused.stderr


@pytest.mark.integration
def test_kill_during_publish_keeps_previous_champion(tmp_path: Path) -> None:
    assert (
        run_cli(
            "components.deploy",
            *deploy_args(tmp_path, fake_model(tmp_path / "m1"), BLESSED),
            "--version",
            "v1",
        ).returncode
        == 0
    )
    big = fake_model(tmp_path / "big", files=400, size=1 << 20)  # 400 MiB: a slow copy
    staging = tmp_path / "registry" / "reviews-sentiment" / ".staging"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "components.deploy",
            *map(str, deploy_args(tmp_path, big, BLESSED)),
            "--version",
            "v2",
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not any(staging.glob("v2-*/model/1/variables/shard-0001*")):
        assert proc.poll() is None, "deploy finished before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    registry = Registry(str(tmp_path / "registry"), "reviews-sentiment")
    assert registry.versions() == ["v1"]
    assert not (tmp_path / "registry" / "reviews-sentiment" / "versions" / "v2").exists()
    champion = registry.champion()
    assert champion is not None and champion["version"] == "v1"
    assert any(staging.iterdir())  # the partial copy is only in the hidden staging area
