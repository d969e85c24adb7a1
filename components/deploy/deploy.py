"""Publish a blessed model into the registry, move `champion`, render a KServe InferenceService."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from pathlib import Path
from typing import Any

import yaml

from components.common import fs
from components.common.errors import InputDataError, PublishError
from components.common.registry import Registry
from components.deploy.config import DeployConfig

log = logging.getLogger(__name__)

SAVED_MODEL = "saved_model"
DATASET_STATS = "dataset_stats.json"
MANIFEST_NAME = "inferenceservice.yaml"


def content_hash(folder: Path) -> str:
    """sha256 over relative paths and bytes of every file: the same model, the same hash."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0")
        digest.update(fs.sha256_file(path).encode())
    return digest.hexdigest()


def new_version_id(saved_model: Path, now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now(dt.UTC)
    return f"v{now.strftime('%Y%m%dT%H%M%SZ')}-{content_hash(saved_model)[:8]}"


def inference_service(
    cfg: DeployConfig, storage_uri: str, version: str, previous: str | None, canary_percent: int
) -> dict[str, Any]:
    """KServe v1beta1 InferenceService: the new version takes canary_percent of traffic and the
    last ready revision (the previous champion) keeps the rest; the first version takes all."""
    predictor: dict[str, Any] = {
        "serviceAccountName": cfg.service_account,
        "minReplicas": 1,
        "model": {
            "modelFormat": {"name": "tensorflow"},
            "storageUri": storage_uri,
            "resources": {
                "requests": {"cpu": cfg.cpu_request, "memory": cfg.memory_request},
                "limits": {"cpu": cfg.cpu_limit, "memory": cfg.memory_limit},
            },
        },
    }
    if previous is not None:
        predictor["canaryTrafficPercent"] = canary_percent
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": cfg.model_name,
            "namespace": cfg.namespace,
            "labels": {
                "app.kubernetes.io/name": cfg.model_name,
                "app.kubernetes.io/part-of": "retrain-pipelines",
                "retrain-pipelines/model-version": version,
            },
            "annotations": {
                "retrain-pipelines/previous-version": previous or "",
                "retrain-pipelines/canary-percent": str(canary_percent if previous else 100),
            },
        },
        "spec": {"predictor": predictor},
    }


def deploy(
    model_dir: Path,
    evaluation: dict[str, Any],
    cfg: DeployConfig,
    registry_root: str,
    canary_percent: int,
    manifest_out: Path,
    version: str | None = None,
) -> dict[str, Any]:
    blessing = evaluation.get("blessing", {})
    if blessing.get("blessed") is not True:
        raise PublishError(
            "the evaluation did not bless this model "
            f"({'; '.join(blessing.get('reasons', ['no blessing recorded']))}); "
            "refusing to publish"
        )
    if not 0 <= canary_percent <= 100:
        raise PublishError(f"canary percent must be within 0..100, got {canary_percent}")
    saved_model = model_dir / SAVED_MODEL
    if not (saved_model / "saved_model.pb").is_file():
        raise InputDataError(f"{saved_model}: no saved_model.pb; expected the train step's output")

    registry = Registry(registry_root, cfg.model_name)
    previous = registry.champion()
    version = version or new_version_id(saved_model)
    manifest = inference_service(
        cfg,
        registry.serving_uri(version),
        version,
        previous["version"] if previous else None,
        canary_percent,
    )
    manifest_text = yaml.safe_dump(manifest, sort_keys=False)
    metadata = {
        "version": version,
        "model_name": cfg.model_name,
        "metrics": evaluation.get("candidate")
        or {k: v for k, v in evaluation.items() if k != "blessing"},
        "blessing": blessing,
        "previous_champion": previous["version"] if previous else None,
        "source_model": str(model_dir),
        "manifest": manifest,
    }
    stats = model_dir / DATASET_STATS  # what the model was trained on, for later drift checks
    extras = {DATASET_STATS: stats} if stats.is_file() else {}
    uri = registry.publish(saved_model, version, metadata, extras)
    pointer = registry.move_champion(
        version, reason="blessed: " + "; ".join(blessing.get("reasons", []))
    )
    fs.write_text_atomic(manifest_out, manifest_text)
    if pointer["version"] != version:
        raise PublishError(f"champion points at {pointer['version']}, expected {version}")
    log.info(
        "version %s published at %s; canary %s%%", version, uri, canary_percent if previous else 100
    )
    return {
        "version": version,
        "uri": uri,
        "previous": pointer["previous"],
        "serving_uri": registry.serving_uri(version),
        "manifest": str(manifest_out),
    }
