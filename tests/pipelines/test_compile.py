"""The compiled KFP IR: golden file, byte-identical recompiles, a valid PipelineSpec, and the
settings a cluster needs (GPU, toleration, images from the one setting)."""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from components.common.images import image
from pipelines import catalog, ir, platform
from pipelines.kfp.compile import compile_pipeline
from tests.conftest import REPO

GOLDEN = REPO / "tests" / "golden" / "kfp"


def normalise(text: str) -> str:
    """Drop what changes with the kfp release rather than with our pipeline."""
    return re.sub(r"(sdkVersion: kfp-)\S+", r"\1<version>", text)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("kfp")
    return {name: compile_pipeline(name, out / f"{name}.yaml") for name in catalog.PIPELINES}


@pytest.mark.parametrize("name", sorted(catalog.PIPELINES))
def test_matches_golden(name: str, compiled: dict[str, Path]) -> None:
    golden = GOLDEN / f"{name}.yaml"
    fresh = normalise(compiled[name].read_text())
    if os.environ.get("UPDATE_GOLDEN"):
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(fresh)
    assert golden.exists(), f"no golden file; run `make golden` to create {golden}"
    assert fresh == golden.read_text(), f"{name} changed; review it, then `make golden`"


@pytest.mark.parametrize("name", sorted(catalog.PIPELINES))
def test_committed_manifest_is_fresh(name: str, compiled: dict[str, Path]) -> None:
    committed = catalog.kfp_manifest(name)
    assert committed.read_bytes() == compiled[name].read_bytes(), (
        f"{committed} is stale; run `make compile` and commit it"
    )


def test_compiling_twice_gives_identical_bytes(tmp_path: Path) -> None:
    """Separate processes with different environments: nothing volatile leaks in."""
    outputs = []
    for i, extra in enumerate(({}, {"HOME": str(tmp_path), "TZ": "Asia/Tokyo", "LANG": "C"})):
        out = tmp_path / f"r{i}.yaml"
        code = (
            f"from pipelines.kfp.compile import compile_pipeline; "
            f"compile_pipeline('retrain', __import__('pathlib').Path({str(out)!r}))"
        )
        subprocess.run(
            [sys.executable, "-c", code], cwd=REPO, check=True, env={**os.environ, **extra}
        )
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_ir_is_a_valid_pipeline_spec(compiled: dict[str, Path]) -> None:
    spec = ir.load(compiled["retrain"])  # parses into kfp's PipelineSpec proto
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {
        "ingest",
        "preprocess",
        "build-dataset",
        "condition-branches-1",
        "evaluate",
        "record",
        "condition-4",
    }
    cond = tasks["condition-4"]["triggerPolicy"]["condition"]
    assert cond == "inputs.parameter_values['pipelinechannel--evaluate-blessed'] == true"
    assert set(spec["components"]["comp-condition-4"]["dag"]["tasks"]) == {"deploy"}
    # train_workers == 1: train on the GPU; else: launch the TFJob. Downstream reads the model
    # of whichever branch ran.
    branches = spec["components"]["comp-condition-branches-1"]["dag"]
    one, many = (branches["tasks"][n] for n in ("condition-2", "condition-3"))
    workers = "int(inputs.parameter_values['pipelinechannel--train_workers']) == 1"
    assert one["triggerPolicy"]["condition"] == workers
    assert many["triggerPolicy"]["condition"] == f"!({workers})"
    assert set(spec["components"]["comp-condition-2"]["dag"]["tasks"]) == {"train"}
    assert set(spec["components"]["comp-condition-3"]["dag"]["tasks"]) == {"train-2"}
    selectors = branches["outputs"]["artifacts"]["pipelinechannel--condition-branches-1-oneof-1"]
    assert [s["producerSubtask"] for s in selectors["artifactSelectors"]] == [
        "condition-2",
        "condition-3",
    ]
    for consumer in ("evaluate", "record"):
        model = tasks[consumer]["inputs"]["artifacts"]["model"]["taskOutputArtifact"]
        assert model["producerTask"] == "condition-branches-1", consumer
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert set(params) == {
        "data_uri",
        "config",
        "registry_root",
        "canary_percent",
        "window_days",
        "beam_options",
        "tracking_uri",
        "run_url",
        "train_workers",
        "reason",
    }
    assert params["reason"]["defaultValue"] == "manual"


