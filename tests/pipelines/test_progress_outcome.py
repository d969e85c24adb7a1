"""What a local run shows while it runs and when it ends: progress lines (train's epochs with an
ETA, a heartbeat off a terminal), the outcome sentence and the task tree (the same labels on
both engines), and Ctrl-C or SIGTERM stopping the running step's processes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipelines.local import display, process
from pipelines.local.results import Artifact, TaskResult
from tests.conftest import REPO, run_cli, small_config

PY = sys.executable


# ---- train: one progress line per epoch ------------------------------------------------------
def _tiny_fit(epochs: int, callbacks_for: object) -> list[str]:
    import keras
    import numpy as np

    keras.utils.set_random_seed(0)
    x = np.random.default_rng(0).normal(size=(24, 3)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy", metrics=[keras.metrics.AUC(name="auc")])
    lines: list[str] = []
    callbacks = callbacks_for(lines.append)  # type: ignore[operator]
    model.fit(
        x, y, validation_data=(x, y), epochs=epochs, batch_size=8, verbose=0, callbacks=callbacks
    )
    return lines


def test_epoch_progress_prints_each_epoch_with_an_eta() -> None:
    from components.train.progress import EpochProgress

    lines = _tiny_fit(3, lambda emit: [EpochProgress(3, "val_auc", emit=emit)])
    assert len(lines) == 3  # one per epoch, nothing per batch
    for n, line in enumerate(lines[:2], start=1):
        assert re.fullmatch(
            rf"epoch {n}/3  loss \d+\.\d{{4}}  val_auc \d\.\d{{4}}  val_loss \d+\.\d{{4}}  "
            r"ETA \d+s",
            line,
        ), line
    assert lines[2].startswith("epoch 3/3  loss ") and "ETA" not in lines[2]


def test_epoch_progress_says_when_early_stopping_stopped() -> None:
    import keras

    from components.train.progress import EpochProgress

    def callbacks(emit: object) -> list[object]:
        # The loss falls every epoch, so "max" sees no gain: it stops after the second epoch.
        stopper = keras.callbacks.EarlyStopping(
            monitor="loss", mode="max", patience=1, restore_best_weights=True
        )
        return [stopper, EpochProgress(10, "loss", stopper, emit=emit)]  # type: ignore[arg-type]

    lines = _tiny_fit(10, callbacks)
    assert lines[0].startswith("epoch 1/10  loss ") and "ETA" in lines[0]
    assert lines[1].startswith("epoch 2/10  loss ") and lines[1].endswith("stopping early")
    assert re.fullmatch(
        r"early stop after epoch 2/10: loss best \d+\.\d{4} at epoch 1 \(its weights "
        r"restored\), no gain for 1 epoch",
        lines[2],
    ), lines[2]


# ---- the runner: progress off a terminal, stopping a step ------------------------------------
def _step(tmp_path: Path, code: str, heartbeat: float = 1.0) -> process.Step:
    return process.Step(
        [PY, "-c", code],
        tmp_path,
        process.step_env(tmp_path, {}),
        tmp_path / "log.txt",
        "[1/1] slow",
        "slow",
        stream_logs=False,
        heartbeat=heartbeat,
    )


NO_RETRY = process.Retry(0, lambda _: False, lambda _: 0.0)


def test_off_a_terminal_the_latest_progress_line_is_a_heartbeat(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = (
        "import time\n"
        "time.sleep(1.5)\n"
        "print('progress: stage 1 of 2', flush=True)\n"
        "print('some other log line', flush=True)\n"
        "time.sleep(1.5)\n"
        "print('progress: stage 2 of 2', flush=True)\n"
        "time.sleep(1.5)\n"
    )
    result = process.run_task("slow", _step(tmp_path, code), NO_RETRY)
    assert result.status == "succeeded" and result.seconds >= 4.5
    out = capsys.readouterr().out.splitlines()
    beats = [line for line in out if line.startswith("[1/1] slow: ") and "|" in line]
    # About one a second (the step's heartbeat), never more often, each with the elapsed time.
    assert 3 <= len(beats) <= result.seconds + 1, out
    assert beats[0] == "[1/1] slow: 1s | running, no progress line yet"
    assert any(b.endswith("| stage 1 of 2") for b in beats)
    assert beats[-1].endswith("| stage 2 of 2")
    assert not any("some other log line" in line for line in out)  # only progress lines
    assert "some other log line" in (tmp_path / "log.txt").read_text()


def test_a_quick_step_prints_no_heartbeat(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    process.run_task("slow", _step(tmp_path, "print('progress: done')", heartbeat=30), NO_RETRY)
    assert capsys.readouterr().out == "[1/1] slow: running\n"


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (/proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _gone_soon(pid: int, within: float = 5.0) -> bool:
    """The process exits within a few seconds (SIGKILL is delivered asynchronously)."""
    deadline = time.monotonic() + within
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_cancel_stops_the_step_and_its_children_even_one_ignoring_sigterm(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM while a step runs: the step, and a child that ignores SIGTERM, are gone (SIGKILL
    after the grace period); run_task re-raises Cancelled carrying the cancelled result."""
    monkeypatch.setattr(process, "GRACE_SECONDS", 1.0)
    pids = tmp_path / "pids"
    code = (
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import signal, time; "
        "signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(120)'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "print('progress: waiting', flush=True)\n"
        "time.sleep(120)\n"
    )
    timer = threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGTERM))
    started = time.monotonic()
    with process.cancel_on_signals():
        timer.start()
        with pytest.raises(process.Cancelled) as stopped:
            process.run_task("slow", _step(tmp_path, code), NO_RETRY)
    took = time.monotonic() - started
    assert stopped.value.signal_name == "SIGTERM"
    assert stopped.value.result is not None and stopped.value.result.status == "cancelled"
    assert 2.0 <= took < 10, took  # the grace period, not the step's two minutes
    step_pid, child_pid = map(int, pids.read_text().split())
    assert _gone_soon(step_pid) and _gone_soon(child_pid)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored


