"""OpenTofu itself on infra/terraform, with providers built on the tool shelf: its fmt, validate and
tests pass; it refuses a module with a wrong attribute name; and the environment's
`pipeline_platform` output, planned under mock providers, has exactly config/platform.json's shape.

Each test works on a copy of infra/terraform (the checks write .terraform folders).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, tool

pytestmark = pytest.mark.tools

TF = REPO / "infra" / "terraform"
CHECK = REPO / "scripts" / "tofu_check.sh"
PLATFORM = REPO / "config" / "platform.json"
SHELF = (
    "tofu",
    "kustomization",
    "terraform-provider-google",
    "terraform-provider-helm",
    "terraform-provider-kubernetes",
)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of infra/terraform (and config/platform.json, which its tests read) to check."""
    for name in SHELF:
        tool(name)
    copy = tmp_path / "infra" / "terraform"
    shutil.copytree(
        TF, copy, symlinks=True, ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl")
    )
    (tmp_path / "config").mkdir()
    shutil.copy(PLATFORM, tmp_path / "config" / PLATFORM.name)
    return copy


def check(tree: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["bash", str(CHECK), *args],
        env={**os.environ, "TOFU_CHECK_TF": str(tree)},
        capture_output=True,
        text=True,
        timeout=900,
    )
    print(done.stdout, done.stderr)
    return done


def test_tofu_check_passes(tree: Path) -> None:
    done = check(tree)
    assert done.returncode == 0, done.stdout + done.stderr
    for folder in ["envs/dev", "envs/prod"] + [f"modules/{p.name}" for p in TF.glob("modules/*")]:
        assert f"ok   validate: {folder} " in done.stdout, folder
    for test in sorted(TF.glob("modules/*/tests/*.tftest.hcl")):
        assert f"ok   test: modules/{test.parent.parent.name} " in done.stdout, test
    assert "ok   init -backend=false, filesystem mirror only" in done.stdout


def test_wrong_attribute_name_fails_validate(tree: Path) -> None:
    main = tree / "modules" / "buckets" / "main.tf"
    text = main.read_text()
    assert "  uniform_bucket_level_access = true" in text
    main.write_text(text.replace("uniform_bucket_level_access", "uniform_bucket_access"))
    done = check(tree, "--no-fmt", "--no-test", str(main.parent))
    assert done.returncode != 0
    assert "FAIL validate: modules/buckets" in done.stdout
    assert "Unsupported argument" in done.stdout
    assert 'An argument named "uniform_bucket_access" is not expected here' in done.stdout


def shape_asserts(value: Any, expr: str) -> list[str]:
    """HCL conditions that hold when `expr` has the keys of `value` at every level, lists of the
    same length, and no object or list where `value` has a plain value."""
    if isinstance(value, dict):
        keys = json.dumps(sorted(value))
        conditions = [f"toset(keys({expr})) == toset({keys})"]
        for key, item in sorted(value.items()):
            conditions += shape_asserts(item, f"{expr}[{json.dumps(key)}]")
        return conditions
    if isinstance(value, list):
        conditions = [f"length({expr}) == {len(value)} && !can(keys({expr}))"]
        for index, item in enumerate(value):
            conditions += shape_asserts(item, f"{expr}[{index}]")
        return conditions
    return [f"!can(keys({expr})) && !can({expr}[0])"]


def test_pipeline_platform_output_has_the_platform_file_shape(tree: Path) -> None:
    platform = json.loads(PLATFORM.read_text())
    conditions = shape_asserts(platform, "output.pipeline_platform")
    asserts = "\n".join(
        f"  assert {{\n    condition     = {condition}\n"
        f"    error_message = {json.dumps('shape differs from config/platform.json: ' + condition)}"
        "\n  }\n"
        for condition in conditions
    )
    tests = tree / "envs" / "dev" / "tests"
    tests.mkdir()
    (tests / "shape.tftest.hcl").write_text(
        SHAPE_TEST.replace("ASSERTS\n", asserts).replace(
            "VARIABLES\n", (tree / "envs" / "dev" / "terraform.tfvars.example").read_text()
        )
    )
    done = check(tree, "--no-fmt", str(tests.parent))
    assert done.returncode == 0, done.stdout
    assert "ok   test: envs/dev" in done.stdout
    assert len(conditions) > 10


# Planned with every provider mocked (mocks fill computed values at plan time too); the mock values
# are ones the providers' own validation accepts (a service account name, a CA certificate).
SHAPE_TEST = """
mock_provider "google" {
  mock_resource "google_container_cluster" {
    defaults = {
      endpoint    = "10.0.0.2"
      master_auth = { cluster_ca_certificate = "bW9jaw==" }
    }
  }
  mock_resource "google_service_account" {
    defaults = {
      email = "mock-account@my-ml-project.iam.gserviceaccount.com"
      name  = "projects/-/serviceAccounts/mock-account@my-ml-project.iam.gserviceaccount.com"
    }
  }
  mock_data "google_client_config" {
    defaults = { access_token = "mock" }
  }
}
mock_provider "helm" {}
mock_provider "kubernetes" {}
mock_provider "kustomization" {
  mock_data "kustomization_build" {
    defaults = { ids = [], manifests = {} }
  }
}

variables {
VARIABLES
}

run "pipeline_platform_shape" {
  command = plan

ASSERTS
}
"""
