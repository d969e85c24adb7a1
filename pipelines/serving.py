"""The A/B model server on a cluster: `components.serve` as a Deployment (both versions loaded
from the registry bucket, sticky routing, the request log shipped to the artifacts bucket where
the ab-readout DAG reads it) and its Service, in the serving namespace of the deploy config.

Written by `make compile` to manifests/serving/ab-router.yaml; applied by hand
(`kubectl apply -f manifests/serving/`), after the first retraining run has published a champion.
"""

from __future__ import annotations

from typing import Any

from components.common.images import image
from components.deploy.config import DeployConfig
from pipelines.platform import Platform

PART_OF = {"app.kubernetes.io/part-of": "retrain-pipelines"}
PORT = 8080
LOG_ROOT = "/var/log/serving"
UID = 10001  # the image family's user


def objects(platform: Platform, cfg: DeployConfig) -> list[dict[str, Any]]:
    name = f"{cfg.model_name}-ab-router"
    labels = {"app.kubernetes.io/name": name, **PART_OF}
    meta = {"name": name, "namespace": cfg.namespace, "labels": dict(labels)}
    account: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": cfg.service_account, "namespace": cfg.namespace, "labels": PART_OF},
    }
    if platform.serving_gcp_sa:
        account["metadata"]["annotations"] = {
            "iam.gke.io/gcp-service-account": platform.serving_gcp_sa
        }
    probe = {"httpGet": {"path": f"/v1/models/{cfg.model_name}", "port": "http"}}
    container = {
        "name": "server",
        "image": image("tf", platform.image_registry),
        "imagePullPolicy": "Always",
        "command": ["python", "-m", "components.serve"],
        "args": [
            "--registry-root",
            f"{platform.bucket('models')}/registry",
            "--model-name",
            cfg.model_name,
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
            "requests": {"cpu": cfg.cpu_request, "memory": cfg.memory_request},
            "limits": {"cpu": cfg.cpu_limit, "memory": cfg.memory_limit},
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
                "name": cfg.namespace,
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
                        "serviceAccountName": cfg.service_account,
                        "automountServiceAccountToken": False,  # Workload Identity needs none
                        # SIGTERM: uvicorn drains, then the last log segment is uploaded.
                        "terminationGracePeriodSeconds": 60,
                        "securityContext": {
                            "runAsNonRoot": True,
                            "runAsUser": UID,
                            "runAsGroup": UID,
                            "fsGroup": UID,
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