# ---- the end of a run: outcome, tree, artifacts ----------------------------------------------
def _write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


def _results(tmp: Path, blessed: bool) -> dict[str, TaskResult]:
    """A run's results as the KFP runner records them, over real artifact files."""
    log = _write(tmp / "log.txt", "$ step\n")
    reasons = (
        ["roc_auc 0.8800 meets the floor 0.75", "roc_auc 0.8800 vs champion 0.8700"]
        if blessed
        else ["roc_auc 0.6000 is below the floor 0.75"]
    )
    metrics = _write(
        tmp / "evaluate" / "metrics",
        json.dumps({"roc_auc": 0.88, "blessing": {"blessed": blessed, "reasons": reasons}}),
    )
    report = _write(tmp / "evaluate" / "report", "<!doctype html>\n<html></html>\n")
    results = {
        "build-dataset": TaskResult("build-dataset", "succeeded", 19.2, log=log),
        "condition-branches-1": TaskResult("condition-branches-1", "succeeded"),
        "condition-branches-1/condition-2": TaskResult(
            "condition-branches-1/condition-2", "succeeded"
        ),
        "condition-branches-1/condition-2/train": TaskResult(
            "condition-branches-1/condition-2/train", "succeeded", 418.0, log=log
        ),
        "condition-branches-1/condition-3": TaskResult(
            "condition-branches-1/condition-3",
            "skipped",
            reason="condition false: !(int(inputs.parameter_values"
            "['pipelinechannel--train_workers']) == 1)",
        ),
        "evaluate": TaskResult(
            "evaluate",
            "succeeded",
            18.8,
            log=log,
            parameters={"blessed": blessed},
            artifacts={
                "metrics": Artifact(
                    "metrics", metrics, "system.Metrics", {"roc_auc": 0.88, "examples": 957}
                ),
                "report": Artifact("report", report, "system.HTML"),
            },
        ),
    }
    if blessed:
        record = _write(
            tmp / "deploy" / "record",
            json.dumps(
                {"version": "v2", "role": "challenger", "previous": "v1", "traffic_percent": 10}
            ),
        )
        results["condition-4"] = TaskResult("condition-4", "succeeded")
        results["condition-4/deploy"] = TaskResult(
            "condition-4/deploy",
            "succeeded",
            0.6,
            log=log,
            artifacts={"record": Artifact("record", record, "system.Artifact", {"version": "v2"})},
        )
    else:
        results["condition-4"] = TaskResult(
            "condition-4",
            "skipped",
            reason="condition false: inputs.parameter_values"
            "['pipelinechannel--evaluate-blessed'] == true",
        )
    return results


LABELS = {
    "build-dataset": "dataset",
    "condition-branches-1": "condition-branches-1",
    "condition-branches-1/condition-2": "one-worker",
    "condition-branches-1/condition-2/train": "train",
    "condition-branches-1/condition-3": "tfjob",
    "condition-branches-1/condition-3/train-2": "train-launcher",
    "evaluate": "evaluate",
    "condition-4": "blessed",
    "condition-4/deploy": "deploy",
}


def test_outcome_of_a_blessed_run(tmp_path: Path) -> None:
    text = display.outcome(_results(tmp_path, True), LABELS, "succeeded")
    report = display.short_path(str(tmp_path / "evaluate" / "report"))
    assert text == (
        "Blessed by evaluate (roc_auc 0.8800 meets the floor 0.75; roc_auc 0.8800 vs champion "
        "0.8700); published v2 as challenger on 10% of traffic beside champion v1; "
        f"reports: {report} (evaluate)."
    )


