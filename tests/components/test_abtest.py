"""The A/B loop: the router (sticky arms, logs), the readout (Beam join, dead letters, the test,
guardrails), promote/rollback, and the replay simulator's acceptance checks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from scipy.stats import binom

from components.common.registry import Registry
from components.promote.promote import apply
from components.readout.config import ABTestConfig
from components.readout.memory import readout_in_memory
from components.readout.stats import min_units_per_arm
from components.serve.replay import Apply, ReadOut, load_traffic, simulate, steps_by_cli
from components.serve.router import Router
from tests.conftest import REPO, run_cli, small_config

MODEL = "reviews-sentiment"


def save_model(path: Path, kind: str) -> Path:
    """A real SavedModel with the serving signature the trained models have ({text} ->
    probability): `positive` always answers 0.9; `broken` fails on every review (it parses the
    text as a number, as a wrongly exported model might)."""
    import tensorflow as tf

    class Served(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serve(self, text: Any) -> dict[str, Any]:
            if kind == "broken":
                return {"probability": tf.strings.to_number(text)}
            return {"probability": tf.fill(tf.shape(text), 0.9)}

    module = Served()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


def registry_with(tmp: Path, champion: Path, challenger: Path, percent: float = 50) -> Registry:
    registry = Registry(str(tmp / "registry"), MODEL)
    registry.publish(champion, "v1", {})
    registry.publish(challenger, "v2", {})
    registry.move("champion", "v1", "test", expect=None)
    registry.start_challenger("v2", percent, "test")
    return registry


@pytest.fixture(scope="module")
def bag_model(tmp_path_factory: pytest.TempPathFactory, built_dataset: Path) -> Path:
    """A word-bigram TF-IDF bag trained on the sample: clearly more accurate than a constant."""
    tmp = tmp_path_factory.mktemp("bag")
    bag = {"kind": "ngram_bag", "mode": "tf_idf", "ngrams": 2, "max_tokens": 20000}
    config = small_config(
        tmp,
        train={
            "inputs": [{"name": "text", "kind": "text", "encoder": bag}],
            "epochs": 6,
            "optimizer": {"name": "adam", "learning_rate": 0.01},
            # the bag's projection and one dense layer: a few hundred sample reviews are too
            # few steps for the shipped linear head's zero-started per-n-gram weights
            "head": {"kind": "deep", "hidden_units": []},
        },
    )
    result = run_cli(
        "components.train", "--dataset", built_dataset, "--config", config, "--output", tmp / "m"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp / "m" / "saved_model"


@pytest.fixture(scope="module")
def traffic(built_dataset: Path) -> Any:
    return load_traffic(str(built_dataset), "label", ["text"])


def accuracy(registry: Registry, version: str, traffic: Any) -> float:
    router = Router(registry, None)
    router.refresh()
    scores = np.array(router.version(version).predict(traffic.records))
    return float(np.mean((scores >= 0.5) == (traffic.labels == 1)))


CFG = ABTestConfig(baseline_rate=0.5, min_detectable_effect=0.1)  # small: many experiments
DESIGN = ABTestConfig(baseline_rate=0.5, min_detectable_effect=0.035)


def in_memory(cfg: ABTestConfig, registry: Registry) -> tuple[ReadOut, Apply]:
    """The readout of the logs kept in memory, its decision applied with promote's `apply`."""
    return (
        lambda _round, requests, outcomes: readout_in_memory(cfg, registry, requests, outcomes),
        lambda _round, decision: apply(decision, registry),
    )


def design_config(tmp: Path, cfg: ABTestConfig) -> Path:
    """A pipeline config with the test's A/B design, for the readout and promote CLIs."""
    path = tmp / "abtest.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"model": {"name": MODEL}, "abtest": cfg.model_dump()}))
    return path


