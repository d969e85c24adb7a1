"""Training on several workers as a Kubeflow Training Operator TFJob (an existing engine).

The train step with `--workers N` (N > 1) is a launcher, as Kubeflow's own TFJob launcher
component is: it creates a TFJob of N workers running this same train command in the same
image, waits for it, and copies the model the chief published into its own output. The operator
gives every worker its TF_CONFIG, so the trainer picks MultiWorkerMirroredStrategy; checkpoints go
to a shared gs:// folder, so a worker restarted after a spot-node preemption resumes.

The object is built from the Training Operator SDK's models (kubeflow-training), as the Argo
objects are built from hera's, so field names and nesting are the operator's own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from components.common.errors import ConfigError, InputDataError

log = logging.getLogger(__name__)

DONE = "_PUBLISHED"  # written by the chief last, after the model files


@dataclass(frozen=True)
class TFJobSettings:
    """Where and how the workers run (the launcher gets these as flags)."""

    image: str
    root: str  # gs:// folder for the job's checkpoints and the chief's published model
    namespace: str = "ml-pipelines"
    service_account: str = "pipeline-runner"
    gpus_per_worker: int = 1
    gpu_resource: str = "nvidia.com/gpu"
    cpu: str = "4"
    memory: str = "16G"
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: list[dict[str, str]] = field(default_factory=list)


def parse_labels(text: str) -> dict[str, str]:
    """ "k=v,k2=v2" -> {k: v, k2: v2}."""
    out = {}
    for item in filter(None, text.split(",")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"node selector {item!r}: expected label=value")
        out[key] = value
    return out


def parse_taints(text: str) -> list[dict[str, str]]:
    """ "key=value:Effect,key:Effect" (kubectl taint syntax) -> tolerations of those taints."""
    out = []
    for item in filter(None, text.split(",")):
        head, sep, effect = item.rpartition(":")
        if not sep or effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
            raise ConfigError(f"toleration {item!r}: expected key[=value]:NoSchedule|...")
        key, has_value, value = head.partition("=")
        toleration = {"key": key, "operator": "Equal" if has_value else "Exists", "effect": effect}
        if has_value:
            toleration["value"] = value
        out.append(toleration)
    return out


def job_name(output: str) -> str:
    """A DNS-1123 name stable for one output (a retried launcher finds its own job)."""
    return "train-" + hashlib.sha256(output.encode()).hexdigest()[:12]


def gcs_uri(path: str) -> str:
    """A KFP GCS-fuse path (/gcs/bucket/key) as gs://bucket/key; gs:// as is. Workers of a
    TFJob do not share the launcher's disk, so anything they read must be remote."""
    if path.startswith("gs://"):
        return path
    if path.startswith("/gcs/"):
        return "gs://" + path.removeprefix("/gcs/")
    raise InputDataError(
        f"{path}: TFJob workers cannot read the launcher's local files; "
        "the dataset must be on gs:// (a KFP pipeline root on GCS gives /gcs/... paths)"
    )


def worker_args(
    dataset: str, config: str, name: str, settings: TFJobSettings, overrides: list[str]
) -> list[str]:
    job_root = f"{settings.root.rstrip('/')}/{name}"
    args = [
        "--dataset",
        gcs_uri(dataset),
        "--config",
        config,
        "--output",
        "/tmp/model",
        "--checkpoint-dir",
        f"{job_root}/checkpoints",
        "--publish-uri",
        f"{job_root}/model",
    ]
    for item in overrides:
        args += ["--set", item]
    return args