def test_outcome_of_a_run_that_was_not_blessed(tmp_path: Path) -> None:
    text = display.outcome(_results(tmp_path, False), LABELS, "succeeded")
    assert text.startswith(
        "Not blessed by evaluate (roc_auc 0.6000 is below the floor 0.75); nothing published; "
        "reports: "
    )


def test_tree_uses_display_names_and_indents_sub_dags(tmp_path: Path) -> None:
    lines = display.format_tree(display.tree(_results(tmp_path, True), LABELS))
    assert [line.split()[:2] for line in lines] == [
        ["STEP", "STATUS"],
        ["dataset", "Succeeded"],
        ["one-worker", "Succeeded"],
        ["train", "Succeeded"],
        ["tfjob", "Skipped"],
        ["evaluate", "Succeeded"],
        ["blessed", "Succeeded"],
        ["deploy", "Succeeded"],
    ]
    assert lines[3].startswith("  train ") and lines[7].startswith("  deploy ")
    assert lines[3].split()[2] == "6m58s" and lines[2].split()[2] == "6m58s"  # group: its tasks
    assert lines[1].split()[2] == "19s" and lines[7].split()[2] == "0.6s"
    assert lines[4].endswith("condition false: !(train_workers == 1)")
    assert not any("condition-" in line or "pipelinechannel" in line for line in lines)


def test_artifacts_by_task_and_name_with_short_metrics(tmp_path: Path) -> None:
    lines = display.artifact_lines(_results(tmp_path, True), LABELS)
    assert [line.split()[0] for line in lines] == [
        "evaluate/metrics",
        "evaluate/report",
        "deploy/record",
    ]
    assert lines[0].endswith("roc_auc 0.8800  examples 957")


# ---- real runs: both engines, and Ctrl-C -----------------------------------------------------
def _tree_rows(stdout: str) -> list[tuple[str, str]]:
    """(indented step, status) of the tree a run printed at its end."""
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("STEP "))
    rows = []
    for line in lines[start + 1 :]:
        if not line.strip():
            break
        step = re.match(r"\s*\S+", line)
        assert step is not None
        rows.append((step.group(0), line.split()[1]))
    return rows


