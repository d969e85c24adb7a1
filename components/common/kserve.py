"""The KServe InferenceService of a model, rendered from the registry's pointers: written by deploy
when it publishes a version and again by promote when a readout moves the pointers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field

from components.common import fs
from components.common.config import Strict, load_yaml, validate_section
from components.common.errors import ConfigError, PublishError
from components.common.model import ModelConfig
from components.common.registry import Registry

SECTION = "deploy"  # the serving settings sit in the deploy section, beside its rollout


class ServingSettings(Strict):
    """How the model's predictor runs: the fields of the `deploy` section the InferenceService
    is rendered from (components.deploy.config.DeployConfig adds the deploy step's own)."""

    service_account: str = Field(
        default="model-server", description="Kubernetes service account of the predictor pods"
    )
    cpu_request: str = Field(default="500m", description="predictor CPU request (a quantity)")
    memory_request: str = Field(default="1Gi", description="predictor memory request")
    cpu_limit: str = Field(default="1", description="predictor CPU limit")
    memory_limit: str = Field(default="2Gi", description="predictor memory limit")


def load_serving(config_uri: str) -> ServingSettings:
    """The serving settings of the config at `config_uri` (defaults when it sets none)."""
    section = load_yaml(config_uri).get(SECTION) or {}
    if not isinstance(section, dict):
        raise ConfigError(f"{config_uri}: section '{SECTION}' must be a mapping")
    fields = {k: v for k, v in section.items() if k in ServingSettings.model_fields}
    return validate_section(config_uri, SECTION, ServingSettings, fields)


def inference_service(
    model: ModelConfig, serving: ServingSettings, registry: Registry
) -> dict[str, Any]:
    """KServe v1beta1 InferenceService rendered from the registry's pointers. With a challenger
    the spec names it and `canaryTrafficPercent` gives it its share while the last rolled-out
    revision (the champion) keeps the rest; without one the champion takes all traffic (a
    promotion or a rollback re-renders this). Tag routing lets a router address both revisions."""
    champion, challenger = registry.champion(), registry.challenger()
    if champion is None:
        raise PublishError(f"{registry.base} has no champion; publish a version first")
    testing = challenger is not None and challenger["version"] != champion["version"]
    serving_version = challenger if testing and challenger is not None else champion
    predictor: dict[str, Any] = {
        "serviceAccountName": serving.service_account,
        "minReplicas": 1,
        "model": {
            "modelFormat": {"name": "tensorflow"},
            "storageUri": registry.serving_uri(serving_version["version"]),
            "resources": {
                "requests": {"cpu": serving.cpu_request, "memory": serving.memory_request},
                "limits": {"cpu": serving.cpu_limit, "memory": serving.memory_limit},
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
            "name": model.name,
            "namespace": model.namespace,
            "labels": {
                "app.kubernetes.io/name": model.name,
                "app.kubernetes.io/part-of": "retrain-pipelines",
                "retrain-pipelines/model-version": serving_version["version"],
            },
            "annotations": annotations,
        },
        "spec": {"predictor": predictor},
    }


def write_manifest(
    model: ModelConfig, serving: ServingSettings, registry: Registry, out: Path
) -> dict[str, Any]:
    """Render the InferenceService and write it to `out` as YAML; the rendered object."""
    manifest = inference_service(model, serving, registry)
    fs.write_text_atomic(out, yaml.safe_dump(manifest, sort_keys=False))
    return manifest
