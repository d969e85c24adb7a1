"""Terraform structure and security settings, read with python-hcl2.

`terraform validate` needs provider downloads, which this machine cannot make; these tests check
what validate would not anyway: the security-relevant settings and the module conventions.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import hcl2
import pytest

from tests.conftest import REPO

TF = REPO / "infra" / "terraform"
MODULES = sorted(p for p in (TF / "modules").iterdir() if p.is_dir())
ROOTS = [TF / "envs" / "dev", TF / "envs" / "prod"]


def unq(value: Any) -> Any:
    """python-hcl2 keeps string quotes; drop them."""
    return value.strip('"') if isinstance(value, str) else value


@cache
def parse(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        return hcl2.load(handle)


def blocks(folder: Path, kind: str) -> dict[str, dict[str, Any]]:
    """All blocks of one kind (variable, output, resource type) in a folder, by name."""
    out: dict[str, dict[str, Any]] = {}
    for tf in sorted(folder.glob("*.tf")):
        for block in parse(tf).get(kind, []):
            for name, body in block.items():
                out[unq(name)] = body
    return out


def resource(folder: Path, rtype: str, name: str = "this") -> dict[str, Any]:
    for tf in sorted(folder.glob("*.tf")):
        for block in parse(tf).get("resource", []):
            body = block.get(f'"{rtype}"', {}).get(f'"{name}"')
            if body is not None:
                return body
    raise AssertionError(f"no resource {rtype}.{name} in {folder}")


def test_gke_cluster_is_private_with_workload_identity() -> None:
    cluster = resource(TF / "modules" / "gke", "google_container_cluster")
    assert cluster["private_cluster_config"][0]["enable_private_nodes"] is True
    assert unq(cluster["workload_identity_config"][0]["workload_pool"]) == (
        "${var.project_id}.svc.id.goog"
    )
    assert cluster["enable_shielded_nodes"] is True
    assert cluster["network_policy"][0]["enabled"] is True
    assert cluster["addons_config"][0]["network_policy_config"][0]["disabled"] is False
    assert cluster["release_channel"][0]["channel"] == "${var.release_channel}"
    assert cluster["enable_legacy_abac"] is False
    assert cluster["remove_default_node_pool"] is True
    assert (
        cluster["master_auth"][0]["client_certificate_config"][0]["issue_client_certificate"]
        is False
    )


def test_node_pools_are_shielded_autoscaled_from_zero_and_gpu_tainted() -> None:
    folder = TF / "modules" / "node_pool"
    pool = resource(folder, "google_container_node_pool")
    node = pool["node_config"][0]
    assert node["shielded_instance_config"][0] == {
        "enable_secure_boot": True,
        "enable_integrity_monitoring": True,
        "__is_block__": True,
    }
    assert node["workload_metadata_config"][0]["mode"] == '"GKE_METADATA"'
    assert node["service_account"] == "${var.service_account}"
    assert node["spot"] == "${var.spot}"
    assert pool["management"][0]["auto_repair"] is True
    assert "gpu_driver_installation_config" in str(node["dynamic"])
    local = parse(folder / "main.tf")["locals"][0]["gpu_taint"]
    assert '"nvidia.com/gpu"' in local and '"present"' in local and '"NO_SCHEDULE"' in local
    autoscaling = blocks(folder, "variable")["autoscaling"]
    assert "min_nodes = optional(number, 0)" in autoscaling["type"]
    gpu = blocks(TF / "modules" / "platform", "variable")["gpu_pool"]
    assert "min_nodes = optional(number, 0)" in gpu["type"]


def test_no_default_compute_service_account() -> None:
    for module in ("gke", "node_pool"):
        variables = blocks(TF / "modules" / module, "variable")
        sa = variables.get("node_service_account") or variables["service_account"]
        assert "-compute@developer.gserviceaccount.com" in str(sa["validation"])
    platform = (TF / "modules" / "platform" / "main.tf").read_text()
    assert platform.count("module.iam.node_service_account") == 4  # cluster, 2 pools, registry
    for tf in TF.rglob("*.tf"):
        assert "compute@developer.gserviceaccount.com" not in tf.read_text().replace(
            '"-compute@developer.gserviceaccount.com"', ""
        ), tf


def test_buckets_are_private_and_versioned() -> None:
    bucket = resource(TF / "modules" / "buckets", "google_storage_bucket")
    assert bucket["uniform_bucket_level_access"] is True
    assert unq(bucket["public_access_prevention"]) == "enforced"
    assert bucket["versioning"][0]["enabled"] is True
    assert bucket["lifecycle_rule"]
    assert bucket["force_destroy"] is False


def test_pipeline_identity_is_least_privilege() -> None:
    roles = parse(TF / "modules" / "iam" / "main.tf")["locals"][0]["bucket_roles"]
    assert {k: unq(v) for k, v in roles.items()} == {
        "data": "roles/storage.objectViewer",
        "artifacts": "roles/storage.objectUser",
        "models": "roles/storage.objectUser",
    }
    wi = resource(TF / "modules" / "iam", "google_service_account_iam_member", "workload_identity")
    assert unq(wi["role"]) == "roles/iam.workloadIdentityUser"
    assert ".svc.id.goog[" in wi["member"]


@pytest.mark.parametrize("folder", MODULES + ROOTS, ids=lambda p: p.name)
def test_variables_typed_described_and_sorted(folder: Path) -> None:
    variables = blocks(folder, "variable")
    for name, body in variables.items():
        assert "type" in body, f"{folder.name}: variable {name} has no type"
        assert unq(body.get("description", "")), f"{folder.name}: variable {name} undescribed"
    assert list(variables) == sorted(variables), f"{folder.name}: variables not alphabetical"
    outputs = blocks(folder, "output")
    assert list(outputs) == sorted(outputs), f"{folder.name}: outputs not alphabetical"
    for name, body in outputs.items():
        assert unq(body.get("description", "")), f"{folder.name}: output {name} undescribed"


@pytest.mark.parametrize("folder", MODULES + ROOTS, ids=lambda p: p.name)
def test_module_shape_and_pinned_providers(folder: Path) -> None:
    files = {"main.tf", "variables.tf", "outputs.tf", "versions.tf"}
    assert files <= {p.name for p in folder.glob("*.tf")}
    if folder in MODULES:
        assert (folder / "README.md").exists(), f"{folder} has no README.md"
    (terraform,) = parse(folder / "versions.tf")["terraform"]
    assert unq(terraform["required_version"]).startswith(">=")
    for providers in terraform["required_providers"]:
        for name, spec in providers.items():
            if name.startswith("__"):
                continue
            assert unq(spec["version"]).startswith("~>"), f"{folder.name}: {name} not pinned"
            assert "/" in unq(spec["source"])


@pytest.mark.parametrize("root", ROOTS, ids=lambda p: p.name)
def test_roots_use_remote_state_and_ship_example_vars(root: Path) -> None:
    (terraform,) = parse(root / "versions.tf")["terraform"]
    assert '"gcs"' in terraform["backend"][0]
    assert (root / "terraform.tfvars.example").exists()
    outputs = blocks(root, "output")
    assert "pipeline_platform" in outputs


@pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")
def test_terraform_fmt() -> None:
    result = subprocess.run(
        ["terraform", "fmt", "-check", "-recursive"], cwd=TF, capture_output=True, text=True
    )
    assert result.returncode == 0, f"not terraform-fmt clean: {result.stdout}"