@pytest.mark.integration
def test_better_challenger_is_promoted_worse_rolled_back(
    tmp_path: Path, bag_model: Path, traffic: Any
) -> None:
    """Through the real path: request and outcome logs as files, the Beam readout each round."""
    trained = bag_model
    constant = save_model(tmp_path / "constant", "positive")
    for name, champion, challenger, expected in (
        ("better", constant, trained, "promote"),
        ("worse", trained, constant, "rollback"),
    ):
        registry = registry_with(tmp_path / name, champion, challenger)
        truth = accuracy(registry, "v2", traffic) - accuracy(registry, "v1", traffic)
        # Outcome rates differ by 0.8 x the accuracy delta (hit 0.9, miss 0.1): above the
        # design's detectable lift.
        assert 0.8 * abs(truth) > 0.045, f"the models must truly differ: accuracy delta {truth}"
        logs, readouts = tmp_path / name / "logs", tmp_path / name / "readouts"
        config = design_config(tmp_path / name, DESIGN)
        rounds = simulate(
            registry,
            traffic,
            *steps_by_cli(str(config), registry.root, logs, readouts, MODEL),
            seed=1,
            units_per_round=1000,
            max_rounds=10,
            log_root=logs,
        )
        assert rounds[-1]["decision"] == expected, rounds[-1]
        assert all(r["decision"] == "continue" for r in rounds[:-1])
        final = tmp_path / name / "readouts" / f"round-{len(rounds):03d}"
        decision = json.loads((final / "decision.json").read_text())
        assert decision["test"]["delta"] * truth > 0  # the sign the ground truth says
        assert decision["dead_letters"] == 0 and decision["crossed_units"] == 0
        assert decision["arms"]["champion"]["units"] >= min_units_per_arm(DESIGN)
        assert (final / "dashboard.html").read_text().count("data:image/png") == 5
        champion, challenger = registry.champion(), registry.challenger()
        assert challenger is None
        assert champion is not None and champion["version"] == (
            "v2" if expected == "promote" else "v1"
        )
        assert [h["pointer"] for h in registry.history()][-1] == "challenger"


@pytest.mark.slow
def test_equal_models_are_promoted_no_more_often_than_alpha(tmp_path: Path, traffic: Any) -> None:
    """The same model as champion and challenger, read out after every round (repeated looks):
    over many seeds the share of promotions stays within what alpha allows."""
    constant = save_model(tmp_path / "constant", "positive")
    seeds = 200
    promoted = 0
    for seed in range(seeds):
        registry = registry_with(tmp_path / f"s{seed}", constant, constant)
        rounds = simulate(
            registry,
            traffic,
            *in_memory(CFG, registry),
            seed=seed,
            units_per_round=150,
            max_rounds=20,
        )
        assert rounds[-1]["decision"] in ("promote", "rollback")
        assert len(rounds) > 2  # looked at before the horizon, more than once
        promoted += rounds[-1]["decision"] == "promote"
    print(f"equal models: {promoted} promotions in {seeds} experiments (alpha {CFG.alpha})")
    # The count is Binomial(seeds, <= alpha) if the test holds its level; allow its 99.9% quantile.
    assert promoted <= binom.ppf(0.999, seeds, CFG.alpha)


@pytest.mark.integration
def test_erroring_challenger_is_rolled_back_before_the_horizon(
    tmp_path: Path, trained_model: Path, traffic: Any
) -> None:
    registry = registry_with(
        tmp_path, trained_model / "saved_model", save_model(tmp_path / "broken", "broken")
    )
    rounds = simulate(
        registry, traffic, *in_memory(CFG, registry), seed=3, units_per_round=60, max_rounds=10
    )
    assert len(rounds) == 1 and rounds[0]["decision"] == "rollback"
    assert rounds[0]["reasons"][0].startswith("guardrail error rate: the challenger failed")
    assert rounds[0]["traffic"]["challenger_500"] < min_units_per_arm(CFG)
    assert registry.challenger() is None
    champion = registry.champion()
    assert champion is not None and champion["version"] == "v1"


def write_jsonl(path: Path, rows: list[Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))


