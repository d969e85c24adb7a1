"""Train: config validation, the char encoder, and a SavedModel that serves raw text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from components.train.config import TrainConfig
from tests.conftest import REPO, run_cli


def test_config_rejects_unknown_and_bad_values() -> None:
    with pytest.raises(ValidationError, match="filterz"):
        TrainConfig.model_validate({"model": {"filterz": 3}})
    with pytest.raises(ValidationError, match="dropout"):
        TrainConfig.model_validate({"model": {"dropout": 1.5}})


def test_bad_config_is_a_clear_cli_error(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train:\n  epochs: 0\n")
    result = run_cli(
        "components.train", "--dataset", tmp_path, "--config", cfg, "--output", tmp_path / "m"
    )
    assert result.returncode == 2
    assert f"{cfg}: train.epochs: Input should be greater than 0" in result.stderr


def test_char_encoder_ids() -> None:
    import tensorflow as tf

    from components.train.model import CharEncoder

    enc = CharEncoder(max_chars=6, vocab_size=260)
    ids = enc(tf.constant(["Ab", "日本語テキスト"])).numpy()
    assert ids.shape == (2, 6)
    assert list(ids[0]) == [ord("a") + 1, ord("b") + 1, 0, 0, 0, 0]  # lowercased, padded
    assert set(ids[1]) == {259}  # characters past the vocabulary share the rare id


@pytest.mark.integration
def test_trained_model_serves_raw_text(trained_model: Path) -> None:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(trained_model / "saved_model"))
    sig = loaded.signatures["serving_default"]
    out = sig(text=tf.constant(["A triumph.", "Dull and lifeless.", ""]))["probability"].numpy()
    assert out.shape == (3,)
    assert ((out >= 0) & (out <= 1)).all()
    history = json.loads((trained_model / "history.json").read_text())
    assert len(history["loss"]) == 2 and "val_auc" in history
    assert json.loads((trained_model / "signature.json").read_text())["input"] == "text"


@pytest.mark.integration
def test_missing_dataset_is_a_clear_error(tmp_path: Path) -> None:
    result = run_cli(
        "components.train",
        "--dataset",
        tmp_path,
        "--config",
        REPO / "config" / "reviews.yaml",
        "--output",
        tmp_path / "m",
    )
    assert result.returncode == 2
    assert "no train/*.tfrecord.gz; run the dataset step first" in result.stderr


@pytest.mark.integration
def test_same_seed_same_model(tmp_path: Path, trained_model: Path, built_dataset: Path) -> None:
    """Seeded shuffle, seeded init and deterministic ops: a rerun reproduces the training."""
    from tests.conftest import small_config

    result = run_cli(
        "components.train",
        "--dataset",
        built_dataset,
        "--config",
        small_config(tmp_path),
        "--output",
        tmp_path / "model",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    first = json.loads((trained_model / "history.json").read_text())
    second = json.loads((tmp_path / "model" / "history.json").read_text())
    assert first == second