def test_ab_readout_ir_reads_out_then_applies(compiled: dict[str, Path]) -> None:
    spec = ir.load(compiled["ab-readout"])
    tasks = spec["root"]["dag"]["tasks"]
    assert set(tasks) == {"readout", "promote"}
    assert tasks["promote"]["dependentTasks"] == ["readout"]
    assert tasks["readout"]["cachingOptions"] == {} and tasks["promote"]["cachingOptions"] == {}
    executors = spec["deploymentSpec"]["executors"]
    assert executors["exec-readout"]["container"]["command"][-1] == "components.readout"
    assert executors["exec-promote"]["container"]["command"][-1] == "components.promote"
    params = spec["root"]["inputDefinitions"]["parameters"]
    assert set(params) == {
        "requests",
        "outcomes",
        "config",
        "registry_root",
        "beam_options",
        "tracking_uri",
    }
    assert catalog.SCHEDULES["ab-readout"] == catalog.Schedule("30 * * * *", "Etc/UTC")


def _platform_settings(
    compiled_file: Path, executor: str = "exec-train"
) -> tuple[dict, dict, dict]:
    docs = list(yaml.safe_load_all(compiled_file.read_text()))
    train = docs[0]["deploymentSpec"]["executors"][executor]["container"]
    k8s = docs[1]["platforms"]["kubernetes"]["deploymentSpec"]["executors"].get(executor, {})
    root = docs[0]["root"]["inputDefinitions"]["parameters"]
    return train, k8s, root


def test_train_asks_for_a_gpu_on_the_gpu_pool(compiled: dict[str, Path]) -> None:
    train, k8s, _ = _platform_settings(compiled["retrain"])
    assert train["resources"]["accelerator"]["resourceType"] == "nvidia.com/gpu"
    assert train["resources"]["accelerator"]["resourceCount"] == "1"
    assert k8s["nodeSelector"] == {"labels": {"retrain-pipelines/pool": "gpu"}}
    assert k8s["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}
    ]


def test_the_tfjob_launcher_runs_on_the_cpu_pool_without_a_gpu(compiled: dict[str, Path]) -> None:
    """train_workers > 1: the TFJob's workers ask for the GPUs; the pod that launches the TFJob
    and waits for it asks for none, and is small."""
    spec = ir.load(compiled["retrain"])
    launcher = spec["components"]["comp-condition-3"]["dag"]["tasks"]["train-2"]
    assert launcher["taskInfo"]["name"] == "train-launcher"
    assert launcher["componentRef"]["name"] == "comp-train-2"
    train, k8s, _ = _platform_settings(compiled["retrain"], "exec-train-2")
    assert "accelerator" not in train["resources"]
    assert k8s == {}  # no GPU node selector, no tolerations: the CPU pool
    assert train["resources"]["resourceCpuLimit"] == "1"
    assert train["resources"]["resourceMemoryLimit"] == "2G"
    # It launches the TFJob with the GPU settings its workers get.
    args = train["args"]
    assert args[args.index("--tfjob-gpu-resource") + 1] == "nvidia.com/gpu"
    assert args[args.index("--tfjob-node-selector") + 1] == "retrain-pipelines/pool=gpu"
    assert args[args.index("--tfjob-tolerations") + 1] == "nvidia.com/gpu=present:NoSchedule"


