"""The HTML reports answer at a glance: provenance, deltas judged by direction and noise,
bootstrap intervals, the restored epoch, label names, drift with thresholds, schema anomalies."""

from __future__ import annotations

import json
import re
import tempfile
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from markupsafe import escape
from sklearn.metrics import average_precision_score, f1_score, log_loss, roc_auc_score

from components.evaluate import metrics as m
from tests.conftest import REPO


def _scores(n: int, seed: int, signal: float = 0.35) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    scores = np.clip(labels * signal + rng.random(n) * (1 - signal), 0, 1)
    return labels, np.round(scores, 2)  # rounded: ties, as a real model's scores have some


# Deltas -------------------------------------------------------------------------------------


def test_delta_marked_by_the_metrics_direction_and_noise() -> None:
    assert m.judge_delta("roc_auc", 0.02, [0.01, 0.03]) == "better"
    assert m.judge_delta("roc_auc", -0.02, [-0.03, -0.01]) == "worse"
    assert m.judge_delta("log_loss", -0.02, [-0.03, -0.01]) == "better"  # lower is better
    assert m.judge_delta("log_loss", 0.02, [0.01, 0.03]) == "worse"
    assert m.judge_delta("ece", -0.01, None) == "better"
    assert m.judge_delta("accuracy", 0.01, [-0.005, 0.02]) == "same"  # the interval holds 0
    assert m.judge_delta("accuracy", 0.0, None) == "same"
    assert m.judge_delta("roc_auc", float("nan"), None) == "same"


def test_report_colours_and_marks_deltas() -> None:
    from components.evaluate import report

    labels, good = _scores(800, 1, signal=0.6)
    _, weak = _scores(800, 2, signal=0.05)
    weak = np.where(np.random.default_rng(3).random(800) < 0.5, weak, good * 0.2 + 0.4)
    scores = {"candidate": good, "champion": weak, "baseline": good.copy()}
    intervals = m.report_intervals(labels, scores, 0.5)
    cand = m.classification_metrics(labels, good, 0.5)
    champ = m.classification_metrics(labels, weak, 0.5)
    rows = report.metric_rows(cand, {"champion": champ, "baseline": cand}, intervals)
    by_name = {r["name"]: r for r in rows}
    assert by_name["roc_auc"]["vs"][0]["verdict"] == "better"
    assert by_name["log_loss"]["vs"][0]["verdict"] == "better"  # a lower loss
    assert by_name["log_loss"]["direction"] == "lower is better"
    # The same scores: an identical model is not better, whatever the metric.
    assert {r["vs"][1]["verdict"] for r in rows} == {"same"}
    assert intervals["deltas"]["baseline"]["roc_auc"] == [0.0, 0.0]
    page = report.render(
        "m", cand, champ, "v1", True, ["ok"], [], None, cand, {}, None,
        [("run", "local run x")], intervals,
    )  # fmt: skip
    assert page.count('class="better"') >= 3 and "▲ better" in page
    assert "= identical" in page and "<dt>run</dt><dd>local run x</dd>" in page
    worse = report.render(
        "m", champ, cand, "v1", False, [], [], None, None, {}, None, [],
        m.report_intervals(labels, {"candidate": weak, "champion": good}, 0.5),
    )  # fmt: skip
    assert 'class="worse"' in worse and "▼ worse" in worse


# Bootstrap intervals ------------------------------------------------------------------------


def test_resampled_metrics_equal_sklearn_on_each_resample() -> None:
    labels, scores = _scores(300, 4)
    idx = m.resample_indices(300, resamples=5, seed=9)
    boot = m.resampled_metrics(labels, scores, idx, 0.5)
    for i, rows in enumerate(idx):
        y, s = labels[rows], scores[rows]
        assert boot["roc_auc"][i] == pytest.approx(roc_auc_score(y, s), abs=1e-12)
        assert boot["pr_auc"][i] == pytest.approx(average_precision_score(y, s), abs=1e-12)
        assert boot["f1"][i] == pytest.approx(f1_score(y, s >= 0.5), abs=1e-12)
        assert boot["log_loss"][i] == pytest.approx(log_loss(y, s, labels=[0, 1]), abs=1e-6)


def test_bootstrap_interval_is_seeded_covers_the_estimate_and_narrows_with_data() -> None:
    small_y, small_s = _scores(150, 5)
    big_y, big_s = _scores(6000, 5)
    first = m.metric_intervals(small_y, small_s, 0.5)
    assert first == m.metric_intervals(small_y, small_s, 0.5)  # same seed, same bounds
    assert first != m.metric_intervals(small_y, small_s, 0.5, seed=1)
    point = m.classification_metrics(small_y, small_s, 0.5)
    for name in m.CI_METRICS:
        lo, hi = first[name] or (np.nan, np.nan)
        assert lo <= point[name] <= hi, name
    big = m.metric_intervals(big_y, big_s, 0.5)
    for name in ("roc_auc", "accuracy", "log_loss"):
        wide, narrow = first[name], big[name]
        assert wide and narrow and narrow[1] - narrow[0] < (wide[1] - wide[0]) / 3, name


