"""The retraining trigger: the rule (cooldown, one in flight, one per partition), the monitor's
real verdicts through it, real local retrains started and seen in flight, and the Argo and KFP
halves' requests and records."""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from components.common.errors import ConfigError, InputDataError, TransientError
from components.trigger import rule, targets, trigger
from components.trigger.main import main
from tests.components.test_monitor import (
    dataset_stats,
    run_monitor,
    traffic,
    training_records,
    world,
)
from tests.conftest import REPO

UTC = dt.UTC
T0 = dt.datetime(2026, 12, 1, 5, tzinfo=UTC)


def hours(n: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=n)


# ---- the rule ------------------------------------------------------------------------------------
def test_a_verdict_fires_once_within_the_cooldown_then_again_after_it() -> None:
    runs: list[rule.Run] = []
    first = rule.decide("drift", "text oov 0.4", hours(0), runs, 24)
    assert first.fire and first.reason == "drift: text oov 0.4"
    runs.append(rule.Run("retrain-1", hours(0), first.reason, "succeeded"))
    for h in (1, 5, 23.9):
        later = rule.decide("drift", "text oov 0.4", hours(h), runs, 24)
        assert not later.fire and later.why.startswith("cooldown: retrain-1 started for drift")
    assert rule.decide("decay", "accuracy", hours(24), runs, 24).fire  # the cooldown ended


def test_a_failed_retrain_counts_for_the_cooldown_and_ok_never_fires() -> None:
    failed = [rule.Run("retrain-1", hours(0), "decay: live accuracy 0.6", "failed")]
    assert not rule.decide("drift", "", hours(2), failed, 24).fire
    assert not rule.decide("ok", "", hours(48), [], 24).fire


def test_scheduled_and_manual_runs_do_not_start_the_cooldown() -> None:
    runs = [
        rule.Run("r1", hours(0), "schedule", "succeeded"),
        rule.Run("r2", hours(0), "manual", "failed"),
    ]
    assert rule.decide("drift", "", hours(1), runs, 24).fire


def test_one_in_flight_holds_for_verdicts_and_partitions() -> None:
    runs = [rule.Run("retrain-7", hours(-30), "schedule", "running")]
    for kind in ("drift", "decay", "new-data"):
        decision = rule.decide(kind, "x", hours(0), runs, 24)
        assert not decision.fire and "retrain-7 (schedule) is in flight" in decision.why


def test_a_partition_is_retrained_on_once_unless_that_run_failed() -> None:
    part = "local-gcs/b/reviews/dt=2026-12-01"
    assert rule.decide("new-data", part, hours(0), [], 24).fire
    done = [rule.Run("r1", hours(0), f"new-data: {part}", "succeeded")]
    again = rule.decide("new-data", part, hours(0.1), done, 24)
    assert not again.fire and "already retrained on by r1" in again.why
    assert rule.decide("new-data", part + "x", hours(0.1), done, 24).fire  # another partition
    assert rule.decide(
        "new-data", part, hours(1), [rule.Run("r1", hours(0), f"new-data: {part}", "failed")], 24
    ).fire


# ---- the monitor's real verdicts, and real local retrains ---------------------------------
@pytest.fixture(scope="module")
def stats(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return dataset_stats(training_records(), tmp_path_factory.mktemp("stats"))


def verdict_of(
    tmp: Path, stats: dict, drift_after: float | None, correct: float, accuracy: float = 0.8
) -> Path:
    tmp.mkdir(parents=True)
    config, registry = world(tmp, stats, test_accuracy=accuracy)
    traffic(tmp / "logs", 800, np.random.default_rng(7), drift_after=drift_after, correct=correct)
    run_monitor(tmp, config, registry)
    return tmp / "out"


def kill_group(pid: int) -> None:
    """Stop a started retrain (its own session) and wait until its runner is gone."""
    with contextlib.suppress(ProcessLookupError):  # it may have ended on its own
        os.killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while targets.alive(pid) and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.2)
    assert not targets.alive(pid)


@pytest.fixture
def runs_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    runs = tmp_path / "runs"
    monkeypatch.setenv("RETRAIN_PIPELINES_RUNS_DIR", str(runs))
    monkeypatch.setenv("RETRAIN_PIPELINES_LOCAL_GCS", str(tmp_path / "local-gcs"))
    monkeypatch.setenv("RETRAIN_PIPELINES_CWD", str(REPO))
    yield runs


