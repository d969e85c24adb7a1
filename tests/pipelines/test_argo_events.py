"""The Argo Events objects that start a retrain (manifests/argo/retrain-triggers.yaml): what the
Sensor submits is the compiled retrain Workflow with the reason from the event, the filters take
the events they should and only those, the Sensor may submit Workflows and do nothing else, and
both objects fit Argo's schema (hera's models always; Argo's published JSON schema, which holds
the Argo Events definitions, when a copy is present) with misspelt fields rejected."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines import catalog, platform
from pipelines.argo import CompileError, events, validate
from pipelines.argo.validate import strict
from pipelines.argo.write import write_manifests
from tests.conftest import REPO, tool
from tests.pipelines.test_argo_compile import ARGO_SCHEMA

TRIGGERS = catalog.MANIFESTS / "argo" / "retrain-triggers.yaml"
needs_schema = pytest.mark.skipif(
    not ARGO_SCHEMA.exists(),
    reason=f"Argo's published JSON schema is not at {ARGO_SCHEMA} (set ARGO_SCHEMA to a copy of "
    "api/jsonschema/schema.json from argoproj/argo-workflows v4.1.0)",
)


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


@pytest.fixture(scope="module")
def compiled() -> tuple[dict[str, Any], dict[str, Any]]:
    event_source, sensor = docs(TRIGGERS)
    return event_source, sensor


def triggers(sensor: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["template"]["conditions"]: t["template"] for t in sensor["spec"]["triggers"]}


def test_the_event_source_listens_where_the_monitor_posts(
    compiled: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    event_source, _ = compiled
    spec = event_source["spec"]
    assert event_source["metadata"]["name"] == "retrain-triggers"
    # Argo Events names the EventSource's Service `<name>-eventsource-svc`
    # (pkg/reconciler/eventsource/resource.go); the monitor's trigger step POSTs here.
    assert events.WEBHOOK_URL == "http://retrain-triggers-eventsource-svc:12000/retrain"
    from pipelines import monitor

    assert monitor.TRIGGER_URL == events.WEBHOOK_URL
    assert spec["service"]["ports"] == [{"port": 12000}]
    assert spec["webhook"]["verdict"] == {"port": "12000", "endpoint": "/retrain", "method": "POST"}
    settings = platform.load()
    pubsub = spec["pubSub"]["partition"]
    assert pubsub["projectID"] == settings.project_id
    assert pubsub["topic"] == events.PARTITION_TOPIC and pubsub["jsonBody"] is True
    assert "credentialSecret" not in pubsub  # Workload Identity, through the pod's account
    assert spec["template"]["serviceAccountName"] == settings.service_account
    for obj in compiled:  # the namespace enforces restricted pod security
        pod = obj["spec"]["template"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        container = pod["container"]
        assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert container["resources"]["requests"] and container["resources"]["limits"]
        assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]


def test_the_sensor_submits_the_compiled_retrain_workflow_with_the_reason(
    compiled: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    _, sensor = compiled
    (retrain,) = docs(catalog.argo_manifest("retrain"))
    names = [p["name"] for p in retrain["spec"]["arguments"]["parameters"]]
    index = names.index("reason")
    by_kind = triggers(sensor)
    assert sorted(by_kind) == ["partition", "verdict"]
    for kind, template in by_kind.items():
        workflow = template["argoWorkflow"]
        assert workflow["operation"] == "submit"
        resource = copy.deepcopy(workflow["source"]["resource"])
        # The labels and, for a partition, the mutex are all that differ from retrain.yaml.
        assert resource["metadata"]["labels"].pop(events.TRIGGER_LABEL) == kind
        if kind == "partition":
            assert resource["spec"].pop("synchronization") == {"mutexes": [{"name": "retrain"}]}
        assert resource == retrain
        (parameter,) = workflow["parameters"]
        assert parameter["dest"] == f"spec.arguments.parameters.{index}.value"
        assert parameter["src"]["dependencyName"] == kind
    verdict, partition = by_kind["verdict"]["argoWorkflow"], by_kind["partition"]["argoWorkflow"]
    assert verdict["parameters"][0]["src"]["dataTemplate"] == (
        "{{ .Input.body.reason }}: {{ .Input.body.detail }}"
    )
    assert partition["parameters"][0]["src"]["dataTemplate"] == (
        "new-data: {{ .Input.attributes.bucketId }}/{{ .Input.attributes.objectId }}"
    )
    assert "synchronization" not in verdict["source"]["resource"]["spec"]
    # One dependency per trigger: without `conditions` a trigger waits for all of them.
    deps = {d["name"]: d for d in sensor["spec"]["dependencies"]}
    assert {t["template"]["conditions"] for t in sensor["spec"]["triggers"]} == set(deps)
    assert all(d["eventSourceName"] == "retrain-triggers" for d in deps.values())


def matches(filters: list[dict[str, Any]], data: dict[str, Any]) -> bool:
    """Argo Events' data filters (pkg/sensors/dependencies/filter.go) for string values: every
    filter (`and`), each true when one of its values, a regular expression, matches somewhere
    in the value at its path. These patterns mean the same in Go's RE2 and Python's re."""

    def at(path: str) -> str:
        value: Any = data
        for key in path.split("."):
            value = value.get(key, "") if isinstance(value, dict) else ""
        return str(value)

    assert all(f["type"] == "string" for f in filters)
    return all(any(re.search(v, at(f["path"])) for v in f["value"]) for f in filters)


def test_the_filters_take_drift_decay_and_complete_partitions_only(
    compiled: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    _, sensor = compiled
    deps = {d["name"]: d["filters"]["data"] for d in sensor["spec"]["dependencies"]}

    def verdict(reason: str) -> dict[str, Any]:
        body = {"reason": reason, "detail": "psi 0.4 on text", "window_end": "2026-01-02T03:00:00Z"}
        return {"header": {}, "body": body}

    assert matches(deps["verdict"], verdict("drift"))
    assert matches(deps["verdict"], verdict("decay"))
    for other in ("ok", "drifty", "no-drift", ""):
        assert not matches(deps["verdict"], verdict(other)), other
    bucket = platform.load().bucket("data").removeprefix("gs://")

    def notification(object_id: str, event: str = "OBJECT_FINALIZE", in_bucket: str = bucket):
        return {"attributes": {"eventType": event, "bucketId": in_bucket, "objectId": object_id}}

    assert matches(deps["partition"], notification("events/dt=2026-01-02/_SUCCESS"))
    assert matches(deps["partition"], notification("_SUCCESS"))
    assert not matches(deps["partition"], notification("events/dt=2026-01-02/part-0.jsonl"))
    assert not matches(deps["partition"], notification("events/dt=2026-01-02/not_SUCCESS"))
    assert not matches(deps["partition"], notification("events/dt=2026-01-02/_SUCCESS.tmp"))
    assert not matches(
        deps["partition"], notification("events/dt=2026-01-02/_SUCCESS", "OBJECT_DELETE")
    )
    assert not matches(
        deps["partition"], notification("events/_SUCCESS", in_bucket=f"{bucket}-copy")
    )


def test_a_retrain_workflow_without_reason_fails_the_compile_clearly() -> None:
    (retrain,) = docs(catalog.argo_manifest("retrain"))
    parameters = retrain["spec"]["arguments"]["parameters"]
    retrain["spec"]["arguments"]["parameters"] = [p for p in parameters if p["name"] != "reason"]
    with pytest.raises(CompileError, match=r"Workflow 'retrain' has no 'reason' parameter.*add"):
        events.objects(retrain, platform.load())


def test_the_index_follows_the_parameter_list(
    compiled: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    """`dest` names the parameter by position: a parameter added before `reason` moves it."""
    (retrain,) = docs(catalog.argo_manifest("retrain"))
    arguments = retrain["spec"]["arguments"]["parameters"]
    arguments.insert(0, {"name": "aaa", "value": "1"})
    _, sensor = events.objects(retrain, platform.load())
    expected = f"spec.arguments.parameters.{[p['name'] for p in arguments].index('reason')}.value"
    for trigger in sensor["spec"]["triggers"]:
        assert trigger["template"]["argoWorkflow"]["parameters"][0]["dest"] == expected
    assert expected != triggers(compiled[1])["verdict"]["argoWorkflow"]["parameters"][0]["dest"]


def test_the_compile_writes_the_triggers_only_with_the_retrain_pipeline(tmp_path: Path) -> None:
    """A compile of other pipelines leaves no Sensor for a retrain Workflow it did not write."""
    root = tmp_path / "m"
    (root / "kfp").mkdir(parents=True)
    for name in ("retrain", "ab-readout"):
        (root / "kfp" / f"{name}.yaml").write_bytes(catalog.kfp_manifest(name).read_bytes())
    write_manifests(["retrain"], root=root)
    assert (root / "argo" / "retrain-triggers.yaml").read_bytes() == TRIGGERS.read_bytes()
    kustomization = yaml.safe_load((root / "kustomization.yaml").read_text())
    assert "argo/retrain-triggers.yaml" in kustomization["resources"]
    write_manifests(["ab-readout"], root=root)
    assert not (root / "argo" / "retrain-triggers.yaml").exists()
    kustomization = yaml.safe_load((root / "kustomization.yaml").read_text())
    assert "argo/retrain-triggers.yaml" not in kustomization["resources"]


def test_the_committed_kustomization_installs_the_triggers() -> None:
    kustomization = yaml.safe_load((catalog.MANIFESTS / "kustomization.yaml").read_text())
    assert kustomization["resources"][-1] == "argo/retrain-triggers.yaml"


def test_the_sensor_may_submit_workflows_and_nothing_else() -> None:
    import kubernetes_validate

    settings = platform.load()
    objects = docs(catalog.CLUSTER_MANIFESTS / "rbac.yaml")
    for obj in objects:
        kubernetes_validate.validate(obj, "1.33", strict=True)
    by_name = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    account = by_name[("ServiceAccount", events.SENSOR_ACCOUNT)]
    assert account["metadata"]["namespace"] == settings.namespace
    role = by_name[("Role", "workflow-submitter")]
    assert role["rules"] == [
        {"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": ["create", "list"]},
        {"apiGroups": ["argoproj.io"], "resources": ["workflowtemplates"], "verbs": ["get"]},
    ]
    binding = by_name[("RoleBinding", f"{events.SENSOR_ACCOUNT}-workflow-submitter")]
    assert binding["roleRef"]["name"] == "workflow-submitter"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": events.SENSOR_ACCOUNT, "namespace": settings.namespace}
    ]
    (_, sensor) = docs(TRIGGERS)
    assert sensor["spec"]["template"]["serviceAccountName"] == events.SENSOR_ACCOUNT
    # The Workflows it submits run as the pipelines' account, not the sensor's.
    for trigger in sensor["spec"]["triggers"]:
        resource = trigger["template"]["argoWorkflow"]["source"]["resource"]
        assert resource["spec"]["serviceAccountName"] == settings.service_account


def misspell(obj: dict[str, Any], path: list[str | int], wrong: str) -> dict[str, Any]:
    """A copy with the key at `path` renamed to `wrong`."""
    out = copy.deepcopy(obj)
    parent: Any = out
    for key in path[:-1]:
        parent = parent[key]
    parent[wrong] = parent.pop(path[-1])
    return out


RESOURCE: list[str | int] = ["spec", "triggers", 1, "template", "argoWorkflow", "source"]
MISSPELT: list[tuple[str, list[str | int], str]] = [
    ("EventSource", ["spec", "webhook", "verdict", "endpoint"], "endpiont"),
    ("EventSource", ["spec", "pubSub", "partition", "subscriptionID"], "subscriptionId"),
    ("Sensor", ["spec", "dependencies", 0, "filters"], "filter"),
    ("Sensor", ["spec", "triggers", 0, "template", "argoWorkflow", "operation"], "op"),
    ("Sensor", [*RESOURCE, "resource", "spec", "synchronization"], "synchronisation"),
]


def test_both_objects_fit_heras_models_strictly(
    compiled: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    for obj in compiled:
        assert strict(obj) is obj
    objects = dict(zip(("EventSource", "Sensor"), compiled, strict=True))
    for kind, path, wrong in MISSPELT:
        with pytest.raises(CompileError, match=re.escape(wrong)):
            strict(misspell(objects[kind], path, wrong))
    not_a_workflow = copy.deepcopy(compiled[1])
    not_a_workflow["spec"]["triggers"][0]["template"]["argoWorkflow"]["source"]["resource"] = {
        "kind": "Workflw"
    }
    with pytest.raises(CompileError, match=r"source\.resource: not an Argo object"):
        strict(not_a_workflow)


@needs_schema
def test_both_objects_validate_against_argos_published_schema(
    compiled: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    for obj in compiled:
        assert list(validate.errors(obj, ARGO_SCHEMA)) == []
    objects = dict(zip(("EventSource", "Sensor"), compiled, strict=True))
    for kind, path, wrong in MISSPELT:
        problems = list(validate.errors(misspell(objects[kind], path, wrong), ARGO_SCHEMA))
        assert len(problems) == 1 and f"'{wrong}' was unexpected" in problems[0], problems
    # A wrong type, deep in the submitted Workflow, is named with where it is.
    bad = copy.deepcopy(compiled[1])
    bad["spec"]["triggers"][0]["template"]["argoWorkflow"]["source"]["resource"]["spec"][
        "activeDeadlineSeconds"
    ] = "a day"
    (problem,) = validate.errors(bad, ARGO_SCHEMA)
    assert problem.startswith(
        "Sensor retrain-triggers: spec/triggers/0/template/argoWorkflow/source/resource: "
        "Workflow retrain-: spec/activeDeadlineSeconds: 'a day' is not of type 'integer'"
    )


@needs_schema
def test_the_schema_fixes_are_needed_and_no_more() -> None:
    """Argo's published schema, as generated, rejects a correct EventSource and Sensor: each fix
    of `validate.events_fixes` answers one of its errors (see validate's module doc)."""
    schema = json.loads(ARGO_SCHEMA.read_text())
    raw = validate.strict_schema(schema)
    fixed = validate.strict_schema(validate.events_fixes(schema))
    import jsonschema

    def problems(obj: dict[str, Any], against: dict[str, Any]) -> list[str]:
        root = {**against, "$ref": f"#/definitions/{validate.DEFINITION[obj['kind']]}"}
        root.pop("oneOf", None)
        cls = jsonschema.validators.validator_for(root)
        return sorted(e.message for e in cls(root).iter_errors(obj))

    event_source, sensor = docs(TRIGGERS)
    unfixed = problems(event_source, raw) + problems(sensor, raw)
    assert any("'apiVersion', 'kind' were unexpected" in p for p in unfixed), unfixed
    assert any("'endpoint', 'method', 'port' were unexpected" in p for p in unfixed), unfixed
    assert any("'apiVersion', 'kind', 'metadata', 'spec' were unexpected" in p for p in unfixed)
    assert any("'10s' is not of type 'object'" in p for p in unfixed), unfixed
    assert problems(event_source, fixed) == problems(sensor, fixed) == []


@pytest.mark.tools
def test_argo_lint_checks_the_workflows_the_sensor_submits(tmp_path: Path) -> None:
    """argo lint knows only workflow kinds: scripts/argo_lint.sh lints the Sensor's trigger
    Workflows, templateRefs resolved, so a broken one fails with argo's message."""

    def lint(folder: Path) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, ARGO=str(tool("argo")))
        script = str(REPO / "scripts" / "argo_lint.sh")
        return subprocess.run(
            ["bash", script, str(folder)], env=env, capture_output=True, text=True
        )

    shutil.copytree(catalog.ARGO_TEMPLATES, tmp_path / "templates")
    shutil.copy(TRIGGERS, tmp_path / TRIGGERS.name)
    done = lint(tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    at = lines.index(f"argo lint: ok   {tmp_path}/{TRIGGERS.name}")
    assert lines[at + 1] == "  as its 2 Sensor trigger Workflows"
    event_source, sensor = docs(TRIGGERS)
    partition = sensor["spec"]["triggers"][1]["template"]["argoWorkflow"]["source"]["resource"]
    (dag,) = [t for t in partition["spec"]["templates"] if t["name"] == "retrain"]
    dag["dag"]["tasks"][1]["depends"] = "ingestt.Succeeded"  # no task is named ingestt
    (tmp_path / TRIGGERS.name).write_text(yaml.safe_dump_all([event_source, sensor]))
    done = lint(tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    failed = f"argo lint: FAIL {tmp_path}/{TRIGGERS.name} (its Sensor trigger Workflows)"
    assert failed in done.stdout.splitlines()
    assert "trigger-2.yaml" in done.stdout and "invalid dependency ingestt" in done.stdout
    assert "trigger-1.yaml" not in done.stdout  # the verdict's Workflow is still fine
