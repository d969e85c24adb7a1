"""The compiled Workflows on a real Kubernetes with a real Argo controller (make test-cluster).

The cluster is the one `scripts/cluster.sh up` (make cluster-up) starts on this machine: Kubernetes
1.34 built from its modules, Argo's own workflow-controller and argoexec, moto's S3 server as the
artifact repository, gcp-storage-emulator for gs://. What runs is what users run: the committed
files, installed by `python scripts/argo_submit.py install --overlay overlays/local-cluster` (the
cluster script did), submitted by `python scripts/argo_submit.py submit`, only parameters changed.
"""

from __future__ import annotations

import calendar
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO, files_under, run_retrain, small_config, wait_until

pytestmark = pytest.mark.cluster

NAMESPACE = "ml-pipelines"
DATA_BUCKET = "retrain-dev-data"
MODELS_BUCKET = "retrain-dev-models"
S3_BUCKET = "argo-artifacts"


def cluster_env() -> dict[str, str]:
    """The settings `scripts/cluster.sh env` prints, over this process's environment."""
    out = subprocess.run(
        ["bash", "scripts/cluster.sh", "env"], cwd=REPO, capture_output=True, text=True
    )
    if out.returncode != 0:
        pytest.fail(f"scripts/cluster.sh env failed: {out.stderr.strip()}")
    env = dict(os.environ)
    for line in out.stdout.splitlines():
        for item in shlex.split(line.removeprefix("export ")):
            key, _, value = item.partition("=")
            env[key] = value.replace("$PATH", os.environ.get("PATH", ""))
    return env


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    env = cluster_env()
    ready = subprocess.run(
        ["kubectl", "get", "--raw", "/readyz"], env=env, capture_output=True, text=True
    )
    if ready.returncode != 0:
        pytest.fail(
            "no local cluster answers: run `make cluster-up` first "
            f"(kubectl: {ready.stderr.strip()[-300:]})"
        )
    return env


