"""`python -m pipelines runs`: the listing from real records (the record step's MLflow writer into
a SQLite store and into a file store, run folders, a registry with its history) read without
importing MLflow; `--compare` shows only what differs, whole, with deltas to the first run."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from components.common.registry import Registry
from components.common.tracking import local_tracking
from components.record.record import log_run
from pipelines.ops import runs
from tests.conftest import REPO

MODEL = "reviews-sentiment"
LONG = "gs://bucket/" + "/".join(f"segment-{i:02d}" for i in range(30))  # 330 characters


def record(roc_auc: float, blessed: bool, window_end: str, reasons: list[str]) -> dict[str, Any]:
    """What components.record.record.gather returns for a run."""
    return {
        "config": {"train": {"epochs": 6, "optimizer": {"learning_rate": 0.001}}},
        "config_uri": "config/reviews.yaml",
        "data": {"source": "pkg://corpus.csv", "rows": 13905, "window_end": window_end},
        "metrics": {"roc_auc": roc_auc, "accuracy": 0.8077, "test_examples": 957.0},
        "blessed": blessed,
        "reasons": reasons,
        "champion_version": None,
        "stats": {"splits": {}},
        "evaluation": {"roc_auc": roc_auc},
    }


def run_folder(runs_dir: Path, name: str, run_id: str, published: str | None, uri: str) -> None:
    """A run folder's run.json as pipelines/local/results.py writes it (the parts read)."""
    tasks: dict[str, Any] = {
        "record": {"artifacts": {"run_record": {"metadata": {"run_id": run_id}}}},
    }
    if published:
        tasks["condition-4/deploy"] = {
            "artifacts": {"record": {"metadata": {"version": published, "uri": uri}}}
        }
    folder = runs_dir / name
    folder.mkdir(parents=True)
    stamp = name.removeprefix("retrain-")
    (folder / "run.json").write_text(
        json.dumps(
            {"engine": "argo" if published else "kfp", "status": "succeeded",
             "started_utc": stamp, "tasks": tasks}
        )
    )  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Three runs recorded by the record step's writer; two published versions, one of them
    rolled back by an A/B readout, in a real registry."""
    tmp = tmp_path_factory.mktemp("runs")
    tracking = local_tracking(tmp / "mlflow")
    registry = Registry(str(tmp / "registry"), MODEL)
    model = tmp / "model"
    model.mkdir()
    (model / "saved_model.pb").write_text("x")
    for version in ("v1", "v2"):
        registry.publish(model, version, {})
    registry.move("champion", "v1", "blessed: floors", expect=None)
    registry.start_challenger("v2", 10, "blessed")
    rolled = "rolled back: A/B readout 2026-12-01T00:00:00Z: the challenger is not significantly"
    registry.move("challenger", None, rolled, expect=registry.read("challenger"))
    ids = []
    below = "roc_auc 0.7000 is below the floor 0.75"
    specs: list[tuple[str, float, bool, str | None, list[str]]] = [
        ("retrain-20261201-100000", 0.8800, True, "v1", ["roc_auc 0.8800 meets the floor 0.75"]),
        ("retrain-20261201-110000", 0.8900, True, "v2", ["roc_auc 0.8900 meets the floor 0.75"]),
        ("retrain-20261201-120000", 0.7000, False, None, ["accuracy 0.81 meets the floor", below]),
    ]  # fmt: skip
    for i, (name, auc, blessed, published, reasons) in enumerate(specs):
        rec = record(auc, blessed, f"2026-12-01T1{i}:00:00Z", reasons)
        tags = {"code_version": "abc123", "artifact.model": LONG + ("" if i < 2 else "-x")}
        ids.append(log_run(rec, tracking, MODEL, name, tags)["run_id"])
        uri = registry.version_uri(published) if published else ""
        run_folder(tmp / "runs", name, ids[-1], published, uri)
    return {"uri": tracking[0], "runs_dir": tmp / "runs", "ids": ids, "tmp": tmp}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m pipelines runs ...`; the child exits 3 if MLflow got imported."""
    code = (
        "import sys; from pipelines.__main__ import main; rc = main(sys.argv[1:]); "
        "sys.exit(3 if 'mlflow' in sys.modules else rc)"
    )
    return subprocess.run(
        [sys.executable, "-c", code, "runs", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_listing_reads_the_records_without_mlflow(store: dict[str, Any]) -> None:
    started = time.monotonic()
    result = cli("--tracking-uri", store["uri"], "--runs-dir", str(store["runs_dir"]))
    seconds = time.monotonic() - started
    assert result.returncode == 0, result.stderr  # 3: MLflow was imported
    print(f"listing took {seconds:.2f}s")
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "run", "id", "started", "(UTC)", "engine", "status", "reason", "run", "version",
        "blessed", "A/B", "roc_auc",
    ]  # fmt: skip
    newest, middle, oldest = lines[1:4]
    ids = store["ids"]
    assert newest.startswith(f"{ids[2][:12]}  2026-12-01 12:00  kfp")
    assert "no: roc_auc 0.7000 is below the floor 0.75" in newest and newest.endswith("0.7000")
    assert middle.split()[:6] == [ids[1][:12], "2026-12-01", "11:00", "argo", "succeeded", "-"]
    assert " v2 " in middle and " yes " in middle and "rolled back" in middle
    assert " v1 " in oldest and "champion (no A/B)" in oldest and oldest.endswith("0.8800")
    assert len(lines) == 4


def test_file_store_is_read_as_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A store written by MLflow's file store (in maintenance in MLflow 3, still what an older
    setup has) reads the same as through MLflow's client."""
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    from components.common.tracking import log_mlflow_run

    uri = (tmp_path / "mlruns").as_uri()
    params, metrics = {"train.epochs": "6"}, {"roc_auc": 0.88, "loss": 0.5}
    done = log_mlflow_run((uri, None), MODEL, "retrain-x", params, metrics, {"blessed": "true"}, {})
    [read] = runs.read_store(uri)
    client = MlflowClient(uri).get_run(done["run_id"])
    assert read.run_id == done["run_id"] and read.experiment == MODEL
    assert read.name == "retrain-x" and read.status == client.info.status == "FINISHED"
    assert read.metrics == client.data.metrics and read.params == client.data.params
    assert read.tags == client.data.tags


