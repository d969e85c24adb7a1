"""Argo's own `argo lint --offline --strict` (the shelf's argo, tools/tools.txt) on what our Argo
compiler writes: every committed file under manifests/argo/ and the compiled feature pipelines
pass, and broken copies of the retrain Workflow fail with argo's message naming the problem."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines import platform
from pipelines.argo.compile import compile_ir
from pipelines.argo.dump import write_yaml
from tests.conftest import REPO, tool
from tests.pipelines import feature_pipelines as fp

pytestmark = pytest.mark.tools

SCRIPT = REPO / "scripts" / "argo_lint.sh"
ARGO = REPO / "manifests" / "argo"


@pytest.fixture(scope="module")
def argo() -> Path:
    return tool("argo")


def lint(argo: Path, *folders: Path) -> subprocess.CompletedProcess[str]:
    """scripts/argo_lint.sh, as `make lint` runs it, with the shelf's argo."""
    env = dict(os.environ, ARGO=str(argo))
    return subprocess.run(
        ["bash", str(SCRIPT), *map(str, folders)], env=env, capture_output=True, text=True
    )


def test_every_compiled_argo_file_passes(argo: Path) -> None:
    done = lint(argo)
    assert done.returncode == 0, done.stdout + done.stderr
    files = sorted(ARGO.rglob("*.yaml"))
    assert len(files) >= 10
    for path in files:  # each file was linted on its own run, as its own kind
        assert f"argo lint: ok   {path.relative_to(REPO)}" in done.stdout.splitlines()
    assert f"{len(files)} files, 0 failed" in done.stdout
    # The OneOf of the two train branches, a DAG output artifact chosen by `fromExpression`,
    # is among what passed.
    assert "fromExpression: " in (ARGO / "retrain.yaml").read_text()


def test_compiled_feature_pipelines_pass(argo: Path, tmp_path: Path) -> None:
    """Every IR feature the compiler maps (exit handler, loops, conditions, retries, secrets,
    volumes, dsl.OneOf), laid out as `make compile` lays out manifests/argo."""
    for pipeline in (fp.features, fp.branches):
        name = pipeline.name
        ir = fp.compile_to(pipeline, tmp_path / f"{name}-ir.yaml")
        bundle = compile_ir(ir, platform.load())
        out = tmp_path / name
        write_yaml(out / f"{name}.yaml", [bundle.workflow], f"Workflow '{name}'")
        for template, obj in bundle.templates.items():
            write_yaml(out / "templates" / f"{template}.yaml", [obj], f"Component '{template}'")
    done = lint(argo, tmp_path / "features", tmp_path / "branches")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 failed" in done.stdout


def tasks(workflow: dict[str, Any], template: str) -> list[dict[str, Any]]:
    (found,) = [t for t in workflow["spec"]["templates"] if t["name"] == template]
    return list(found["dag"]["tasks"])


def unknown_field(workflow: dict[str, Any]) -> str:
    preprocess = tasks(workflow, "retrain")[1]
    assert preprocess["name"] == "preprocess"
    preprocess["dependz"] = preprocess.pop("depends")
    return 'strict decoding error: unknown field "spec.templates[0].dag.tasks[1].dependz"'


def dangling_depends(workflow: dict[str, Any]) -> str:
    (evaluate,) = [t for t in tasks(workflow, "retrain") if t["name"] == "evaluate"]
    evaluate["depends"] += " && validate.Succeeded"  # no task is named validate
    return "templates.retrain sorting failed: invalid dependency validate"


def missing_argument(workflow: dict[str, Any]) -> str:
    """Only seen with the templates resolved: `source` has no default in templates/ingest.yaml."""
    ingest = tasks(workflow, "retrain")[0]
    arguments = ingest["arguments"]["parameters"]
    ingest["arguments"]["parameters"] = [p for p in arguments if p["name"] != "source"]
    return "templates.retrain.tasks.ingest templates.main inputs.parameters.source was not supplied"


def one_of_renamed(workflow: dict[str, Any]) -> str:
    """The OneOf of the train branches is a DAG output artifact chosen by `fromExpression`;
    argo puts it in scope by name (the expression itself it leaves to the controller), so a
    consumer reading a name the DAG does not output fails."""
    (branches,) = [t for t in workflow["spec"]["templates"] if t["name"] == "condition-branches-1"]
    (chosen,) = branches["outputs"]["artifacts"]
    assert chosen["fromExpression"].startswith("tasks['one-worker'].status == 'Succeeded' ? ")
    name, chosen["name"] = chosen["name"], "renamed"
    reference = f"tasks.condition-branches-1.outputs.artifacts.{name}"
    return f"templates.retrain.tasks.evaluate failed to resolve {{{{{reference}}}}}"


@pytest.mark.parametrize(
    "breaks", [unknown_field, dangling_depends, missing_argument, one_of_renamed]
)
def test_a_broken_workflow_fails_with_argos_message(
    argo: Path, tmp_path: Path, breaks: Callable[[dict[str, Any]], str]
) -> None:
    shutil.copytree(ARGO / "templates", tmp_path / "templates")
    (workflow,) = yaml.safe_load_all((ARGO / "retrain.yaml").read_text())
    message = breaks(workflow)
    (tmp_path / "retrain.yaml").write_text(yaml.safe_dump(workflow, sort_keys=False))
    done = lint(argo, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"argo lint: FAIL {tmp_path}/retrain.yaml" in done.stdout
    assert message in done.stdout, done.stdout
    assert "1 failed" in done.stdout  # the templates still pass
