"""The plain Kubernetes objects the compiled Argo workflows need in their namespace.

The namespace (restricted pod security), the service account workflows run as (mapped to the GCP
identity by Workload Identity), the least-privilege Role the Argo executor needs, the service
account and Role of the retrain Sensor (pipelines/argo/events.py), and the artifact repository.
On clusters made by infra/terraform, Terraform creates the namespace and service account with
the same settings; applying these again changes nothing. Swap the artifact store
(S3, MinIO) by changing only the ConfigMap: no workflow or template names a bucket.
"""

from __future__ import annotations

from typing import Any

import yaml

from pipelines.argo.compile import ARTIFACT_REPOSITORIES
from pipelines.argo.events import SENSOR_ACCOUNT
from pipelines.catalog import PART_OF
from pipelines.platform import Platform

# The same key layout infra/terraform gives the controller-wide repository.
KEY_FORMAT = "argo/{{workflow.namespace}}/{{workflow.name}}/{{pod.name}}"
EXECUTOR_ROLE = "argo-executor"
SUBMITTER_ROLE = "workflow-submitter"


def _meta(name: str, namespace: str | None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    meta["labels"] = dict(PART_OF)
    meta.update(extra)
    return meta


def artifact_repository(bucket: str) -> dict[str, Any]:
    """Argo's artifact repository settings: GCS through Workload Identity (no key secret)."""
    return {"archiveLogs": True, "gcs": {"bucket": bucket, "keyFormat": KEY_FORMAT}}


def objects(platform: Platform) -> dict[str, list[dict[str, Any]]]:
    """File name -> the objects in it."""
    ns, sa = platform.namespace, platform.service_account
    account: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": _meta(sa, ns),
    }
    if platform.pipeline_gcp_sa:
        account["metadata"]["annotations"] = {
            "iam.gke.io/gcp-service-account": platform.pipeline_gcp_sa
        }
    bucket = platform.bucket("artifacts").removeprefix("gs://")
    return {
        "namespace.yaml": [
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": ns,
                    "labels": {
                        **PART_OF,
                        "pod-security.kubernetes.io/enforce": "restricted",
                        "pod-security.kubernetes.io/warn": "restricted",
                    },
                },
            },
            account,
        ],
        "rbac.yaml": [
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": _meta(EXECUTOR_ROLE, ns),
                # What Argo's executor needs (>= v3.4) to report outputs, and the TFJob launcher.
                "rules": [
                    {
                        "apiGroups": ["argoproj.io"],
                        "resources": ["workflowtaskresults"],
                        "verbs": ["create", "patch"],
                    },
                    # The train step with train_workers > 1 launches a Training Operator
                    # TFJob and waits for it (components/train/tfjob.py).
                    {
                        "apiGroups": ["kubeflow.org"],
                        "resources": ["tfjobs"],
                        "verbs": ["create", "get", "patch"],
                    },
                    # The monitor's trigger step reads the retrain Workflows (one in flight,
                    # the cooldown) before it posts to the EventSource (components/trigger).
                    {
                        "apiGroups": ["argoproj.io"],
                        "resources": ["workflows"],
                        "verbs": ["list"],
                    },
                ],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": _meta(f"{sa}-{EXECUTOR_ROLE}", ns),
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": EXECUTOR_ROLE,
                },
                "subjects": [{"kind": "ServiceAccount", "name": sa, "namespace": ns}],
            },
            *_sensor_rbac(ns),
        ],
        "artifact-repositories.yaml": [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": _meta(
                    ARTIFACT_REPOSITORIES,
                    ns,
                    annotations={"workflows.argoproj.io/default-artifact-repository": "default"},
                ),
                "data": {
                    "default": yaml.safe_dump(artifact_repository(bucket), sort_keys=False),
                },
            }
        ],
    }


def _sensor_rbac(ns: str) -> list[dict[str, Any]]:
    """The Sensor's account: it submits Workflows and nothing else. Its argoWorkflow trigger runs
    `argo submit` (which, with no Argo Server, validates the templateRefs by reading the
    WorkflowTemplates) and then lists the Workflows it labelled to find the one it made
    (pkg/sensors/triggers/argo-workflow of argoproj/argo-events; its docs/service-accounts.md:
    "create and list access to workflows")."""
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta(SENSOR_ACCOUNT, ns),
            "automountServiceAccountToken": True,  # the sensor calls the Kubernetes API
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": _meta(SUBMITTER_ROLE, ns),
            "rules": [
                {
                    "apiGroups": ["argoproj.io"],
                    "resources": ["workflows"],
                    "verbs": ["create", "list"],
                },
                {
                    "apiGroups": ["argoproj.io"],
                    "resources": ["workflowtemplates"],
                    "verbs": ["get"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": _meta(f"{SENSOR_ACCOUNT}-{SUBMITTER_ROLE}", ns),
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "Role",
                "name": SUBMITTER_ROLE,
            },
            "subjects": [{"kind": "ServiceAccount", "name": SENSOR_ACCOUNT, "namespace": ns}],
        },
    ]


def default_repository(config_map: dict[str, Any]) -> dict[str, Any]:
    """The repository the ConfigMap marks as default, parsed (the local runner reads it too)."""
    key = config_map["metadata"]["annotations"]["workflows.argoproj.io/default-artifact-repository"]
    parsed = yaml.safe_load(config_map["data"][key])
    if not isinstance(parsed, dict):
        raise ValueError(f"artifact repository '{key}' is not a mapping")
    return parsed