def manifest(name: str, workers: int, args: list[str], settings: TFJobSettings) -> dict[str, Any]:
    """The TFJob: `workers` identical Worker replicas (worker 0 is the chief), restarted on
    failure, pods cleaned up when it ends, removed a day after it finishes."""
    from kubeflow.training import models as m
    from kubernetes import client as k

    if workers < 2:
        raise ConfigError(f"a TFJob is for 2 or more workers, got {workers}")
    limits = {"cpu": settings.cpu, "memory": settings.memory}
    if settings.gpus_per_worker:
        limits[settings.gpu_resource] = str(settings.gpus_per_worker)
    container = k.V1Container(
        name="tensorflow",  # the container name the operator looks for
        image=settings.image,
        command=["python", "-m", "components.train"],
        args=args,
        resources=k.V1ResourceRequirements(
            requests={"cpu": settings.cpu, "memory": settings.memory}, limits=limits
        ),
        security_context=k.V1SecurityContext(
            allow_privilege_escalation=False,
            run_as_non_root=True,
            capabilities=k.V1Capabilities(drop=["ALL"]),
            seccomp_profile=k.V1SeccompProfile(type="RuntimeDefault"),
        ),
        volume_mounts=[k.V1VolumeMount(name="tmp", mount_path="/tmp")],
    )
    pod = k.V1PodTemplateSpec(
        metadata=k.V1ObjectMeta(labels={"app.kubernetes.io/part-of": "retrain-pipelines"}),
        spec=k.V1PodSpec(
            service_account_name=settings.service_account,
            containers=[container],
            node_selector=settings.node_selector or None,
            tolerations=[k.V1Toleration(**t) for t in settings.tolerations] or None,
            volumes=[k.V1Volume(name="tmp", empty_dir=k.V1EmptyDirVolumeSource())],
        ),
    )
    job = m.KubeflowOrgV1TFJob(
        api_version="kubeflow.org/v1",
        kind="TFJob",
        metadata=k.V1ObjectMeta(name=name, namespace=settings.namespace),
        spec=m.KubeflowOrgV1TFJobSpec(
            run_policy=m.KubeflowOrgV1RunPolicy(
                clean_pod_policy="Running",
                backoff_limit=6,
                ttl_seconds_after_finished=86400,
            ),
            tf_replica_specs={
                "Worker": m.KubeflowOrgV1ReplicaSpec(
                    replicas=workers, restart_policy="OnFailure", template=pod
                )
            },
        ),
    )
    return dict(k.ApiClient().sanitize_for_serialization(job))


def run(job: dict[str, Any], timeout_s: int, poll_s: float = 30.0, dry_run: bool = False) -> None:
    """Create the TFJob (or find the one an earlier attempt of this step created) through the
    Kubernetes API, with the pod's service account, and wait until it succeeds; a failed job is
    an error with its last condition. `dry_run` prints the object instead."""
    name, namespace = job["metadata"]["name"], job["metadata"]["namespace"]
    if dry_run:
        log.info("dry run: would create TFJob %s/%s", namespace, name)
        print(json.dumps(job, indent=2))
        return
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException

    try:
        config.load_incluster_config()
    except config.ConfigException:
        config.load_kube_config()  # outside a cluster: the current kube context
    api = client.CustomObjectsApi()
    where = ("kubeflow.org", "v1", namespace, "tfjobs")
    try:
        api.create_namespaced_custom_object(*where, job)
        log.info("created TFJob %s/%s", namespace, name)
    except ApiException as err:
        if err.status != 409:
            raise InputDataError(
                f"cannot create TFJob {namespace}/{name}: {err.status} {err.reason}; is the "
                "Training Operator installed and may the service account create tfjobs?"
            ) from err
        log.info("TFJob %s/%s exists (an earlier attempt): waiting for it", namespace, name)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = api.get_namespaced_custom_object(*where, name).get("status", {})
        done = {c["type"]: c for c in status.get("conditions", []) if c.get("status") == "True"}
        if "Succeeded" in done:
            log.info("TFJob %s succeeded", name)
            return
        if "Failed" in done:
            raise InputDataError(
                f"TFJob {namespace}/{name} failed: {done['Failed'].get('message', '')}; "
                f"see `kubectl logs -n {namespace} -l training.kubeflow.org/job-name={name}`"
            )
        time.sleep(poll_s)
    raise InputDataError(f"TFJob {namespace}/{name} did not finish in {timeout_s} s")
