"""Check that a Kubernetes context has what the compiled manifests need, before submitting.

    python -m pipelines preflight [--context CTX] [--platform config/platform.json]

Uses kubectl (read-only calls and `auth can-i`). Each check prints ok, WARN or FAIL with how to fix
it; the exit code is 1 when any check fails.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pipelines.platform import Platform

Kubectl = Callable[[list[str]], tuple[int, str]]

CRDS = {
    "workflows.argoproj.io": "Argo Workflows (install modules/workflow_engines)",
    "workflowtemplates.argoproj.io": "Argo Workflows (install modules/workflow_engines)",
    "cronworkflows.argoproj.io": "Argo Workflows (install modules/workflow_engines)",
    "inferenceservices.serving.kserve.io": "KServe, for the deploy step's InferenceService",
    "eventsources.argoproj.io": "Argo Events, for the retrain triggers (manifests/README.md)",
    "sensors.argoproj.io": "Argo Events, for the retrain triggers (manifests/README.md)",
}


@dataclass
class Check:
    name: str
    status: str  # ok | WARN | FAIL
    detail: str


def real_kubectl(context: str | None) -> Kubectl:
    def run(args: list[str]) -> tuple[int, str]:
        cmd = [
            "kubectl",
            *(["--context", context] if context else []),
            "--request-timeout=10s",
            *args,
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        except FileNotFoundError:
            return 127, "kubectl is not installed"
        except subprocess.TimeoutExpired:
            return 124, "kubectl timed out"
        return proc.returncode, proc.stdout if proc.returncode == 0 else proc.stderr.strip()

    return run


def _json(kubectl: Kubectl, args: list[str]) -> tuple[int, Any]:
    code, out = kubectl([*args, "-o", "json"])
    return code, (json.loads(out) if code == 0 else out)


def run_checks(platform: Platform, kubectl: Kubectl) -> list[Check]:
    checks: list[Check] = []
    code, out = kubectl(["version", "-o", "json"])
    if code != 0:
        return [
            Check(
                "cluster reachable",
                "FAIL",
                f"{out.splitlines()[-1] if out else 'no answer'}; check the context "
                "(kubectl config get-contexts) and your credentials "
                "(gcloud container clusters get-credentials ...)",
            )
        ]
    server = json.loads(out).get("serverVersion", {}).get("gitVersion", "?")
    checks.append(Check("cluster reachable", "ok", f"server {server}"))

    ns, sa = platform.namespace, platform.service_account
    code, _ = _json(kubectl, ["get", "namespace", ns])
    checks.append(
        Check(
            f"namespace {ns}",
            "ok" if code == 0 else "FAIL",
            "exists"
            if code == 0
            else "missing; terraform apply creates it (modules/workflow_engines)",
        )
    )
    code, obj = _json(kubectl, ["get", "serviceaccount", sa, "-n", ns])
    if code != 0:
        checks.append(
            Check(
                f"service account {ns}/{sa}",
                "FAIL",
                "missing; terraform apply creates it (modules/workflow_engines)",
            )
        )
    else:
        bound = obj.get("metadata", {}).get("annotations", {}).get("iam.gke.io/gcp-service-account")
        checks.append(
            Check(
                f"service account {ns}/{sa}",
                "ok" if bound else "FAIL",
                f"Workload Identity -> {bound}"
                if bound
                else "no iam.gke.io/gcp-service-account annotation: pods will not get "
                "the pipeline identity",
            )
        )
    for crd, why in CRDS.items():
        code, _ = _json(kubectl, ["get", "crd", crd])
        checks.append(
            Check(
                f"CRD {crd}",
                "ok" if code == 0 else "FAIL",
                "installed" if code == 0 else f"missing: {why}",
            )
        )
    code, out = kubectl(
        [
            "auth",
            "can-i",
            "create",
            "workflowtaskresults.argoproj.io",
            "-n",
            ns,
            f"--as=system:serviceaccount:{ns}:{sa}",
        ]
    )
    allowed = code == 0 and out.strip() == "yes"
    checks.append(
        Check(
            "Argo executor RBAC",
            "ok" if allowed else "FAIL",
            f"{sa} may create workflowtaskresults"
            if allowed
            else f"{sa} may not create workflowtaskresults in {ns}: bind the executor Role",
        )
    )
    checks.append(_gpu_check(platform, kubectl))
    return checks


def _gpu_check(platform: Platform, kubectl: Kubectl) -> Check:
    gpu = platform.gpu
    if gpu is None:
        return Check("GPU nodes", "ok", "the platform has no GPU pool; the train step runs on CPU")
    selector = ",".join(f"{k}={v}" for k, v in sorted(gpu.node_selector.items()))
    code, nodes = _json(kubectl, ["get", "nodes", "-l", selector])
    if code != 0:
        return Check("GPU nodes", "FAIL", f"cannot list nodes: {nodes}")
    items = nodes.get("items", [])
    if not items:
        return Check(
            "GPU nodes",
            "WARN",
            f"no node with {selector} is up now; fine for a pool "
            "that scales from 0, but the taint and GPU count cannot be checked",
        )
    wanted = {(t.key, t.value, t.effect) for t in gpu.tolerations}
    for node in items:
        name = node["metadata"]["name"]
        taints = {
            (t.get("key"), t.get("value"), t.get("effect"))
            for t in node.get("spec", {}).get("taints", [])
        }
        if not taints <= wanted | {(k, v, e) for k, v, e in taints if k != gpu.resource}:
            return Check(
                "GPU nodes",
                "FAIL",
                f"{name} has taints {sorted(taints)} the train "
                f"step does not tolerate ({sorted(wanted)}); update config/platform.json",
            )
        if gpu.resource not in node.get("status", {}).get("allocatable", {}):
            return Check(
                "GPU nodes",
                "FAIL",
                f"{name} has no allocatable {gpu.resource}: is the GPU driver installed?",
            )
    return Check("GPU nodes", "ok", f"{len(items)} node(s) with {selector} and {gpu.resource}")


def report(checks: list[Check]) -> int:
    for c in checks:
        print(f"{c.status:<4}  {c.name}: {c.detail}")
    failed = [c for c in checks if c.status == "FAIL"]
    print(
        f"\n{len(checks) - len(failed)} of {len(checks)} checks passed"
        + (f"; fix the {len(failed)} FAIL line(s) above" if failed else "")
    )
    return 1 if failed else 0
