"""Argo Events objects that start a retrain: an EventSource and a Sensor, `retrain-triggers`.

Two events start one: the monitor DAG's verdict, POSTed by its trigger step to the EventSource's
webhook, and a new data partition, announced by the GCS bucket notification on a Pub/Sub topic.
The Sensor submits the compiled retrain Workflow (the very object of manifests/argo/retrain.yaml,
taken from the compile's bundle) with its `reason` parameter set from the event. The cooldown
and the one-in-flight rule for verdicts are the trigger step's (it posts only when they allow);
a partition's Workflow holds the `retrain` mutex, so a second partition queues behind the first.

Field names follow Argo Events' Go types (pkg/apis/events/v1alpha1 of argoproj/argo-events),
which is what its controller reads; `validate` knows where Argo's published schema says otherwise.
"""

from __future__ import annotations

import copy
from typing import Any

from pipelines.argo import CompileError
from pipelines.argo.validate import strict
from pipelines.catalog import IMAGE_UID, PART_OF, restricted_container
from pipelines.platform import Platform

NAME = "retrain-triggers"  # the EventSource and the Sensor
API_VERSION = "argoproj.io/v1alpha1"
# The webhook the monitor's trigger step POSTs its verdict to, in the same namespace:
#   {"reason": "drift"|"decay", "detail": "<one line>", "window_end": "<RFC 3339>",
#    "monitor_run": "..."}
VERDICT, PARTITION = "verdict", "partition"  # the events, and the Sensor's dependencies
WEBHOOK_PORT = 12000
WEBHOOK_ENDPOINT = "/retrain"
SERVICE = f"{NAME}-eventsource-svc"  # the name Argo Events gives the EventSource's Service
WEBHOOK_URL = f"http://{SERVICE}:{WEBHOOK_PORT}{WEBHOOK_ENDPOINT}"
REASONS = ("drift", "decay")  # the verdicts that retrain; `ok` does not
# The Pub/Sub topic the data bucket's notification (OBJECT_FINALIZE) publishes to, and the
# subscription the EventSource reads. config/platform.json (Terraform's outputs) has no Pub/Sub
# settings yet, so these are fixed names in the platform's project; the notification itself
# (google_storage_notification on the data bucket to this topic) is not made by Terraform yet.
PARTITION_TOPIC = "retrain-data-partitions"
PARTITION_SUBSCRIPTION = f"{NAME}-partition"
# A partition is complete when its writer leaves the `_SUCCESS` marker (Hadoop's and Beam's
# convention) in its folder, e.g. events/dt=2026-01-02/_SUCCESS; other objects are ignored.
PARTITION_MARKER = r"(^|/)_SUCCESS$"
FINALIZE = "OBJECT_FINALIZE"
GO_META = set("\\.+*?()|[]{}^$")
REASON_PARAMETER = "reason"
TRIGGER_LABEL = "retrain-pipelines/trigger"
MUTEX = "retrain"  # held by a Workflow started by a partition
SENSOR_ACCOUNT = f"{NAME}-sensor"  # may submit Workflows (pipelines/argo/cluster.py)
# Argo Events' sensor reads the event as `.Input` in a dataTemplate (go template + sprig).
REASON_TEMPLATES = {
    VERDICT: "{{ .Input.body.reason }}: {{ .Input.body.detail }}",
    PARTITION: "new-data: {{ .Input.attributes.bucketId }}/{{ .Input.attributes.objectId }}",
}


def _meta(**extra: Any) -> dict[str, Any]:
    return {"name": NAME, "labels": {**PART_OF, "retrain-pipelines/component": NAME}, **extra}


def _pod(service_account: str) -> dict[str, Any]:
    """The pod Argo Events runs the EventSource or Sensor in: restricted pod security (the
    namespace enforces it), requests and limits, and a writable /tmp on a read-only root (the
    Sensor's argoWorkflow trigger writes the Workflow to a temporary file for `argo submit`)."""
    return {
        "serviceAccountName": service_account,
        "volumes": [{"name": "tmp", "emptyDir": {}}],
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": IMAGE_UID,
            "runAsGroup": IMAGE_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "container": {
            "resources": {
                "requests": {"cpu": "50m", "memory": "64Mi"},
                "limits": {"cpu": "500m", "memory": "256Mi"},
            },
            "securityContext": restricted_container(),
            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        },
    }


