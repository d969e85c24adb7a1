"""The local runner executes compiled Argo Workflows: DAG tasks, parameters, artifacts through the
local artifact repository, `when`, `withItems`/`withParam`, retries and `onExit`; and the
retraining pipeline gives the same tasks and artifacts run from the KFP IR and from Argo."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from pipelines import catalog, ir, platform
from pipelines.argo import cluster
from pipelines.argo.compile import Bundle, compile_ir
from pipelines.local.argo import ArgoLocalRunner, ArgoRunError
from pipelines.local.results import TaskFailed
from tests.conftest import (
    DEPLOY_TASK,
    REPO,
    TRAIN_TASK,
    files_under,
    run_artifact,
    run_retrain,
    small_config,
)
from tests.pipelines import feature_pipelines as fp


@pytest.fixture(scope="module")
def features(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    tmp = tmp_path_factory.mktemp("features")
    return compile_ir(fp.compile_to(fp.features, tmp / "features.yaml"), platform.load())


def run(bundle: Bundle, tmp: Path, **params: str) -> tuple[ArgoLocalRunner, Path]:
    logs = tmp / "logs"
    logs.mkdir(exist_ok=True)
    runner = ArgoLocalRunner(
        bundle.workflow,
        list(bundle.templates.values()),
        tmp / "runs" / "features-1",
        {"log_dir": str(logs), **params},
        cwd=REPO,
        repository=cluster.artifact_repository("artifacts"),
        repository_root=tmp / "repo",
    )
    runner.run()
    return runner, logs


def test_dag_loops_conditions_retries_and_exit_handler(features: Bundle, tmp_path: Path) -> None:
    runner, logs = run(features, tmp_path)
    status = {k: r.status for k, r in runner.results.items()}
    # withItems and withParam expand to one node per item; the false `when` is skipped.
    for item in ("x", "y", "a", "b", "long"):
        assert (logs / f"consume-{item}").read_text() == "hello", item
    assert not (logs / "consume-very-long").exists()
    # Tasks go by their KFP display names (the exit handler's "cleanup", the condition "very-long").
    assert status["cleanup/very-long"] == "skipped"
    assert status["cleanup/for-loop-3(0:x)/consume"] == "succeeded"
    assert status["cleanup/for-loop-4(1:b)/consume-2"] == "succeeded"
    # The flaky step crashed once (exit 1) and its retry succeeded.
    assert (logs / "flaky-attempts").read_text() == "2"
    assert runner.results["cleanup/flaky"].attempts == 2
    assert (logs / "exit-handler").read_text() == "ran"
    # Artifacts were stored in the repository under the key format, and read back from it.
    produced = runner.results["cleanup/produce"].artifacts["out"]
    assert Path(produced.uri).is_relative_to(tmp_path / "repo" / "argo")
    assert Path(produced.uri).read_text() == "hello"


def test_bad_input_exit_is_not_retried_and_exit_handler_still_runs(
    features: Bundle, tmp_path: Path
) -> None:
    with pytest.raises(TaskFailed) as failed:
        run(features, tmp_path, flaky_code="2")
    assert failed.value.task == "cleanup/flaky" and failed.value.returncode == 2
    logs = tmp_path / "logs"
    assert (logs / "flaky-attempts").read_text() == "1"  # the retry rule skips exit code 2
    assert (logs / "exit-handler").read_text() == "ran"  # onExit runs after a failure
    assert not (logs / "consume-x").exists()  # fail fast: nothing after it started


def test_failed_step_stops_the_dag(features: Bundle, tmp_path: Path) -> None:
    with pytest.raises(TaskFailed) as failed:
        run(features, tmp_path, text="fail")
    assert failed.value.task == "cleanup/produce"
    assert failed.value.returncode == 3
    assert Path(failed.value.log_path).read_text().count("$ ") == 2  # one retry, both logged
    assert not (tmp_path / "logs" / "flaky-attempts").exists()


# dsl.If(workers == 1)/dsl.Else: the branch taken, its task, the branch skipped, what it wrote.
BRANCHES = [
    ("1", "one", "produce", "many", "one worker"),
    ("3", "many", "produce-2", "one", "many workers"),
]


@pytest.mark.parametrize(
    ("workers", "taken", "task", "skipped", "text"), BRANCHES, ids=["one-worker", "workers"]
)
def test_one_of_gives_the_artifact_of_the_branch_that_ran(
    tmp_path: Path, workers: str, taken: str, task: str, skipped: str, text: str
) -> None:
    """dsl.If/dsl.Else + dsl.OneOf: the `when` that is false skips its branch, and the
    branches' DAG output (`fromExpression` over the tasks' status) is the artifact of the other."""
    bundle = compile_ir(fp.compile_to(fp.branches, tmp_path / "b.yaml"), platform.load())
    runner, logs = run(bundle, tmp_path, workers=workers)
    assert {k: r.status for k, r in runner.results.items()} == {
        "condition-branches-1": "succeeded",
        f"condition-branches-1/{taken}": "succeeded",
        f"condition-branches-1/{taken}/{task}": "succeeded",
        f"condition-branches-1/{skipped}": "skipped",
        "consume": "succeeded",
    }
    assert (logs / "consume-chosen").read_text() == text
    produced = runner.results[f"condition-branches-1/{taken}/{task}"].artifacts["out"]
    (chosen,) = runner.results["condition-branches-1"].artifacts.values()
    assert chosen.uri == produced.uri  # the same artifact in the repository, not a copy


def test_unknown_parameter_and_missing_template(features: Bundle, tmp_path: Path) -> None:
    with pytest.raises(ArgoRunError, match=r"unknown workflow parameter\(s\) \['nope'\]"):
        run(features, tmp_path, nope="1")
    library = {k: v for k, v in features.templates.items() if k != "notify"}
    broken = Bundle(library, features.workflow, None)
    with pytest.raises(ArgoRunError, match="templateRef 'notify' is not in the template library"):
        run(broken, tmp_path)


# ---- parity: the retraining DAG from the KFP IR and from the Argo Workflow -----------------


def display_paths(spec: dict[str, Any]) -> dict[str, str]:
    """IR task path (`condition-4/deploy`) -> the path of display names the KFP UI shows and the
    Argo Workflow names its tasks by (`blessed/deploy`)."""
    out: dict[str, str] = {}

    def walk(dag: dict[str, Any], ir_prefix: str, shown_prefix: str) -> None:
        for name, task in dag.get("tasks", {}).items():
            path, shown = ir_prefix + name, shown_prefix + task["taskInfo"]["name"]
            out[path] = shown
            component = spec["components"][task["componentRef"]["name"]]
            if "dag" in component:
                walk(component["dag"], path + "/", shown + "/")

    walk(spec["root"]["dag"], "", "")
    return out


def by_display_name(record: dict[str, Any], paths: dict[str, str]) -> dict[str, Any]:
    """The run record with its tasks keyed by display paths (a key that is one already stays)."""
    return {**record, "tasks": {paths.get(k, k): v for k, v in record["tasks"].items()}}


@pytest.mark.integration
def test_parity_kfp_ir_and_argo_workflow(tmp_path: Path, sample_csv: Path) -> None:
    config = small_config(tmp_path)
    kfp = run_retrain(tmp_path, "kfp", sample_csv, config, "--engine", "kfp")
    argo = run_retrain(tmp_path, "argo", sample_csv, config, "--engine", "argo")
    assert kfp["engine"] == "kfp" and argo["engine"] == "argo"
    paths = display_paths(ir.load(catalog.kfp_manifest("retrain")))
    kfp, argo = by_display_name(kfp, paths), by_display_name(argo, paths)
    train_task, deploy_task = paths[TRAIN_TASK], paths[DEPLOY_TASK]

    # The same tasks, with the same outcome.
    def statuses(record: dict[str, Any]) -> dict[str, str]:
        return {k: v["status"] for k, v in record["tasks"].items()}

    assert statuses(kfp) == statuses(argo)
    assert set(statuses(kfp)) == {
        "ingest",
        "preprocess",
        "dataset",
        "condition-branches-1",
        "condition-branches-1/one-worker",
        train_task,
        "condition-branches-1/tfjob",  # skipped: the TFJob launcher's branch
        "evaluate",
        "record",
        "blessed",
        deploy_task,
    }
    # The same artifacts by name.
    for task, result in kfp["tasks"].items():
        # A sub-DAG's output keeps its IR name in the KFP record; Argo's drops KFP's prefix.
        names = {n.rsplit("pipelinechannel--", 1)[-1] for n in result["artifacts"]}
        assert names == set(argo["tasks"][task]["artifacts"]) - {"executor-output"}, task

    # Deterministic steps: byte-identical outputs.
    raw_k, raw_a = run_artifact(kfp, "ingest", "raw"), run_artifact(argo, "ingest", "raw")
    assert files_under(raw_k / "data") == files_under(raw_a / "data")
    manifests = [json.loads((r / "manifest.json").read_text()) for r in (raw_k, raw_a)]
    for m in manifests:
        m.pop("created_utc")
    assert manifests[0] == manifests[1]
    assert manifests[0]["window"]["end"] == "2026-11-22T03:00:00Z"

    rec_k, rec_a = (
        run_artifact(kfp, "preprocess", "records"),
        run_artifact(argo, "preprocess", "records"),
    )
    files_k, files_a = files_under(rec_k), files_under(rec_a)
    assert files_k.keys() == files_a.keys()
    for name in files_k:  # the reports too: their rows name the snapshot's files, not folders
        assert files_k[name] == files_a[name], name

    ds_k, ds_a = (
        run_artifact(kfp, "dataset", "dataset"),
        run_artifact(argo, "dataset", "dataset"),
    )
    shards = sorted(p.relative_to(ds_k) for p in ds_k.rglob("*.tfrecord.gz"))
    assert shards and shards == sorted(p.relative_to(ds_a) for p in ds_a.rglob("*.tfrecord.gz"))
    for shard in shards:
        assert gzip.decompress((ds_k / shard).read_bytes()) == gzip.decompress(
            (ds_a / shard).read_bytes()
        ), shard
        assert (ds_k / shard).read_bytes() == (ds_a / shard).read_bytes(), shard

    # Training: same data and seed; metrics agree within 0.02 (TF's CPU kernels may reorder
    # floating-point sums between processes; measured here they agreed exactly).
    m_k = kfp["tasks"]["evaluate"]["artifacts"]["metrics"]["metadata"]
    m_a = argo["tasks"]["evaluate"]["artifacts"]["metrics"]["metadata"]
    assert m_k["examples"] == m_a["examples"]
    for key in ("roc_auc", "accuracy", "log_loss"):
        assert abs(m_k[key] - m_a[key]) <= 0.02, (key, m_k[key], m_a[key])
    # Both published a version to their own registry.
    for record in (kfp, argo):
        deploy = json.loads(run_artifact(record, deploy_task, "record").read_text())
        assert deploy["version"].startswith("v")