def test_slices_carry_intervals_and_one_class_slices_have_none() -> None:
    labels, scores = _scores(400, 6)
    lengths = np.array([b"x" * (5 if i < 390 else 50) for i in range(400)], dtype=object)
    labels[390:] = 1  # the long slice has one class: no ROC AUC, no interval
    spec = m.SliceConfig(feature="text", by="length", boundaries=[10])
    rows = m.sliced_metrics(spec, lengths, labels, {"candidate": scores, "champion": scores}, 0.5)
    short, long = rows
    lo, hi = short["roc_auc_ci"]
    assert lo <= short["roc_auc"] <= hi and short["champion_roc_auc_ci"] == [lo, hi]
    assert short["accuracy_ci"][0] <= short["accuracy"] <= short["accuracy_ci"][1]
    assert np.isnan(long["roc_auc"]) and long["roc_auc_ci"] is None
    assert long["accuracy_ci"] is not None


# Training history ---------------------------------------------------------------------------


def test_best_epoch_follows_the_monitor_direction(tmp_path: Path) -> None:
    from components.evaluate import report

    history = {"val_auc": [0.7, 0.8, 0.85, 0.85, 0.84], "val_loss": [0.6, 0.5, 0.52, 0.49, 0.55]}
    assert report.best_epoch(history, "val_auc") == ("val_auc", 3)  # the first best, as Keras
    assert report.best_epoch(history, "val_loss") == ("val_loss", 4)
    assert report.best_epoch(history, "val_accuracy") is None
    assert report.best_epoch(history, None) is None
    (tmp_path / "train_config.json").write_text(json.dumps({"early_stopping": {"monitor": "x"}}))
    assert report.monitor_of(str(tmp_path)) == "x"
    (tmp_path / "train_config.json").write_text(json.dumps({"early_stopping": None}))
    assert report.monitor_of(str(tmp_path)) is None
    plots = report.plots(
        np.array([0, 1, 0, 1]), {"candidate": np.array([0.1, 0.9, 0.4, 0.6])},
        [[2, 0], [0, 2]], history | {"auc": [0.7] * 5, "loss": [0.5] * 5}, None, None,
        report.best_epoch(history, "val_auc"),
    )  # fmt: skip
    assert plots[-1][0] == "Training history (weights restored from epoch 3: best val_auc 0.8500)"


def test_best_epoch_is_the_epoch_keras_restores() -> None:
    """Real Keras: EarlyStopping(restore_best_weights=True) restores the epoch best_epoch finds."""
    import keras

    from components.evaluate import report

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 4)).astype("float32")
    y = (x[:, 0] + rng.normal(scale=2.0, size=256) > 0).astype("float32")
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(16, "relu"), keras.layers.Dense(1)]
    )
    model.compile(keras.optimizers.Adam(0.05), keras.losses.BinaryCrossentropy(from_logits=True))
    stopper = keras.callbacks.EarlyStopping("val_loss", patience=3, restore_best_weights=True)
    fit = model.fit(
        x[:128], y[:128], validation_data=(x[128:], y[128:]), epochs=30, verbose=0,
        callbacks=[stopper],
    )  # fmt: skip
    history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    assert report.best_epoch(history, "val_loss") == ("val_loss", stopper.best_epoch + 1)
    restored = model.evaluate(x[128:], y[128:], verbose=0)
    assert restored == pytest.approx(history["val_loss"][stopper.best_epoch], rel=1e-4)


# Provenance ---------------------------------------------------------------------------------


def test_run_id_from_the_engine_or_the_artifact_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from components.common import html

    monkeypatch.delenv("ARGO_WORKFLOW_UID", raising=False)
    monkeypatch.delenv("KFP_RUN_ID", raising=False)
    run = tmp_path / "runs" / "retrain-20261201-232750-3f9a1c"
    local = html.run_id([str(run / "evaluate" / "report")])
    assert local == (
        f"local run {run.name} (job id {uuid.uuid5(uuid.NAMESPACE_URL, str(run.resolve()))})"
    )
    kfp = "/gcs/b/root/retrain/0f6b5b1e-7c1d-4b5e-9a57-2f3c1d0e9b11/evaluate/report"
    assert html.run_id([kfp]) == "KFP run 0f6b5b1e-7c1d-4b5e-9a57-2f3c1d0e9b11"
    assert html.run_id(["/tmp/x/report"]).startswith("not known")
    monkeypatch.setenv("ARGO_WORKFLOW_UID", "abc")
    monkeypatch.setenv("ARGO_WORKFLOW_NAME", "retrain-x7k2p")
    assert html.run_id([kfp]) == "Argo workflow uid abc (retrain-x7k2p)"


