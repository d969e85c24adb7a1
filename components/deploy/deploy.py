"""Publish a blessed model into the registry as the challenger (or the first champion), and render
the KServe InferenceService from the registry's pointers."""

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


def inference_service(cfg: DeployConfig, registry: Registry) -> dict[str, Any]:
    """KServe v1beta1 InferenceService rendered from the registry's pointers. With a challenger
    the spec names it and `canaryTrafficPercent` gives it its share while the last rolled-out
    revision (the champion) keeps the rest; without one the champion takes all traffic (a
    promotion or a rollback re-renders this). Tag routing lets a router address both revisions."""
    champion, challenger = registry.champion(), registry.challenger()
    if champion is None:
        raise PublishError(f"{registry.base} has no champion; publish a version first")
    testing = challenger is not None and challenger["version"] != champion["version"]
    serving = challenger if testing and challenger is not None else champion
    predictor: dict[str, Any] = {
        "serviceAccountName": cfg.service_account,
        "minReplicas": 1,
        "model": {
            "modelFormat": {"name": "tensorflow"},
            "storageUri": registry.serving_uri(serving["version"]),
            "resources": {
                "requests": {"cpu": cfg.cpu_request, "memory": cfg.memory_request},
                "limits": {"cpu": cfg.cpu_limit, "memory": cfg.memory_limit},
            },
        },
    }
    annotations = {"serving.kserve.io/enable-tag-routing": "true"}
    if testing and challenger is not None:
        predictor["canaryTrafficPercent"] = round(challenger["percent"])
        annotations["retrain-pipelines/champion-version"] = champion["version"]
        annotations["retrain-pipelines/challenger-percent"] = str(challenger["percent"])
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": cfg.model_name,
            "namespace": cfg.namespace,
            "labels": {
                "app.kubernetes.io/name": cfg.model_name,
                "app.kubernetes.io/part-of": "retrain-pipelines",
                "retrain-pipelines/model-version": serving["version"],
            },
            "annotations": annotations,
        },
        "spec": {"predictor": predictor},
    }


def write_manifest(cfg: DeployConfig, registry: Registry, out: Path) -> dict[str, Any]:
    manifest = inference_service(cfg, registry)
    fs.write_text_atomic(out, yaml.safe_dump(manifest, sort_keys=False))
    return manifest


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
    champion, challenger = registry.champion(), registry.challenger()
    version = version or new_version_id(saved_model)
    metadata = {
        "version": version,
        "model_name": cfg.model_name,
        "metrics": evaluation.get("candidate")
        or {k: v for k, v in evaluation.items() if k != "blessing"},
        "blessing": blessing,
        "champion_at_publish": champion["version"] if champion else None,
        "source_model": str(model_dir),
    }
    stats = model_dir / DATASET_STATS  # what the model was trained on, for later drift checks
    extras = {DATASET_STATS: stats} if stats.is_file() else {}
    uri = registry.publish(saved_model, version, metadata, extras)
    reason = "blessed: " + "; ".join(blessing.get("reasons", []))
    if champion is None or cfg.rollout == "replace":
        role = "champion"
        registry.move_champion(version, reason)
        if challenger is not None:
            registry.move(
                "challenger", None, f"champion replaced by {version}", challenger["version"]
            )
    else:
        role = "challenger"
        registry.start_challenger(version, canary_percent, reason)
    manifest = write_manifest(cfg, registry, manifest_out)
    log.info(
        "version %s published at %s as %s%s",
        version,
        uri,
        role,
        f" with {canary_percent}% of units" if role == "challenger" else "",
    )
    return {
        "version": version,
        "uri": uri,
        "role": role,
        "previous": champion["version"] if champion else None,
        "serving_uri": registry.serving_uri(version),
        "manifest": str(manifest_out),
        "storage_uri": manifest["spec"]["predictor"]["model"]["storageUri"],
    }
