"""Reading the dataset step's TFRecord shards with tf.data (train and evaluate share this).

Feature types come from the dataset's `schema.json` (string, int, float). A value the record
lacks is parsed as "" (string), 0 (int) or NaN (float); the model's preprocessing decides what a
missing number means, so training, evaluation and serving read a record the same way.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from components.common import fs
from components.common.artifacts import Dataset
from components.common.errors import InputDataError

TF_TYPES = {"string": "string", "int": "int64", "float": "float32"}


def split_files(dataset_dir: str, split: str) -> list[str]:
    files = fs.match(Dataset.shards_glob(dataset_dir, split))
    if not files:
        raise InputDataError(
            f"{dataset_dir}: no {split}/*{Dataset.TFRECORD_SUFFIX}; run the dataset step first"
        )
    return files


def feature_types(dataset_dir: str, names: Iterable[str]) -> dict[str, str]:
    """{name: string|int|float} for `names`, from the dataset's schema.json; a name the dataset
    does not have is an error that lists what it has."""
    uri = Dataset.schema(dataset_dir)
    if not fs.exists(uri):
        raise InputDataError(f"{dataset_dir}: no {Dataset.SCHEMA}; run the dataset step first")
    declared = fs.read_json(uri)["features"]
    missing = [n for n in names if n not in declared]
    if missing:
        raise InputDataError(
            f"{uri}: no feature {', '.join(map(repr, missing))}; the dataset has "
            f"{sorted(declared)} (fix the config's inputs or the dataset.features section)"
        )
    return {n: declared[n] for n in names}


DEFAULTS = {"string": "", "int": 0, "float": float("nan")}


def parse_batch(serialized: Any, types: Mapping[str, str]) -> dict[str, Any]:
    """A batch of serialized Examples -> {name: [batch] tensor}. The dataset step writes a
    missing value as an empty list, which FixedLenFeature rejects, so each feature is read as
    ragged and padded with its default."""
    import tensorflow as tf

    spec = {n: tf.io.RaggedFeature(getattr(tf, TF_TYPES[k])) for n, k in types.items()}
    parsed = tf.io.parse_example(serialized, spec)
    return {
        n: parsed[n].to_tensor(default_value=DEFAULTS[k], shape=[None, 1])[:, 0]
        for n, k in types.items()
    }


def example_dataset(
    files: list[str],
    types: Mapping[str, str],
    label: str,
    batch_size: int,
    shuffle_buffer: int = 0,
    seed: int | None = None,
) -> Any:
    """({feature: [batch]}, label [batch]) batches: batched parse_example, optional seeded
    shuffle, prefetch. `types` are the model's inputs; the label is read as int, given as float."""
    import tensorflow as tf

    with_label = {**types, label: "int"}
    ds = tf.data.TFRecordDataset(files, compression_type="GZIP")
    if shuffle_buffer:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    ds = ds.map(
        lambda b: parse_batch(b, with_label),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    ds = ds.map(lambda f: ({n: f[n] for n in types}, tf.cast(f[label], tf.float32)))
    return with_data_sharding(ds.prefetch(tf.data.AUTOTUNE))


def with_data_sharding(ds: Any) -> Any:
    """Under a multi-worker strategy each worker keeps its share of the elements (a split may
    have fewer files than there are workers, which file sharding cannot serve)."""
    import tensorflow as tf

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def load_split(
    dataset_dir: str, split: str, types: Mapping[str, str], label: str
) -> tuple[dict[str, Any], Any]:
    """All of a split in memory, in file order: ({feature: numpy array}, labels). For evaluation
    and for the baseline."""
    import numpy as np

    columns: dict[str, list[Any]] = {n: [] for n in types}
    labels: list[float] = []
    for feats, y in example_dataset(split_files(dataset_dir, split), types, label, 1024):
        for name in types:
            columns[name].extend(feats[name].numpy().tolist())
        labels.extend(y.numpy().tolist())
    arrays = {
        n: np.asarray(v, dtype=object if types[n] == "string" else None) for n, v in columns.items()
    }
    return arrays, np.asarray(labels, dtype=int)


def serving_columns(
    records: Iterable[Mapping[str, Any]], types: Mapping[str, str]
) -> dict[str, list[Any]]:
    """Raw records (dicts, None or absent for a missing value) -> the serving signature's
    columns, a missing value given as the dataset step writes it (see DEFAULTS)."""
    rows = list(records)
    return {
        name: [DEFAULTS[kind] if r.get(name) is None else r[name] for r in rows]
        for name, kind in types.items()
    }


def load_serving_fn(saved_model_dir: str) -> Any:
    """The SavedModel's serving signature as a function: {feature: values} -> scores. The
    signature's own input specs say which features it takes and their types."""
    import numpy as np
    import tensorflow as tf

    if not fs.exists(fs.join(saved_model_dir, "saved_model.pb")):
        raise InputDataError(f"{saved_model_dir}: no saved_model.pb; expected a SavedModel")
    if fs.is_remote(saved_model_dir):
        # Through our filesystem layer (google-cloud-storage: the same credentials, timeouts
        # and STORAGE_EMULATOR_HOST as every other gs:// read), not TensorFlow's own GCS client,
        # which knows no emulator. Loading reads the variables and assets, so the copy can go.
        with tempfile.TemporaryDirectory(prefix="saved-model-") as local:
            fs.download_tree(saved_model_dir, Path(local))
            loaded = tf.saved_model.load(local)
    else:
        loaded = tf.saved_model.load(saved_model_dir)
    signature = loaded.signatures["serving_default"]
    specs = signature.structured_input_signature[1]

    def predict(features: Mapping[str, Any], batch: int = 512) -> Any:
        missing = sorted(set(specs) - set(features))
        if missing:
            raise InputDataError(f"{saved_model_dir}: the model needs the features {missing}")
        n = len(next(iter(features.values()))) if features else 0
        out = []
        for i in range(0, n, batch):
            args = {
                name: tf.constant(list(features[name][i : i + batch]), dtype=spec.dtype)
                for name, spec in specs.items()
            }
            out.append(signature(**args)["probability"].numpy().reshape(-1))
        return np.concatenate(out) if out else np.zeros(0)

    predict.inputs = {name: spec.dtype.name for name, spec in specs.items()}  # type: ignore[attr-defined]
    predict.saved_model = loaded  # type: ignore[attr-defined]  # keep it alive with the function
    return predict