def test_compare_shows_only_differences_whole_with_deltas(store: dict[str, Any]) -> None:
    ids = store["ids"]
    result = cli("--tracking-uri", store["uri"], "--compare", ids[0][:8], ids[1][:8], ids[2][:8])
    assert result.returncode == 0, result.stderr
    out = result.stdout
    lines = out.splitlines()
    rows = {line.split("  ")[0]: line for line in lines if not line.startswith(" ")}
    assert "metric roc_auc" in rows and "metric accuracy" not in rows
    roc = rows["metric roc_auc"].split()
    assert roc[2:] == ["0.8800", "0.8900", "(+0.0100)", "0.7000", "(-0.1800)"]
    assert "param data.window_end" in rows and "param train.epochs" not in rows
    assert "tag code_version" not in rows
    # The long artifact URI differs only at its end, wrapped but whole in the third column.
    start = next(i for i, line in enumerate(lines) if line.startswith("tag artifact.model"))
    column = lines[start].rindex("gs://")
    wrapped = [lines[start][column:].strip()]
    for line in lines[start + 1 :]:
        if not line.startswith(" "):
            break
        wrapped.append(line[column:].strip())
    assert "".join(wrapped) == LONG + "-x"
    equal = int(lines[-1].split()[0])
    assert lines[-1] == f"{equal} values equal, not shown (--all shows them)" and equal > 5
    everything = cli("--tracking-uri", store["uri"], "--compare", ids[0], ids[1], "--all")
    assert "metric accuracy" in everything.stdout and "values equal" not in everything.stdout


def test_compare_names_an_unknown_run(store: dict[str, Any]) -> None:
    result = cli("--tracking-uri", store["uri"], "--compare", "nope")
    assert result.returncode == 2
    assert "no run with id 'nope'; `python -m pipelines runs` lists them" in result.stderr


def test_wrap_keeps_every_character() -> None:
    text = "a/b c," * 40 + "x" * 90 + "\nsecond line"
    lines = runs.wrap(text, 30)
    assert all(len(line) <= 30 for line in lines)
    assert "".join(lines[:-1]) == text.split("\n")[0] and lines[-1] == "second line"


def test_ab_outcome_follows_the_registry_history(tmp_path: Path) -> None:
    """Under test (with its share), then promoted by the promote step's own moves."""
    from components.promote.promote import apply

    registry = Registry(str(tmp_path / "registry"), MODEL)
    model = tmp_path / "model"
    model.mkdir()
    (model / "saved_model.pb").write_text("x")
    for version in ("v1", "v2"):
        registry.publish(model, version, {})
    registry.move("champion", "v1", "blessed", expect=None)
    registry.start_challenger("v2", 25, "blessed")
    v1, v2 = registry.version_uri("v1"), registry.version_uri("v2")
    assert (runs.ab_outcome(v1), runs.ab_outcome(v2)) == ("champion (no A/B)", "running (25%)")
    decision = {"decision": "promote", "challenger": "v2", "champion": "v1", "reasons": ["ok"]}
    apply(decision, registry)
    assert runs.ab_outcome(v2) == "promoted"
