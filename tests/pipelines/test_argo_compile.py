"""The Argo backend: committed manifests are fresh and golden, every object fits Argo's schema
(hera's models always; Argo's published JSON schema when a copy is present), core objects pass
kubernetes-validate --strict, production defaults are on every template, and IR features outside
the supported set fail the compile with the feature and the task named."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.common.images import image
from pipelines import catalog, platform
from pipelines.argo import CompileError, cluster, validate
from pipelines.argo.compile import compile_ir
from pipelines.argo.validate import strict
from pipelines.argo.write import write_manifests
from pipelines.kfp.compile import compile_pipeline
from pipelines.ops import serving
from tests.conftest import REPO
from tests.pipelines import feature_pipelines as fp

GOLDEN = REPO / "tests" / "golden"
# Argo's published schema (api/jsonschema/schema.json of argoproj/argo-workflows v4.1.0, the
# release infra/terraform installs) with its LICENSE, looked for here or at $ARGO_SCHEMA.
ARGO_SCHEMA = Path(
    os.environ.get(
        "ARGO_SCHEMA", REPO.parent / "shared" / "argo-workflows" / "v4.1.0" / "schema.json"
    )
)


def manifest_files(root: Path) -> list[Path]:
    """Everything a compile writes but the KFP IR: the Argo and Kubernetes objects, and the
    Kustomize base beside them (kustomization.yaml, kustomizeconfig.yaml)."""
    nested = [p for d in ("argo", "cluster", "serving") for p in (root / d).rglob("*.yaml")]
    return sorted([*nested, *root.glob("*.yaml")])


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def normalise(text: str) -> str:
    """The IR digest changes with the kfp release (its sdkVersion), not with our pipeline."""
    return re.sub(r"(kfp-ir-sha256: )[0-9a-f]{64}", r"\1<digest>", text)


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("manifests")
    for name in catalog.PIPELINES:
        compile_pipeline(name, root / "kfp" / f"{name}.yaml")
    write_manifests(sorted(catalog.PIPELINES), root=root)
    serving.write_manifest(root=root)
    serving.write_kustomization(root=root)
    return root


def test_committed_manifests_are_fresh(fresh: Path) -> None:
    committed = manifest_files(catalog.MANIFESTS)
    assert [p.relative_to(catalog.MANIFESTS) for p in committed] == [
        p.relative_to(fresh) for p in manifest_files(fresh)
    ], "manifests/ has other files than a compile writes; run `make compile`"
    for path in committed:
        assert path.read_bytes() == (fresh / path.relative_to(catalog.MANIFESTS)).read_bytes(), (
            f"{path} is stale; run `make compile` and commit it"
        )


def test_matches_golden(fresh: Path) -> None:
    for path in manifest_files(fresh):
        golden = GOLDEN / path.relative_to(fresh)
        text = normalise(path.read_text())
        if os.environ.get("UPDATE_GOLDEN"):
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_text(text)
        assert golden.exists(), f"no golden file; run `make golden` to create {golden}"
        assert text == golden.read_text(), f"{path.name} changed; review it, then `make golden`"


def test_compiling_twice_gives_identical_bytes(tmp_path: Path) -> None:
    """Separate processes with different environments: nothing volatile leaks in."""
    outputs = []
    for i, extra in enumerate(({}, {"HOME": str(tmp_path), "TZ": "Asia/Tokyo", "LANG": "C"})):
        root = tmp_path / f"r{i}"
        code = (
            "from pathlib import Path; from pipelines.kfp.compile import compile_pipeline; "
            "from pipelines.argo.write import write_manifests; "
            "from pipelines.ops.serving import write_manifest; "
            f"compile_pipeline('retrain', Path({str(root)!r}) / 'kfp' / 'retrain.yaml'); "
            f"write_manifests(['retrain'], root=Path({str(root)!r})); "
            f"write_manifest(root=Path({str(root)!r}))"
        )
        subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, check=True, env={**os.environ, **extra}
        )
        outputs.append({p.relative_to(root): p.read_bytes() for p in manifest_files(root)})
    assert outputs[0] == outputs[1]


def argo_objects() -> list[dict[str, Any]]:
    return [d for p in sorted((catalog.MANIFESTS / "argo").rglob("*.yaml")) for d in docs(p)]


def test_argo_objects_fit_heras_models_strictly() -> None:
    objects = argo_objects()
    assert (
        sorted(o["kind"] for o in objects).count("WorkflowTemplate") == 12
    )  # train twice: on the GPU and its TFJob launcher
    for obj in objects:
        strict(obj)  # raises on any field the models (Argo's schema) do not know
    bad = {**objects[0], "spec": {**objects[0]["spec"], "retryStrategyy": {"limit": "1"}}}
    with pytest.raises(CompileError, match=r"spec\.retryStrategyy"):
        strict(bad)


@pytest.mark.skipif(
    not ARGO_SCHEMA.exists(),
    reason=f"Argo's published JSON schema is not at {ARGO_SCHEMA} (set ARGO_SCHEMA to a copy of "
    "api/jsonschema/schema.json from argoproj/argo-workflows v4.1.0)",
)
def test_argo_objects_validate_against_argos_published_schema() -> None:
    problems = [e for obj in argo_objects() for e in validate.errors(obj, ARGO_SCHEMA)]
    assert problems == []
    unknown = docs(catalog.argo_manifest("retrain"))[0]
    unknown["spec"]["templates"][0]["retryStrategyy"] = {}
    assert any("retryStrategyy" in e for e in validate.errors(unknown, ARGO_SCHEMA))


def test_core_objects_pass_kubernetes_validate_strict() -> None:
    import kubernetes_validate

    files = sorted((catalog.MANIFESTS / "cluster").glob("*.yaml"))
    kinds = []
    for path in files:
        for obj in docs(path):
            kubernetes_validate.validate(obj, "1.33", strict=True)
            kinds.append(obj["kind"])
    assert sorted(kinds) == [
        "ConfigMap",
        "Namespace",
        "Role",
        "Role",
        "RoleBinding",
        "RoleBinding",
        "ServiceAccount",
        "ServiceAccount",
    ]
    serving = docs(catalog.MANIFESTS / "serving" / "ab-router.yaml")
    for obj in serving:
        kubernetes_validate.validate(obj, "1.33", strict=True)
    assert [o["kind"] for o in serving] == [
        "Namespace",
        "ServiceAccount",
        "Deployment",
        "NetworkPolicy",
        "Service",
    ]
    pod = serving[2]["spec"]["template"]["spec"]
    (server,) = pod["containers"]
    assert server["command"] == ["python", "-m", "components.serve"]
    assert server["image"] == image("tf", platform.load().image_registry)
    args = dict(zip(server["args"][::2], server["args"][1::2], strict=True))
    assert args["--log-upload"] == "gs://retrain-dev-artifacts/serving-logs"
    assert args["--registry-root"] == "gs://retrain-dev-models/registry"
    # ...where the readout DAG's default request glob looks
    readout = docs(catalog.argo_manifest("ab-readout"))[0]["spec"]["arguments"]["parameters"]
    requests = next(p["value"] for p in readout if p["name"] == "requests")
    assert requests.startswith(f"{args['--log-upload']}/{args['--model-name']}/requests/")
    assert serving[1]["metadata"]["annotations"]["iam.gke.io/gcp-service-account"] == (
        platform.load().serving_gcp_sa
    )
    bad = docs(catalog.MANIFESTS / "cluster" / "rbac.yaml")[0]
    bad["rulez"] = bad.pop("rules")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, "1.33", strict=True)


def container_templates() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    out = []
    for obj in [d for p in sorted(catalog.ARGO_TEMPLATES.glob("*.yaml")) for d in docs(p)]:
        for template in obj["spec"]["templates"]:
            out.append((obj["metadata"]["name"], obj["spec"], template))
    return out


def test_production_defaults_on_every_template() -> None:
    settings = platform.load()
    templates = container_templates()
    assert {name for name, _, _ in templates} == {
        "ingest",
        "preprocess",
        "build-dataset",
        "train",
        "train-2",  # train's TFJob launcher (train_workers > 1)
        "monitor",
        "trigger",
        "evaluate",
        "deploy",
        "record",
        "readout",
        "promote",
    }
    for name, spec, template in templates:
        retry = template["retryStrategy"]
        assert 0 < int(retry["limit"]) <= 5, name
        assert retry["backoff"]["duration"] and retry["backoff"]["maxDuration"], name
        assert "exitCode) != 2" in retry["expression"], name  # bad input is not retried
        assert int(template["activeDeadlineSeconds"]) > 0, name
        pod = template["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] != 0, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        container = template["container"]
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"] == {"drop": ["ALL"]}
        assert sc["readOnlyRootFilesystem"] is True, name
        resources = container["resources"]
        for kind in ("cpu", "memory"):
            assert resources["requests"][kind] and resources["limits"][kind], (name, kind)
        assert container["image"].startswith(settings.image_registry), name
        workflow = docs(catalog.argo_manifest("retrain"))[0]
        for s in (spec, workflow["spec"]):
            assert s["serviceAccountName"] == settings.service_account != "default"
            assert s["podGC"]["strategy"] and s["ttlStrategy"]["secondsAfterSuccess"] > 0
            assert s["activeDeadlineSeconds"] > 0
    train = next(t for n, _, t in templates if n == "train")
    gpu = settings.gpu
    assert gpu is not None  # config/platform.json has a GPU pool
    assert train["container"]["resources"]["limits"][gpu.resource] == "1"
    assert train["container"]["resources"]["requests"][gpu.resource] == "1"
    assert train["nodeSelector"] == gpu.node_selector
    assert train["tolerations"][0]["key"] == gpu.tolerations[0].key
    # The TFJob launcher: no GPU, no GPU pool; a small pod on the CPU pool.
    launcher = next(t for n, _, t in templates if n == "train-2")
    resources = launcher["container"]["resources"]
    assert gpu.resource not in resources["limits"] and gpu.resource not in resources["requests"]
    assert "nodeSelector" not in launcher and "tolerations" not in launcher
    assert resources["limits"] == {"cpu": "1", "memory": "2G"}
    assert resources["requests"] == {"cpu": "250m", "memory": "1G"}


def test_workflow_uses_the_library_and_maps_the_dag() -> None:
    workflow = docs(catalog.argo_manifest("retrain"))[0]
    templates = {t["name"]: t for t in workflow["spec"]["templates"]}
    dag = {t["name"]: t for t in templates["retrain"]["dag"]["tasks"]}
    # Tasks are named as the KFP UI shows them (display names), templates by component.
    assert dag["condition-branches-1"]["template"] == "condition-branches-1"
    assert dag["dataset"]["templateRef"]["name"] == "build-dataset"
    assert dag["evaluate"]["depends"] == "condition-branches-1.Succeeded && dataset.Succeeded"
    assert dag["blessed"]["template"] == "condition-4"
    assert dag["blessed"]["when"] == "{{tasks.evaluate.outputs.parameters.blessed}} == true"
    # train_workers == 1: train on the GPU; else: launch the TFJob. The branches' DAG gives the
    # model of the one that ran (Argo's conditional artifact), which evaluate reads.
    branches = {t["name"]: t for t in templates["condition-branches-1"]["dag"]["tasks"]}
    workers = "({{inputs.parameters.train_workers}}) == 1"
    assert branches["one-worker"]["when"] == workers
    assert branches["tfjob"]["when"] == f"!({workers})"
    (one,) = templates["condition-2"]["dag"]["tasks"]
    (many,) = templates["condition-3"]["dag"]["tasks"]
    assert one["templateRef"] == {"name": "train", "template": "main"}
    assert (one["name"], many["name"]) == ("train", "train-launcher")
    assert many["templateRef"] == {"name": "train-2", "template": "main"}
    (model,) = templates["condition-branches-1"]["outputs"]["artifacts"]
    assert model["fromExpression"] == (
        "tasks['one-worker'].status == 'Succeeded' ? "
        "tasks['one-worker'].outputs.artifacts['train-model'] : "
        "tasks['tfjob'].outputs.artifacts['train-launcher-model']"
    )
    assert templates["condition-2"]["outputs"]["artifacts"] == [
        {"name": "train-model", "from": "{{tasks.train.outputs.artifacts.model}}"}
    ]
    evaluate_model = next(
        a for a in dag["evaluate"]["arguments"]["artifacts"] if a["name"] == "model"
    )
    assert evaluate_model["from"] == (
        f"{{{{tasks.condition-branches-1.outputs.artifacts.{model['name']}}}}}"
    )
    assert dag["ingest"]["arguments"]["parameters"][-1] == {
        "name": "window_end",
        "value": "{{workflow.creationTimestamp}}",
    }
    # Artifacts travel through the repository: no template or workflow names a store.
    text = "".join(
        p.read_text() for p in [catalog.argo_manifest("retrain"), *catalog.ARGO_TEMPLATES.glob("*")]
    )
    assert not re.search(r"^\s*(gcs|s3|bucket|azure|oss):", text, re.MULTILINE)


def test_cron_workflow_settings() -> None:
    cron = docs(catalog.argo_manifest("retrain", cron=True))[0]
    spec = cron["spec"]
    schedule = catalog.SCHEDULES["retrain"]
    assert spec["schedules"] == [schedule.cron] and spec["timezone"] == schedule.timezone
    assert spec["concurrencyPolicy"] == "Forbid" and spec["startingDeadlineSeconds"] > 0
    ingest = spec["workflowSpec"]["templates"][0]["dag"]["tasks"][0]
    window = {p["name"]: p["value"] for p in ingest["arguments"]["parameters"]}
    assert window["window_end"] == "{{workflow.scheduledTime}}"  # same window on retry
    # checkov's Argo checks do not look inside a CronWorkflow; the same rules are checked here.
    workflow_spec = spec["workflowSpec"]
    assert workflow_spec["serviceAccountName"] == platform.load().service_account
    assert workflow_spec["securityContext"]["runAsNonRoot"] is True
    assert workflow_spec["podGC"] and workflow_spec["ttlStrategy"]


def test_artifact_repository_is_swapped_in_the_configmap_only() -> None:
    config_map = docs(catalog.CLUSTER_MANIFESTS / "artifact-repositories.yaml")[0]
    repo = cluster.default_repository(config_map)
    assert repo["gcs"]["bucket"] == platform.load().bucket("artifacts").removeprefix("gs://")
    assert "{{workflow.name}}" in repo["gcs"]["keyFormat"]


def test_supported_features_compile_and_fit_the_schema(tmp_path: Path) -> None:
    bundle = compile_ir(fp.compile_to(fp.features, tmp_path / "f.yaml"), platform.load())
    spec = bundle.workflow["spec"]
    templates = {t["name"]: t for t in spec["templates"]}
    assert spec["onExit"] == "features-exit"
    inner = {t["name"]: t for t in templates["exit-handler-1"]["dag"]["tasks"]}
    assert inner["for-loop-3"]["withItems"] == ["x", "y"]
    assert inner["for-loop-4"]["withParam"] == "{{inputs.parameters.items}}"
    assert inner["long"]["when"] == "({{tasks.produce.outputs.parameters.size}}) > 3"
    produce = bundle.templates["produce"]["spec"]["templates"][0]
    env = {e["name"]: e for e in produce["container"]["env"]}
    assert env["TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "api", "key": "token"}
    assert {"name": "pvc-0", "persistentVolumeClaim": {"claimName": "scratch"}} in produce[
        "volumes"
    ]
    assert produce["nodeSelector"] == {"pool": "cpu"}
    assert produce["container"]["resources"]["requests"]["cpu"] == "100m"
    flaky = bundle.templates["flaky"]["spec"]["templates"][0]["retryStrategy"]
    assert flaky["limit"] == "2" and flaky["backoff"]["duration"] == "0s"
    if ARGO_SCHEMA.exists():
        objects = [bundle.workflow, *bundle.templates.values()]
        assert [e for o in objects for e in validate.errors(o, ARGO_SCHEMA)] == []


def test_one_of_compiles_to_a_conditional_artifact_that_fits_the_schema(tmp_path: Path) -> None:
    """dsl.OneOf over dsl.If/dsl.Else: the branches' DAG template outputs the artifact of the
    branch that ran (Argo's `fromExpression`, as in its dag-conditional-artifacts example), and
    the consumer reads that DAG output."""
    bundle = compile_ir(fp.compile_to(fp.branches, tmp_path / "b.yaml"), platform.load())
    templates = {t["name"]: t for t in bundle.workflow["spec"]["templates"]}
    (chosen,) = templates["condition-branches-1"]["outputs"]["artifacts"]
    assert chosen["fromExpression"].startswith("tasks['one'].status == 'Succeeded' ? ")
    consume = {t["name"]: t for t in templates["branches"]["dag"]["tasks"]}["consume"]
    assert consume["depends"] == "condition-branches-1.Succeeded"
    assert consume["arguments"]["artifacts"] == [
        {
            "name": "data",
            "from": f"{{{{tasks.condition-branches-1.outputs.artifacts.{chosen['name']}}}}}",
        }
    ]
    if ARGO_SCHEMA.exists():
        objects = [bundle.workflow, *bundle.templates.values()]
        assert [e for o in objects for e in validate.errors(o, ARGO_SCHEMA)] == []


@pytest.mark.parametrize(
    ("pipeline", "message"),
    [
        (fp.uses_importer, r"component 'importer': executor kind \['importer'\]"),
        (fp.uses_final_status, r"task 'report': input parameter 'status' comes from"),
        (fp.uses_parallelism, r"task 'for-loop-2': iteratorPolicy"),
        (fp.uses_pull_policy, r"component 'notify': kfp-kubernetes settings \['imagePullPolicy'\]"),
    ],
)
def test_unsupported_features_fail_with_the_feature_and_task_named(
    tmp_path: Path, pipeline: Any, message: str
) -> None:
    with pytest.raises(CompileError, match=message):
        compile_ir(fp.compile_to(pipeline, tmp_path / "p.yaml"), platform.load())


def test_compile_cli_reports_unsupported_features(tmp_path: Path) -> None:
    """What a user sees: exit 2 and the message, from `python -m pipelines compile`."""
    ir_file = fp.compile_to(fp.uses_parallelism, tmp_path / "p.yaml")
    code = (
        "import sys; from pathlib import Path; from pipelines import platform; "
        "from pipelines.argo import CompileError; from pipelines.argo.compile import compile_ir\n"
        f"try: compile_ir(Path({str(ir_file)!r}), platform.load())\n"
        "except CompileError as e: print(e, file=sys.stderr); sys.exit(2)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 2 and "iteratorPolicy" in result.stderr
