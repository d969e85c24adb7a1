"""Entry scripts parse their arguments without a cluster: `--dry-run` before or after the
command, and `-p` names and types checked against the compiled pipeline before anything is
contacted (exit 2, the misspelt name's closest match named)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO


def script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / name), *args], capture_output=True, text=True
    )


def test_kfp_submit_help_and_bad_param() -> None:
    ok = script("kfp_submit.py", "--help")
    assert ok.returncode == 0 and "recurring run" in ok.stdout
    bad = script("kfp_submit.py", "--host", "http://127.0.0.1:9", "run", "retrain", "-p", "oops")
    assert bad.returncode == 2 and "expected name=value" in bad.stderr


def test_kfp_dry_runs_show_the_upload_and_the_recurring_run() -> None:
    done = script("kfp_submit.py", "--dry-run", "schedule", "retrain", "-p", "window_days=7")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("would upload manifests/kfp/retrain.yaml as pipeline 'retrain'")
    assert "cron '0 0 3 * * *', max concurrency 1, no catch-up" in lines[1]
    # typed as the pipeline declares it; a recurring run's runs record why they ran
    assert '{"reason": "schedule", "window_days": 7}' in lines[1]


def test_argo_dry_runs_show_the_commands() -> None:
    install = script("argo_submit.py", "--dry-run", "install")
    assert install.returncode == 0, install.stderr
    assert install.stdout.splitlines() == [
        "$ kubectl apply -f manifests/cluster/namespace.yaml",
        "$ kubectl apply -f manifests/cluster/artifact-repositories.yaml "
        "-f manifests/cluster/rbac.yaml",
        # The templates name no namespace: it is given where they are applied.
        "$ kubectl apply --namespace ml-pipelines -f manifests/argo/templates/",
    ]
    submit = script("argo_submit.py", "--dry-run", "submit", "retrain", "-p", "canary_percent=20")
    assert submit.stdout.strip() == (
        "$ argo submit manifests/argo/retrain.yaml --namespace ml-pipelines -p canary_percent=20"
    )
    cron = script("argo_submit.py", "--dry-run", "--context", "prod", "schedule", "retrain")
    assert cron.stdout.strip() == (
        "$ kubectl --context prod apply --namespace ml-pipelines "
        "-f manifests/argo/retrain-cron.yaml"
    )
    bad = script("argo_submit.py", "--dry-run", "submit", "retrain", "-p", "oops")
    assert bad.returncode == 2 and "expected name=value" in bad.stderr


def test_argo_submit_elsewhere_and_overlay() -> None:
    """Another namespace and service account at submit time; the installed objects from an
    overlay; installing the compiled namespace objects into another namespace is refused."""
    submit = script(
        "argo_submit.py", "submit", "retrain", "--namespace", "team-a",
        "--service-account", "team-a-pipelines", "--dry-run",
    )  # fmt: skip
    assert submit.stdout.strip() == (
        "$ argo submit manifests/argo/retrain.yaml --namespace team-a "
        "--serviceaccount team-a-pipelines"
    )
    overlay = script("argo_submit.py", "install", "--overlay", "overlays/example", "--dry-run")
    assert overlay.stdout.strip() == "$ kubectl apply -k overlays/example", overlay.stderr
    refused = script("argo_submit.py", "install", "--namespace", "team-a", "--dry-run")
    assert refused.returncode == 2 and "--overlay" in refused.stderr


# --dry-run before the command, after it, and after its arguments.
ARGO_SUBMIT = ["submit", "retrain", "-p", "canary_percent=20"]
KFP_RUN = ["run", "retrain", "-p", "canary_percent=20"]
KFP_SHOWN = "would run retrain in experiment 'retrain' with parameters {\"canary_percent\": 20}"


@pytest.mark.parametrize("position", [0, 1, 4], ids=["before", "after-command", "last"])
@pytest.mark.parametrize(
    ("name", "argv", "expected"),
    [
        ("argo_submit.py", ARGO_SUBMIT, "$ argo submit manifests/argo/retrain.yaml"),
        ("kfp_submit.py", KFP_RUN, KFP_SHOWN),
    ],
    ids=["argo", "kfp"],
)  # fmt: skip
def test_dry_run_anywhere(name: str, argv: list[str], expected: str, position: int) -> None:
    args = [*argv[:position], "--dry-run", *argv[position:]]
    done = script(name, *args)
    assert done.returncode == 0, (args, done.stderr)
    assert done.stdout.startswith(expected), (args, done.stdout)


KFP_FILE = "manifests/kfp/retrain.yaml"
SUBMITS = [
    ("argo_submit.py", ["submit", "retrain"], "manifests/argo/retrain.yaml"),
    # Not a dry run: the check comes before kfp.Client is made (nothing listens on port 9).
    ("kfp_submit.py", ["--host", "http://127.0.0.1:9", "run", "retrain"], KFP_FILE),
]


@pytest.mark.parametrize(("name", "argv", "compiled"), SUBMITS, ids=["argo", "kfp"])
def test_misspelt_parameter_is_refused_with_the_closest_name(
    name: str, argv: list[str], compiled: str
) -> None:
    done = script(name, *argv, "-p", "canry_percent=20")
    assert done.returncode == 2, done.stderr
    assert "-p canry_percent=...: unknown parameter (did you mean 'canary_percent'?)" in (
        done.stderr
    )
    assert f"{compiled} takes ['beam_options', 'canary_percent'," in done.stderr
    assert done.stdout == ""  # nothing was run or shown as run


@pytest.mark.parametrize(("name", "argv", "compiled"), SUBMITS, ids=["argo", "kfp"])
@pytest.mark.parametrize(
    ("param", "expected"),
    [
        ("canary_percent=ten", "expected int (NUMBER_INTEGER)"),
        ("train_workers=1.5", "expected int (NUMBER_INTEGER)"),
    ],
)
def test_value_of_the_wrong_type_is_refused(
    name: str, argv: list[str], compiled: str, param: str, expected: str
) -> None:
    done = script(name, *argv, "-p", param)
    assert done.returncode == 2, done.stderr
    assert f"-p {param}: {expected}" in done.stderr and compiled in done.stderr
    assert done.stdout == ""