def test_stats_digest_ignores_the_drift_comparison() -> None:
    from components.common import html

    stats: dict[str, Any] = {"total_examples": 3, "splits": {"train": {"examples": 3}}}
    assert html.stats_digest(stats) == html.stats_digest(stats | {"drift": {"baseline": "x"}})
    assert html.stats_digest(stats) != html.stats_digest(stats | {"total_examples": 4})


# Dataset report -----------------------------------------------------------------------------

KINDS = {"text": "string", "genre": "string", "year": "int", "rating": "float", "label": "int"}
WORDS = [
    "a",
    "quiet",
    "film",
    "about",
    "loud",
    "people",
    "that",
    "nobody",
    "asked",
    "for",
    "yet",
    "everyone",
    "watched",
]


def _records(n: int, seed: int, *, new_world: bool) -> list[dict[str, Any]]:
    """Small real records: free text, a categorical genre, a year, a rating, a 0/1 label.
    new_world: a genre the baseline never had, years past its range, missing ratings."""
    rng = np.random.default_rng(seed)
    genres = ["drama", "comedy", "horror"] if new_world else ["drama", "comedy"]
    out = []
    for i in range(n):
        text = " ".join(rng.choice(WORDS, size=int(rng.integers(3, 12)))) + f" #{seed}-{i}"
        rating = None if new_world and i % 5 == 0 else round(float(rng.random() * 10), 2)
        out.append(
            {
                "text": text,
                "genre": str(rng.choice(genres)),
                "year": int(rng.integers(1990, 2030 if new_world else 2011)),
                "rating": rating,
                "label": int(rng.random() < (0.8 if new_world else 0.5)),
            }
        )
    return out


def _dataset_stats(records: list[dict[str, Any]]) -> dict[str, Any]:
    """stats.json as the dataset step writes it, its features from the real Beam statistics."""
    import apache_beam as beam

    from components.dataset.stats import FeatureStatistics

    pairs = [("train" if i % 4 else "test", r) for i, r in enumerate(records)]
    with tempfile.TemporaryDirectory() as tmp:
        with beam.Pipeline() as p:
            _ = (
                p
                | beam.Create(pairs)
                | FeatureStatistics(KINDS)
                | beam.Map(json.dumps)
                | beam.io.WriteToText(f"{tmp}/stats", num_shards=1)
            )
        lines = Path(tmp).glob("stats*")
        collected = [json.loads(line) for f in lines for line in f.read_text().splitlines()]
    splits = {}
    for split, features in sorted(collected):
        labels = [str(r["label"]) for s, r in pairs if s == split]
        counts = {v: labels.count(v) for v in sorted(set(labels))}
        splits[split] = {
            "examples": len(labels),
            "label_counts": counts,
            "positive_rate": counts.get("1", 0) / len(labels),
            "groups": len(labels),
            "files": [],
            "features": features,
        }
    return {
        "group_key": "text",
        "salt": "",
        "total_examples": len(records),
        "leaked_groups": 0,
        "splits": splits,
    }


@pytest.fixture(scope="module")
def two_datasets() -> tuple[dict[str, Any], dict[str, Any]]:
    return (
        _dataset_stats(_records(240, 1, new_world=True)),
        _dataset_stats(_records(240, 2, new_world=False)),
    )


def test_schema_anomalies_on_a_crafted_dataset(two_datasets: tuple[dict, dict]) -> None:
    from components.dataset.stats import data_anomalies, drift

    current, baseline = two_datasets
    result = drift(current, baseline, 0.1, KINDS)
    found = {(a["split"], a["feature"], a["kind"]): a for a in result["anomalies"]}
    horror = found[("train", "genre", "values outside the domain")]
    assert horror["severity"] == "error" and "'horror'" in horror["detail"]
    assert "baseline's 2" in horror["detail"]
    assert found[("train", "year", "values outside the range")]["severity"] == "warn"
    assert "[1990, 2010]" in found[("train", "year", "values outside the range")]["detail"]
    assert found[("train", "rating", "missing values")]["severity"] == "error"
    assert (
        "0.0% in the baseline, 20.0% now"
        in found[("test", "rating", "missing rate changed")]["detail"]
    )
    # Nothing flagged where nothing changed: the label's domain, the free text's lengths.
    assert not any(f in ("label", "text") for _, f, _ in found)
    # Against itself: no anomaly at all.
    assert drift(baseline, baseline, 0.1, KINDS)["anomalies"] == []
    # Without a baseline: a label outside the config's mapping, a feature with no values.
    odd = json.loads(json.dumps(current))
    odd["splits"]["test"]["label_counts"]["2"] = 1
    del odd["splits"]["test"]["features"]["year"]
    kinds = {(a["split"], a["kind"]) for a in data_anomalies(odd, KINDS, ["0", "1"])}
    assert kinds == {("test", "label outside the mapping"), ("test", "feature absent")}


