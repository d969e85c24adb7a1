"""The compiled manifests can be submitted as they are: images by tag until a publish pins their
digests for its registry, a CPU-only platform asks for no GPU, no object names a namespace and
a Kustomize overlay moves everything (namespace, registry, service account) without recompiling,
Argo's parameter names are clean, and both engines show the same task and artifact names."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.common.images import image, pinning
from pipelines import catalog, ir, platform
from pipelines.argo import validate
from pipelines.argo.compile import compile_ir
from pipelines.argo.dump import write_yaml
from pipelines.kfp.compile import compile_pipeline
from tests.conftest import REPO, tool
from tests.pipelines.test_argo_compile import ARGO_SCHEMA
from tests.pipelines.test_argo_lint import lint

CPU_PLATFORM = REPO / "config" / "platform-cpu.json"
OVERLAY = REPO / "overlays" / "example"
LOCAL_CLUSTER = REPO / "overlays" / "local-cluster"
REGISTRY = "registry.example.com/team-a"


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def argo_files() -> list[Path]:
    return sorted((catalog.MANIFESTS / "argo").rglob("*.yaml"))


# ---- images ------------------------------------------------------------------------------------


PUSHED = {"registry": "europe-docker.pkg.dev/p/r", "digests": {"beam": "sha256:" + "a" * 64}}
SETTINGS = {
    "tag": "0.1.0",
    "families": {"beam": "retrain-beam", "tf": "retrain-tf"},
    "published": PUSHED,
}


def test_digests_are_pinned_only_in_the_registry_they_were_pushed_to() -> None:
    assert image("beam", "europe-docker.pkg.dev/p/r/", SETTINGS) == (
        "europe-docker.pkg.dev/p/r/retrain-beam@sha256:" + "a" * 64
    )
    assert image("tf", "europe-docker.pkg.dev/p/r", SETTINGS).endswith("/retrain-tf:0.1.0")
    # Another registry: the digest may not exist there, so the tag.
    assert (
        image("beam", "us-docker.pkg.dev/q/s", SETTINGS)
        == "us-docker.pkg.dev/q/s/retrain-beam:0.1.0"
    )
    assert "pinned by digest in europe-docker.pkg.dev/p/r" in pinning(
        "europe-docker.pkg.dev/p/r", SETTINGS
    )
    assert "tf by tag :0.1.0" in pinning("europe-docker.pkg.dev/p/r", SETTINGS)
    elsewhere = pinning("us-docker.pkg.dev/q/s", SETTINGS)
    assert (
        "tags :0.1.0" in elsewhere
        and "the last publish went to europe-docker.pkg.dev/p/r" in elsewhere
    )
    assert "make publish-images REGISTRY=us-docker.pkg.dev/q/s" in elsewhere
    unpublished = {**SETTINGS, "published": {"registry": "", "digests": {}}}
    assert "no publish was recorded" in pinning("europe-docker.pkg.dev/p/r", unpublished)
    assert "@" not in image("beam", "europe-docker.pkg.dev/p/r", unpublished)


def test_every_compiled_file_states_how_its_images_are_named() -> None:
    registry = platform.load().image_registry
    stated = f"# {pinning(registry)}"
    files = [catalog.kfp_manifest(n) for n in catalog.PIPELINES] + argo_files()
    files.append(catalog.MANIFESTS / "serving" / "ab-router.yaml")
    for path in files:
        header = [line for line in path.read_text().splitlines() if line.startswith("#")][:6]
        assert stated in header, path
    # As committed: no publish to the platform's registry is recorded, so no digest anywhere.
    for path in files:
        assert "@sha256:" not in path.read_text(), path


# ---- a platform without a GPU pool ------------------------------------------------------------


@pytest.fixture(scope="module")
def cpu_only(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("cpu")
    kfp = compile_pipeline("retrain", tmp / "retrain.yaml", platform_file=CPU_PLATFORM)
    bundle = compile_ir(kfp, platform.load(CPU_PLATFORM), catalog.SCHEDULES["retrain"])
    return ir.load(kfp), bundle.templates


def test_cpu_only_platform_trains_without_a_gpu(
    cpu_only: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    assert platform.load(CPU_PLATFORM).gpu is None
    spec, templates = cpu_only
    registry = platform.load(CPU_PLATFORM).image_registry
    for label in ("exec-train", "exec-train-2"):  # one worker, and the TFJob launcher
        container = spec["deploymentSpec"]["executors"][label]["container"]
        assert "accelerator" not in container["resources"], label
        # The CPU TensorFlow image dataset and evaluate run in, not the unbuilt GPU one.
        assert container["image"] == image("tf", registry), label
        args = container["args"]
        assert args[args.index("--tfjob-gpus") + 1] == "0"  # TFJob workers ask for none either
        assert args[args.index("--tfjob-image") + 1] == image("tf", registry)
    k8s = spec.get("platforms", {}).get("kubernetes", {}).get("deploymentSpec", {})
    assert "exec-train" not in k8s.get("executors", {})  # no node selector, no tolerations
    train = templates["train"]["spec"]["templates"][0]
    assert "nodeSelector" not in train and "tolerations" not in train
    resources = train["container"]["resources"]
    assert set(resources["limits"]) == set(resources["requests"]) == {"cpu", "memory"}
    assert train["container"]["image"] == image("tf", registry)
    # The run records the image it trained in.
    record = spec["root"]["dag"]["tasks"]["record"]["inputs"]["parameters"]["images"]
    assert '"train": "' + image("tf", registry) + '"' in record["runtimeValue"]["constant"]


def test_gpu_platform_trains_on_the_gpu_image() -> None:
    spec = ir.load(catalog.kfp_manifest("retrain"))
    container = spec["deploymentSpec"]["executors"]["exec-train"]["container"]
    assert container["image"] == image("tf-gpu", platform.load().image_registry)
    assert container["resources"]["accelerator"]["resourceCount"] == "1"
    args = container["args"]
    assert args[args.index("--tfjob-gpus") + 1] == "1"


# ---- namespace, registry, service account ------------------------------------------------------


def test_no_argo_object_names_a_namespace_and_no_name_leaks_kfp_internals() -> None:
    for path in argo_files():
        for obj in docs(path):
            assert "namespace" not in obj["metadata"], path
        assert "pipelinechannel" not in path.read_text(), path


def test_workflow_arguments_are_the_pipeline_parameters() -> None:
    for name in catalog.PIPELINES:
        argo = catalog.argo_parameters(catalog.argo_manifest(name))
        assert argo == catalog.kfp_parameters(catalog.kfp_manifest(name)), name


def kustomize(folder: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (its kustomize builds the overlay)")
    done = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def test_the_base_is_what_install_and_schedule_apply() -> None:
    objects = kustomize(catalog.MANIFESTS)
    compiled = [
        o
        for p in [
            *sorted(catalog.CLUSTER_MANIFESTS.glob("*.yaml")),
            *sorted(catalog.ARGO_TEMPLATES.glob("*.yaml")),
            *[catalog.argo_manifest(n, cron=True) for n in sorted(catalog.SCHEDULES)],
            catalog.MANIFESTS / "argo" / "retrain-triggers.yaml",
        ]
        for o in docs(p)
    ]
    key = lambda o: (o["kind"], o["metadata"]["name"])  # noqa: E731
    assert sorted(objects, key=key) == sorted(compiled, key=key)


@pytest.fixture(scope="module")
def overlaid() -> list[dict[str, Any]]:
    return kustomize(OVERLAY)


def test_overlay_moves_namespace_registry_and_service_account(
    overlaid: list[dict[str, Any]],
) -> None:
    kinds = {o["kind"] for o in overlaid}
    assert {
        "Namespace",
        "ServiceAccount",
        "RoleBinding",
        "WorkflowTemplate",
        "CronWorkflow",
    } <= kinds
    for obj in overlaid:
        if obj["kind"] == "Namespace":
            assert obj["metadata"]["name"] == "team-a"
        else:
            assert obj["metadata"]["namespace"] == "team-a", obj["metadata"]["name"]
    accounts = sorted(o["metadata"]["name"] for o in overlaid if o["kind"] == "ServiceAccount")
    assert accounts == ["retrain-triggers-sensor", "team-a-pipelines"]
    bindings = [o["subjects"] for o in overlaid if o["kind"] == "RoleBinding"]
    assert sorted(bindings, key=str) == [
        [{"kind": "ServiceAccount", "name": "retrain-triggers-sensor", "namespace": "team-a"}],
        [{"kind": "ServiceAccount", "name": "team-a-pipelines", "namespace": "team-a"}],
    ]
    (event_source,) = [o for o in overlaid if o["kind"] == "EventSource"]
    assert event_source["spec"]["template"]["serviceAccountName"] == "team-a-pipelines"
    (sensor,) = [o for o in overlaid if o["kind"] == "Sensor"]
    for trigger in sensor["spec"]["triggers"]:
        submitted = trigger["template"]["argoWorkflow"]["source"]["resource"]["spec"]
        assert submitted["serviceAccountName"] == "team-a-pipelines"
    images = []
    for obj in overlaid:
        if obj["kind"] in ("WorkflowTemplate", "CronWorkflow"):
            spec = obj["spec"].get("workflowSpec", obj["spec"])
            assert spec["serviceAccountName"] == "team-a-pipelines"
            images += [t["container"]["image"] for t in spec["templates"] if "container" in t]
    # Every image moved: the overlay's names are the compiled ones.
    assert images and all(i.startswith(f"{REGISTRY}/retrain-") for i in images), images


@pytest.mark.parametrize("folder", [OVERLAY, LOCAL_CLUSTER], ids=lambda p: p.name)
def test_overlaid_objects_pass_argos_checks(folder: Path, tmp_path: Path) -> None:
    overlaid = kustomize(folder)
    argo_objects = [o for o in overlaid if o["apiVersion"].startswith("argoproj.io/")]
    for obj in argo_objects:
        validate.strict(obj)  # hera's models, field for field
        if ARGO_SCHEMA.exists():
            assert list(validate.errors(obj, ARGO_SCHEMA)) == [], obj["metadata"]["name"]
    try:
        argo = tool("argo")
    except pytest.skip.Exception:
        return  # the schema checks above ran; argo lint needs the tool shelf
    folder = tmp_path / "overlaid"
    for obj in argo_objects:
        where = folder / "templates" if obj["kind"] == "WorkflowTemplate" else folder
        write_yaml(where / f"{obj['metadata']['name']}.yaml", [obj], obj["kind"])
    done = lint(argo, folder)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 failed" in done.stdout


@pytest.mark.parametrize("folder", [OVERLAY, LOCAL_CLUSTER], ids=lambda p: p.name)
def test_overlay_names_every_compiled_image(folder: Path) -> None:
    registry = platform.load().image_registry
    overlay = docs(folder / "kustomization.yaml")[0]
    names = {i["name"] for i in overlay["images"]}
    from components.common.images import image_families

    compiled = {image(f, registry).split("@")[0].rsplit(":", 1)[0] for f in image_families()}
    assert names == compiled, f"{folder} names other images than the compile: update it"


def test_local_cluster_overlay_fits_a_two_core_node_without_gpus() -> None:
    """What scripts/cluster.sh installs: every step schedulable on 2 CPUs without a GPU, the
    images `scripts/cluster.sh images` tags, artifacts on the node's S3 store, no Argo Events."""
    overlaid = kustomize(LOCAL_CLUSTER)
    kinds = {o["kind"] for o in overlaid}
    assert not kinds & {"Sensor", "EventSource", "CronWorkflow"}, kinds
    for obj in overlaid:
        if obj["kind"] != "WorkflowTemplate":
            continue
        for template in obj["spec"]["templates"]:
            container = template.get("container")
            if not container:
                continue
            assert container["image"].startswith("retrain-local/retrain-"), container["image"]
            assert "nodeSelector" not in template and "tolerations" not in template
            for side in ("requests", "limits"):
                amounts = container["resources"][side]
                assert set(amounts) == {"cpu", "memory"}, (obj["metadata"]["name"], amounts)
                cores = amounts["cpu"]
                cores = float(cores[:-1]) / 1000 if cores.endswith("m") else float(cores)
                assert cores <= 2, (obj["metadata"]["name"], amounts)
    (repository,) = [o for o in overlaid if o["metadata"]["name"] == "artifact-repositories"]
    s3 = yaml.safe_load(repository["data"]["default"])["s3"]
    secret = {o["metadata"]["name"] for o in overlaid if o["kind"] == "Secret"}
    assert s3["accessKeySecret"]["name"] in secret and s3["bucket"] == "argo-artifacts"


