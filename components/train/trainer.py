"""Training loop: tf.data input, a strategy from the environment, resumable fit, export."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from components.common import fs
from components.common.tfdata import split_files, text_label_dataset
from components.train.config import TrainConfig

log = logging.getLogger(__name__)

SAVED_MODEL = "saved_model"
SERVING_SIGNATURE = "serving_default"
SERVING_INPUT = "text"
SERVING_OUTPUT = "probability"


def choose_strategy() -> Any:
    """MultiWorkerMirrored under TF_CONFIG (TFJob), Mirrored on several GPUs, else the default."""
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):
        log.info("TF_CONFIG set: MultiWorkerMirroredStrategy")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) > 1:
        log.info("%d GPUs: MirroredStrategy", len(gpus))
        return tf.distribute.MirroredStrategy()
    log.info("device: %s", "1 GPU" if gpus else "CPU")
    return tf.distribute.get_strategy()


def export_saved_model(model: Any, path: Path) -> None:
    """SavedModel whose serving signature takes raw text: {'text': [N] string} -> probability."""
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name=SERVING_SIGNATURE,
        fn=lambda text: {SERVING_OUTPUT: tf.reshape(model(text, training=False), [-1])},
        input_signature=[tf.TensorSpec([None], tf.string, name=SERVING_INPUT)],
    )
    archive.write_out(str(path), verbose=False)


def train(dataset_dir: str, cfg: TrainConfig, output: Path, checkpoint_dir: Path) -> dict:
    import keras
    import tensorflow as tf

    from components.train.model import build_model

    keras.utils.set_random_seed(cfg.seed)
    tf.config.experimental.enable_op_determinism()  # same seed, same model (on one machine)
    train_ds = text_label_dataset(
        split_files(dataset_dir, "train"),
        cfg.text_feature,
        cfg.label,
        cfg.batch_size,
        cfg.shuffle_buffer,
        cfg.seed,
    )
    eval_ds = text_label_dataset(
        split_files(dataset_dir, "eval"), cfg.text_feature, cfg.label, cfg.batch_size
    )

    # Vocabularies are learned from the train split in file order (not the shuffled stream), so
    # the same dataset always gives the same vocabulary.
    train_texts = text_label_dataset(
        split_files(dataset_dir, "train"), cfg.text_feature, cfg.label, 1024
    ).map(lambda text, _: text)
    with choose_strategy().scope():
        model = build_model(cfg.model, cfg.max_chars, train_texts)
        optimizer = keras.optimizers.get(
            {
                "class_name": cfg.optimizer.name,
                "config": {"learning_rate": cfg.optimizer.learning_rate},
            }
        )
        model.compile(
            optimizer=optimizer,
            loss="binary_crossentropy",
            metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="accuracy")],
        )
    callbacks: list[Any] = [keras.callbacks.BackupAndRestore(str(checkpoint_dir))]
    if cfg.early_stopping:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=cfg.early_stopping.monitor,
                mode="max"
                if "auc" in cfg.early_stopping.monitor or "acc" in cfg.early_stopping.monitor
                else "min",
                patience=cfg.early_stopping.patience,
                restore_best_weights=True,
            )
        )
    history = model.fit(
        train_ds, validation_data=eval_ds, epochs=cfg.epochs, callbacks=callbacks, verbose=2
    )
    hist = {k: [round(float(v), 6) for v in vals] for k, vals in history.history.items()}
    best = {k: v[-1] for k, v in hist.items()}
    if cfg.early_stopping and cfg.early_stopping.monitor in hist:
        series = hist[cfg.early_stopping.monitor]
        idx = series.index(max(series))
        best = {k: v[idx] for k, v in hist.items()} | {"best_epoch": idx + 1}

    with fs.staged_dir(output) as stage:
        export_saved_model(model, stage / SAVED_MODEL)
        fs.write_json_atomic(stage / "history.json", hist)
        fs.write_json_atomic(stage / "train_config.json", cfg.model_dump())
        fs.write_json_atomic(stage / "metrics.json", best)
        # The statistics of the data this model learned from travel with it (a later dataset is
        # compared with them once this model serves).
        stats = fs.join(dataset_dir, "stats.json")
        if fs.exists(stats):
            fs.write_json_atomic(stage / "dataset_stats.json", fs.read_json(stats))
        fs.write_json_atomic(
            stage / "signature.json",
            {
                "signature": SERVING_SIGNATURE,
                "input": SERVING_INPUT,
                "output": SERVING_OUTPUT,
                "tensorflow": tf.__version__,
            },
        )
    log.info("exported %s (%s)", output / SAVED_MODEL, json.dumps(best))
    return best