def test_readout_cli_joins_dead_letters_and_agrees_with_the_memory_path(
    tmp_path: Path, trained_model: Path, traffic: Any
) -> None:
    saved = trained_model / "saved_model"
    registry = registry_with(tmp_path, saved, saved, percent=50)
    rounds = simulate(
        registry, traffic, *in_memory(CFG, registry), seed=7, units_per_round=40, max_rounds=1
    )
    assert rounds[0]["decision"] == "continue"
    # The same experiment's logs as files, plus what real logs contain: a cut last line, a row
    # of the wrong shape, an outcome that matches no request, a request of an older test.
    registry2 = registry_with(tmp_path / "again", saved, saved, percent=50)
    import datetime as dt

    from components.serve.replay import MemoryLog, OutcomeLog, SimClock, send

    clock = SimClock(dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    memory, outcomes = MemoryLog(), OutcomeLog(None, MODEL, "x")
    router = Router(registry2, memory, clock=clock.now)
    router.refresh()
    send(router, traffic, range(120), np.random.default_rng(0), clock, outcomes, 600)
    logs = tmp_path / "logs"
    old = {**memory.entries[0], "request_id": "old-1", "challenger": "v0"}
    write_jsonl(logs / "requests" / "a.jsonl", [*memory.entries, old, '{"request_id": "cut'])
    write_jsonl(logs / "requests" / "b.jsonl", [{"request_id": 5}])
    orphan = {
        "request_id": "nobody",
        "unit_id": "x",
        "time": "2026-12-01T00:00:00+00:00",
        "value": 1,
    }
    write_jsonl(logs / "outcomes" / "o.jsonl", [*outcomes.events, orphan])
    result = run_cli(
        "components.readout",
        "--requests",
        f"{logs}/requests/*.jsonl",
        "--outcomes",
        f"{logs}/outcomes/*.jsonl",
        "--config",
        REPO / "config" / "reviews.yaml",
        "--registry-root",
        tmp_path / "again" / "registry",
        "--output",
        tmp_path / "readout",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    decision = json.loads((tmp_path / "readout" / "decision.json").read_text())
    assert decision["counts"] == {
        "requests": len(memory.entries) + 1,
        "experiment_requests": len(memory.entries),
        "outcomes": len(outcomes.events) + 1,
        "rejected": 0,  # lines the server answered outside the router (none in these logs)
        "direct": 0,
    }
    dead = [
        json.loads(x) for x in (tmp_path / "readout" / "dead_letter.jsonl").read_text().splitlines()
    ]
    assert sorted(d["kind"] for d in dead) == ["outcome", "request", "request"]
    assert any("no request of this experiment" in d["reason"] for d in dead)
    assert decision["dead_letters"] == 3
    reviews_cfg = ABTestConfig.model_validate(
        yaml.safe_load((REPO / "config" / "reviews.yaml").read_text())["abtest"]
    )
    memory_result = readout_in_memory(reviews_cfg, registry2, memory.entries, outcomes.events)
    assert decision["arms"] == memory_result["arms"]
    assert decision["interim"] == pytest.approx(memory_result["interim"])
    assert decision["decision"] == memory_result["decision"] == "continue"


def test_promote_cli_rolls_back_and_refuses_a_stale_decision(tmp_path: Path) -> None:
    constant = save_model(tmp_path / "constant", "positive")
    registry = registry_with(tmp_path, constant, constant, percent=10)
    readout = tmp_path / "readout"
    readout.mkdir()
    args = [
        "--config",
        REPO / "config" / "reviews.yaml",
        "--registry-root",
        tmp_path / "registry",
        "--manifest",
        tmp_path / "isvc.yaml",
    ]
    ramp = run_cli("components.promote", "--ramp-percent", "50", *args)
    assert ramp.returncode == 0, ramp.stderr
    challenger = registry.challenger()
    assert challenger is not None and challenger["percent"] == 50 and challenger["salt"] == "v2"
    isvc = yaml.safe_load((tmp_path / "isvc.yaml").read_text())
    assert isvc["spec"]["predictor"]["canaryTrafficPercent"] == 50
    down = run_cli("components.promote", "--ramp-percent", "20", *args)
    assert down.returncode == 2 and "would move units already in the challenger arm" in down.stderr
    stale = {"decision": "rollback", "champion": "v1", "challenger": "v9", "reasons": ["x"]}
    (readout / "decision.json").write_text(json.dumps(stale))
    refused = run_cli("components.promote", "--readout", readout, *args)
    assert refused.returncode == 2 and "the readout tested v9" in refused.stderr
    (readout / "decision.json").write_text(json.dumps({**stale, "challenger": "v2"}))
    for _ in range(2):  # applying twice is the same as once
        done = run_cli("components.promote", "--readout", readout, *args)
        assert done.returncode == 0, done.stderr
    assert registry.challenger() is None
    isvc = yaml.safe_load((tmp_path / "isvc.yaml").read_text())
    assert "canaryTrafficPercent" not in isvc["spec"]["predictor"]
    assert isvc["spec"]["predictor"]["model"]["storageUri"].endswith("/versions/v1/model")


@pytest.mark.integration
@pytest.mark.parametrize("engine", ["kfp", "argo"])
def test_compiled_readout_pipeline_runs_locally(
    tmp_path: Path, trained_model: Path, traffic: Any, engine: str
) -> None:
    """The compiled ab-readout DAG (KFP IR, or the Argo Workflow) over request logs written by
    the router, with the decision recorded as an MLflow run beside the local registry."""
    import datetime as dt

    from components.serve.replay import OutcomeLog, SimClock, send
    from components.serve.requestlog import RequestLog

    saved = trained_model / "saved_model"
    registry = registry_with(tmp_path, saved, saved)
    clock = SimClock(dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    logs = tmp_path / "logs"
    request_log = RequestLog(logs, MODEL, "server-1")
    router = Router(registry, request_log, clock=clock.now)
    router.refresh()
    outcomes = OutcomeLog(logs, MODEL, "events")
    send(router, traffic, range(80), np.random.default_rng(0), clock, outcomes, 600)
    request_log.close()
    result = run_cli(
        "pipelines",
        "run",
        "ab-readout",
        "--engine",
        engine,
        "--runs-dir",
        tmp_path / "runs",
        "--local-gcs",
        tmp_path / "gcs",
        "-p",
        f"requests={logs}/{MODEL}/requests/*/*.jsonl",
        "-p",
        f"outcomes={logs}/{MODEL}/outcomes/*/*.jsonl",
        "-p",
        f"registry_root={tmp_path / 'registry'}",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    (run_dir,) = (tmp_path / "runs").glob("ab-readout-*")
    record = json.loads((run_dir / "run.json").read_text())
    assert {t: r["status"] for t, r in record["tasks"].items()} == {
        "readout": "succeeded",
        "promote": "succeeded",
    }
    readout = record["tasks"]["readout"]["artifacts"]
    assert readout["readout"]["metadata"] == {"decision": "continue"}
    assert readout["metrics"]["metadata"]["champion_units"] > 0
    challenger = registry.challenger()
    assert challenger is not None and challenger["version"] == "v2"  # continue moves nothing
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}")
    experiment = client.get_experiment_by_name(f"{MODEL}-ab")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.data.tags["decision"] == "continue" and run.data.params["challenger"] == "v2"


def start_server(registry: Registry, logs: Path, server_id: str) -> tuple[Any, int]:
    import subprocess
    import sys
    import time
    import urllib.request

    from tests.conftest import free_port

    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "components.serve",
            "--registry-root",
            registry.root,
            "--model-name",
            MODEL,
            "--log-root",
            str(logs),
            "--port",
            str(port),
            "--refresh-seconds",
            "0.2",
            "--server-id",
            server_id,
            "--log-upload",
            str(logs.parent / "uploaded"),
            "--roll-seconds",
            "0.5",
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models/{MODEL}", timeout=1)
            return proc, port
        except OSError:
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:]  # type: ignore[union-attr]
            assert time.monotonic() < deadline
            time.sleep(0.2)


def post(port: int, path: str, body: Any, unit: str | None = None) -> tuple[int, dict, Any]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", **({"x-unit-id": unit} if unit else {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read()), response.headers
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), err.headers


@pytest.mark.integration
def test_server_routes_sticky_logs_every_request_and_ramps_without_restart(
    tmp_path: Path, trained_model: Path
) -> None:
    """The real server over HTTP: arms per unit survive a restart and a ramp from 10% to 50%
    keeps earlier challenger units there; every routed request is a log line; bad input is a
    400 that names the instance and field."""
    import time

    from components.common.assignment import Split
    from components.promote.promote import ramp

    saved = trained_model / "saved_model"
    registry = registry_with(tmp_path, saved, save_model(tmp_path / "constant", "positive"), 10)
    logs = tmp_path / "logs"
    path = f"/v1/models/{MODEL}:predict"
    units = [f"user-{i}" for i in range(120)]
    arms: dict[str, dict[str, str]] = {}
    for server_id in ("first", "restarted"):
        proc, port = start_server(registry, logs, server_id)
        try:
            for unit in units:
                status, body, headers = post(port, path, {"instances": [{"text": "Fine."}]}, unit)
                assert status == 200, body
                assert headers["x-arm"] == body["arm"]
                assert body["model_version"] == {"champion": "v1", "challenger": "v2"}[body["arm"]]
                arms.setdefault(server_id, {})[unit] = body["arm"]
            if server_id == "first":
                continue
            status, body, _ = post(port, path, {"instances": [{"text": 3}]}, "user-1")
            assert (
                status == 400
                and body["error"]
                == "instances[0].text is 3, expected a string (or null if missing)"
            )
            status, body, _ = post(port, path, {"instances": [{"text": "x"}]})
            assert status == 400 and "x-unit-id" in body["error"]
            status, body, _ = post(
                port, f"/v1/models/{MODEL}/versions/v2:predict", {"instances": [{}]}
            )
            assert status == 200 and body["predictions"] == [pytest.approx(0.9)]
            ramp(registry, 50)
            time.sleep(1.5)  # the server re-reads the pointers every 0.2 s
            ramped = {u: post(port, path, {"instances": [{}]}, u)[1]["arm"] for u in units}
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    assert arms["first"] == arms["restarted"]
    split = Split(MODEL, "v2", 10)
    assert arms["first"] == {u: split.arm(u) for u in units}
    before = {u for u, a in arms["first"].items() if a == "challenger"}
    after = {u for u, a in ramped.items() if a == "challenger"}
    assert before and before < after  # earlier challenger units stay; more join them
    assert not list(logs.rglob("*.jsonl"))  # every segment was shipped, the last at shutdown
    uploaded = tmp_path / "uploaded" / MODEL / "requests"
    lines = [
        json.loads(x) for f in sorted(uploaded.rglob("*.jsonl")) for x in f.read_text().splitlines()
    ]
    assert len({f.name for f in uploaded.rglob("*.jsonl")}) > 2  # segments of 0.5 s
    routed = [x for x in lines if x["status"] in ("ok", "bad_request")]
    assert len(routed) == 2 * len(units) + 1 + len(units)  # the unit-less request is not routed
    assert {x["arm"] for x in routed} == {"champion", "challenger"}
    assert all(x["latency_ms"] > 0 and x["challenger"] == "v2" for x in routed)


def test_server_without_a_champion_is_alive_but_not_ready(tmp_path: Path) -> None:
    """On a cluster the Deployment may start before the first retraining run: liveness passes,
    readiness (the model's status) is 503 until a champion is published, then 200."""
    from fastapi.testclient import TestClient

    from components.serve.app import create_app

    registry = Registry(str(tmp_path / "registry"), MODEL)
    router = Router(registry, None)
    with TestClient(create_app(router, MODEL, refresh_seconds=0.1)) as client:
        assert client.get("/healthz").status_code == 200
        status = client.get(f"/v1/models/{MODEL}")
        assert status.status_code == 503 and "no champion yet" in status.json()["error"]
        predicted = client.post(f"/v1/models/{MODEL}:predict", json={"instances": [{}]})
        assert predicted.status_code == 503
        registry.publish(save_model(tmp_path / "constant", "positive"), "v1", {})
        registry.move("champion", "v1", "first", expect=None)
        router.refresh()
        assert client.get(f"/v1/models/{MODEL}").json()["champion"] == "v1"
        answer = client.post(
            f"/v1/models/{MODEL}:predict", json={"instances": [{}]}, headers={"x-unit-id": "u"}
        )
        assert answer.status_code == 200 and answer.json()["arm"] == "champion"
