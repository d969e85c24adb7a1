"""The serving monitor on real files and the real Beam job: its drift figures match a direct
numpy computation, drifted traffic gives `drift` naming the feature, undrifted traffic `ok`,
worse joined outcomes `decay`, and malformed log lines land in the dead letters, counted."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import apache_beam as beam
import numpy as np
import pytest
import yaml
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from components.common.beam_options import pipeline_options
from components.common.registry import Registry
from components.dataset.stats import FeatureStatistics
from components.monitor import drift, monitor, pipeline
from components.monitor.config import MonitorConfig

MODEL = "shop-model"
END = dt.datetime(2026, 11, 22, 4, 0, tzinfo=dt.UTC)
HOURS = 4
WORDS = [f"w{i}" for i in range(40)]
NEW_WORDS = [f"novel{i}" for i in range(400)]
FEATURES = {"text": "string", "color": "string", "amount": "float", "label": "int"}


def text(rng: np.random.Generator, vocab: list[str], low: int, high: int) -> str:
    return " ".join(rng.choice(vocab, int(rng.integers(low, high))))


def training_records(n: int = 600) -> list[dict[str, Any]]:
    rng = np.random.default_rng(1)
    return [
        {
            "text": text(rng, WORDS, 8, 20),
            "color": str(rng.choice(["red", "green", "blue"], p=[0.5, 0.3, 0.2])),
            "amount": float(rng.normal(50, 10)),
            "label": int(rng.integers(2)),
        }
        for _ in range(n)
    ]


def dataset_stats(records: list[dict[str, Any]], folder: Path) -> dict[str, Any]:
    """The train split's statistics as the dataset step computes them (its FeatureStatistics)."""
    from apache_beam.io.textio import WriteToText

    with beam.Pipeline(options=pipeline_options([])) as p:
        _ = (
            p
            | beam.Create([("train", r) for r in records])
            | FeatureStatistics(FEATURES)
            | beam.MapTuple(lambda split, features: json.dumps([split, features]))
            | WriteToText(str(folder / "stats"), shard_name_template="", num_shards=1)
        )
    ((split, features),) = [json.loads(x) for x in (folder / "stats").read_text().splitlines()]
    return {"splits": {split: {"examples": len(records), "features": features}}}