def event_source(platform: Platform) -> dict[str, Any]:
    """The webhook for verdicts and the Pub/Sub subscription for new partitions. The pod runs as
    the platform's service account, whose GCP identity (Workload Identity, no key secret)
    subscribes to the topic."""
    return {
        "apiVersion": API_VERSION,
        "kind": "EventSource",
        "metadata": _meta(),
        "spec": {
            "template": _pod(platform.service_account),
            # targetPort defaults to port (as an IntOrString, a string would name a port)
            "service": {"ports": [{"port": WEBHOOK_PORT}]},
            "webhook": {
                VERDICT: {
                    "port": str(WEBHOOK_PORT),
                    "endpoint": WEBHOOK_ENDPOINT,
                    "method": "POST",
                }
            },
            "pubSub": {
                PARTITION: {
                    "projectID": platform.project_id,
                    "topic": PARTITION_TOPIC,
                    "subscriptionID": PARTITION_SUBSCRIPTION,
                    "jsonBody": True,
                    # no credentialSecret: Workload Identity
                }
            },
        },
    }


def reason_index(workflow: dict[str, Any]) -> int:
    """The position of the `reason` parameter in the Workflow's arguments (a trigger parameter's
    `dest` names it by index)."""
    parameters = workflow.get("spec", {}).get("arguments", {}).get("parameters", [])
    names = [p.get("name") for p in parameters]
    if REASON_PARAMETER not in names:
        name = workflow.get("metadata", {}).get("generateName", "?").rstrip("-")
        raise CompileError(
            f"Workflow '{name}' has no '{REASON_PARAMETER}' parameter (it has {names}); the "
            f"Sensor '{NAME}' sets it from the event: add `{REASON_PARAMETER}: str` to the "
            "pipeline's signature and compile again"
        )
    return names.index(REASON_PARAMETER)


def _trigger(kind: str, workflow: dict[str, Any], index: int) -> dict[str, Any]:
    resource = copy.deepcopy(workflow)
    resource["metadata"]["labels"] = {**resource["metadata"].get("labels", {}), TRIGGER_LABEL: kind}
    if kind == PARTITION:
        resource["spec"]["synchronization"] = {"mutexes": [{"name": MUTEX}]}
    strict(resource)
    return {
        "template": {
            "name": f"retrain-on-{kind}",
            "conditions": kind,
            "argoWorkflow": {
                "operation": "submit",
                "source": {"resource": resource},
                "parameters": [
                    {
                        "src": {"dependencyName": kind, "dataTemplate": REASON_TEMPLATES[kind]},
                        "dest": f"spec.arguments.parameters.{index}.value",
                    }
                ],
            },
        },
        # A failed submit (the API server briefly away) is tried again, not lost.
        "retryStrategy": {"steps": 3, "duration": "10s"},
    }


def _anchored(*values: str) -> list[str]:
    """Argo Events matches a string filter as a Go regular expression anywhere in the value:
    each value whole, its metacharacters quoted as Go's regexp.QuoteMeta does."""
    return ["^" + "".join(f"\\{c}" if c in GO_META else c for c in v) + "$" for v in values]


def sensor(workflow: dict[str, Any], platform: Platform) -> dict[str, Any]:
    """A retrain Workflow per verdict of drift or decay, and per completed data partition."""
    index = reason_index(workflow)
    data_bucket = platform.bucket("data").removeprefix("gs://").split("/", 1)[0]
    string = "string"
    dependencies = [
        {
            "name": VERDICT,
            "eventSourceName": NAME,
            "eventName": VERDICT,
            "filters": {
                "data": [{"path": "body.reason", "type": string, "value": _anchored(*REASONS)}]
            },
        },
        {
            "name": PARTITION,
            "eventSourceName": NAME,
            "eventName": PARTITION,
            # The attributes of a GCS notification message (eventType, bucketId, objectId).
            "filters": {
                "data": [
                    {"path": "attributes.eventType", "type": string, "value": _anchored(FINALIZE)},
                    {
                        "path": "attributes.bucketId",
                        "type": string,
                        "value": _anchored(data_bucket),
                    },
                    {"path": "attributes.objectId", "type": string, "value": [PARTITION_MARKER]},
                ]
            },
        },
    ]
    return {
        "apiVersion": API_VERSION,
        "kind": "Sensor",
        "metadata": _meta(),
        "spec": {
            "template": _pod(SENSOR_ACCOUNT),
            "dependencies": dependencies,
            "triggers": [_trigger(kind, workflow, index) for kind in (VERDICT, PARTITION)],
        },
    }


def objects(workflow: dict[str, Any], platform: Platform) -> list[dict[str, Any]]:
    """The EventSource and the Sensor, checked against hera's models (`validate.strict`)."""
    return [strict(event_source(platform)), strict(sensor(workflow, platform))]