def trigger_cli(monitor: Path, out: Path, config: Path, registry_root: str) -> dict[str, Any]:
    code = main(
        [
            "--monitor", str(monitor), "--config", str(config), "--registry-root", registry_root,
            "--target", "local", "--output", str(out),
        ]
    )  # fmt: skip
    assert code == 0
    return dict(json.loads((out / trigger.DECISION).read_text()))


def test_replayed_drift_starts_one_real_retrain_then_in_flight_then_cooldown(
    tmp_path: Path, stats: dict, runs_env: Path
) -> None:
    monitor = verdict_of(tmp_path / "w", stats, drift_after=2.0, correct=0.8)
    verdict = json.loads((monitor / "verdict.json").read_text())
    assert verdict["verdict"] == "drift"
    # The retrain it starts is the real one on the review corpus (stopped below, long before its
    # end): long enough to be in flight when the next trigger looks.
    config = REPO / "config" / "reviews.yaml"
    first = trigger_cli(monitor, tmp_path / "t1", config, str(tmp_path / "w" / "registry"))
    assert first["fired"] and first["reason"].startswith("drift: ")
    started = first["started"]
    record = json.loads((runs_env / started["run"] / "run.json").read_text())
    assert record["pipeline"] == "retrain" and record["arguments"]["reason"] == first["reason"]
    assert record["resume"]["options"]["scheduled_time"] == verdict["window_end"]
    try:
        assert record["status"] == "running" and targets.alive(started["pid"])
        second = trigger_cli(monitor, tmp_path / "t2", config, str(tmp_path / "w" / "registry"))
        assert not second["fired"] and "is in flight" in second["why"], second
    finally:
        if targets.alive(started["pid"]):
            kill_group(started["pid"])
    # The retrain has ended (cancelled): the cooldown holds.
    third = trigger_cli(monitor, tmp_path / "t3", config, str(tmp_path / "w" / "registry"))
    assert not third["fired"] and third["why"].startswith("cooldown: "), third
    assert len(list(runs_env.glob("retrain-*/run.json"))) == 1


def test_no_drift_triggers_nothing_and_decay_triggers_with_reason_decay(
    tmp_path: Path, stats: dict
) -> None:
    calm = verdict_of(tmp_path / "calm", stats, drift_after=None, correct=0.8)
    assert json.loads((calm / "verdict.json").read_text())["verdict"] == "ok"
    decayed = verdict_of(tmp_path / "decay", stats, drift_after=None, correct=0.6, accuracy=0.85)
    outcomes = {}
    for name, folder in (("calm", calm), ("decay", decayed)):
        verdict = trigger.read_verdict(str(folder))
        outcomes[name] = trigger.run(
            verdict["verdict"],
            verdict["reasons"][0],
            verdict["window_end"],
            "local",
            tmp_path / f"t-{name}",
            target=targets.Local(tmp_path / "runs", local_gcs=str(tmp_path / "gcs")),
        )
    if outcomes["decay"].get("started"):
        kill_group(outcomes["decay"]["started"]["pid"])
    assert not outcomes["calm"]["fired"] and "verdict ok" in outcomes["calm"]["why"]
    assert outcomes["decay"]["fired"] and outcomes["decay"]["reason"].startswith(
        "decay: version v1: live accuracy"
    )


def test_a_new_partition_triggers_one_retrain_through_the_pipelines_cli(tmp_path: Path) -> None:
    import subprocess
    import sys

    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "pipelines", "trigger", "retrain", "--reason", "new-data"]
    cmd += ["--detail", "local-gcs/b/reviews/dt=2026-12-01", "--runs-dir", str(runs)]
    cmd += ["--local-gcs", str(tmp_path / "gcs"), "-p", "config=config/reviews.yaml"]
    first = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "retrain started for new-data: local-gcs/b/reviews/dt=2026-12-01" in first.stdout
    (record_file,) = runs.glob("retrain-*/run.json")
    record = json.loads(record_file.read_text())
    assert record["arguments"]["reason"] == "new-data: local-gcs/b/reviews/dt=2026-12-01"
    assert record["arguments"]["config"] == "config/reviews.yaml"
    second = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0 and "no retrain: " in second.stdout, second.stdout
    pid = record["pid"]
    if targets.alive(pid):
        kill_group(pid)
    assert len(list(runs.glob("retrain-*/run.json"))) == 1


