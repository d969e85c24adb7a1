"""Entry scripts parse their arguments without a cluster."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_kfp_submit_help_and_bad_param() -> None:
    script = str(REPO / "scripts" / "kfp_submit.py")
    ok = subprocess.run([sys.executable, script, "--help"], capture_output=True, text=True)
    assert ok.returncode == 0 and "recurring run" in ok.stdout
    bad = subprocess.run(
        [sys.executable, script, "--host", "http://127.0.0.1:9", "run", "retrain", "-p", "oops"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode != 0 and "expected name=value" in bad.stderr


def script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / name), *args], capture_output=True, text=True
    )


def test_kfp_dry_runs_show_the_upload_and_the_recurring_run() -> None:
    done = script("kfp_submit.py", "--dry-run", "schedule", "retrain", "-p", "window_days=7")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("would upload manifests/kfp/retrain.yaml as pipeline 'retrain'")
    assert "cron '0 0 3 * * *', max concurrency 1, no catch-up" in lines[1]
    assert '{"window_days": 7}' in lines[1]  # typed as the pipeline declares it
    bad = script("kfp_submit.py", "--dry-run", "run", "retrain", "-p", "window_days=x")
    assert bad.returncode != 0 and "'window_days': 'x' is not a valid NUMBER_INTEGER" in bad.stderr
    unknown = script("kfp_submit.py", "--dry-run", "run", "retrain", "-p", "nope=1")
    assert unknown.returncode != 0 and "unknown parameter(s) ['nope']" in unknown.stderr


def test_argo_dry_runs_show_the_commands() -> None:
    install = script("argo_submit.py", "--dry-run", "install")
    assert install.returncode == 0, install.stderr
    assert "$ kubectl apply -f manifests/cluster/namespace.yaml" in install.stdout
    assert "-f manifests/argo/templates/" in install.stdout
    submit = script("argo_submit.py", "--dry-run", "submit", "retrain", "-p", "canary_percent=20")
    assert submit.stdout.strip() == (
        "$ argo submit manifests/argo/retrain.yaml --namespace ml-pipelines -p canary_percent=20"
    )
    cron = script("argo_submit.py", "--dry-run", "--context", "prod", "schedule", "retrain")
    assert cron.stdout.strip() == (
        "$ kubectl --context prod apply -f manifests/argo/retrain-cron.yaml"
    )
    bad = script("argo_submit.py", "--dry-run", "submit", "retrain", "-p", "oops")
    assert bad.returncode != 0 and "expected name=value" in bad.stderr