@pytest.mark.integration
def test_both_engines_show_the_same_tree_and_outcome(tmp_path: Path, sample_csv: Path) -> None:
    config = small_config(tmp_path)
    outs = {}
    for engine in ("kfp", "argo"):
        done = run_cli(
            "pipelines",
            "run",
            "retrain",
            "--engine",
            engine,
            "--runs-dir",
            str(tmp_path / engine / "runs"),
            "--local-gcs",
            str(tmp_path / engine / "gcs"),
            "-p",
            f"data_uri={sample_csv}",
            "-p",
            f"config={config}",
            "-p",
            f"registry_root={tmp_path / engine / 'registry'}",
            "-p",
            "canary_percent=20",
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        outs[engine] = done.stdout
    kfp, argo = (_tree_rows(outs[e]) for e in ("kfp", "argo"))
    assert sorted(kfp) == sorted(argo)
    assert {step.strip() for step, _ in kfp} == {
        "ingest",
        "preprocess",
        "dataset",
        "one-worker",
        "train",
        "tfjob",
        "evaluate",
        "blessed",
        "deploy",
        "record",
    }
    assert ("  train", "Succeeded") in kfp and ("tfjob", "Skipped") in kfp

    def started(out: str) -> list[str]:  # the tasks as the progress lines name them
        return sorted(re.findall(r"^\[\d+/\d+\] (\S+): (?:running|skipped)", out, re.M))

    assert started(outs["kfp"]) == started(outs["argo"])
    assert len(started(outs["kfp"])) == 8
    for engine, out in outs.items():
        # The same labels while running, too.
        assert "] train-launcher: skipped (" in out, engine
        assert re.search(r"\] train: \d+s \| epoch|\] train: done in", out), engine
        names = [line.split()[0] for line in out.splitlines() if re.match(r"\w+/\w+ ", line)]
        assert {"dataset/dataset", "dataset/report", "train/model", "evaluate/metrics"} <= set(
            names
        ), engine
        end = " ".join(out.split("\n\n")[-1].split())
        # A fresh registry: the first blessed model becomes the champion, on all traffic.
        assert end.startswith("Blessed by evaluate (roc_auc "), (engine, end)
        assert re.search(
            r"; published v\S+ as champion on 100% of traffic; reports: \S+ \(dataset\), ", end
        ), end
        # No IR keys in what names the tasks (folder names in paths are the runner's business).
        shown = [step for step, _ in _tree_rows(out)] + names + [end.split("; reports:")[0]]
        assert not any(re.search(r"condition-\d|pipelinechannel", text) for text in shown), shown


def _procs_mentioning(text: str) -> list[int]:
    """Live processes whose command line holds `text` (/proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        if text in cmdline and _alive(int(entry.name)):
            found.append(int(entry.name))
    return found


@pytest.mark.integration
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_stops_the_step_and_records_the_run_as_cancelled(
    tmp_path: Path, sample_csv: Path, sig: signal.Signals
) -> None:
    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        [
            PY,
            "-m",
            "pipelines",
            "run",
            "retrain",
            "--runs-dir",
            str(runs),
            "--no-cache",
            "-p",
            f"data_uri={sample_csv}",
            "-p",
            f"config={small_config(tmp_path)}",
            "-p",
            f"registry_root={tmp_path / 'registry'}",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stderr is not None
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
    reader.start()
    deadline = time.monotonic() + 300
    while not any("] train: running" in line for line in seen):
        assert proc.poll() is None and time.monotonic() < deadline, "".join(seen)
        time.sleep(0.1)
    run_dir = next(runs.glob("retrain-*"))
    while not _procs_mentioning("components.train"):
        assert time.monotonic() < deadline, "the train step never showed up"
        time.sleep(0.05)
    steps = _procs_mentioning(str(run_dir.resolve()))
    proc.send_signal(sig)  # as a terminal's Ctrl-C reaches the runner (the step has its own)
    code = proc.wait(timeout=60)
    err = proc.stderr.read()
    reader.join(timeout=10)
    assert code == 130
    by = "Ctrl-C" if sig == signal.SIGINT else "SIGTERM"
    assert re.fullmatch(rf"cancelled by {by} after [\dhms]+; run record: \S+/run\.json\n", err), err
    assert "Traceback" not in "".join(seen)
    record = json.loads((run_dir / "run.json").read_text())
    assert record["status"] == "cancelled"
    assert record["tasks"]["ingest"]["status"] == "succeeded"
    statuses = {key: task["status"] for key, task in record["tasks"].items()}
    assert statuses["dataset" if "dataset" in statuses else "build-dataset"] == "succeeded"
    assert [k for k, s in statuses.items() if s == "cancelled"] == [
        next(k for k in statuses if k.endswith("/train"))
    ]
    assert steps and all(_gone_soon(pid) for pid in steps)
    assert _procs_mentioning(str(run_dir.resolve())) == []


def test_a_failed_run_names_the_task_and_lists_only_what_was_written(tmp_path: Path) -> None:
    results = _results(tmp_path, True)
    train = results["condition-branches-1/condition-2/train"]
    train.status = "failed"
    train.artifacts = {"model": Artifact("model", str(tmp_path / "no-model"), "system.Model")}
    for key in ("evaluate", "condition-4", "condition-4/deploy"):
        del results[key]
    text = display.outcome(results, LABELS, "failed")
    assert text == f"Run failed at train (log: {display.short_path(train.log or '')})."
    assert display.artifact_lines(results, LABELS) == []
    rows = display.tree(results, LABELS)
    assert [(r.step, r.status) for r in rows][-3:] == [
        ("one-worker", "Succeeded"),
        ("train", "Failed"),
        ("tfjob", "Skipped"),
    ]


def test_a_cancelled_argo_run_stops_without_its_exit_handler(tmp_path: Path) -> None:
    """Ctrl-C stops a local Argo run as `argo terminate` does: the step stops and the onExit
    handler does not run (`argo stop` would run it)."""
    from pipelines.argo import cluster
    from pipelines.local.argo import ArgoLocalRunner

    marker = tmp_path / "exit-handler-ran"

    def container(code: str) -> dict[str, object]:
        return {"image": "python:3.11", "command": ["python", "-c", code]}

    workflow = {
        "kind": "Workflow",
        "metadata": {"name": "stop"},
        "spec": {
            "entrypoint": "main",
            "onExit": "notify",
            "templates": [
                {"name": "main", "dag": {"tasks": [{"name": "slow", "template": "sleep"}]}},
                {"name": "sleep", "container": container("import time; time.sleep(120)")},
                {"name": "notify", "container": container(f"open({str(marker)!r}, 'w')")},
            ],
        },
    }
    runner = ArgoLocalRunner(
        workflow,
        [],
        tmp_path / "runs" / "stop-1",
        {},
        cwd=REPO,
        repository=cluster.artifact_repository("artifacts"),
        repository_root=tmp_path / "repo",
    )
    timer = threading.Timer(2.0, os.kill, (os.getpid(), signal.SIGINT))
    with process.cancel_on_signals():
        timer.start()
        with pytest.raises(process.Cancelled) as stopped:
            runner.run()
    assert stopped.value.result is not None and stopped.value.result.name == "slow"
    assert stopped.value.result.status == "cancelled"
    assert not marker.exists()
    assert runner.globals["workflow.status"] == "Terminated"
