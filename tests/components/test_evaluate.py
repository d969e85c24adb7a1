"""Evaluate: metric maths, the blessing rule (NaN never blessed), and the CLI's KFP outputs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from components.evaluate.metrics import EvaluateConfig, bless, classification_metrics, roc_points
from tests.conftest import run_cli, small_config

CFG = EvaluateConfig(floors={"roc_auc": 0.8}, max_regression={"roc_auc": 0.01})


def test_metrics_on_known_scores() -> None:
    labels = np.array([0, 0, 1, 1])
    m = classification_metrics(labels, np.array([0.1, 0.6, 0.4, 0.9]))
    assert m["roc_auc"] == pytest.approx(0.75)
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["confusion_matrix"] == [[1, 1], [1, 1]]
    points = roc_points(labels, np.array([0.1, 0.6, 0.4, 0.9]))
    assert points[0]["falsePositiveRate"] == 0 and points[-1]["recall"] == 1


def test_single_class_auc_is_nan_and_never_blessed() -> None:
    m = classification_metrics(np.array([1, 1]), np.array([0.2, 0.9]))
    assert math.isnan(m["roc_auc"])
    blessed, reasons = bless(m, None, CFG)
    assert not blessed and "roc_auc is missing or NaN" in reasons[0]


def test_floor_and_regression() -> None:
    assert bless({"roc_auc": 0.85}, None, CFG)[0]
    assert not bless({"roc_auc": 0.79}, None, CFG)[0]
    assert bless({"roc_auc": 0.85}, {"roc_auc": 0.855}, CFG)[0]  # within the allowed drop
    ok, reasons = bless({"roc_auc": 0.85}, {"roc_auc": 0.87}, CFG)
    assert not ok and "regresses the champion" in reasons[-1]
    assert not bless({"roc_auc": 0.85}, {"roc_auc": float("nan")}, CFG)[0]
    assert not bless({}, None, CFG)[0]


@pytest.mark.integration
def test_cli_writes_kfp_outputs(tmp_path: Path, trained_model: Path, built_dataset: Path) -> None:
    out_file = tmp_path / "executor_output.json"
    executor_input = {
        "outputs": {
            "artifacts": {
                n: {"artifacts": [{"name": n, "uri": f"gs://b/{n}"}]}
                for n in ("metrics", "classification_metrics", "report")
            },
            "parameters": {"blessed": {"outputFile": str(tmp_path / "blessed")}},
            "outputFile": str(out_file),
        }
    }
    result = run_cli(
        "components.evaluate",
        "--model",
        trained_model,
        "--dataset",
        built_dataset,
        "--config",
        # The tiny model is not asked to beat TF-IDF (reviews.yaml's rule); the champion rule stays.
        small_config(tmp_path, evaluate={"bless": [{"against": "champion", "margin": -0.01}]}),
        "--registry-root",
        tmp_path / "registry",
        "--metrics",
        tmp_path / "metrics",
        "--classification-metrics",
        tmp_path / "cm",
        "--report",
        tmp_path / "report",
        "--blessed",
        tmp_path / "blessed",
        "--executor-input",
        json.dumps(executor_input),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "blessed").read_text() == "true"  # floor 0.0 in the small config
    metrics = json.loads((tmp_path / "metrics").read_text())
    assert 0 <= metrics["roc_auc"] <= 1 and metrics["blessing"]["blessed"] is True
    executor_output = json.loads(out_file.read_text())
    meta = executor_output["artifacts"]["metrics"]["artifacts"][0]
    assert meta["uri"] == "gs://b/metrics" and meta["metadata"]["roc_auc"] == metrics["roc_auc"]
    cm = executor_output["artifacts"]["classification_metrics"]["artifacts"][0]["metadata"]
    assert sum(sum(r["row"]) for r in cm["confusionMatrix"]["rows"]) == metrics["examples"]
    assert executor_output["parameterValues"] == {"blessed": True}
    html = (tmp_path / "report").read_text()
    assert "BLESSED" in html and html.count("data:image/png;base64,") == 6  # + calibration, slices
    assert "Slices by text length" in html and metrics["slices"]["text length"]
    assert 0 <= metrics["ece"] <= 1 and 0 <= metrics["brier"] <= 1
    # The TF-IDF + logistic regression baseline, fit on the train split in the same step, is
    # reported beside the model: in the metrics, the KFP metadata and the report, overall and
    # per slice, with its fit time.
    assert 0.5 < metrics["baseline_tfidf_roc_auc"] == metrics["baseline_roc_auc"] <= 1
    assert meta["metadata"]["baseline_tfidf_roc_auc"] == metrics["baseline_tfidf_roc_auc"]
    assert metrics["baselines"]["tfidf"]["fit_seconds"] == metrics["baseline_tfidf_fit_seconds"] > 0
    assert all("baseline_tfidf_roc_auc" in row for row in metrics["slices"]["text length"])
    assert "<th>baseline tfidf</th>" in html and "TF-IDF n-grams + logistic regression" in html
    assert "no serving champion: rule {against: champion" in html


def test_baseline_learns_from_the_train_split() -> None:
    """On separable toy text the baseline ranks every positive above every negative."""
    import numpy as np

    from components.evaluate.baseline import TfidfBaseline, fit_and_score

    train = [b"great film", b"superb acting", b"awful plot", b"dull and awful"] * 5
    labels = np.array([1, 1, 0, 0] * 5)
    scores = fit_and_score(
        TfidfBaseline(feature="text", min_df=1),
        {"text": train},
        labels,
        {"text": [b"great superb", b"awful dull"]},
    )
    assert scores[0] > 0.5 > scores[1]


def test_onehot_baseline_reads_categorical_and_numeric_columns() -> None:
    """One-hot categories (an unseen one ignored) and standardised numbers (NaN imputed)."""
    import numpy as np

    from components.evaluate.baseline import LogregBaseline, fit_and_score

    rng = np.random.default_rng(0)
    colour = rng.choice(["red", "blue"], 400)
    size = rng.normal(size=400)
    labels = ((colour == "red") & (size > 0)).astype(int)
    cfg = LogregBaseline(categorical=["colour"], numeric=["size"])
    test = {
        "colour": np.array(["red", "blue", "green", "red"], dtype=object),
        "size": np.array([2.0, 2.0, 0.0, float("nan")]),
    }
    scores = fit_and_score(cfg, {"colour": colour, "size": size}, labels, test)
    assert scores[0] > scores[1] and np.isfinite(scores).all()


def test_slices_and_calibration() -> None:
    import numpy as np

    from components.evaluate import metrics as m

    labels = np.array([1, 0, 1, 0, 1, 0])
    scores = np.array([0.9, 0.1, 0.8, 0.3, 0.6, 0.7])
    texts = np.array([b"a" * 10, b"b" * 20, b"c" * 200, b"d" * 250, b"e" * 90, b"f" * 95])
    spec = m.SliceConfig(feature="text", by="length", boundaries=[50, 100])
    rows = m.sliced_metrics(spec, texts, labels, {"candidate": scores, "baseline": scores}, 0.5)
    assert [r["slice"] for r in rows] == ["< 50", "50-100", ">= 100"]  # buckets in order
    assert [r["examples"] for r in rows] == [2, 2, 2]
    assert rows[0]["roc_auc"] == 1.0 and rows[1]["roc_auc"] == 0.0
    assert rows[0]["baseline_roc_auc"] == rows[0]["roc_auc"]
    by_value = m.sliced_metrics(
        m.SliceConfig(feature="sex"),
        np.array([b"F", b"M", b"M", b"", b"M", b"F"], dtype=object),
        labels,
        {"candidate": scores},
        0.5,
    )
    assert [(r["slice"], r["examples"]) for r in by_value] == [("M", 3), ("F", 2), ("(missing)", 1)]
    cal = m.calibration(labels, scores, bins=2)
    # bins [0, 0.5): scores 0.1, 0.3 (no positives); [0.5, 1]: 0.9, 0.8, 0.6, 0.7 (3 of 4)
    assert cal["curve"] == [
        {"predicted": 0.2, "observed": 0.0, "examples": 2},
        {"predicted": 0.75, "observed": 0.75, "examples": 4},
    ]
    assert abs(cal["ece"] - (2 / 6) * 0.2) < 1e-9
    assert abs(cal["brier"] - np.mean((scores - labels) ** 2)) < 1e-12
    with pytest.raises(ValueError, match="needs boundaries"):
        m.SliceConfig(feature="age", by="bucket")
