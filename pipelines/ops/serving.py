"""The A/B model server on a cluster: `components.serve` as a Deployment (both versions loaded
from the registry bucket, sticky routing, the request log shipped to the artifacts bucket where
the ab-readout DAG reads it) and its Service, in the serving namespace of the config's model.

Guarded by default: clients send a bearer token that the pod reads from the Secret
`<model>-ab-router-token` (created by hand, never compiled: see `secret_command`), and the
NetworkPolicy admits only namespaces labelled `CLIENT_LABEL=true` (the gateway or the apps that
call it; the readout reads the log from the bucket and needs no access).

Written by `make compile` to manifests/serving/ab-router.yaml; applied by hand
(`kubectl apply -f manifests/serving/`), after the first retraining run has published a champion.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from components.common.images import image, pinning
from components.common.kserve import ServingSettings, load_serving
from components.common.model import ModelConfig, load_model
from pipelines import catalog, platform
from pipelines.argo.dump import write_yaml
from pipelines.catalog import IMAGE_UID, PART_OF
from pipelines.platform import Platform

DEFAULT_CONFIG = "config/reviews.yaml"
PORT = 8080
LOG_ROOT = "/var/log/serving"
TOKEN_DIR = "/var/run/secrets/ab-router"
TOKEN_KEY = "token"
# A namespace whose pods may call the server: `kubectl label namespace NS CLIENT_LABEL=true`.
CLIENT_LABEL = "retrain-pipelines/ab-router-client"


def secret_name(model_name: str) -> str:
    return f"{model_name}-ab-router-token"


def secret_command(model: ModelConfig) -> str:
    """How to create the token Secret the Deployment mounts (a token is never compiled in)."""
    return (
        f"kubectl -n {model.namespace} create secret generic {secret_name(model.name)} "
        f"--from-literal={TOKEN_KEY}=$(openssl rand -hex 32)"
    )


def write_manifest(
    platform_file: Path = platform.DEFAULT_PLATFORM,
    root: Path = catalog.MANIFESTS,
    config: str = DEFAULT_CONFIG,
) -> Path:
    """The A/B model server of `config`'s model (engine-independent; kubectl apply)."""
    uri = str(catalog.REPO_ROOT / config)
    model = load_model(uri)
    return write_yaml(
        root / "serving" / "ab-router.yaml",
        objects(platform.load(platform_file), model, load_serving(uri)),
        f"The A/B model server of {config}: kubectl apply -f manifests/serving/\n"
        f"# First create its token (clients send it as `Authorization: Bearer <token>`):\n"
        f"#   {secret_command(model)}\n"
        f"# and label each namespace that calls it: kubectl label namespace NS {CLIENT_LABEL}=true"
        f"\n# {pinning(platform.load(platform_file).image_registry)}",
    )


def write_kustomization(root: Path = catalog.MANIFESTS) -> Path:
    """The serving objects as a Kustomize base, so an overlay can adapt them to its cluster
    (overlays/local-cluster/serving/) as the pipelines' base is adapted."""
    return write_yaml(
        root / "serving" / "kustomization.yaml",
        [
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": ["ab-router.yaml"],
            }
        ],
        "The A/B model server as a Kustomize base: kubectl apply -k manifests/serving/ (or an "
        "overlay of it)",
    )


def objects(
    platform: Platform, model: ModelConfig, server: ServingSettings
) -> list[dict[str, Any]]:
    """The server's objects; its pod runs with the config's serving settings (the deploy
    section's service account, requests and limits, as the InferenceService does)."""
    name = f"{model.name}-ab-router"
    labels = {"app.kubernetes.io/name": name, **PART_OF}
    meta = {"name": name, "namespace": model.namespace, "labels": dict(labels)}
    container_image = image("tf", platform.image_registry)
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
    deployment_meta: dict[str, Any] = dict(meta)
    if "@" not in container_image:  # named by tag: no publish to this registry recorded yet
        deployment_meta["annotations"] = {
            "checkov.io/skip1": "CKV_K8S_43=the image is a tag until `make publish-images` "
            "pushes it to the platform's registry and the compile pins its digest"
        }
    probe = {"httpGet": {"path": "/readyz", "port": "http"}}
    container = {
        "name": "server",
        "image": container_image,
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
            "--token-file",
            f"{TOKEN_DIR}/{TOKEN_KEY}",
        ],
        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "ports": [{"name": "http", "containerPort": PORT}],
        # Not ready (no traffic) until the registry has a champion and it is loaded, or while a
        # pointer cannot be served (the last good split keeps serving). Probes need no token.
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
            {"name": "token", "mountPath": TOKEN_DIR, "readOnly": True},
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
            "metadata": deployment_meta,
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
                            # Without the Secret the pod does not start: never unauthenticated.
                            # The kubelet updates the file when the Secret changes; the server
                            # re-reads it (one token per line lets a rotation hold two).
                            {
                                "name": "token",
                                "secret": {
                                    "secretName": secret_name(model.name),
                                    "defaultMode": 0o440,  # group: the pod's fsGroup
                                },
                            },
                        ],
                    },
                },
            },
        },
        {
            # Only the HTTP port, only from namespaces labelled as clients (the kubelet's probes
            # come from the node and are not subject to it); egress stays open (GCS, the
            # metadata server).
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {**meta, "labels": dict(labels)},
            "spec": {
                "podSelector": {"matchLabels": {"app.kubernetes.io/name": name}},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [{"namespaceSelector": {"matchLabels": {CLIENT_LABEL: "true"}}}],
                        "ports": [{"protocol": "TCP", "port": PORT}],
                    }
                ],
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