def test_drift_table_states_measures_thresholds_and_shows_only_what_is_not_ok(
    two_datasets: tuple[dict, dict],
) -> None:
    from components.dataset.report import render
    from components.dataset.stats import MEASURES, drift, drift_rows

    current, baseline = two_datasets
    result = drift(current, baseline, 0.1, KINDS)
    rows = drift_rows(result)
    statuses = [r["status"] for r in rows]
    assert statuses == sorted(statuses, key=["drift", "warn", "ok"].index)  # worst first
    for r in rows:
        expected = "drift" if r["value"] > 0.1 else "warn" if r["value"] > 0.05 else "ok"
        assert r["status"] == expected
    by = {(r["split"], r["feature"], r["measure"]): r["status"] for r in rows}
    assert by[("train", "(label balance)", "label_linf")] == "drift"  # 0.5 -> 0.8 positive
    assert ("train", "text", "top_values_linf") not in by  # free text: top values not compared
    page = render(
        current, KINDS, {"baseline": "champion v1", **result}, {"0": "rotten", "1": "fresh"}
    )
    flagged = [r for r in rows if r["status"] != "ok"]
    assert 0 < len(flagged) < len(rows)
    shown, _, hidden = page.partition("<details>")
    assert f"{len(flagged)} of {len(rows)} scores are not ok" in shown
    assert 's-ok">' not in shown and f"Show all {len(rows)} scores" in hidden
    assert hidden.count("<tr>") == len(rows) + 1
    for title, meaning in (MEASURES[k] for k in {r["measure"] for r in rows}):
        assert title in shown and str(escape(meaning)) in shown
    assert "<td>0.05</td><td>0.1</td>" in shown  # warn and drift thresholds per measure


def test_dataset_report_names_labels_and_skips_most_frequent_for_free_text(
    two_datasets: tuple[dict, dict],
) -> None:
    from components.dataset.report import label_names, render

    current, _ = two_datasets
    names = label_names(str(REPO / "config" / "reviews.yaml"))
    assert names == {"1": "fresh", "0": "rotten"}
    page = render(current, KINDS, None, names)
    sections = dict(re.findall(r"<h3><code>(\w+)</code> \(([^)]*)\)</h3>", page))
    assert sections["text"] == "free text" and sections["genre"] == "string"
    text = page.split("<h3><code>text</code>")[1].split("<h3>")[0]
    genre = page.split("<h3><code>genre</code>")[1].split("<h3>")[0]
    assert "most frequent" not in text and "Most values are distinct" in text
    assert "most frequent" in genre and "<code>drama</code>" in genre
    assert re.search(r"rotten \(0\): \d+, fresh \(1\): \d+", page)
    label = page.split("<h3><code>label</code>")[1].split("<h3>")[0]
    assert "<code>fresh (1)</code>" in label
    assert "every label is one of fresh, rotten" in page  # no anomaly without a baseline


def test_both_reports_name_the_same_dataset_digest(tmp_path: Path) -> None:
    from components.common import html
    from components.dataset.report import provenance as dataset_provenance
    from components.evaluate.report import provenance as evaluate_provenance

    stats = {"group_key": "m", "salt": "s", "total_examples": 3, "leaked_groups": 0, "splits": {}}
    run = tmp_path / "retrain-20261202-040000-abc123"
    (run / "build-dataset" / "dataset").mkdir(parents=True)
    (run / "build-dataset" / "dataset" / "stats.json").write_text(
        json.dumps(stats | {"drift": {"baseline": "x"}})
    )
    (run / "train" / "model").mkdir(parents=True)
    config = str(REPO / "config" / "reviews.yaml")
    dataset = dict(dataset_provenance(stats, config, run / "build-dataset" / "report"))
    evaluate = dict(
        evaluate_provenance(
            str(run / "train" / "model"), str(run / "build-dataset" / "dataset"), config
        )
    )
    digest = html.stats_digest(stats)[:12]
    assert dataset["data"].startswith(f"dataset {digest} (3 examples")
    assert evaluate["data"].startswith(f"dataset {digest} (3 examples")
    assert dataset["run"] == evaluate["run"] and dataset["run"].startswith(f"local run {run.name}")
    assert evaluate["candidate"].endswith("(no saved_model/saved_model.pb)")
    assert dataset["config"] == evaluate["config"] and "sha256 " in evaluate["config"]
    assert evaluate["code"].startswith("components sha256 ")