@pytest.fixture(scope="module")
def stats(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return dataset_stats(training_records(), tmp_path_factory.mktemp("stats"))


def world(tmp: Path, stats: dict[str, Any], test_accuracy: float = 0.8, **monitor_cfg: Any):
    """A config, a registry whose champion v1 carries `stats`, and empty log folders."""
    config = tmp / "config.yaml"
    section = {"min_requests": 50, "min_outcomes": 50, **monitor_cfg}
    config.write_text(
        yaml.safe_dump(
            {"model": {"name": MODEL}, "dataset": {"features": FEATURES}, "monitor": section}
        )
    )
    model_dir = tmp / "model"
    model_dir.mkdir()
    (model_dir / "saved_model.pb").write_text("not a real model")
    stats_file = tmp / "dataset_stats.json"
    stats_file.write_text(json.dumps(stats))
    registry = Registry(str(tmp / "registry"), MODEL)
    registry.publish(
        model_dir,
        "v1",
        {"metrics": {"accuracy": test_accuracy, "roc_auc": 0.85}},
        {"dataset_stats.json": stats_file},
    )
    registry.move_champion("v1", "test", expect=None)
    return config, registry


def traffic(
    logs: Path, n: int, rng: np.random.Generator, drift_after: float | None, correct: float
) -> list[dict[str, Any]]:
    """`n` requests spread over the window (one instance each); after `drift_after` hours the
    texts are three times longer and of unseen words. Outcome events of value 1 for a share
    `correct` of them (correct-outcome semantics). Returns the request lines."""
    start = END - dt.timedelta(hours=HOURS)
    lines, events = [], []
    for i in range(n):
        at = start + dt.timedelta(seconds=float(rng.uniform(0, HOURS * 3600)))
        hours = (at - start).total_seconds() / 3600
        drifted = drift_after is not None and hours >= drift_after
        instance = {
            "text": text(rng, NEW_WORDS, 30, 60) if drifted else text(rng, WORDS, 8, 20),
            "color": str(rng.choice(["red", "green", "blue"], p=[0.5, 0.3, 0.2])),
            "amount": float(rng.normal(50, 10)),
        }
        p = float(rng.beta(5, 2) if drifted else rng.uniform())
        rid = f"r{i}"
        lines.append(
            {
                "time": at.isoformat(timespec="milliseconds"),
                "request_id": rid,
                "unit_id": f"u{i % 50}",
                "arm": "champion",
                "model_version": "v1",
                "status": "ok",
                "challenger": None,
                "instances": [instance],
                "predictions": [p],
                "latency_ms": 2.0,
            }
        )
        if rng.random() < correct:
            events.append({"request_id": rid, "time": at.isoformat(), "value": 1})
    folder = logs / MODEL / "requests" / "2026-11-22"
    folder.mkdir(parents=True)
    (folder / "server-a.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    outcomes = logs / MODEL / "outcomes" / "2026-11-22"
    outcomes.mkdir(parents=True)
    (outcomes / "o.jsonl").write_text("".join(json.dumps(x) + "\n" for x in events))
    return lines


def globs(logs: Path) -> tuple[str, str]:
    return (
        str(logs / MODEL / "requests" / "*" / "*.jsonl"),
        str(logs / MODEL / "outcomes" / "*" / "*.jsonl"),
    )


def run_monitor(tmp: Path, config: Path, registry: Registry) -> dict[str, Any]:
    requests, outcomes = globs(tmp / "logs")
    cfg = MonitorConfig.model_validate(yaml.safe_load(config.read_text())["monitor"])
    return monitor.monitor(
        requests, outcomes, str(config), cfg, registry, END, HOURS, tmp / "out", []
    )


# ---- the figures against numpy ----------------------------------------------------------------


def numpy_psi(expected: np.ndarray, actual: np.ndarray, eps: float = 1e-4) -> float:
    e, a = np.maximum(expected, eps), np.maximum(actual, eps)
    return float(np.sum((a - e) * np.log(a / e)))


@pytest.fixture(scope="module")
def drifted(tmp_path_factory: pytest.TempPathFactory, stats: dict) -> dict[str, Any]:
    """One drifted window through the CLI (after the second hour texts grow and change words):
    its outputs, KFP metrics, verdict word and MLflow store."""
    from components.monitor.main import main

    tmp = tmp_path_factory.mktemp("drifted")
    config, registry = world(tmp, stats)
    lines = traffic(tmp / "logs", 800, np.random.default_rng(7), drift_after=2.0, correct=0.8)
    requests, outcomes = globs(tmp / "logs")
    code = main(
        [
            "--requests", requests, "--outcomes", outcomes, "--config", str(config),
            "--registry-root", registry.root, "--window-end", "2026-11-22T04:00:00Z",
            "--window-hours", str(HOURS), "--output", str(tmp / "out"),
            "--metrics", str(tmp / "kfp-metrics.json"), "--verdict", str(tmp / "verdict.txt"),
        ]
    )  # fmt: skip
    assert code == 0
    result = json.loads((tmp / "out" / monitor.METRICS).read_text())
    return {"tmp": tmp, "lines": lines, "result": result}


def test_figures_match_a_direct_numpy_computation(drifted: dict, stats: dict) -> None:
    from scipy.spatial.distance import jensenshannon

    lines = drifted["lines"]
    v1 = drifted["result"]["versions"]["v1"]
    train = stats["splits"]["train"]["features"]
    rows = [line["instances"][0] for line in lines]

    # a number: the training deciles' bins, a tenth each, none below the min or above the max
    q = np.asarray(train["amount"]["quantiles"])
    x = np.array([r["amount"] for r in rows])
    inner = np.histogram(x[(x >= q[0]) & (x <= q[-1])], bins=q)[0]
    counts = np.concatenate([[np.sum(x < q[0])], inner, [np.sum(x > q[-1])]])
    actual = counts / counts.sum()
    expected = np.array([0.0, *[0.1] * 10, 0.0])
    got = v1["features"]["amount"]
    assert got["psi"] == pytest.approx(numpy_psi(expected, actual), abs=2e-6)
    assert got["js_distance"] == pytest.approx(jensenshannon(expected, actual, base=2), abs=2e-6)
    ks = np.max(np.abs(np.cumsum(expected) - np.cumsum(actual)))
    assert got["ks_distance"] == pytest.approx(ks, abs=2e-6)

    # a category: the training vocabulary's shares and an 'other' bucket
    vocab = dict(train["color"]["vocabulary"])
    names = sorted(vocab)
    e = np.array([vocab[c] for c in names] + [0]) / sum(vocab.values())
    a = np.array([sum(r["color"] == c for r in rows) for c in names] + [0]) / len(rows)
    assert v1["features"]["color"]["psi"] == pytest.approx(numpy_psi(e, a), abs=2e-6)

    # a text's length in characters, on the training length quantiles
    lengths = np.array([len(r["text"]) for r in rows], dtype=float)
    edges, exp_text = drift.quantile_expected(train["text"]["quantiles"])
    ql = np.asarray(edges)
    inner = np.histogram(lengths[(lengths >= ql[0]) & (lengths <= ql[-1])], bins=ql)[0]
    counts = np.concatenate([[np.sum(lengths < ql[0])], inner, [np.sum(lengths > ql[-1])]])
    psi_text = numpy_psi(np.array(exp_text), counts / counts.sum())
    assert v1["features"]["text"]["psi"] == pytest.approx(psi_text, abs=2e-6)

    # predictions: the window's first hour against the rest, ten bins of [0, 1]
    start = (END - dt.timedelta(hours=HOURS)).timestamp()
    t = np.array([dt.datetime.fromisoformat(line["time"]).timestamp() for line in lines])
    p = np.array([line["predictions"][0] for line in lines])
    bins = np.linspace(0, 1, 11)
    ref = np.histogram(p[t < start + 3600], bins=bins)[0]
    rest = np.histogram(p[t >= start + 3600], bins=bins)[0]
    want = numpy_psi(ref / ref.sum(), rest / rest.sum())
    assert v1["prediction_drift"]["psi"] == pytest.approx(want, abs=2e-6)


def test_quantile_bins_with_repeated_quantiles() -> None:
    """Coinciding quantiles (a point mass) merge bins and add up their tenths."""
    edges, expected = drift.quantile_expected([1, 1, 1, 1, 2, 3, 4, 5, 6, 7, 8])
    assert edges == (1, 2, 3, 4, 5, 6, 7, 8)
    assert expected == pytest.approx((0, 0.4, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0))
    assert sum(expected) == pytest.approx(1)
    assert [drift.quantile_bin(edges, x) for x in (0.5, 1, 1.5, 8, 9)] == [0, 1, 1, 7, 8]


def test_wilson_and_auc_match_references() -> None:
    from scipy.stats import mannwhitneyu
    from statsmodels.stats.proportion import proportion_confint

    assert drift.wilson(37, 80, 0.95) == pytest.approx(
        proportion_confint(37, 80, 0.05, method="wilson"), abs=1e-9
    )
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    s = rng.uniform(size=300) + 0.3 * y
    u = mannwhitneyu(s[y == 1], s[y == 0]).statistic
    assert drift.roc_auc(y, s) == pytest.approx(u / (y.sum() * (len(y) - y.sum())))


# ---- verdicts -----------------------------------------------------------------------------------


def test_drifted_texts_give_drift_naming_the_feature(drifted: dict) -> None:
    result, tmp = drifted["result"], drifted["tmp"]
    verdict = json.loads((tmp / "out" / monitor.VERDICT).read_text())
    assert verdict["verdict"] == "drift"
    text_reasons = [r for r in verdict["reasons"] if "'text'" in r]
    assert any("PSI" in r and "psi_drift 0.25" in r for r in text_reasons), verdict
    assert any("out-of-vocabulary" in r for r in text_reasons), verdict
    assert not any("'amount'" in r or "'color'" in r for r in verdict["reasons"])
    oov = result["versions"]["v1"]["features"]["text"]["oov"]
    assert oov["baseline_oov_rate"] < 0.05 and oov["oov_rate"] > 0.4
    # against the training texts' own words, which the dataset statistics keep for text
    assert oov["source"].startswith("the training texts' word list")
    assert oov["vocabulary_words"] == len(WORDS)
    # the drift shows over time: the buckets after the second hour, not the first ones
    over = result["versions"]["v1"]["features"]["text"]["over_time"]
    assert [r["psi"] > 0.25 for r in over] == [False, False, True, True]
    assert (tmp / "out" / monitor.REPORT).read_text().count("data:image/png") >= 4


def test_undrifted_traffic_is_ok_and_malformed_lines_are_dead_letters(
    tmp_path: Path, stats: dict
) -> None:
    """Undrifted traffic with malformed lines among it: verdict ok, every bad line in the dead
    letters with its reason and counted, the rest measured as if they were not there."""
    config, registry = world(tmp_path, stats)
    traffic(tmp_path / "logs", 800, np.random.default_rng(8), drift_after=None, correct=0.8)
    add_malformed_lines(tmp_path / "logs")
    result = run_monitor(tmp_path, config, registry)
    assert result["verdict"]["verdict"] == "ok", result["verdict"]
    v1 = result["versions"]["v1"]
    assert all(f["psi"] < 0.1 for f in v1["features"].values())
    assert v1["quality"]["value"] == pytest.approx(0.8, abs=0.05)

    out = (tmp_path / "out" / pipeline.DEAD_LETTER).read_text().splitlines()
    dead = [json.loads(x) for x in out]
    assert result["dead_letters"] == len(dead) == 7
    assert result["counts"]["request_dead_letters"] == 6
    assert result["counts"]["outcome_dead_letters"] == 1
    assert result["counts"]["not_answered"] == 1
    assert result["counts"]["requests"] == 800
    reasons = " | ".join(d["reason"] for d in dead)
    assert "no 'instances' list" in reasons and "no time zone" in reasons
    assert "instances[0].amount is 'lots'" in reasons and "predictions[0] is 1.5" in reasons
    assert all(d["raw"] for d in dead)
    assert any("malformed log line" in w for w in result["verdict"]["warnings"])


def add_malformed_lines(logs: Path) -> None:
    def line(**fields: Any) -> str:
        base = {"time": "2026-11-22T01:00:00Z", "model_version": "v1", "status": "ok"}
        return json.dumps({**base, **fields})

    bad = [
        "{not json",
        "[1, 2]",
        line(request_id="x1", predictions=[0.5]),  # no instances
        line(request_id="x2", time="2026-11-22T01:00:00", instances=[{}], predictions=[0.5]),
        line(request_id="x3", instances=[{"amount": "lots"}], predictions=[0.5]),
        line(request_id="x4", instances=[{}], predictions=[1.5]),
    ]
    not_routed = json.dumps({"time": "2026-11-22T01:00:00Z", "status": "rejected", "arm": None})
    log = logs / MODEL / "requests" / "2026-11-22" / "server-a.jsonl"
    log.write_text(log.read_text() + "\n".join([*bad, not_routed]) + "\n")
    outcome_log = logs / MODEL / "outcomes" / "2026-11-22" / "o.jsonl"
    outcome_log.write_text(outcome_log.read_text() + '{"request_id": 7, "value": 1}\n')


def test_worse_joined_outcomes_give_decay(tmp_path: Path, stats: dict) -> None:
    config, registry = world(tmp_path, stats, test_accuracy=0.85)
    traffic(tmp_path / "logs", 800, np.random.default_rng(9), drift_after=None, correct=0.6)
    result = run_monitor(tmp_path, config, registry)
    verdict = result["verdict"]
    assert verdict["verdict"] == "decay", verdict
    assert "live accuracy" in verdict["reasons"][0] and "0.850" in verdict["reasons"][0]
    q = result["versions"]["v1"]["quality"]
    assert q["ci_high"] < 0.80 and q["n"] == 800


def test_label_outcomes_measure_roc_auc(tmp_path: Path, stats: dict) -> None:
    """outcome: label: events carry the true label; unlabelled requests are left out."""
    config, registry = world(tmp_path, stats, quality_metric="roc_auc", outcome="label")
    logs = tmp_path / "logs"
    lines = traffic(logs, 400, np.random.default_rng(4), drift_after=None, correct=0.0)
    rng = np.random.default_rng(5)
    events = [
        {"request_id": line["request_id"], "time": line["time"], "value": int(rng.random() < 0.5)}
        for line in lines[:300]
    ]
    (logs / MODEL / "outcomes" / "2026-11-22" / "o.jsonl").write_text(
        "".join(json.dumps(e) + "\n" for e in events)
    )
    result = run_monitor(tmp_path, config, registry)
    q = result["versions"]["v1"]["quality"]
    assert q["n"] == 300 and q["metric"] == "roc_auc"
    assert q["ci_low"] < 0.5 < q["ci_high"]  # labels independent of the scores
    assert result["verdict"]["verdict"] == "decay"  # far below the test ROC AUC 0.85


def test_bin_inputs_transform() -> None:
    """The binning DoFn on its own, with TestPipeline."""
    plans = {
        "amount": drift.FeaturePlan(
            "amount", "numeric", edges=(0.0, 10.0), expected=(0.0, 1.0, 0.0)
        )
    }
    row = {
        "request_id": "r1",
        "model_version": "v1",
        "epoch": 7300.0,
        "instances": [{"amount": 5.0}, {"amount": None}],
        "predictions": [0.05, 0.95],
    }
    with TestPipeline() as p:
        out = p | beam.Create([row]) | beam.ParDo(pipeline.BinInputs(plans, 0.0, 3600))
        assert_that(
            out,
            equal_to(
                [
                    (("v1", drift.PREDICTION, "value", 7200.0, "0"), 1),
                    (("v1", "amount", "value", 7200.0, "[0, 10]"), 1),
                    (("v1", drift.PREDICTION, "value", 7200.0, "9"), 1),
                    (("v1", "amount", "value", 7200.0, drift.MISSING), 1),
                ]
            ),
        )


def test_cli_publishes_outputs_kfp_metrics_verdict_and_mlflow_run(drifted: dict) -> None:
    tmp = drifted["tmp"]
    assert (tmp / "verdict.txt").read_text() == "drift"
    numbers = json.loads((tmp / "kfp-metrics.json").read_text())
    assert numbers["text_psi"] > 0.25 and numbers["requests"] == 800
    assert numbers["text_psi"] == drifted["result"]["versions"]["v1"]["features"]["text"]["psi"]
    names = {p.name for p in (tmp / "out").iterdir()}
    assert names >= {"metrics.json", "verdict.json", "report.html", "dead_letter.jsonl"}
    assert not list(tmp.glob(".out.*"))
    assert (tmp / "mlflow" / "mlflow.db").exists()


def test_bad_window_end_is_a_clear_error(tmp_path: Path, stats: dict) -> None:
    from components.monitor.main import main

    config, registry = world(tmp_path, stats)
    code = main(
        [
            "--requests", str(tmp_path / "none*.jsonl"), "--config", str(config),
            "--registry-root", registry.root, "--window-end", "2026-11-22 04:00",
            "--output", str(tmp_path / "out"),
        ]
    )  # fmt: skip
    assert code == 2


def test_config_rejects_inconsistent_thresholds() -> None:
    with pytest.raises(ValueError, match="psi_warn"):
        MonitorConfig(psi_warn=0.3, psi_drift=0.2)
    with pytest.raises(ValueError, match="outcome: label"):
        MonitorConfig(quality_metric="roc_auc")


def test_plan_kinds_from_the_dataset_statistics(stats: dict) -> None:
    """The dataset step's real statistics: the long string is text, the short one a category
    on its vocabulary, the number numeric on its deciles; the label is left out."""
    plans, skipped = monitor.plan_features(stats, "stats.json", FEATURES, MonitorConfig())
    assert {n: p.kind for n, p in plans.items()} == {
        "amount": "numeric",
        "color": "categorical",
        "text": "text",
    }
    assert skipped == {}
    assert set(plans["color"].categories) == {"red", "green", "blue"}
    assert sum(plans["amount"].expected) == pytest.approx(1)
    override = MonitorConfig(features={"color": "id"})
    plans, skipped = monitor.plan_features(stats, "stats.json", FEATURES, override)
    assert "color" not in plans and "id" in skipped["color"]


def test_oov_against_a_training_word_list() -> None:
    """With the statistics' `words` (a proposed addition to the dataset step), the baseline is
    the training texts' uncovered share and every bucket is measured against the list."""
    fstats = {"words": {"total": 100, "top": [["good", 60], ["bad", 35]]}}
    plan = drift.FeaturePlan(
        "text", "text", edges=(1.0, 9.0), expected=(0, 1, 0), vocabulary=frozenset({"good", "bad"})
    )
    words = {0.0: {0: {"good": 9, "odd": 1}}, 3600.0: {1: {"bad": 5, "new": 5}}}
    oov = monitor.text_oov(plan, fstats, words, reference_end=3600.0)
    assert oov["baseline_oov_rate"] == pytest.approx(0.05)
    assert oov["oov_rate"] == pytest.approx(6 / 20)
    assert [r["oov_rate"] for r in oov["over_time"]] == [pytest.approx(0.1), pytest.approx(0.5)]
