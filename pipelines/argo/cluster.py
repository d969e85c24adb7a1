"""The plain Kubernetes objects the compiled Argo workflows need in their namespace.

The namespace (restricted pod security), the service account workflows run as (mapped to the GCP
identity by Workload Identity), the least-privilege Role the Argo executor needs, and the artifact
repository. On clusters made by infra/terraform, Terraform creates the namespace and service
account with the same settings; applying these again changes nothing. Swap the artifact store
(S3, MinIO) by changing only the ConfigMap: no workflow or template names a bucket.
"""

from __future__ import annotations

from typing import Any

import yaml

from pipelines.argo.compile import ARTIFACT_REPOSITORIES
from pipelines.catalog import PART_OF
from pipelines.platform import Platform

# The same key layout infra/terraform gives the controller-wide repository.
KEY_FORMAT = "argo/{{workflow.namespace}}/{{workflow.name}}/{{pod.name}}"
EXECUTOR_ROLE = "argo-executor"


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


def default_repository(config_map: dict[str, Any]) -> dict[str, Any]:
    """The repository the ConfigMap marks as default, parsed (the local runner reads it too)."""
    key = config_map["metadata"]["annotations"]["workflows.argoproj.io/default-artifact-repository"]
    parsed = yaml.safe_load(config_map["data"][key])
    if not isinstance(parsed, dict):
        raise ValueError(f"artifact repository '{key}' is not a mapping")
    return parsed
