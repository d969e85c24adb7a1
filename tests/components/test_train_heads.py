"""Train's defaults for a new table: inputs from the dataset's kinds, the wide-and-deep head
(and its deep and linear kinds), the best epoch of a loss monitor, the family dispatch, and the
validation of the new settings."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from pydantic import ValidationError

from components.train.config import (
    CategoricalInput,
    NgramBagConfig,
    NumericInput,
    TextInput,
    TrainConfig,
    categorical_embedding_dim,
)
from components.train.trainer import best_epoch, monitor_mode
from tests.conftest import run_cli

KINDS = {"colour": "categorical", "size": "numeric", "review": "text", "row_id": "id"}
TYPES = {"colour": "string", "size": "float", "review": "string", "row_id": "string"}


def _records(n: int, seed: int) -> list[dict[str, Any]]:
    """The label is colour XOR (size > 0) with 10% noise: a linear model over colour and size
    alone cannot learn it, a deep part (or size's buckets crossed with colour) can."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        colour = str(rng.choice(["red", "blue", "green"]))
        size = float(rng.normal())
        label = int((colour == "red") ^ (size > 0))
        if rng.random() < 0.1:
            label = 1 - label
        words = "lovely fine" if rng.random() < 0.5 else "awful dull"
        out.append(
            {
                "colour": colour,
                "size": size,
                "review": f"{words} film {i % 7}",
                "row_id": f"r{seed}-{i}",
                "label": label,
            }
        )
    return out


def _feature_stats(records: list[dict[str, Any]], name: str) -> dict[str, Any]:
    values = [r[name] for r in records]
    if TYPES[name] == "float":
        arr = np.asarray(values, dtype=float)
        return {
            "count": len(arr),
            "mean": float(arr.mean()),
            "std": float(arr.std()),
            "quantiles": [float(q) for q in np.quantile(arr, np.linspace(0, 1, 11))],
        }
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    stats: dict[str, Any] = {"count": len(values), "distinct": len(counts)}
    if len(counts) <= 20:
        stats["vocabulary"] = [[v, c] for v, c in ranked]
    return stats


def write_dataset(root: Path, kinds: dict[str, str] = KINDS, n: int = 1200) -> Path:
    """A dataset folder as the dataset step writes it: GZIP TFRecord shards of train and eval,
    schema.json with types and kinds, stats.json with the train split's feature statistics."""
    import tensorflow as tf

    splits = {"train": _records(n, 1), "eval": _records(n // 3, 2)}
    for split, records in splits.items():
        (root / split).mkdir(parents=True)
        options = tf.io.TFRecordOptions(compression_type="GZIP")
        with tf.io.TFRecordWriter(str(root / split / "part-0.tfrecord.gz"), options) as out:
            for r in records:
                feats = {
                    "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[r["label"]]))
                }
                for name in kinds:
                    if TYPES[name] == "float":
                        feats[name] = tf.train.Feature(
                            float_list=tf.train.FloatList(value=[r[name]])
                        )
                    else:
                        feats[name] = tf.train.Feature(
                            bytes_list=tf.train.BytesList(value=[r[name].encode()])
                        )
                example = tf.train.Example(features=tf.train.Features(feature=feats))
                out.write(example.SerializeToString())
    schema = {
        "features": {**{n: TYPES[n] for n in kinds}, "label": "int"},
        "label": "label",
        "compression": "GZIP",
        "kinds": kinds,
    }
    (root / "schema.json").write_text(json.dumps(schema))
    train = splits["train"]
    split_stats = {
        "examples": len(train),
        "positive_rate": sum(r["label"] for r in train) / len(train),
        "features": {name: _feature_stats(train, name) for name in kinds},
    }
    (root / "stats.json").write_text(json.dumps({"splits": {"train": split_stats}}))
    return root


# Config ---------------------------------------------------------------------------------------


def test_every_train_setting_has_a_default_and_new_ones_are_checked() -> None:
    cfg = TrainConfig.model_validate({})
    assert cfg.inputs is None and cfg.family == "neural" and cfg.head.kind is None
    assert cfg.early_stopping is not None and cfg.early_stopping.monitor == "val_auc"
    assert cfg.sampler.kind == "natural"
    with pytest.raises(ValidationError, match="omit inputs to take every feature"):
        TrainConfig.model_validate({"inputs": []})
    with pytest.raises(ValidationError, match="wide_deep"):
        TrainConfig.model_validate({"head": {"kind": "wide"}})
    with pytest.raises(ValidationError, match="hidden_units must be positive"):
        TrainConfig.model_validate({"head": {"hidden_units": [16, 0]}})
    with pytest.raises(ValidationError, match="family"):
        TrainConfig.model_validate({"family": "forest"})
    with pytest.raises(KeyError, match="not set in the train section"):
        cfg.with_overrides({"inputs.0.embedding_dim": 4})
    assert cfg.with_overrides({"head.dropout": 0.2}).head.dropout == 0.2


def test_default_inputs_follow_the_dataset_kinds() -> None:
    stats = {
        "colour": {"vocabulary": [["red", 5], ["blue", 4], ["green", 1]]},
        "country": {"distinct": 4000},  # too many values for a vocabulary
        "size": {"mean": 0.1, "std": 1.0},
        "review": {},
    }
    kinds = {"colour": "categorical", "country": "categorical", "size": "numeric"}
    kinds["review"] = "text"
    dtypes = {"colour": "string", "country": "string", "size": "float", "review": "string"}
    cfg, skipped = TrainConfig().with_default_inputs(kinds, dtypes, stats)
    by_name = {i.name: i for i in cfg.input_specs()}
    assert sorted(by_name) == ["colour", "review", "size"]
    colour = by_name["colour"]
    assert isinstance(colour, CategoricalInput)
    assert colour.embedding_dim == categorical_embedding_dim(4)  # three values and OOV
    assert isinstance(by_name["size"], NumericInput) and by_name["size"].transform == "normalize"
    review = by_name["review"]
    assert isinstance(review, TextInput)
    assert isinstance(review.encoder, NgramBagConfig) and review.encoder.mode == "tf_idf"
    assert skipped and skipped[0].startswith("country: categorical but")
    # A text input: a deep head with no hidden layers; a table: wide-and-deep, two layers.
    assert (cfg.head.kind, cfg.head.hidden_units) == ("deep", [])
    table, _ = TrainConfig().with_default_inputs(
        {"colour": "categorical", "size": "numeric"}, dtypes, stats
    )
    assert (table.head.kind, table.head.hidden_units) == ("wide_deep", [64, 32])
    # Declared inputs and head stay as written.
    declared = TrainConfig.model_validate(
        {"inputs": [{"name": "size", "kind": "numeric"}], "head": {"hidden_units": []}}
    )
    kept, _ = declared.with_default_inputs({}, {}, stats)
    assert [i.name for i in kept.input_specs()] == ["size"]
    assert (kept.head.kind, kept.head.hidden_units) == ("wide_deep", [])
    assert [categorical_embedding_dim(n) for n in (2, 10, 40, 1000)] == [2, 6, 13, 16]


def test_best_epoch_of_a_loss_monitor_is_its_lowest() -> None:
    hist = {"val_loss": [0.6, 0.4, 0.5, 0.45], "val_auc": [0.7, 0.8, 0.85, 0.9]}
    assert monitor_mode("val_loss") == "min" and monitor_mode("val_auc") == "max"
    assert best_epoch(hist, "val_loss") == {"val_loss": 0.4, "val_auc": 0.8, "best_epoch": 2}
    assert best_epoch(hist, "val_auc")["best_epoch"] == 4
    assert best_epoch(hist, "") == {"val_loss": 0.45, "val_auc": 0.9}  # no monitor: the last


def test_gbt_family_is_handed_to_the_trees_trainer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from components.train import trainer

    calls: list[tuple[str, Any, Any]] = []
    fake = types.ModuleType("components.train.trees")

    def train_gbt(dataset_dir: str, cfg: TrainConfig, output: Path | None) -> dict:
        calls.append((dataset_dir, cfg.family, output))
        return {"val_auc": 0.9}

    fake.train_gbt = train_gbt  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "components.train.trees", fake)
    import components.train as package

    monkeypatch.setattr(package, "trees", fake, raising=False)
    cfg = TrainConfig.model_validate({"family": "gbt"})
    assert trainer.train("ds", cfg, tmp_path / "m", str(tmp_path / "c")) == {"val_auc": 0.9}
    assert calls == [("ds", "gbt", tmp_path / "m")]


# Training -------------------------------------------------------------------------------------


@pytest.mark.integration
def test_a_config_without_train_section_trains_wide_and_deep(tmp_path: Path) -> None:
    """No train section: inputs from the kinds (the id left out), a wide-and-deep head that
    learns the XOR a linear model cannot, recorded in train_config.json; the SavedModel takes
    raw records."""
    import tensorflow as tf

    dataset = write_dataset(
        tmp_path / "ds", kinds={k: KINDS[k] for k in ("colour", "size", "row_id")}
    )
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({"model": {"name": "toy"}, "train": {"epochs": 12}}))
    result = run_cli(
        "components.train",
        "--dataset",
        str(dataset),
        "--config",
        str(config),
        "--output",
        str(tmp_path / "m"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "inputs (from the dataset kinds): colour categorical/" in result.stderr
    saved = json.loads((tmp_path / "m" / "train_config.json").read_text())
    assert [i["name"] for i in saved["inputs"]] == ["colour", "size"]
    assert saved["head"]["kind"] == "wide_deep" and saved["head"]["hidden_units"] == [64, 32]
    metrics = json.loads((tmp_path / "m" / "metrics.json").read_text())
    assert metrics["val_auc"] > 0.85, metrics  # XOR with 10% noise: the deep part learns it
    loaded = tf.saved_model.load(str(tmp_path / "m" / "saved_model"))
    out = loaded.signatures["serving_default"](
        colour=tf.constant(["red", "blue", "purple"]), size=tf.constant([1.0, 1.0, float("nan")])
    )["probability"].numpy()
    assert out.shape == (3,) and out[1] > out[0]  # blue and big: positive; red and big: not


@pytest.mark.integration
def test_heads_share_the_linear_part(tmp_path: Path) -> None:
    """linear: one weight per value, per number and per bucket (logistic regression on one-hot
    and buckets); wide_deep adds the deep part to it; deep has no linear weights."""
    import keras

    from components.train.model import build_model

    dataset = write_dataset(tmp_path / "ds", n=300)
    stats = json.loads((dataset / "stats.json").read_text())["splits"]["train"]["features"]
    inputs = [
        {"name": "colour", "kind": "categorical"},
        {"name": "size", "kind": "numeric"},
        {"name": "review", "kind": "text", "encoder": {"kind": "ngram_bag", "mode": "tf_idf"}},
    ]

    def texts(name: str) -> Any:
        return ["lovely fine film", "awful dull film"]

    layers = {}
    for kind in ("linear", "wide_deep", "deep"):
        cfg, _ = TrainConfig.model_validate(
            {"inputs": inputs, "head": {"kind": kind, "hidden_units": [8]}}
        ).with_default_inputs({}, {}, stats)
        model = build_model(cfg, TYPES, stats, texts)
        assert isinstance(model, keras.Model)
        layers[kind] = {layer.name for layer in model.layers}
    linear = {"colour_linear", "size_linear_bucket", "linear"}
    assert linear <= layers["linear"] and "hidden_0" not in layers["linear"]
    assert linear | {"hidden_0", "deep_logit"} <= layers["wide_deep"]
    assert not linear & layers["deep"] and "hidden_0" in layers["deep"]


def test_learned_vocabulary_is_what_keras_adapt_learns() -> None:
    """The counted vocabulary (and IDF) equals TextVectorization.adapt's, word and character
    n-grams, cut at max_tokens with ties ordered as Keras orders them."""
    import keras
    import numpy as np
    import tensorflow as tf

    from components.train.model import learn_vocabulary

    texts = ["A fine, fine film!", "Dull film.", "", "fine dull A", "Émile's film"] * 3
    for options in (
        {"ngrams": 2, "output_mode": "tf_idf", "max_tokens": 9},
        {"ngrams": 3, "split": "character", "output_mode": "int", "max_tokens": 20},
        {"ngrams": 2, "output_mode": "tf_idf", "max_tokens": 1000},
    ):
        adapted = keras.layers.TextVectorization(**options)
        adapted.adapt(tf.data.Dataset.from_tensor_slices(texts).batch(4))
        counted = keras.layers.TextVectorization(**options)
        learn_vocabulary(counted, tf.data.Dataset.from_tensor_slices(texts).batch(4))
        assert counted.get_vocabulary() == adapted.get_vocabulary(), options
        a = adapted(tf.constant(texts)).numpy()
        c = counted(tf.constant(texts)).numpy()
        np.testing.assert_allclose(c, a, rtol=1e-5)
