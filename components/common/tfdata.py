"""Reading the dataset step's TFRecord shards with tf.data (train and evaluate share this)."""

from __future__ import annotations

from typing import Any

from components.common import fs
from components.common.errors import InputDataError


def split_files(dataset_dir: str, split: str) -> list[str]:
    files = fs.match(fs.join(dataset_dir, split, "*.tfrecord.gz"))
    if not files:
        raise InputDataError(f"{dataset_dir}: no {split}/*.tfrecord.gz; run the dataset step first")
    return files


def text_label_dataset(
    files: list[str],
    text: str,
    label: str,
    batch_size: int,
    shuffle_buffer: int = 0,
    seed: int | None = None,
) -> Any:
    """(text, label) batches: batched parse_example, optional seeded shuffle, prefetch."""
    import tensorflow as tf

    spec = {text: tf.io.FixedLenFeature([], tf.string), label: tf.io.FixedLenFeature([], tf.int64)}
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if shuffle_buffer:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    ds = ds.map(
        lambda b: tf.io.parse_example(b, spec),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    ds = ds.map(lambda f: (f[text], tf.cast(f[label], tf.float32)))
    return ds.prefetch(tf.data.AUTOTUNE)


def load_text_labels(dataset_dir: str, split: str, text: str, label: str) -> tuple[list, Any]:
    """All (texts, labels) of a split in memory, in file order: for evaluation."""
    import numpy as np

    texts: list[bytes] = []
    labels: list[float] = []
    for t, y in text_label_dataset(split_files(dataset_dir, split), text, label, 1024):
        texts.extend(t.numpy().tolist())
        labels.extend(y.numpy().tolist())
    return texts, np.asarray(labels, dtype=int)


def load_serving_fn(saved_model_dir: str) -> Any:
    """The SavedModel's serving signature as a function: list of raw texts -> scores."""
    import numpy as np
    import tensorflow as tf

    if not fs.exists(fs.join(saved_model_dir, "saved_model.pb")):
        raise InputDataError(f"{saved_model_dir}: no saved_model.pb; expected a SavedModel")
    loaded = tf.saved_model.load(saved_model_dir)
    signature = loaded.signatures["serving_default"]

    def predict(texts: list, batch: int = 512) -> Any:
        out = []
        for i in range(0, len(texts), batch):
            result = signature(text=tf.constant(texts[i : i + batch], dtype=tf.string))
            out.append(result["probability"].numpy().reshape(-1))
        return np.concatenate(out) if out else np.zeros(0)

    predict.saved_model = loaded  # type: ignore[attr-defined]  # keep it alive with the function
    return predict
