"""Gradient-boosted trees: YDF training, a plain-TensorFlow SavedModel with the neural model's
signature, evaluate's scorer reading it, and a search that chooses among model families."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from components.train.trees import GbtConfig
from tests.conftest import REPO

ROWS = 1600
BUDGET_S = 60.0
COLORS = ["red", "green", "blue", "amber", "teal", "rare"]


def _rows(n: int, seed: int) -> list[dict[str, Any]]:
    """A table whose label depends on a number (with missing values), a string category (with
    empty = missing) and an int category, plus an id no model may take."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        age = float(rng.normal(40, 12))
        color = COLORS[int(rng.integers(0, 5))] if rng.random() > 0.05 else ""
        if rng.random() < 0.002:
            color = "rare"
        grade = int(rng.integers(1, 6))
        hours = int(rng.integers(0, 60))
        logit = 0.08 * (age - 40) + (1.2 if color in ("red", "teal") else -0.4)
        logit += 0.5 * (grade - 3) + 0.02 * (hours - 30) + rng.normal(0, 0.7)
        rows.append(
            {
                "age": age if rng.random() > 0.05 else None,
                "hours": hours,
                "color": color,
                "grade": grade,
                "uid": f"u{seed}-{i}",
                "label": int(logit > 0),
            }
        )
    return rows


TYPES = {"age": "float", "hours": "int", "color": "string", "grade": "int", "uid": "string"}
KINDS = {
    "age": "numeric",
    "hours": "numeric",
    "color": "categorical",
    "grade": "categorical",
    "uid": "id",
}


def _write_split(root: Path, split: str, rows: list[dict[str, Any]]) -> None:
    import tensorflow as tf

    (root / split).mkdir(parents=True)
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    with tf.io.TFRecordWriter(str(root / split / "part-00000.tfrecord.gz"), options) as w:
        for r in rows:
            feats = {}
            for name, kind in {**TYPES, "label": "int"}.items():
                v = r[name]
                if kind == "float":
                    f = tf.train.Feature(
                        float_list=tf.train.FloatList(value=[] if v is None else [v])
                    )
                elif kind == "int":
                    f = tf.train.Feature(int64_list=tf.train.Int64List(value=[v]))
                else:
                    f = tf.train.Feature(bytes_list=tf.train.BytesList(value=[v.encode()]))
                feats[name] = f
            w.write(tf.train.Example(features=tf.train.Features(feature=feats)).SerializeToString())


