"""The local runner executes the compiled IR end to end, honours dsl.If/dsl.Else and dsl.OneOf,
and fails clearly."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from components.common.registry import Registry
from pipelines import ir
from pipelines.local.kfp import LocalRunner
from tests.conftest import DEPLOY_TASK, TRAIN_TASK, run_cli, small_config
from tests.pipelines import feature_pipelines as fp


def run_pipeline(tmp: Path, *params: str) -> tuple[int, str, str, Path | None]:
    result = run_cli(
        "pipelines",
        "run",
        "retrain",
        "--runs-dir",
        tmp / "runs",
        *[arg for p in params for arg in ("-p", p)],
    )
    runs = sorted((tmp / "runs").glob("retrain-*")) if (tmp / "runs").exists() else []
    return result.returncode, result.stdout, result.stderr, runs[-1] if runs else None


@pytest.mark.integration
def test_run_publishes_then_a_worse_candidate_is_not_deployed(
    tmp_path: Path, sample_csv: Path
) -> None:
    registry = tmp_path / "registry"
    code, out, err, run_dir = run_pipeline(
        tmp_path,
        f"data_uri={sample_csv}",
        f"config={small_config(tmp_path)}",
        f"registry_root={registry}",
        "canary_percent=20",
        "run_url=https://kfp.example/#/runs/details/{job_id}",
    )
    assert code == 0, out + err
    assert run_dir is not None
    tasks = ["ingest", "preprocess", "dataset", "train", None, "evaluate", "deploy", "record"]
    for i, task in enumerate(tasks):
        if task:
            assert f"[{i + 1}/8] {task}: done in" in out
    # One worker: the TFJob launcher's branch is skipped.
    assert "[5/8] train-launcher: skipped (condition false: !(train_workers == 1))" in out
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "succeeded"
    assert record["arguments"]["canary_percent"] == 20
    assert {t: r["status"] for t, r in record["tasks"].items()} == {
        "ingest": "succeeded",
        "preprocess": "succeeded",
        "build-dataset": "succeeded",
        "condition-branches-1": "succeeded",
        "condition-branches-1/condition-2": "succeeded",
        TRAIN_TASK: "succeeded",
        "condition-branches-1/condition-3": "skipped",
        "evaluate": "succeeded",
        "condition-4": "succeeded",
        DEPLOY_TASK: "succeeded",
        "record": "succeeded",
    }
    for task in record["tasks"].values():
        if task["log"]:
            assert Path(task["log"]).read_text().startswith("$ ")
    metrics = record["tasks"]["evaluate"]["artifacts"]["metrics"]
    assert metrics["metadata"]["roc_auc"] > 0  # read back from the executor output
    assert "train/model " in out and "evaluate/metrics " in out and "evaluate/report " in out
    assert "Blessed by evaluate (" in out and "; published v" in out and " as champion" in out
    first = Registry(str(registry), "reviews-sentiment").champion()
    assert first is not None

    # Second run: a floor no model meets, so evaluate says no and deploy is skipped.
    (tmp_path / "strict").mkdir()
    strict = small_config(tmp_path / "strict", evaluate={"floors": {"roc_auc": 0.999}})
    code, out, err, run_dir = run_pipeline(
        tmp_path, f"data_uri={sample_csv}", f"config={strict}", f"registry_root={registry}"
    )
    assert code == 0, out + err
    assert "[7/8] deploy: skipped (condition false" in out
    assert re.search(r"^blessed +Skipped +condition false", out, re.MULTILINE)
    assert "Not blessed by evaluate (" in out and "; nothing published;" in out
    assert run_dir is not None
    evaluation = json.loads((run_dir / "evaluate" / "metrics").read_text())
    assert evaluation["blessing"]["blessed"] is False
    assert evaluation["blessing"]["champion_version"] == first["version"]
    # The dataset was compared with the one the champion was trained on (published with it).
    drift = json.loads((run_dir / "build-dataset" / "dataset" / "stats.json").read_text())["drift"]
    assert drift["baseline"] == f"reviews-sentiment {first['version']}"
    assert drift["warnings"] == []  # the same data
    assert "No drift above" in (run_dir / "build-dataset" / "report").read_text()
    assert Registry(str(registry), "reviews-sentiment").champion() == first

    # Both runs are MLflow runs in the local store beside the registry; `runs` lists them,
    # newest first, and compares them.
    tracking = f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"
    listed = run_cli(
        "pipelines", "runs", "--tracking-uri", tracking, "--runs-dir", tmp_path / "runs"
    )
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split()[:4] == ["run", "id", "started", "(UTC)"] and len(lines) == 3
    assert run_dir.name in lines[1] and first["version"] in lines[2]
    assert " no: " in lines[1] and " yes " in lines[2]  # the strict run was not blessed
    assert lines[0].split()[6] == "reason" and lines[1].split()[5] == "manual"  # why each ran
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking)
    runs = client.search_runs(
        [client.get_experiment_by_name("reviews-sentiment").experiment_id],
        order_by=["start_time DESC"],
    )
    newest = runs[0].data
    assert newest.tags["pipeline.job_name"] == run_dir.name and newest.tags["blessed"] == "false"
    assert newest.tags["pipeline.reason"] == "manual"
    first_run = runs[1].data.tags
    assert first_run["pipeline.run_url"] == (
        f"https://kfp.example/#/runs/details/{first_run['pipeline.job_id']}"
    )
    assert newest.tags["artifact.model"] == str(run_dir / TRAIN_TASK.replace("/", "__") / "model")
    assert newest.params["train.batch_size"] == "32" and newest.params["data.rows"]
    assert newest.params["data.window_end"].endswith("Z")  # the run's data window
    assert newest.metrics["roc_auc"] == evaluation["roc_auc"]
    assert "retrain-tf@" in newest.tags["images"] or "retrain-tf:" in newest.tags["images"]
    compared = run_cli(
        "pipelines", "runs", "--tracking-uri", tracking, "--compare", *(r.info.run_id for r in runs)
    )
    assert compared.returncode == 0, compared.stderr
    assert "param config" in compared.stdout and "roc_auc" in compared.stdout


def test_failure_names_the_task_and_its_log(tmp_path: Path) -> None:
    """A gs:// parameter maps to the local folder standing in for the bucket; ingest finds no
    file there, and the run stops naming the task and its log."""
    result = run_cli(
        "pipelines",
        "run",
        "retrain",
        "--runs-dir",
        tmp_path / "runs",
        "--local-gcs",
        tmp_path / "gcs",
        "-p",
        "data_uri=gs://raw-data/reviews.csv",
    )
    assert result.returncode == 1
    local = tmp_path / "gcs" / "raw-data" / "reviews.csv"
    assert f"data_uri: gs://raw-data/reviews.csv -> {local}" in result.stdout
    (run_dir,) = (tmp_path / "runs").glob("retrain-*")
    log = run_dir / "ingest" / "log.txt"
    assert f"task 'ingest' failed with exit code 2; log: {log}" in result.stderr
    assert f"{local}: matched no files" in result.stdout  # the log's last lines are shown
    assert json.loads((run_dir / "run.json").read_text())["status"] == "failed"


def test_unknown_parameter_is_rejected(tmp_path: Path) -> None:
    code, _, err, _ = run_pipeline(tmp_path, "epochs=3")
    assert code == 2 and "unknown pipeline parameter(s) ['epochs']" in err


LOOP_PIPELINE = """
from kfp import compiler, dsl

