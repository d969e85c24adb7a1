"""Train: config validation, the char encoder, and a SavedModel that serves raw text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from components.train.config import TrainConfig
from tests.conftest import REPO, run_cli, small_config


def _text(**encoder: object) -> dict:
    return {"inputs": [{"name": "text", "kind": "text", "encoder": encoder}]}


def test_config_rejects_unknown_and_bad_values() -> None:
    with pytest.raises(ValidationError, match="filterz"):
        TrainConfig.model_validate(_text(filterz=3))
    with pytest.raises(ValidationError, match="dropout"):
        TrainConfig.model_validate(_text(dropout=1.5))
    with pytest.raises(ValidationError, match="inputs"):
        TrainConfig.model_validate({"inputs": []})
    with pytest.raises(ValidationError, match="bucketize needs boundaries"):
        TrainConfig.model_validate(
            {"inputs": [{"name": "age", "kind": "numeric", "transform": "bucketize"}]}
        )
    with pytest.raises(ValidationError, match="boundaries must increase"):
        TrainConfig.model_validate(
            {
                "inputs": [
                    {"name": "a", "kind": "numeric", "transform": "bucketize", "boundaries": [3, 1]}
                ]
            }
        )
    with pytest.raises(ValidationError, match="named more than once"):
        TrainConfig.model_validate(
            {"inputs": [{"name": "a", "kind": "categorical"}, {"name": "a", "kind": "numeric"}]}
        )
    with pytest.raises(ValidationError, match="input kind must be text, categorical or numeric"):
        TrainConfig.model_validate({"inputs": [{"name": "a", "kind": "image"}]})


def test_overrides_set_dotted_paths_and_are_validated() -> None:
    cfg = TrainConfig.model_validate(_text(kind="ngram_bag"))
    tuned = cfg.with_overrides({"optimizer.learning_rate": 3e-4, "inputs.0.encoder.dropout": 0.4})
    assert tuned.optimizer.learning_rate == 3e-4 and tuned.inputs[0].encoder.dropout == 0.4
    with pytest.raises(KeyError, match="no such setting"):
        cfg.with_overrides({"optimizer.momentum": 0.9})
    with pytest.raises(ValidationError, match="dropout"):
        cfg.with_overrides({"inputs.0.encoder.dropout": 2.0})


def test_bad_config_is_a_clear_cli_error(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("train:\n  inputs: [{name: text, kind: text}]\n  epochs: 0\n")
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
    assert json.loads((trained_model / "signature.json").read_text())["inputs"] == {
        "text": "string"
    }


@pytest.mark.integration
def test_ngram_bag_model_trains_and_serves_raw_text(tmp_path: Path, built_dataset: Path) -> None:
    """The fastText-style model: its n-gram vocabulary is inside the SavedModel, so raw text
    (an empty one too) is scored without any serving-side code."""
    import numpy as np
    import tensorflow as tf

    config = small_config(
        tmp_path,
        train={
            **_text(kind="ngram_bag", max_tokens=5000, embedding_dim=16),
            "epochs": 3,
        },
    )
    result = run_cli(
        "components.train",
        "--dataset",
        built_dataset,
        "--config",
        config,
        "--output",
        tmp_path / "model",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    saved = json.loads((tmp_path / "model" / "train_config.json").read_text())
    assert saved["inputs"][0]["encoder"]["kind"] == "ngram_bag"
    loaded = tf.saved_model.load(str(tmp_path / "model" / "saved_model"))
    sig = loaded.signatures["serving_default"]
    out = sig(text=tf.constant(["A triumph of a film.", "Dull, lifeless.", ""]))
    scores = out["probability"].numpy()
    assert scores.shape == (3,) and np.isfinite(scores).all()
    assert ((scores >= 0) & (scores <= 1)).all()


@pytest.mark.integration
def test_killed_training_resumes_from_its_last_checkpoint(
    tmp_path: Path, built_dataset: Path
) -> None:
    """SIGKILL the step once two epochs are checkpointed; the rerun starts at epoch 3."""
    import signal
    import subprocess
    import sys
    import time

    config = small_config(
        tmp_path,
        train={
            **_text(kind="ngram_bag", max_tokens=2000, embedding_dim=8),
            "epochs": 30,
            "early_stopping": None,
            "backup_seconds": 0,  # every epoch
        },
    )
    cmd = [
        sys.executable,
        "-m",
        "components.train",
        "--dataset",
        str(built_dataset),
        "--config",
        str(config),
        "--output",
        str(tmp_path / "model"),
    ]
    metadata = tmp_path / "model.checkpoints" / "training_metadata.json"
    first = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    done = 0
    while time.monotonic() < deadline and first.poll() is None:
        try:
            done = json.loads(metadata.read_text())["epoch"]
        except (FileNotFoundError, ValueError, KeyError):
            done = 0
        if done >= 2:
            first.send_signal(signal.SIGKILL)
            break
        time.sleep(0.05)
    first.wait(timeout=60)
    assert first.returncode == -signal.SIGKILL, "the first run ended before it could be killed"
    assert not (tmp_path / "model").exists()  # killed: nothing half-published

    second = run_cli(*cmd[2:])
    assert second.returncode == 0, second.stderr[-3000:]
    restored = 30 - len(json.loads((tmp_path / "model" / "history.json").read_text())["loss"])
    assert restored >= 2  # the epochs checkpointed before the kill were not trained again
    assert f"progress: epoch {restored + 1}/30 " in second.stdout
    assert "progress: epoch 1/30 " not in second.stdout
    assert not (tmp_path / "model.checkpoints").exists() or not any(
        (tmp_path / "model.checkpoints").iterdir()
    )  # cleaned up after a finished run


def test_model_kind_is_checked() -> None:
    with pytest.raises(ValidationError, match="ngram_bag"):
        TrainConfig.model_validate(_text(kind="transformer"))
    with pytest.raises(ValidationError, match="ngrams"):
        TrainConfig.model_validate(_text(kind="ngram_bag", ngrams=7))


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
    assert f"{tmp_path}: no stats.json; run the dataset step first" in result.stderr


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


@pytest.mark.integration
@pytest.mark.parametrize(("every_seconds", "backed_up"), [(0.0, [1, 2, 3]), (3600.0, [])])
def test_backups_wait_for_their_interval(
    tmp_path: Path, every_seconds: float, backed_up: list[int]
) -> None:
    """`backup_seconds`: an epoch's end backs up only once the interval has passed since the last
    backup (0: every epoch); what a backup records is the epoch it was taken after."""
    import keras
    import numpy as np

    from components.train.trainer import timed_backup

    backup = tmp_path / "backup"
    seen: list[int] = []

    class Watch(keras.callbacks.Callback):  # runs after the backup, at every epoch's end
        def on_epoch_end(self, epoch: int, logs: object = None) -> None:
            meta = backup / "training_metadata.json"
            if meta.exists():
                seen.append(json.loads(meta.read_text())["epoch"])

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x = np.zeros((8, 2), np.float32)
    model.fit(
        x,
        x[:, :1],
        epochs=3,
        verbose=0,
        callbacks=[timed_backup(str(backup), every_seconds), Watch()],
    )
    assert sorted(set(seen)) == backed_up