def _feature_stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What the neural model reads from the dataset statistics: numbers' mean, std and
    quantiles; categoricals' vocabulary with counts, most frequent first."""
    from collections import Counter

    import numpy as np

    out: dict[str, Any] = {}
    for name in ("age", "hours"):
        vals = np.asarray([r[name] for r in rows if r[name] is not None], dtype=float)
        out[name] = {
            "mean": float(vals.mean()),
            "std": float(vals.std()),
            "quantiles": [float(q) for q in np.quantile(vals, np.linspace(0, 1, 11))],
        }
    for name in ("color", "grade"):
        counts = Counter(str(r[name]) for r in rows)
        out[name] = {"vocabulary": [[v, c] for v, c in counts.most_common()]}
    return out


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("table") / "dataset"
    splits = {"train": _rows(ROWS, 1), "eval": _rows(ROWS // 4, 2), "test": _rows(ROWS // 4, 3)}
    for split, rows in splits.items():
        _write_split(root, split, rows)
    schema = {
        "features": {**TYPES, "label": "int"},
        "label": "label",
        "compression": "GZIP",
        "kinds": KINDS,
    }
    (root / "schema.json").write_text(json.dumps(schema))
    stats = {
        "group_key": "uid",
        "salt": "",
        "total_examples": sum(len(r) for r in splits.values()),
        "leaked_groups": 0,
        "splits": {
            split: {
                "examples": len(rows),
                "label_counts": {},
                "positive_rate": sum(r["label"] for r in rows) / len(rows),
                "groups": len(rows),
                "files": [],
                "features": _feature_stats(rows),
            }
            for split, rows in splits.items()
        },
    }
    (root / "stats.json").write_text(json.dumps(stats))
    return root


def _cfg(**train: Any) -> Any:
    """A TrainConfig for the table (inputs listed: the neural model needs them)."""
    from components.train.config import TrainConfig

    inputs = [
        {"name": "age", "kind": "numeric"},
        {"name": "hours", "kind": "numeric"},
        {"name": "color", "kind": "categorical"},
        {"name": "grade", "kind": "categorical"},
    ]
    cfg = TrainConfig.model_validate({"inputs": inputs, "batch_size": 128, "epochs": 3, **train})
    return cfg


def _with(model: Any, **values: Any) -> Any:
    """`model` with `values` set: validated if its class declares them, else carried as plain
    attributes (what the code reads with getattr until config.py declares the fields)."""
    fields = type(model).model_fields
    if set(values) <= set(fields):
        return type(model).model_validate({**dict(model), **values})
    built = type(model).model_construct(**{k: getattr(model, k) for k in fields})
    for name, value in values.items():
        object.__setattr__(built, name, value)
    return built


def _with_gbt(cfg: Any, gbt: GbtConfig) -> Any:
    return _with(cfg, gbt=gbt)


def test_gbt_config_fields_are_described_and_checked() -> None:
    from pydantic import ValidationError

    for name, field in GbtConfig.model_fields.items():
        assert field.description, f"GbtConfig.{name} has no description"
    with pytest.raises(ValidationError, match="max_depth"):
        GbtConfig.model_validate({"max_depth": 0})
    with pytest.raises(ValidationError, match="num_treez"):
        GbtConfig.model_validate({"num_treez": 3})


def test_default_inputs_come_from_the_schema_kinds(table: Path) -> None:
    from components.train.trees import gbt_inputs

    cfg = _cfg()
    listed = gbt_inputs(str(table), cfg)
    assert listed == {
        "age": "numeric",
        "hours": "numeric",
        "color": "categorical",
        "grade": "categorical",
    }
    unlisted = cfg.model_construct(**{**dict(cfg), "inputs": []})
    assert gbt_inputs(str(table), unlisted) == {k: v for k, v in KINDS.items() if k != "uid"}


@pytest.mark.integration
def test_gbt_saved_model_serves_with_plain_tensorflow(table: Path, tmp_path: Path) -> None:
    """train_gbt publishes the neural trainer's layout; the SavedModel, loaded in a fresh process
    that never imports ydf, gives YDF's own probabilities within 1e-5 (missing numbers, empty
    and unseen categories included), through the same signature as the neural model."""
    import numpy as np
    import ydf

    from components.common import tfdata
    from components.train.trees import _ydf_columns, fit_gbt, train_gbt

    cfg = _with_gbt(_cfg(), GbtConfig(num_trees=60, max_depth=4, early_stopping_patience=10))
    out = tmp_path / "model"
    best = train_gbt(str(table), cfg, out)
    assert sorted(p.name for p in out.iterdir()) == [
        "dataset_stats.json",
        "history.json",
        "metrics.json",
        "saved_model",
        "signature.json",
        "train_config.json",
    ]
    assert {"loss", "auc", "accuracy", "val_loss", "val_auc", "val_accuracy"} <= set(best)
    assert best["val_auc"] > 0.85 and 1 <= best["num_trees"] <= 60
    assert json.loads((out / "metrics.json").read_text()) == best
    history = json.loads((out / "history.json").read_text())
    assert len(history["val_loss"]) >= 1
    signature = json.loads((out / "signature.json").read_text())
    assert signature["inputs"] == {n: TYPES[n] for n in ("age", "hours", "color", "grade")}
    assert signature["signature"] == "serving_default" and signature["output"] == "probability"

    # The same seed trains the same trees: this model is the exported one.
    model, kinds, types, again = fit_gbt(str(table), cfg)
    assert again == best
    columns, _ = tfdata.load_split(str(table), "test", types, "label")
    edge = {
        "age": [float("nan"), 18.0, 90.0, 40.0],
        "hours": [0, 59, 100, 30],
        "color": ["", "never-seen", "rare", "red"],
        "grade": [0, 9, 3, 1],
    }
    batch = {
        n: np.concatenate([np.asarray(columns[n]), np.asarray(edge[n], dtype=columns[n].dtype)])
        for n in types
    }
    expected = model.predict(_ydf_columns(batch, kinds, types))
    request = {
        n: [v.decode() if isinstance(v, bytes) else v for v in batch[n].tolist()] for n in types
    }
    (tmp_path / "request.json").write_text(json.dumps(request))
    script = f"""
import json, sys
import tensorflow as tf
from components.common import tfdata
predict = tfdata.load_serving_fn({str(out / "saved_model")!r})
request = json.load(open({str(tmp_path / "request.json")!r}))
sig = predict.saved_model.signatures["serving_default"]
inputs = sig.structured_input_signature[1]
specs = {{n: [s.dtype.name, s.shape.as_list()] for n, s in inputs.items()}}
outputs = {{n: [s.dtype.name, s.shape.as_list()] for n, s in sig.structured_outputs.items()}}
print(json.dumps({{"scores": predict(request).tolist(), "specs": specs, "outputs": outputs,
                  "ydf_loaded": any(m.startswith("ydf") for m in sys.modules)}}))
"""
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    served = json.loads(result.stdout.strip().splitlines()[-1])
    assert served["ydf_loaded"] is False
    np.testing.assert_allclose(np.asarray(served["scores"]), expected, atol=1e-5, rtol=0)
    # The neural model's signature: [N] inputs typed by the schema, {'probability': [N] float}.
    tf_type = {"float": "float32", "int": "int64", "string": "string"}
    assert served["specs"] == {n: [tf_type[k], [None]] for n, k in types.items()}
    assert served["outputs"] == {"probability": ["float32", [None]]}
    assert ydf.__version__ == signature["ydf"]


@pytest.mark.integration
def test_evaluate_scores_the_gbt_model_as_it_scores_the_neural_one(
    table: Path, tmp_path: Path
) -> None:
    """evaluate's scorer (tfdata.load_serving_fn on the test split, typed by the schema) reads
    the trees' SavedModel, and its ROC AUC on test agrees with the trees' eval quality."""
    import numpy as np

    from components.common import tfdata
    from components.evaluate import metrics as m
    from components.train.trees import train_gbt

    cfg = _with_gbt(_cfg(), GbtConfig(num_trees=40, max_depth=4))
    train_gbt(str(table), cfg, tmp_path / "model")
    predict = tfdata.load_serving_fn(str(tmp_path / "model" / "saved_model"))
    types = tfdata.feature_types(str(table), list(predict.inputs))
    columns, labels = tfdata.load_split(str(table), "test", types, "label")
    scores = predict(columns)
    assert scores.shape == labels.shape and np.all((scores >= 0) & (scores <= 1))
    metrics = m.classification_metrics(labels, scores, 0.5)
    assert metrics["roc_auc"] > 0.85


def test_text_inputs_are_refused_with_the_fix(table: Path) -> None:
    from components.common.errors import ConfigError
    from components.train.config import TrainConfig
    from components.train.trees import gbt_inputs

    cfg = TrainConfig.model_validate({"inputs": [{"name": "uid", "kind": "text"}]})
    with pytest.raises(ConfigError, match=r"use train\.family: neural"):
        gbt_inputs(str(table), cfg)


@pytest.mark.integration
def test_search_with_a_time_budget_chooses_a_family(table: Path, tmp_path: Path) -> None:
    from components.train.search import run_search

    cfg = _cfg(
        epochs=2,
        search={
            "trials": 50,
            "space": {
                "optimizer.learning_rate": {
                    "type": "float",
                    "low": 1e-3,
                    "high": 1e-2,
                    "log": True,
                },
                "gbt.max_depth": {"type": "int", "low": 2, "high": 4},
            },
        },
    )
    search = _with(cfg.search, time_budget_s=BUDGET_S, families=["gbt", "neural"])
    cfg = _with(cfg, search=search, gbt=GbtConfig(num_trees=30, max_depth=3))
    result = run_search(str(table), cfg)
    assert result["best_family"] in ("neural", "gbt")
    assert result["best_params"]["family"] == result["best_family"]
    done = [t for t in result["trials"] if t["state"] == "COMPLETE"]
    # Each family is tried first, in the order listed; a trial records its family and params.
    assert [t["family"] for t in done[:2]] == ["gbt", "neural"][: len(done)]
    assert all(t["params"]["family"] == t["family"] for t in done)
    for t in done:  # a trial takes its family's dimensions only
        assert ("optimizer.learning_rate" in t["params"]) == (t["family"] == "neural")
        assert ("gbt.max_depth" in t["params"]) == (t["family"] == "gbt")
    assert 2 <= len(done) < 50  # the budget, not the trial count, ended the search
    assert result["elapsed_s"] < BUDGET_S + 300  # the last trial started before the budget ran out
    best = max(t["value"] for t in done)
    assert result["best"]["value"] == best
