"""Evaluate's baselines and the bless rules against them: gradient-boosted trees fit and score,
the defaults from the dataset's feature kinds, rules that pass and fail with their reasons, older
configs still read, and the whole step (scores faked, sklearn real) reporting every baseline
overall and per slice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from markupsafe import escape

from components.common import features, tfdata
from components.common.config import load_section
from components.common.errors import ConfigError
from components.evaluate import baseline as bl
from components.evaluate import metrics as m
from tests.conftest import REPO

KINDS = {"colour": "categorical", "size": "numeric", "review": "text", "row_id": "id"}
TYPES = {"colour": "string", "size": "float", "review": "string", "row_id": "string"}


def _data(n: int, seed: int) -> tuple[dict[str, Any], np.ndarray]:
    """Columns as tfdata.load_split gives them and labels: the label is colour XOR (size > 0),
    which trees learn and a linear model cannot; the review says it in words, with noise."""
    rng = np.random.default_rng(seed)
    colour = rng.choice(["red", "blue"], n)
    size = rng.normal(size=n)
    labels = ((colour == "red") ^ (size > 0)).astype(int)
    noisy = np.where(rng.random(n) < 0.15, 1 - labels, labels)
    words = np.where(noisy == 1, "lovely fine", "awful dull")
    review = np.asarray([f"{w} film {i % 7}".encode() for i, w in enumerate(words)], dtype=object)
    columns = {
        "colour": np.asarray([c.encode() for c in colour], dtype=object),
        "size": size.astype(np.float32),
        "review": review,
        "row_id": np.asarray([f"r{seed}-{i}".encode() for i in range(n)], dtype=object),
    }
    return columns, labels


def _dataset(tmp_path: Path, kinds: dict[str, str] = KINDS) -> Path:
    """A dataset folder holding only schema.json, with types and kinds per the contract."""
    root = tmp_path / "dataset"
    root.mkdir()
    schema = {
        "features": {**{n: TYPES[n] for n in kinds}, "label": "int"},
        "label": "label",
        "compression": "GZIP",
        "kinds": kinds,
    }
    (root / "schema.json").write_text(json.dumps(schema))
    return root


def _fitted(name: str, auc: float | None, error: str | None = None) -> bl.Fitted:
    metrics = None if auc is None else {"roc_auc": auc, "log_loss": 0.5, "accuracy": 0.8}
    return bl.Fitted(name, "logreg", ["x"], 0.1, None, error, metrics)


# Baselines ----------------------------------------------------------------------------------


def test_gbt_learns_what_logistic_regression_cannot_and_is_deterministic() -> None:
    from sklearn.metrics import roc_auc_score

    train, train_labels = _data(1500, 0)
    test, test_labels = _data(600, 1)
    test["colour"][:3] = [b"green", b"", b"red"]  # unseen and missing: scored, not an error
    test["size"][3] = np.nan
    gbt = bl.GbtBaseline(categorical=["colour"], numeric=["size"])
    trees = bl.fit(gbt, train, train_labels, test)
    logreg = bl.LogregBaseline(categorical=["colour"], numeric=["size"])
    linear = bl.fit(logreg, train, train_labels, test)
    assert trees.error is None and trees.fit_seconds is not None and trees.fit_seconds > 0
    assert np.isfinite(trees.scores).all() and ((trees.scores >= 0) & (trees.scores <= 1)).all()
    truth = ((test["colour"] == b"red") ^ (test["size"] > 0)).astype(int)
    assert roc_auc_score(truth, trees.scores) > 0.97  # the interaction, learned
    assert roc_auc_score(test_labels, linear.scores) < 0.65  # XOR: no linear signal
    again = bl.fit_and_score(gbt, train, train_labels, test)
    np.testing.assert_array_equal(again, trees.scores)  # no early stopping, a fixed seed


def test_a_baseline_that_cannot_fit_is_kept_with_its_reason() -> None:
    train, _ = _data(50, 0)
    one_class = np.ones(50, dtype=int)
    fitted = bl.fit(bl.GbtBaseline(numeric=["size"]), train, one_class, train)
    assert fitted.scores is None and fitted.metrics is None
    assert fitted.error and "1 class(es) [1]" in fitted.error
    with pytest.raises(ValueError, match="a classifier needs both"):
        bl.fit_and_score(bl.TfidfBaseline(feature="review"), train, one_class, train)


def test_defaults_follow_the_dataset_kinds(tmp_path: Path) -> None:
    inputs = features.model_inputs(str(_dataset(tmp_path)))
    assert "row_id" not in inputs  # an id is no model input
    resolved = bl.resolve(None, inputs)
    assert [(b.label, b.kind, b.features()) for b in resolved] == [
        ("logreg", "logreg", ["colour", "size"]),
        ("gbt", "gbt", ["colour", "size"]),
        ("tfidf", "tfidf", ["review"]),
    ]
    assert [b.label for b in bl.resolve(None, {"review": "text"})] == ["tfidf"]
    assert [b.label for b in bl.resolve(None, {"a": "text", "b": "text"})] == [
        "tfidf_a",
        "tfidf_b",
    ]
    assert [b.label for b in bl.resolve(None, {"size": "numeric"})] == ["logreg", "gbt"]
    # Configured without columns: the dataset's; with some: those, the other kind empty.
    cfg = m.EvaluateConfig.model_validate(
        {"baselines": [{"kind": "gbt"}, {"kind": "logreg", "name": "lr", "numeric": ["size"]}]}
    )
    gbt, lr = bl.resolve(cfg.baselines, inputs)
    assert isinstance(gbt, bl.GbtBaseline) and isinstance(lr, bl.LogregBaseline)
    assert (gbt.categorical, gbt.numeric) == (["colour"], ["size"])
    assert (lr.label, lr.categorical, lr.numeric) == ("lr", [], ["size"])
    with pytest.raises(ConfigError, match="no categorical or numeric feature"):
        bl.resolve(cfg.baselines, {"review": "text"})
    with pytest.raises(ConfigError, match="set `feature`; the dataset has 0 text features"):
        bl.resolve([bl.TfidfBaseline()], {"size": "numeric"})


def test_baseline_names_and_kinds_are_checked_with_the_config() -> None:
    with pytest.raises(ValueError, match="two baselines are called 'gbt'"):
        m.EvaluateConfig.model_validate({"baselines": [{"kind": "gbt"}, {"kind": "gbt"}]})
    with pytest.raises(ValueError, match="'champion' is reserved"):
        m.EvaluateConfig.model_validate({"baselines": [{"kind": "gbt", "name": "champion"}]})
    with pytest.raises(ValueError, match="String should match pattern"):
        m.EvaluateConfig.model_validate({"baselines": [{"kind": "gbt", "name": "My GBT"}]})
    with pytest.raises(ValueError, match="a baseline needs kind: logreg, gbt or tfidf"):
        m.EvaluateConfig.model_validate({"baselines": [{"kind": "forest"}]})
    with pytest.raises(ValueError, match="names no baseline; the baselines are \\['gbt'\\]"):
        m.EvaluateConfig.model_validate(
            {"baselines": [{"kind": "gbt"}], "bless": [{"against": "logreg"}]}
        )
    # With the baselines defaulted, the names are known once the dataset is: checked then.
    cfg = m.EvaluateConfig.model_validate({"bless": [{"against": "tfidf", "margin": 0.01}]})
    with pytest.raises(ConfigError, match="no baseline 'tfidf'; the baselines are \\['logreg'"):
        cfg.rules(["logreg", "gbt"])
    assert cfg.rules(["tfidf"])[0].margin == 0.01


def test_older_single_baseline_configs_still_read() -> None:
    old = m.EvaluateConfig.model_validate(
        {"baseline": {"kind": "onehot_logreg", "categorical": ["colour"], "C": 0.5}}
    )
    assert old.baselines is not None and len(old.baselines) == 1
    (logreg,) = old.baselines
    assert isinstance(logreg, bl.LogregBaseline) and logreg.label == "logreg"
    assert (logreg.categorical, logreg.numeric, logreg.C) == (["colour"], [], 0.5)
    (tfidf,) = m.EvaluateConfig.model_validate({"baseline": {"C": 2.0}}).baselines or []
    assert isinstance(tfidf, bl.TfidfBaseline) and tfidf.feature == "text"  # the old defaults
    assert m.EvaluateConfig.model_validate({"baseline": None}).baselines == []
    with pytest.raises(ValueError, match="both `baseline` and `baselines`"):
        m.EvaluateConfig.model_validate({"baseline": {"C": 1.0}, "baselines": []})
    with pytest.raises(ValueError, match="logreg needs categorical and/or numeric"):
        m.EvaluateConfig.model_validate({"baseline": {"kind": "onehot_logreg"}})


def test_shipped_configs_state_their_rules() -> None:
    adult = load_section(str(REPO / "config" / "adult.yaml"), "evaluate", m.EvaluateConfig)
    reviews = load_section(str(REPO / "config" / "reviews.yaml"), "evaluate", m.EvaluateConfig)
    assert [b.label for b in adult.baselines or []] == ["logreg", "gbt"]
    assert [(r.against, r.metric, r.margin) for r in adult.bless or []] == [
        ("champion", "roc_auc", -0.01),
        ("logreg", "roc_auc", 0.0),
    ]
    assert [b.label for b in reviews.baselines or []] == ["tfidf"]
    assert [(r.against, r.metric, r.margin) for r in reviews.bless or []] == [
        ("champion", "roc_auc", -0.01),
        ("tfidf", "roc_auc", 0.005),
    ]
    for cfg in (adult, reviews):  # the champion rule is in `bless`, not said twice
        assert cfg.max_regression == {}


# Bless rules --------------------------------------------------------------------------------


def test_bless_rules_pass_and_fail_with_reasons() -> None:
    baselines = {"logreg": _fitted("logreg", 0.84), "gbt": _fitted("gbt", 0.88)}
    candidate = {"roc_auc": 0.875, "log_loss": 0.45, "accuracy": 0.8}
    rules = m.EvaluateConfig().rules(list(baselines))  # the default
    assert [r.describe() for r in rules] == [
        "{against: best_baseline, metric: roc_auc, margin: -0.01}"
    ]
    ok, reasons, rows = m.check_rules(candidate, None, baselines, rules)
    assert ok and reasons == [
        "roc_auc 0.8750 vs the best baseline (gbt)'s 0.8800: difference -0.0050 meets the "
        "required margin -0.01"
    ]
    assert rows[0]["reference"] == "gbt" and rows[0]["value"] == 0.88 and rows[0]["passed"]

    strict = [
        m.BlessRule(against="champion", metric="roc_auc", margin=-0.01),
        m.BlessRule(against="logreg", metric="roc_auc", margin=0.02),
        m.BlessRule(against="gbt", metric="roc_auc", margin=0.0),
        m.BlessRule(against="gbt", metric="log_loss", margin=0.0),  # lower is better
    ]
    ok, reasons, rows = m.check_rules(candidate, {"roc_auc": 0.9}, baselines, strict)
    assert not ok
    assert reasons[0] == (
        "roc_auc 0.8750 vs the champion's 0.9000: difference -0.0250 is below the required "
        "margin -0.01: not blessed"
    )
    assert "vs baseline logreg's 0.8400: difference +0.0350 meets" in reasons[1]
    assert reasons[2] == (
        "roc_auc 0.8750 vs baseline gbt's 0.8800: difference -0.0050 is below the required "
        "margin +0: not blessed"
    )
    assert "log_loss 0.4500 vs baseline gbt's 0.5000: difference +0.0500 meets" in reasons[3]
    assert [r["passed"] for r in rows] == [False, True, False, True]
    # No champion yet: its rule does not apply; the others still decide.
    ok, reasons, _ = m.check_rules(candidate, None, baselines, strict[:2])
    assert ok and reasons[0].startswith("no serving champion")


def test_a_rule_against_a_failed_baseline_fails_clearly() -> None:
    error = "the train split has 9 examples of 1 class(es) [1]; a classifier needs both"
    baselines = {"logreg": _fitted("logreg", 0.8), "gbt": _fitted("gbt", None, error)}
    candidate = {"roc_auc": 0.9}
    for against in ("gbt", "best_baseline"):
        ok, reasons, rows = m.check_rules(
            candidate, None, baselines, [m.BlessRule(against=against)]
        )
        assert not ok and not rows[0]["passed"]
        assert reasons == [
            f"rule {{against: {against}, metric: roc_auc, margin: 0}} cannot be checked: "
            f"baseline gbt failed to fit ({error}): not blessed"
        ]
    ok, reasons, _ = m.check_rules(
        {"roc_auc": float("nan")}, None, baselines, [m.BlessRule(against="logreg")]
    )
    assert not ok and "missing or NaN for the candidate or baseline logreg" in reasons[0]


# The step, end to end (scores faked; baselines, rules, slices and report real) -------------------


class _Scorer:
    """A stand-in for the SavedModel's serving function: the noisy truth, or noise."""

    inputs = ["colour", "size"]

    def __init__(self, good: bool) -> None:
        self.good = good

    def __call__(self, columns: dict[str, Any]) -> np.ndarray:
        rng = np.random.default_rng(7)
        n = len(columns["size"])
        if not self.good:
            return rng.random(n)
        truth = (columns["colour"] == b"red") ^ (columns["size"] > 0)
        return np.clip(0.9 * truth + 0.05 + rng.normal(scale=0.02, size=n), 0, 1)


