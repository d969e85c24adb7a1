"""Preflight checks. No cluster can run here, so the cluster's answers are recorded kubectl JSON;
one test runs the real kubectl against an address where nothing listens."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from pipelines import platform
from pipelines.ops import preflight
from tests.conftest import REPO

PLATFORM = platform.load()


def cluster(gpu_nodes: list[dict], annotated: bool = True, crds: bool = True):
    """Answers of a cluster that has (or lacks) what the manifests need, as kubectl gives them."""

    def kubectl(args: list[str]) -> tuple[int, str]:
        if args[0] == "version":
            return 0, json.dumps({"serverVersion": {"gitVersion": "v1.33.2-gke.1"}})
        if args[:2] == ["get", "namespace"]:
            return 0, json.dumps({"metadata": {"name": args[2]}})
        if args[:2] == ["get", "serviceaccount"]:
            notes = {"iam.gke.io/gcp-service-account": "p@x.iam"} if annotated else {}
            return 0, json.dumps({"metadata": {"name": args[2], "annotations": notes}})
        if args[:2] == ["get", "crd"]:
            return (0, json.dumps({})) if crds else (1, f'crd "{args[2]}" not found')
        if args[:2] == ["auth", "can-i"]:
            return 0, "yes\n"
        if args[:2] == ["get", "nodes"]:
            return 0, json.dumps({"items": gpu_nodes})
        raise AssertionError(f"unexpected kubectl call {args}")

    return kubectl


def gpu_node(taints: list[dict], gpus: str | None = "1") -> dict:
    return {
        "metadata": {"name": "gke-gpu-1"},
        "spec": {"taints": taints},
        "status": {"allocatable": {"nvidia.com/gpu": gpus} if gpus else {}},
    }


TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}


def test_ready_cluster_passes(capsys) -> None:
    checks = preflight.run_checks(PLATFORM, cluster([gpu_node([TAINT])]))
    assert [c.status for c in checks] == ["ok"] * len(checks)
    assert preflight.report(checks) == 0
    assert "checks passed" in capsys.readouterr().out


def test_gpu_pool_scaled_to_zero_is_a_warning() -> None:
    checks = preflight.run_checks(PLATFORM, cluster([]))
    assert checks[-1].status == "WARN" and "scales from 0" in checks[-1].detail
    assert preflight.report(checks) == 0


def test_missing_pieces_fail_with_the_fix() -> None:
    checks = preflight.run_checks(
        PLATFORM,
        cluster(
            [gpu_node([{"key": "nvidia.com/gpu", "value": "other", "effect": "NoExecute"}])],
            annotated=False,
            crds=False,
        ),
    )
    failed = {c.name: c.detail for c in checks if c.status == "FAIL"}
    assert (
        "no iam.gke.io/gcp-service-account annotation"
        in failed["service account ml-pipelines/pipeline-runner"]
    )
    assert "missing: Argo Workflows" in failed["CRD workflows.argoproj.io"]
    assert "does not tolerate" in failed["GPU nodes"]
    no_driver = preflight.run_checks(PLATFORM, cluster([gpu_node([TAINT], gpus=None)]))
    assert "no allocatable nvidia.com/gpu" in no_driver[-1].detail


def test_unreachable_cluster_with_real_kubectl(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: none\n"
        "clusters: [{name: none, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: none, user: {token: x}}]\n"
        "contexts: [{name: none, context: {cluster: none, user: none}}]\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pipelines", "preflight"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "KUBECONFIG": str(kubeconfig)},
    )
    assert result.returncode == 1
    assert "FAIL  cluster reachable:" in result.stdout
    assert "check the context" in result.stdout
