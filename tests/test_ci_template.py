"""The CI template for adopting teams (.github/workflows/ci.yaml): valid against GitHub's
workflow schema (as vendored by check-jsonschema), and everything it calls exists here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import REPO

WORKFLOW = REPO / ".github" / "workflows" / "ci.yaml"


SCHEMA_CHECK = ["-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows"]


def _runs() -> list[str]:
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    return [step["run"] for job in jobs.values() for step in job["steps"] if "run" in step]


def test_workflow_is_valid_against_githubs_schema() -> None:
    out = subprocess.run(
        [sys.executable, *SCHEMA_CHECK, str(WORKFLOW)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_schema_check_catches_a_broken_workflow(tmp_path: Path) -> None:
    broken = yaml.safe_load(WORKFLOW.read_text())
    broken["jobs"]["test"]["steps"][0] = {"uses": "actions/checkout@v4", "wiht": {}}
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(broken))
    out = subprocess.run(
        [sys.executable, *SCHEMA_CHECK, str(path)],
        capture_output=True,
        text=True,
    )
    assert out.returncode != 0


def test_jobs_lint_test_compile_build_and_submit() -> None:
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    assert list(jobs) == ["test", "images", "submit"]
    assert jobs["images"]["needs"] == "test" and jobs["submit"]["needs"] == "images"
    assert "refs/heads/main" in jobs["submit"]["if"]
    text = "\n".join(_runs())
    for needed in ("make lint", "make test", "make compile", "git diff --exit-code"):
        assert needed in text, needed
    assert "scripts/build_images.sh" in text and "argo_submit.py submit retrain" in text


def test_every_make_target_and_script_it_calls_exists() -> None:
    text = "\n".join(_runs())
    makefile = (REPO / "Makefile").read_text()
    for target in re.findall(r"\bmake ([a-z][a-z-]*)", text):
        assert re.search(rf"^{target}:", makefile, re.M), f"Makefile has no target {target}"
    for script in re.findall(r"\bscripts/[\w.]+", text):
        assert (REPO / script).exists(), script