@pytest.fixture
def fake_scoring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    splits = {"train": _data(800, 0), "test": _data(400, 1)}
    state: dict[str, Any] = {"good": True, "splits": splits}

    def load_split(dataset_dir: str, split: str, types: dict, label: str) -> tuple:
        columns, labels = state["splits"][split]
        return {n: columns[n] for n in types}, labels

    monkeypatch.setattr(tfdata, "load_split", load_split)
    monkeypatch.setattr(tfdata, "load_serving_fn", lambda _: _Scorer(state["good"]))
    state["dataset"] = str(_dataset(tmp_path))
    (tmp_path / "model").mkdir()
    state["model"] = str(tmp_path / "model")
    return state


SLICED = {"slices": [{"feature": "colour"}, {"feature": "size", "by": "bucket", "boundaries": [0]}]}


def test_every_baseline_reported_overall_and_per_slice(fake_scoring: dict[str, Any]) -> None:
    from components.evaluate.evaluate import evaluate

    cfg = m.EvaluateConfig.model_validate({"floors": {"roc_auc": 0.5}, **SLICED})
    result = evaluate(fake_scoring["model"], fake_scoring["dataset"], cfg, None)
    assert list(result.baselines) == ["logreg", "gbt", "tfidf"]  # defaults from the kinds
    for b in result.baselines.values():
        assert b.metrics and 0.4 < b.metrics["roc_auc"] <= 1 and b.fit_seconds is not None
    assert result.blessed, result.reasons
    assert any("vs the best baseline (gbt)" in r for r in result.reasons)
    for rows in result.slices.values():
        for row in rows:
            for name in ("logreg", "gbt", "tfidf"):
                assert 0 <= row[f"baseline_{name}_roc_auc"] <= 1, row
    assert result.baseline == result.baselines["logreg"].metrics  # the older readers' one
    html = result.html
    assert "Blessing rules" in html and "<th>baseline gbt</th>" in html
    assert "<th>baseline tfidf roc_auc</th>" in html  # the slice tables
    assert "gradient-boosted trees (scikit-learn HistGradientBoosting)" in html