def test_manifests_follow_the_platform_file(tmp_path: Path) -> None:
    """Terraform's outputs drive the GPU node selector, tolerations, bucket and registry."""
    settings = json.loads(platform.DEFAULT_PLATFORM.read_text())
    settings["gpu"]["node_selector"] = {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}
    settings["gpu"]["tolerations"] = [
        {"key": "dedicated", "value": "training", "effect": "NoExecute"}
    ]
    settings["buckets"]["models"] = "gs://other-models"
    settings["image_registry"] = "europe-docker.pkg.dev/p/r"
    changed = tmp_path / "platform.json"
    changed.write_text(json.dumps(settings))
    out = compile_pipeline("retrain", tmp_path / "retrain.yaml", platform_file=changed)
    train, k8s, root = _platform_settings(out)
    assert k8s["nodeSelector"] == {
        "labels": {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"}
    }
    assert k8s["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "training", "effect": "NoExecute"}
    ]
    assert root["registry_root"]["defaultValue"] == "gs://other-models/registry"
    assert train["image"].startswith("europe-docker.pkg.dev/p/r/retrain-tf-gpu")


def test_a_broken_platform_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "platform.json"
    bad.write_text(json.dumps({"region": "x"}))
    with pytest.raises(platform.PlatformError, match=r"platform.json: project_id: Field required"):
        compile_pipeline("retrain", tmp_path / "r.yaml", platform_file=bad)


def test_every_executor_runs_its_component_module_from_the_image_setting(
    compiled: dict[str, Path],
) -> None:
    spec = ir.load(compiled["retrain"])
    registry = platform.load().image_registry
    families = {
        "ingest": "beam",
        "preprocess": "beam",
        "build-dataset": "tf",
        "train": "tf-gpu",
        "evaluate": "tf",
        "deploy": "beam",
        "record": "tf",
    }
    modules = {"build-dataset": "dataset"}
    for label, executor in spec["deploymentSpec"]["executors"].items():
        name = re.sub(r"-\d+$", "", label.removeprefix("exec-"))  # train-2: train's launcher
        container = executor["container"]
        assert container["command"] == ["python", "-m", f"components.{modules.get(name, name)}"]
        assert container["image"] == image(families[name], registry)
        assert "resourceCpuLimit" in container["resources"]


def test_component_entry_points_do_not_import_kfp() -> None:
    """main.py and the logic are plain Python; only component.py knows about KFP (through the
    one shared decorator, components/common/kfp_step.py, which nothing else imports)."""
    kfp_step = REPO / "components" / "common" / "kfp_step.py"
    for path in (REPO / "components").rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        if path.name != "component.py":
            assert "components.common.kfp_step" not in names, path
        if path.name == "component.py" or path == kfp_step:
            continue
        assert not [n for n in names if n.split(".")[0] in ("kfp", "hera")], path


def test_built_images_are_pinned_by_digest_in_both_engines() -> None:
    """components/images.yaml's published digests (make publish-images) are what the KFP IR and
    every Argo template name when the platform's registry is the one they were pushed to; any
    other registry, and a family without a digest, is named by its tag."""
    settings = yaml.safe_load((REPO / "components" / "images.yaml").read_text())
    registry = platform.load(platform.DEFAULT_PLATFORM).image_registry
    published = settings.get("published") or {}
    digests = published.get("digests") or {} if published.get("registry") == registry else {}
    kfp = (REPO / "manifests" / "kfp" / "retrain.yaml").read_text()
    argo = "".join(p.read_text() for p in sorted((REPO / "manifests" / "argo").rglob("*.yaml")))
    used = {m.group(1) for m in re.finditer(r"image: (\S+)", kfp)}
    assert used == {m.group(1) for m in re.finditer(r"image: (\S+)", argo)}
    for family, name in settings["families"].items():
        ref = image(family, registry)
        if family in digests:
            assert ref == f"{registry}/{name}@{digests[family]}"
            assert re.fullmatch(r"sha256:[0-9a-f]{64}", digests[family])
        else:
            assert ref == f"{registry}/{name}:{settings['tag']}"
        if family != "base":  # the base image runs no component
            assert ref in used, family