# ---- the same names on both engines --------------------------------------------------------------


def kfp_tasks(spec: dict[str, Any]) -> dict[str, set[str]]:
    """Display path -> the names of the task's output artifacts, over the whole IR."""
    out: dict[str, set[str]] = {}

    def walk(dag: dict[str, Any], prefix: str) -> None:
        for task in dag.get("tasks", {}).values():
            path = prefix + task["taskInfo"]["name"]
            component = spec["components"][task["componentRef"]["name"]]
            if "dag" in component:
                out[path] = set()
                walk(component["dag"], path + "/")
            else:
                out[path] = set(component.get("outputDefinitions", {}).get("artifacts", {}))

    walk(spec["root"]["dag"], "")
    return out


def argo_tasks(workflow: dict[str, Any], library: dict[str, dict[str, Any]]) -> dict[str, set[str]]:
    templates = {t["name"]: t for t in workflow["spec"]["templates"]}
    out: dict[str, set[str]] = {}

    def walk(template: dict[str, Any], prefix: str) -> None:
        for task in template["dag"]["tasks"]:
            path = prefix + task["name"]
            if "template" in task:
                out[path] = set()
                walk(templates[task["template"]], path + "/")
            else:
                inner = library[task["templateRef"]["name"]]["spec"]["templates"][0]
                names = {a["name"] for a in inner.get("outputs", {}).get("artifacts", [])}
                out[path] = names - {"executor-output"}  # Argo's carrier of KFP's metadata

    walk(templates[workflow["spec"]["entrypoint"]], "")
    return out