@dsl.container_component
def echo(word: str):
    return dsl.ContainerSpec(image="python:3.11", command=["echo"], args=[word])

@dsl.pipeline(name="loop")
def loop():
    with dsl.ParallelFor(["a", "b"]) as item:
        echo(word=item)

compiler.Compiler().compile(loop, {path!r})
"""


def test_unsupported_ir_feature_is_named(tmp_path: Path) -> None:
    """A dsl.ParallelFor loop is refused with the task named, not run wrongly."""
    import subprocess
    import sys

    from pipelines import ir
    from pipelines.local.kfp import LocalRunner

    path = tmp_path / "loop.yaml"
    subprocess.run([sys.executable, "-c", LOOP_PIPELINE.format(path=str(path))], check=True)
    runner = LocalRunner(ir.load(path), tmp_path / "run", {}, cwd=tmp_path)
    with pytest.raises(ir.IRError, match=r"task 'for-loop-\d+' is a dsl.ParallelFor loop"):
        runner.run()


# dsl.If(workers == 1)/dsl.Else: the branch taken, its task, the branch skipped, what it wrote.
BRANCHES = [
    (1, "condition-2", "produce", "condition-3", "one worker"),
    (3, "condition-3", "produce-2", "condition-2", "many workers"),
]


@pytest.mark.parametrize(
    ("workers", "taken", "task", "skipped", "text"), BRANCHES, ids=["one-worker", "workers"]
)
def test_one_of_gives_the_artifact_of_the_branch_that_ran(
    tmp_path: Path, workers: int, taken: str, task: str, skipped: str, text: str
) -> None:
    """dsl.If/dsl.Else + dsl.OneOf: the negated condition of the Else is evaluated, the branch
    whose condition is false is skipped, and the consumer gets the artifact of the other, through
    the first of the sub-DAG's artifactSelectors whose producer ran."""
    spec = ir.load(fp.compile_to(fp.branches, tmp_path / "b.yaml"))
    logs = tmp_path / "logs"
    logs.mkdir()
    runner = LocalRunner(
        spec, tmp_path / "run", {"log_dir": str(logs), "workers": workers}, cwd=tmp_path
    )
    results = runner.run()
    assert {k: r.status for k, r in results.items()} == {
        "condition-branches-1": "succeeded",
        f"condition-branches-1/{taken}": "succeeded",
        f"condition-branches-1/{taken}/{task}": "succeeded",
        f"condition-branches-1/{skipped}": "skipped",
        "consume": "succeeded",
    }
    assert (logs / "consume-chosen").read_text() == text
    produced = results[f"condition-branches-1/{taken}/{task}"].artifacts["out"]
    (chosen,) = results["condition-branches-1"].artifacts.values()
    assert chosen.uri == produced.uri
    assert not (tmp_path / "run" / f"condition-branches-1__{skipped}").exists()