def test_bad_inputs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected a JSON object"):
        trigger.retrain_params("c.yaml", "reg", "[1, 2]")
    with pytest.raises(ConfigError, match="the trigger's to set"):
        trigger.retrain_params("c.yaml", "reg", '{"reason": "x"}')
    assert trigger.retrain_params("c.yaml", "", '{"window_days": 7}') == {
        "config": "c.yaml",
        "window_days": "7",
    }
    with pytest.raises(InputDataError, match=r"verdict\.json: no such file"):
        trigger.read_verdict(str(tmp_path))
    (tmp_path / "verdict.json").write_text('{"verdict": "drift"}')
    with pytest.raises(ConfigError, match="missing"):
        trigger.read_verdict(str(tmp_path))
    assert main(["--kind", "drift", "--target", "kfpp", "--output", str(tmp_path / "o")]) == 2
    assert main(["--target", "none", "--output", str(tmp_path / "o")]) == 2  # no --monitor/--kind


# ---- Argo: the Workflows it reads, the webhook it posts to --------------------------------
def test_argo_workflows_are_read_as_runs() -> None:
    item = {
        "metadata": {
            "name": "retrain-abc",
            "creationTimestamp": "2026-12-01T05:03:00Z",
            "annotations": {targets.SCHEDULED_TIME: "2026-12-01T05:00:00Z"},
        },
        "spec": {"arguments": {"parameters": [{"name": "reason", "value": "drift: x"}]}},
        "status": {"phase": "Running"},
    }
    run = targets.argo_run(item)
    assert run == rule.Run("retrain-abc", hours(0), "drift: x", "running")
    assert targets.argo_run({**item, "status": {"phase": "Error"}}).status == "failed"
    assert targets.argo_run({"metadata": {"name": "n"}}).status == "running"  # not yet picked up


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    answer = 200

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append({"path": self.path, "body": body})
        self.send_response(type(self).answer)
        self.end_headers()
        self.wfile.write(b"success")

    def log_message(self, *args: Any) -> None:
        pass


def test_the_argo_events_webhook_gets_the_reason_and_a_refusal_is_an_error() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/retrain"
    try:
        hook = targets.ArgoEvents(url, "ml", "https://127.0.0.1:1")
        decision = rule.Decision(True, "drift: text oov 0.41 > 0.1", "why")
        out = hook.start(decision, "2026-12-01T05:00:00Z", {}, monitor_run="monitor-x")
        assert out["posted"] == url
        assert _Hook.received[-1] == {
            "path": "/retrain",
            "body": {
                "reason": "drift",
                "detail": "text oov 0.41 > 0.1",
                "window_end": "2026-12-01T05:00:00Z",
                "monitor_run": "monitor-x",
            },
        }
        _Hook.answer = 400
        with pytest.raises(ConfigError, match="HTTP 400"):
            hook.start(decision, "2026-12-01T05:00:00Z", {})
    finally:
        server.shutdown()
    with pytest.raises(TransientError, match="no answer"):
        targets.http_json("POST", url, {})  # the server is gone


def test_the_webhook_the_monitor_posts_to_is_the_compiled_event_source() -> None:
    from pipelines.monitor import TRIGGER_URL

    events = REPO / "manifests" / "argo" / "retrain-triggers.yaml"
    if not events.exists():
        pytest.skip("manifests/argo/retrain-triggers.yaml not compiled yet")
    import yaml

    (source,) = [o for o in yaml.safe_load_all(events.read_text()) if o["kind"] == "EventSource"]
    hook = next(iter(source["spec"]["webhook"].values()))
    name = source["metadata"]["name"]
    compiled = f"http://{name}-eventsource-svc:{hook['port']}{hook['endpoint']}"
    assert compiled == TRIGGER_URL