@pytest.mark.parametrize("name", sorted(catalog.PIPELINES))
def test_display_names_equal_across_engines(name: str) -> None:
    """What the KFP UI shows (display names, artifact names) is what Argo's shows."""
    spec = ir.load(catalog.kfp_manifest(name))
    (workflow,) = docs(catalog.argo_manifest(name))
    library = {p.stem: docs(p)[0] for p in catalog.ARGO_TEMPLATES.glob("*.yaml")}
    kfp, argo = kfp_tasks(spec), argo_tasks(workflow, library)
    assert kfp == argo
    if name == "retrain":
        assert {"dataset", "blessed/deploy", "condition-branches-1/tfjob/train-launcher"} <= set(
            argo
        )
        assert argo["dataset"] == {"dataset", "report"}


# ---- what a publish records ----------------------------------------------------------------


def recorder() -> str:
    """The Python step of scripts/build_images.sh that writes build/images.json and, after a
    push, the `published` block of components/images.yaml (run here as the script runs it)."""
    text = (REPO / "scripts" / "build_images.sh").read_text()
    return text.split("<<'EOF'\n", 1)[1].split("\nEOF", 1)[0]


@pytest.mark.parametrize("push", [True, False], ids=["publish", "local-build"])
def test_a_publish_records_its_registry_and_digests(tmp_path: Path, push: bool) -> None:
    (tmp_path / "components").mkdir()
    original = (REPO / "components" / "images.yaml").read_text()
    (tmp_path / "components" / "images.yaml").write_text(original)
    (tmp_path / "build").mkdir()
    digest = "sha256:" + "b" * 64
    rows = [
        ("base", "retrain-base:abc", "sha256:1", digest if push else "", "100", "3"),
        ("tf", "retrain-tf:abc", "sha256:2", digest if push else "", "200", "9"),
    ]
    table = tmp_path / "build" / "images.tsv"
    table.write_text("".join("\t".join(r) + "\n" for r in rows))
    registry = "localhost:5000/retrain" if push else ""
    done = subprocess.run(
        [sys.executable, "-", str(table), "1", "1" if push else "0", registry],
        input=recorder(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    settings = yaml.safe_load((tmp_path / "components" / "images.yaml").read_text())
    if push:
        assert settings["published"] == {
            "registry": registry,
            "digests": {"base": digest, "tf": digest},
        }
        assert image("tf", registry, settings) == f"{registry}/retrain-tf@{digest}"
        assert image("tf", platform.load().image_registry, settings).endswith(":0.1.0")
        # The comments and the other settings are kept.
        kept = (tmp_path / "components" / "images.yaml").read_text()
        assert kept.split("published:")[0] == original.split("published:")[0]
    else:
        assert (tmp_path / "components" / "images.yaml").read_text() == original
        assert done.stdout.startswith("built locally (no push): the manifests name the images")


def test_two_tasks_shown_alike_in_one_dag_stop_the_compile() -> None:
    from pipelines.argo import CompileError
    from pipelines.argo.compile import ArgoCompiler

    spec = ir.load(catalog.kfp_manifest("retrain"))
    spec["root"]["dag"]["tasks"]["record"]["taskInfo"]["name"] = "evaluate"
    with pytest.raises(CompileError, match="'evaluate' and 'record' of DAG 'root' are both shown"):
        ArgoCompiler(spec, platform.load())


def test_local_cluster_serving_overlay_runs_the_built_image_on_the_emulator() -> None:
    objects = kustomize(LOCAL_CLUSTER / "serving")
    assert {o["kind"] for o in objects} >= {"Namespace", "Deployment", "Service", "NetworkPolicy"}
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    (server,) = deployment["spec"]["template"]["spec"]["containers"]
    assert server["image"].startswith("retrain-local/retrain-tf:")
    assert server["imagePullPolicy"] == "IfNotPresent"  # nothing to pull from: no registry
    env = {e["name"]: e.get("value") for e in server["env"]}
    assert env["STORAGE_EMULATOR_HOST"] == "http://10.244.0.1:9023"
    # The registry root stays the compiled one: a default retrain run publishes there.
    args = server["args"]
    assert (
        args[args.index("--registry-root") + 1] == platform.load().buckets["models"] + "/registry"
    )