def kubectl(env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        ["kubectl", "-n", NAMESPACE, *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, f"kubectl {' '.join(args)}: {out.stderr}"
    return out.stdout


def gcs_client(env: dict[str, str]) -> Any:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    return storage.Client(
        project="local",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": env["STORAGE_EMULATOR_HOST"]},
    )


def s3(env: dict[str, str], action: str, arg: str) -> bytes:
    """`keys PREFIX` (one key per line) or `get KEY` on the cluster's S3 store, with boto3 from
    the store's own venv (.venv/s3)."""
    script = f"""
import sys, boto3
s3 = boto3.client("s3", endpoint_url={env["RETRAIN_CLUSTER_S3"]!r}, region_name="us-east-1",
                  aws_access_key_id="retrain-local", aws_secret_access_key="retrain-local-only")
if sys.argv[1] == "keys":
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket={S3_BUCKET!r}, Prefix=sys.argv[2])
    for page in pages:
        for item in page.get("Contents", []):
            print(item["Key"])
else:
    sys.stdout.buffer.write(s3.get_object(Bucket={S3_BUCKET!r}, Key=sys.argv[2])["Body"].read())
"""
    out = subprocess.run(
        [str(REPO / ".venv" / "s3" / "bin" / "python"), "-c", script, action, arg],
        capture_output=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr.decode()[-2000:]
    return out.stdout


class PodWatch:
    """Every pod of the namespace as the API server reported it while the test ran (pods of
    succeeded steps are deleted by podGC, so they are read while they exist)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.pods: dict[str, dict[str, Any]] = {}
        self.proc = subprocess.Popen(
            ["kubectl", "-n", NAMESPACE, "get", "pods", "--watch", "-o", "json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        decoder = json.JSONDecoder()
        buffer = ""
        for line in self.proc.stdout:
            buffer += line
            while buffer.strip():
                try:
                    pod, end = decoder.raw_decode(buffer.lstrip())
                except ValueError:
                    break
                buffer = buffer.lstrip()[end:]
                self.pods[pod["metadata"]["name"]] = pod

    def stop(self) -> dict[str, dict[str, Any]]:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.thread.join(timeout=10)
        return self.pods


@pytest.fixture(scope="module")
def sample_on_gcs(
    env: dict[str, str], sample_csv: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """The sample and the small config on the emulator's data bucket, under a prefix of this
    test run; the same files locally, for the local run of the same IR."""
    tmp = tmp_path_factory.mktemp("cluster")
    config = small_config(tmp)
    prefix = f"cluster-test/{uuid.uuid4().hex[:8]}"
    bucket = gcs_client(env).bucket(DATA_BUCKET)
    bucket.blob(f"{prefix}/reviews_sample.csv").upload_from_filename(str(sample_csv))
    bucket.blob(f"{prefix}/config.yaml").upload_from_filename(str(config))
    return {
        "tmp": tmp,
        "prefix": prefix,
        "csv": sample_csv,
        "config": config,
        "data_uri": f"gs://{DATA_BUCKET}/{prefix}/reviews_sample.csv",
        "config_uri": f"gs://{DATA_BUCKET}/{prefix}/config.yaml",
        "registry": f"gs://{MODELS_BUCKET}/{prefix}/registry",
    }


def submit(env: dict[str, str], pipeline: str, *params: str, timeout: float = 3600) -> str:
    """`python scripts/argo_submit.py submit PIPELINE -p ... --watch`; the Workflow's name."""
    command = [sys.executable, "scripts/argo_submit.py", "submit", pipeline, "--watch"]
    for item in params:
        command += ["-p", item]
    out = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
    found = re.search(r"^Name:\s+(\S+)", out.stdout, re.M)
    assert found, f"no Workflow name in the output of {command}:\n{out.stdout}\n{out.stderr}"
    return found.group(1)


def workflow(env: dict[str, str], name: str) -> dict[str, Any]:
    return dict(json.loads(kubectl(env, "get", "workflow", name, "-o", "json")))


def node_outputs(wf: dict[str, Any], task: str) -> dict[str, Any]:
    """The outputs of the DAG task `task` (its last attempt that succeeded)."""
    done = [n for n in pod_nodes(wf, task) if n.get("phase") == "Succeeded"]
    assert done, f"no succeeded pod of task {task} in {wf['metadata']['name']}"
    return dict(done[-1].get("outputs") or {})


@pytest.fixture(scope="module")
def retrain_run(env: dict[str, str], sample_on_gcs: dict[str, Any]) -> Iterator[dict[str, Any]]:
    watch = PodWatch(env)
    began = time.monotonic()
    name = submit(
        env,
        "retrain",
        f"data_uri={sample_on_gcs['data_uri']}",
        f"config={sample_on_gcs['config_uri']}",
        f"registry_root={sample_on_gcs['registry']}",
    )
    seconds = time.monotonic() - began
    pods = watch.stop()
    wf = workflow(env, name)
    print(f"cluster: {name} {wf['status']['phase']} in {seconds:.0f} s")
    yield {"name": name, "workflow": wf, "pods": pods, "seconds": seconds}


def test_retrain_succeeds_on_the_cluster(retrain_run: dict[str, Any]) -> None:
    wf = retrain_run["workflow"]
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
    steps = {
        n["displayName"].split("(")[0]
        for n in wf["status"]["nodes"].values()
        if n.get("type") == "Pod" and n.get("phase") == "Succeeded"
    }
    assert {"ingest", "preprocess", "dataset", "train", "evaluate"} <= steps, steps


def test_every_step_ran_in_its_image_as_10001_read_only(retrain_run: dict[str, Any]) -> None:
    pods = {
        name: pod
        for name, pod in retrain_run["pods"].items()
        if pod["metadata"].get("labels", {}).get("workflows.argoproj.io/workflow")
        == retrain_run["name"]
    }
    assert len(pods) >= 5, sorted(pods)
    for name, pod in pods.items():
        spec = pod["spec"]
        assert spec["securityContext"]["runAsUser"] == 10001, name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        (main,) = [c for c in spec["containers"] if c["name"] == "main"]
        assert main["image"].startswith("retrain-local/retrain-"), (name, main["image"])
        for container in spec["containers"] + spec.get("initContainers", []):
            context = container.get("securityContext", {})
            assert context.get("readOnlyRootFilesystem") is True, (name, container["name"])
            assert context.get("allowPrivilegeEscalation") is False, (name, container["name"])


def test_artifacts_went_through_s3(env: dict[str, str], retrain_run: dict[str, Any]) -> None:
    wf = retrain_run["workflow"]
    keys = s3(env, "keys", f"argo/{NAMESPACE}/{retrain_run['name']}/").decode().split()
    assert keys, "no artifact of the run in the S3 store"
    dataset = node_outputs(wf, "dataset")["artifacts"]
    (artifact,) = [a for a in dataset if a["name"] == "dataset"]
    assert artifact["s3"]["key"].startswith(f"argo/{NAMESPACE}/{retrain_run['name']}/")
    assert any(k.startswith(artifact["s3"]["key"]) and k.endswith(".tfrecord.gz") for k in keys)


def cluster_metrics(env: dict[str, str], wf: dict[str, Any]) -> dict[str, Any]:
    artifacts = node_outputs(wf, "evaluate")["artifacts"]
    (metrics,) = [a for a in artifacts if a["name"] == "metrics"]
    key = metrics["s3"]["key"]
    keys = s3(env, "keys", key).decode().split()
    (only,) = [k for k in keys if k.endswith(".json")] or keys
    return dict(json.loads(s3(env, "get", only)))


def test_registry_and_metrics_match_the_local_run(
    env: dict[str, str], retrain_run: dict[str, Any], sample_on_gcs: dict[str, Any]
) -> None:
    assert retrain_run["workflow"]["status"]["phase"] == "Succeeded"
    prefix = sample_on_gcs["prefix"] + "/registry/"
    blobs = [b.name for b in gcs_client(env).list_blobs(MODELS_BUCKET, prefix=prefix)]
    assert any(name.endswith("saved_model.pb") for name in blobs), blobs[:20]
    remote = cluster_metrics(env, retrain_run["workflow"])
    local = run_retrain(
        sample_on_gcs["tmp"], "local", sample_on_gcs["csv"], sample_on_gcs["config"]
    )["tasks"]["evaluate"]["artifacts"]["metrics"]["metadata"]
    for key in ("roc_auc", "accuracy", "log_loss"):
        assert abs(remote[key] - local[key]) <= 0.02, (key, remote[key], local[key])


def pod_nodes(wf: dict[str, Any], task: str) -> list[dict[str, Any]]:
    """The pod nodes (attempts) of DAG task `task`, oldest first."""
    nodes = [
        n
        for n in wf["status"]["nodes"].values()
        if n.get("type") == "Pod" and n["displayName"].split("(")[0] == task
    ]
    return sorted(nodes, key=lambda n: n.get("startedAt") or "")


def artifact_bytes(
    env: dict[str, str], wf: dict[str, Any], task: str, name: str
) -> dict[str, bytes]:
    """The files of a task's output artifact in the S3 store, by path under the artifact."""
    (artifact,) = [a for a in node_outputs(wf, task)["artifacts"] if a["name"] == name]
    key = artifact["s3"]["key"]
    return {
        k.removeprefix(key).lstrip("/"): s3(env, "get", k)
        for k in s3(env, "keys", key).decode().split()
    }


def test_a_step_with_bad_input_is_not_retried(
    env: dict[str, str], sample_on_gcs: dict[str, Any]
) -> None:
    """Exit code 2 (bad input) ends the run at once: retryStrategy's expression says so."""
    bad = f"{sample_on_gcs['prefix']}/no-text-column.csv"
    gcs_client(env).bucket(DATA_BUCKET).blob(bad).upload_from_string("category,title\nfresh,x\n")
    name = submit(
        env,
        "retrain",
        f"data_uri=gs://{DATA_BUCKET}/{bad}",
        f"config={sample_on_gcs['config_uri']}",
        f"registry_root={sample_on_gcs['registry']}-bad",
        timeout=900,
    )
    wf = workflow(env, name)
    assert wf["status"]["phase"] == "Failed"
    attempts = pod_nodes(wf, "ingest")
    assert len(attempts) == 1, [(n["displayName"], n["phase"]) for n in attempts]
    assert "exit code 2" in attempts[0].get("message", ""), attempts[0]


def cron_workflows(env: dict[str, str]) -> list[dict[str, Any]]:
    listed = json.loads(
        kubectl(
            env,
            "get",
            "workflows",
            "-l",
            "workflows.argoproj.io/cron-workflow=retrain",
            "-o",
            "json",
        )
    )
    return sorted(listed["items"], key=lambda w: w["metadata"]["creationTimestamp"])


def test_cron_runs_at_the_minute_forbids_overlap_and_retries_a_deleted_pod(
    env: dict[str, str], sample_on_gcs: dict[str, Any], retrain_run: dict[str, Any]
) -> None:
    """The CronWorkflow (schedule every minute, parameters set) starts a run at the scheduled
    minute, its data window ending at workflow.scheduledTime; no second run starts while it runs
    (Forbid). A pod of it deleted mid-step is retried (an Error is retried), and the run
    still succeeds with the same data artifacts as the submitted run."""
    out = subprocess.run(
        [sys.executable, "scripts/argo_submit.py", "schedule", "retrain"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    cron = json.loads(kubectl(env, "get", "cronworkflow", "retrain", "-o", "json"))
    values = {
        "data_uri": sample_on_gcs["data_uri"],
        "config": sample_on_gcs["config_uri"],
        "registry_root": sample_on_gcs["registry"] + "-cron",
    }
    params = cron["spec"]["workflowSpec"]["arguments"]["parameters"]
    ops = [{"op": "replace", "path": "/spec/schedules", "value": ["* * * * *"]}]
    ops += [
        {
            "op": "replace",
            "path": f"/spec/workflowSpec/arguments/parameters/{i}/value",
            "value": values[p["name"]],
        }
        for i, p in enumerate(params)
        if p["name"] in values
    ]
    try:
        kubectl(env, "patch", "cronworkflow", "retrain", "--type", "json", "-p", json.dumps(ops))
        first, *_ = wait_until(lambda: cron_workflows(env), 150, "a run of the CronWorkflow", 2)
        scheduled = first["metadata"]["annotations"]["workflows.argoproj.io/scheduled-time"]
        assert scheduled.endswith(":00Z"), scheduled  # at a minute, to the second
        name = first["metadata"]["name"]

        # Delete the train pod once its step has run for a while: the attempt ends in Error
        # (the controller's "pod deleted", or the main container's kill) and retryStrategy
        # starts a new one. Argo's operator.go treats a younger pod otherwise: a missing pod
        # of a node started within RECENTLY_STARTED_POD_DURATION (10 s) is waited for, and a
        # pending node's pod is submitted again in the same attempt; 12 s keeps this test on
        # the retry path.
        def running_pod() -> str | None:
            pods = json.loads(
                kubectl(
                    env, "get", "pods", "-l", f"workflows.argoproj.io/workflow={name}", "-o", "json"
                )
            )
            for pod in pods["items"]:
                task = pod["metadata"]["annotations"].get("workflows.argoproj.io/node-name", "")
                # The node's age is what operator.go compares (its pod's creation), not the
                # main container's: a quiet machine trains the small config in under 12 s.
                created = pod["metadata"]["creationTimestamp"]
                age = time.time() - calendar.timegm(time.strptime(created, "%Y-%m-%dT%H:%M:%SZ"))
                for status in pod["status"].get("containerStatuses", []):
                    if (
                        status["name"] == "main"
                        and "running" in status["state"]
                        and re.search(r"\.train\(\d+\)$", task)
                        and age > 12
                    ):
                        return str(pod["metadata"]["name"])
            return None

        victim = wait_until(running_pod, 900, "the train pod running, 12 s after its creation", 1)
        # A second of grace, as a node that goes away gives.
        kubectl(env, "delete", "pod", victim, "--grace-period=1", "--wait=false")
        print(f"cluster: deleted {victim} at {time.strftime('%H:%M:%S')}")
        # A scheduled minute passes while the first run runs: Forbid starts no second one.
        minute_passed = time.monotonic() + 75
        while time.monotonic() < minute_passed:
            runs = cron_workflows(env)
            assert len(runs) == 1, [w["metadata"]["name"] for w in runs]
            time.sleep(5)
    finally:
        # Suspended, not deleted: its Workflows are its children and would go with it.
        suspend = json.dumps({"spec": {"suspend": True}})
        subprocess.run(
            ["kubectl", "-n", NAMESPACE, "patch", "cronworkflow", "retrain", "--type", "merge",
             "-p", suspend],
            env=env, capture_output=True,
        )  # fmt: skip
    done = wait_until(
        lambda: (
            (w := workflow(env, name))["status"].get("phase") in ("Succeeded", "Failed", "Error")
            and w
        ),
        3600,
        f"{name} finished",
        every=10,
    )
    runs = len(cron_workflows(env))
    subprocess.run(
        ["kubectl", "-n", NAMESPACE, "delete", "cronworkflow", "retrain"],
        env=env,
        capture_output=True,
    )
    assert done["status"]["phase"] == "Succeeded", done["status"].get("message")
    assert runs == 1
    (ingest,) = pod_nodes(done, "ingest")
    window_end = {p["name"]: p.get("value") for p in ingest["inputs"]["parameters"]}["window_end"]
    assert window_end == scheduled
    attempts = pod_nodes(done, "train")
    seen = [(n["displayName"], n["phase"], n.get("message")) for n in attempts]
    # The deleted pod's attempt failed, and a later attempt (not the same one again) succeeded.
    assert len(attempts) >= 2 and attempts[0]["phase"] in ("Error", "Failed"), seen
    assert attempts[-1]["phase"] == "Succeeded", seen
    print(f"cluster: train attempts {seen}")
    for task, artifact in (("preprocess", "records"), ("dataset", "dataset")):
        assert artifact_bytes(env, done, task, artifact) == artifact_bytes(
            env, retrain_run["workflow"], task, artifact
        ), (task, artifact)


PHASES = {"Succeeded": "succeeded", "Skipped": "skipped", "Omitted": "omitted", "Failed": "failed"}


def cluster_graph(wf: dict[str, Any]) -> dict[str, str]:
    """Task path (a/b/c, as the local Argo runner keys them) -> status, from the controller's
    nodes: DAG tasks, retried steps and skipped branches, not the pods of single attempts."""
    prefix = wf["metadata"]["name"] + "."
    return {
        node["name"].removeprefix(prefix).replace(".", "/"): PHASES[node["phase"]]
        for node in wf["status"]["nodes"].values()
        if node["name"] != wf["metadata"]["name"] and node["type"] != "Pod"
    }


def test_the_local_argo_runner_agrees_with_the_controller(
    env: dict[str, str], retrain_run: dict[str, Any], sample_on_gcs: dict[str, Any]
) -> None:
    """`python -m pipelines run retrain --engine argo` on the same Workflow and the same gs://
    inputs (the cluster's emulator): the same task graph with the same statuses, and
    byte-identical data artifacts, the dead-letter and near-duplicate reports included (their
    rows name the snapshot's files, not where the run folder or the pod put them)."""
    runs = sample_on_gcs["tmp"] / "local-argo"
    out = subprocess.run(
        [
            sys.executable, "-m", "pipelines", "run", "retrain", "--engine", "argo",
            "--real-gcs", "--runs-dir", str(runs),
            # the controller's run time, from which the data window (ingest's manifest) derives
            "--scheduled-time", retrain_run["workflow"]["metadata"]["creationTimestamp"],
            "-p", f"data_uri={sample_on_gcs['data_uri']}",
            "-p", f"config={sample_on_gcs['config_uri']}",
            "-p", f"registry_root={sample_on_gcs['registry']}-local-argo",
        ],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    (run_dir,) = runs.glob("retrain-*")
    local = json.loads((run_dir / "run.json").read_text())
    wf = retrain_run["workflow"]
    assert {k: v["status"] for k, v in local["tasks"].items()} == cluster_graph(wf)
    for task, artifact in (("ingest", "raw"), ("preprocess", "records"), ("dataset", "dataset")):
        ours = files_under(Path(local["tasks"][task]["artifacts"][artifact]["uri"]))
        theirs = artifact_bytes(env, wf, task, artifact)
        if task == "ingest":  # the manifest records when it was written
            for files in (ours, theirs):
                manifest = json.loads(files.pop("manifest.json"))
                manifest.pop("created_utc")
                files["manifest.json"] = json.dumps(manifest, sort_keys=True).encode()
        assert sorted(ours) == sorted(theirs), (task, artifact)
        for name in ours:
            assert ours[name] == theirs[name], (task, artifact, name)


def test_the_ab_server_turns_ready_with_a_champion_and_keeps_arms_sticky(
    env: dict[str, str], sample_on_gcs: dict[str, Any]
) -> None:
    """Two retrain runs on a registry of this test (a champion, then, with another seed, a
    challenger at 50%); the A/B server of manifests/serving/ (overlays/local-cluster/serving,
    its registry and log folder pointed at this test's) turns Ready and answers through its
    Service, each unit always in the same arm, both arms in use; then the A/B readout Workflow
    runs on what it logged. Its own registry, so what earlier runs on this cluster published
    to the compiled default does not decide who is champion."""
    import urllib.error
    import urllib.request

    registry = f"gs://{MODELS_BUCKET}/{sample_on_gcs['prefix']}/ab-registry"
    logs = f"gs://retrain-dev-artifacts/{sample_on_gcs['prefix']}/serving-logs"

    # The small config, blessing any candidate against the champion (a tiny model of two
    # epochs varies by more than the shipped margin between seeds), once per seed: the same
    # seed trains the same weights, which evaluate does not bless again ("nothing new to test").
    folder = sample_on_gcs["tmp"] / "ab"
    for seed in (42, 7):
        (folder / str(seed)).mkdir(parents=True, exist_ok=True)
        config = small_config(
            folder / str(seed),
            train={"seed": seed},
            evaluate={"bless": [{"against": "champion", "metric": "roc_auc", "margin": -1.0}]},
        )
        uri = f"{sample_on_gcs['prefix']}/ab-config-{seed}.yaml"
        gcs_client(env).bucket(DATA_BUCKET).blob(uri).upload_from_filename(str(config))
        name = submit(
            env,
            "retrain",
            f"data_uri={sample_on_gcs['data_uri']}",
            f"config=gs://{DATA_BUCKET}/{uri}",
            f"registry_root={registry}",
            "canary_percent=50",
        )
        assert workflow(env, name)["status"]["phase"] == "Succeeded", name
    run = lambda *a: subprocess.run(  # noqa: E731
        ["kubectl", *a], env=env, capture_output=True, text=True, timeout=600
    )
    rendered = run("kustomize", "overlays/local-cluster/serving")
    assert rendered.returncode == 0, rendered.stderr
    objects = list(yaml.safe_load_all(rendered.stdout))
    for obj in objects:
        if obj["kind"] == "Deployment":
            args = obj["spec"]["template"]["spec"]["containers"][0]["args"]
            args[args.index("--registry-root") + 1] = registry
            args[args.index("--log-upload") + 1] = logs
    applied = subprocess.run(
        ["kubectl", "apply", "-f", "-"],
        input=yaml.safe_dump_all(objects),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert applied.returncode == 0, applied.stderr
    token = uuid.uuid4().hex
    secret = ["-n", "ml-serving", "create", "secret", "generic"]
    run("-n", "ml-serving", "delete", "secret", "reviews-sentiment-ab-router-token")
    made = run(*secret, "reviews-sentiment-ab-router-token", f"--from-literal=token={token}")
    assert made.returncode == 0, made.stderr
    run("-n", "ml-serving", "rollout", "restart", "deployment/reviews-sentiment-ab-router")
    ready = run(
        "-n", "ml-serving", "rollout", "status", "deployment/reviews-sentiment-ab-router",
        "--timeout=420s",
    )  # fmt: skip
    assert ready.returncode == 0, ready.stdout + ready.stderr
    address = run(
        "-n", "ml-serving", "get", "service", "reviews-sentiment-ab-router",
        "-o", "jsonpath={.spec.clusterIP}",
    ).stdout  # fmt: skip

    def arm(unit: str) -> str:
        request = urllib.request.Request(
            f"http://{address}/v1/models/reviews-sentiment:predict",
            data=json.dumps({"instances": [{"text": "A gem of a film."}]}).encode(),
            headers={
                "Authorization": f"Bearer {token}",
                "x-unit-id": unit,
                "Content-Type": "application/json",
            },
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            return str(json.loads(answer.read())["arm"])

    def both_arms() -> dict[str, str] | None:
        try:  # the Service has an endpoint once the pod is Ready; the router then reads the
            # challenger's pointer at its next refresh
            arms = {f"unit-{i}": arm(f"unit-{i}") for i in range(40)}
        except (urllib.error.URLError, ConnectionError):
            return None
        return arms if set(arms.values()) == {"champion", "challenger"} else None

    arms = wait_until(both_arms, 300, "answers from both arms through the Service", every=5)
    for unit, first in list(arms.items())[:10]:
        assert all(arm(unit) == first for _ in range(3)), unit
    # The readout of that A/B test, as its CronWorkflow would run it: the request log the
    # server shipped so far, no outcomes yet, so it decides to wait (and changes nothing).
    readout = submit(
        env,
        "ab-readout",
        f"config={sample_on_gcs['config_uri']}",
        f"registry_root={registry}",
        f"requests={logs}/reviews-sentiment/requests/*/*.jsonl",
        f"outcomes={logs}/reviews-sentiment/outcomes/*/*.jsonl",
    )
    wf = workflow(env, readout)
    assert wf["status"]["phase"] == "Succeeded", wf["status"].get("message")