def test_below_a_required_baseline_is_not_blessed_and_says_why(
    fake_scoring: dict[str, Any], tmp_path: Path
) -> None:
    from components.evaluate.executor import run

    fake_scoring["good"] = False  # a candidate of noise: floors met, baselines not
    config = tmp_path / "config.yaml"
    evaluate_section = {
        "floors": {"roc_auc": 0.0},
        "baselines": [{"kind": "gbt"}, {"kind": "tfidf", "feature": "review"}],
        "bless": [{"against": "tfidf", "metric": "roc_auc", "margin": 0.0}],
        **SLICED,
    }
    config.write_text(yaml.safe_dump({"evaluate": evaluate_section}))
    out = {k: tmp_path / k for k in ("metrics", "cm", "report", "blessed")}
    metrics = run(
        fake_scoring["model"],
        fake_scoring["dataset"],
        str(config),
        "",
        metrics_out=out["metrics"],
        classification_out=out["cm"],
        report_out=out["report"],
        blessed_out=out["blessed"],
    )
    assert out["blessed"].read_text() == "false"
    written = json.loads(out["metrics"].read_text())
    assert written == json.loads(json.dumps(metrics))
    tfidf = written["baselines"]["tfidf"]["metrics"]["roc_auc"]
    (reason,) = [r for r in written["blessing"]["reasons"] if "tfidf" in r]
    assert reason == (
        f"roc_auc {written['roc_auc']:.4f} vs baseline tfidf's {tfidf:.4f}: difference "
        f"{written['roc_auc'] - tfidf:+.4f} is below the required margin +0: not blessed"
    )
    assert written["bless_rules"][0]["passed"] is False
    assert written["baseline_gbt_fit_seconds"] > 0 and written["baseline_tfidf_fit_seconds"] > 0
    assert written["baselines"]["gbt"]["fit_seconds"] == written["baseline_gbt_fit_seconds"]
    assert written["baseline_roc_auc"] == written["baseline_gbt_roc_auc"]  # the first one
    assert written["best_baseline_roc_auc"] == max(
        written["baseline_gbt_roc_auc"], written["baseline_tfidf_roc_auc"]
    )
    html = out["report"].read_text()
    assert "NOT BLESSED" in html and str(escape(reason)) in html

    # One class in the train split: the baselines are reported as failed, the rule fails.
    columns, labels = fake_scoring["splits"]["train"]
    fake_scoring["splits"]["train"] = (columns, np.zeros_like(labels))
    fake_scoring["good"] = True
    metrics = run(
        fake_scoring["model"],
        fake_scoring["dataset"],
        str(config),
        "",
        metrics_out=out["metrics"],
        classification_out=out["cm"],
        report_out=out["report"],
        blessed_out=out["blessed"],
    )
    assert metrics["blessing"]["blessed"] is False
    assert "baseline tfidf failed to fit (the train split has 800 examples of 1 class" in (
        " ".join(metrics["blessing"]["reasons"])
    )
    assert metrics["baselines"]["gbt"]["error"] and "baseline_gbt_roc_auc" not in metrics
    assert "failed to fit: the train split has 800 examples" in out["report"].read_text()