# ---- KFP: the REST bodies against kfp_server_api's own models -----------------------------------
def test_kfp_runs_and_the_run_request_match_the_kfp_api_models() -> None:
    from kfp_server_api import ApiClient
    from kfp_server_api.models import V2beta1Run, V2beta1RuntimeConfig

    client = ApiClient()
    real = V2beta1Run(
        run_id="r-1",
        display_name="retrain-drift-1",
        state="RUNNING",
        created_at=dt.datetime(2026, 12, 1, 5, 1, tzinfo=UTC),
        scheduled_at=dt.datetime(2026, 12, 1, 5, tzinfo=UTC),
        runtime_config=V2beta1RuntimeConfig(parameters={"reason": "drift: x"}),
    )
    wire = json.loads(json.dumps(client.sanitize_for_serialization(real)))
    assert targets.kfp_run(wire) == rule.Run("retrain-drift-1", hours(0), "drift: x", "running")
    assert targets.kfp_run({**wire, "state": "SUCCEEDED"}).status == "succeeded"

    class Recorded(targets.Kfp):
        def _get(self, path: str, **query: Any) -> Any:
            return {
                "pipelines/names/retrain": {"pipeline_id": "p-1"},
                "pipelines/p-1/versions": {"pipeline_versions": [{"pipeline_version_id": "v-9"}]},
                "experiments": {"experiments": [{"experiment_id": "e-1"}]},
            }[path]

    body = Recorded("http://kfp").run_body(rule.Decision(True, "decay: acc", ""), {"config": "c"})

    class Response:  # kfp_server_api deserializes an HTTP response's data
        data = json.dumps(body)

    parsed = client.deserialize(Response(), "V2beta1Run")
    assert parsed.pipeline_version_reference.pipeline_version_id == "v-9"
    assert parsed.runtime_config.parameters == {"config": "c", "reason": "decay: acc"}
    assert parsed.experiment_id == "e-1" and parsed.display_name.startswith("retrain-decay-")


# ---- the compiled monitoring DAG, run by the local runner on both engines ------------------------
@pytest.mark.parametrize("engine", ["kfp", "argo"])
def test_the_monitor_dag_triggers_a_local_retrain_on_drift(
    tmp_path: Path, stats: dict, engine: str
) -> None:
    import subprocess
    import sys

    from tests.components.test_monitor import END, globs

    world_dir = tmp_path / "w"
    verdict_of(world_dir, stats, drift_after=2.0, correct=0.8)
    requests, outcomes = globs(world_dir / "logs")
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "pipelines", "run", "monitor", "--engine", engine]
    cmd += ["--runs-dir", str(runs), "--local-gcs", str(tmp_path / "gcs")]
    cmd += ["--scheduled-time", END.strftime("%Y-%m-%dT%H:%M:%SZ")]
    for key, value in {
        "requests": requests,
        "outcomes": outcomes,
        "config": str(world_dir / "config.yaml"),
        "registry_root": str(world_dir / "registry"),
        "window_hours": "4",
    }.items():
        cmd += ["-p", f"{key}={value}"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    (monitor_run,) = runs.glob("monitor-*/run.json")
    record = json.loads(monitor_run.read_text())
    assert record["arguments"]["trigger"] == "local"  # the local runner's default
    (decision_file,) = monitor_run.parent.glob(f"**/{trigger.DECISION}")
    decision = json.loads(decision_file.read_text())
    assert decision["fired"] and decision["reason"].startswith("drift: "), decision
    (retrain,) = runs.glob("retrain-*/run.json")
    started = json.loads(retrain.read_text())
    assert started["arguments"]["reason"] == decision["reason"]
    assert started["arguments"]["registry_root"] == str(world_dir / "registry")
    assert started["engine"] == engine
    if targets.alive(decision["started"]["pid"]):
        kill_group(decision["started"]["pid"])


def test_each_engine_gets_its_trigger_and_scheduled_runs_say_schedule() -> None:
    import yaml

    def params(path: str) -> dict[str, str]:
        (obj,) = yaml.safe_load_all((REPO / "manifests" / path).read_text())
        spec = obj["spec"].get("workflowSpec", obj["spec"])
        return {p["name"]: p.get("value") for p in spec["arguments"]["parameters"]}

    assert params("argo/monitor.yaml")["trigger"] == "argo-events"
    assert params("argo/monitor-cron.yaml")["trigger"] == "argo-events"
    assert params("argo/retrain.yaml")["reason"] == "manual"
    assert params("argo/retrain-cron.yaml")["reason"] == "schedule"
    kfp = yaml.safe_load((REPO / "manifests" / "kfp" / "monitor.yaml").read_text())
    declared = kfp["root"]["inputDefinitions"]["parameters"]
    assert declared["trigger"]["defaultValue"] == "kfp"
