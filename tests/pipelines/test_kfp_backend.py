"""KFP's backend compiler as a second opinion on our IR: it accepts both compiled pipelines, its
Workflow passes `argo lint`, and it agrees with our Argo compiler on the task graph, dependencies,
dsl.If conditions, parameter and artifact wiring, images, resources, node selectors and
tolerations; every difference is listed with its reason (tests/pipelines/kfp_backend.py)."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines import ir, platform
from pipelines.argo.compile import ArgoCompiler
from tests.conftest import REPO, tool
from tests.pipelines import kfp_backend as kb

pytestmark = pytest.mark.tools

PIPELINES = ("retrain", "ab-readout")


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def library() -> dict[str, Any]:
    """Our WorkflowTemplates by name (manifests/argo/templates/)."""
    docs = (load(p) for p in sorted((REPO / "manifests" / "argo" / "templates").glob("*.yaml")))
    return {doc["metadata"]["name"]: doc for doc in docs}


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The Workflow KFP's backend compiles from each committed IR (manifests/kfp/)."""
    compiler = tool("kfp-argo-compiler")
    out = tmp_path_factory.mktemp("kfp-backend")
    written: dict[str, Path] = {}
    for name in PIPELINES:
        written[name] = out / f"{name}.yaml"
        done = subprocess.run(
            [str(compiler), str(REPO / "manifests" / "kfp" / f"{name}.yaml"), str(written[name])],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, f"KFP's backend compiler rejects {name}:\n{done.stderr}"
    return written


def names(name: str) -> ArgoCompiler:
    """Our compiler for the committed IR: how it names the IR's tasks, inputs and outputs."""
    return ArgoCompiler(ir.load(REPO / "manifests" / "kfp" / f"{name}.yaml"), platform.load())


def ours(name: str, cron: bool) -> dict[str, Any]:
    """Our Workflow for a pipeline, or the Workflow our CronWorkflow starts (a recurring run)."""
    if not cron:
        return load(REPO / "manifests" / "argo" / f"{name}.yaml")
    return {"spec": load(REPO / "manifests" / "argo" / f"{name}-cron.yaml")["spec"]["workflowSpec"]}


@pytest.mark.parametrize("cron", [False, True], ids=["workflow", "cron"])
@pytest.mark.parametrize("name", PIPELINES)
def test_backend_agrees_with_our_compiler(name: str, cron: bool, backend: dict[str, Path]) -> None:
    mine = kb.ours_table(ours(name, cron), library())
    theirs = kb.backend_table(load(backend[name]), names(name))
    differences = kb.compare(mine, theirs)
    report = kb.render(f"{name}{' (CronWorkflow)' if cron else ''}", mine, theirs, differences)
    print(report)
    assert not kb.unexplained(differences), report
    # The comparison saw what it is meant to compare, on both sides.
    expected = {"default", "param", "depends", "component", "image", "resources"}
    if name == "retrain":
        expected |= {"artifact", "condition", "nodeSelector", "tolerations", "output"}
    for table in (mine, theirs):
        assert expected <= set(kb.aspects(table)), kb.aspects(table)
    if name == "retrain":
        assert theirs[("blessed", "condition", "")] == "<task:evaluate.blessed>==true"
        train = "condition-branches-1/one-worker/train"
        assert theirs[(train, "nodeSelector", "retrain-pipelines/pool")] == "gpu"


def test_comparison_fails_when_our_compiler_drops_a_dependency(
    backend: dict[str, Path],
) -> None:
    workflow = ours("retrain", cron=False)
    broken = copy.deepcopy(workflow)
    (dag,) = [t for t in broken["spec"]["templates"] if t["name"] == broken["spec"]["entrypoint"]]
    (record,) = [t for t in dag["dag"]["tasks"] if t["name"] == "record"]
    assert "ingest.Succeeded" in record["depends"]
    record["depends"] = record["depends"].replace(" && ingest.Succeeded", "")

    theirs = kb.backend_table(load(backend["retrain"]), names("retrain"))
    assert not kb.unexplained(kb.compare(kb.ours_table(workflow, library()), theirs))
    mine = kb.ours_table(broken, library())
    differences = kb.compare(mine, theirs)
    print(kb.render("retrain, record's ingest dependency dropped", mine, theirs, differences))
    (missing,) = kb.unexplained(differences)
    assert missing.key == ("record", "depends", "")
    assert missing.ours == "condition-branches-1,dataset,evaluate"
    assert missing.backend == "condition-branches-1,dataset,evaluate,ingest"


@pytest.mark.parametrize("name", PIPELINES)
def test_backend_workflow_passes_argo_lint(name: str, backend: dict[str, Path]) -> None:
    argo = tool("argo")
    done = subprocess.run(
        [str(argo), "lint", "--offline", "--strict", str(backend[name])],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (
        f"argo lint on KFP's Workflow for {name}:\n{done.stdout}{done.stderr}"
    )
