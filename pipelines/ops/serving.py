"""The A/B model server on a cluster: `components.serve` as a Deployment (both versions loaded
from the registry bucket, sticky routing, the request log shipped to the artifacts bucket where
the ab-readout DAG reads it) and its Service, in the serving namespace of the config's model.

Written by `make compile` to manifests/serving/ab-router.yaml; applied by hand
(`kubectl apply -f manifests/serving/`), after the first retraining run has published a champion.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from components.common.images import image
from components.common.kserve import ServingSettings, load_serving
from components.common.model import ModelConfig, load_model
from pipelines import catalog, platform
from pipelines.argo.dump import write_yaml
from pipelines.catalog import IMAGE_UID, PART_OF
from pipelines.platform import Platform

DEFAULT_CONFIG = "config/reviews.yaml"
PORT = 8080
LOG_ROOT = "/var/log/serving"


def write_manifest(
    platform_file: Path = platform.DEFAULT_PLATFORM,
    root: Path = catalog.MANIFESTS,
    config: str = DEFAULT_CONFIG,
) -> Path:
    """The A/B model server of `config`'s model (engine-independent; kubectl apply)."""
    uri = str(catalog.REPO_ROOT / config)
    return write_yaml(
        root / "serving" / "ab-router.yaml",
        objects(platform.load(platform_file), load_model(uri), load_serving(uri)),
        f"The A/B model server of {config}: kubectl apply -f manifests/serving/",
    )


def objects(
    platform: Platform, model: ModelConfig, server: ServingSettings
) -> list[dict[str, Any]]:
    """The server's objects; its pod runs with the config's serving settings (the deploy
    section's service account, requests and limits, as the InferenceService does)."""
    name = f"{model.name}-ab-router"
    labels = {"app.kubernetes.io/name": name, **PART_OF}
    meta = {"name": name, "namespace": model.namespace, "labels": dict(labels)}
    account: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": server.service_account,
            "namespace": model.namespace,
            "labels": PART_OF,
        },
    }
    if platform.serving_gcp_sa:
        account["metadata"]["annotations"] = {
            "iam.gke.io/gcp-service-account": platform.serving_gcp_sa
        }
    probe = {"httpGet": {"path": f"/v1/models/{model.name}", "port": "http"}}
    container = {
        "name": "server",
        "image": image("tf", platform.image_registry),
        "imagePullPolicy": "Always",
        "command": ["python", "-m", "components.serve"],
        "args": [
            "--registry-root",
            f"{platform.bucket('models')}/registry",
            "--model-name",
            model.name,
            "--log-root",
            LOG_ROOT,
            "--log-upload",
            f"{platform.bucket('artifacts')}/serving-logs",
            "--host",
            "0.0.0.0",
            "--port",
            str(PORT),
            "--server-id",
            "$(POD_NAME)",
        ],
        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "ports": [{"name": "http", "containerPort": PORT}],
        # Not ready (no traffic) until the registry has a champion and it is loaded.
        "readinessProbe": {**probe, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 20},
        "resources": {
            "requests": {"cpu": server.cpu_request, "memory": server.memory_request},
            "limits": {"cpu": server.cpu_limit, "memory": server.memory_limit},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "request-log", "mountPath": LOG_ROOT},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": model.namespace,
                "labels": {
                    **PART_OF,
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/warn": "restricted",
                },
            },
        },
        account,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
                "template": {
                    "metadata": {"labels": dict(labels)},
                    "spec": {
                        "serviceAccountName": server.service_account,
                        "automountServiceAccountToken": False,  # Workload Identity needs none
                        # SIGTERM: uvicorn drains, then the last log segment is uploaded.
                        "terminationGracePeriodSeconds": 60,
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": IMAGE_UID,
                            "runAsGroup": IMAGE_UID,
                            "fsGroup": IMAGE_UID,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [container],
                        # Survives container restarts, so segments of a killed server go up
                        # when it starts again.
                        "volumes": [
                            {"name": "request-log", "emptyDir": {"sizeLimit": "1Gi"}},
                            {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
                        ],
                    },
                },
            },
        },
        {
            # Only the HTTP port is reachable; egress stays open (GCS, the metadata server).
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {**meta, "labels": dict(labels)},
            "spec": {
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": name}},
                "policyTypes": ["Ingress"],
                "ingress": [{"ports": [{"protocol": "TCP", "port": PORT}]}],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {**meta, "labels": dict(labels)},
            "spec": {
                "selector": {"app.kubernetes.io/name": name},
                "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
            },
        },
    ]
