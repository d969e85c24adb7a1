"""Training loop: tf.data input, the imbalance sampler, a strategy from the environment,
resumable fit, export of a SavedModel that takes raw records."""

from __future__ import annotations

import json
import logging
import math
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from components.common import fs
from components.common.artifacts import Dataset, TrainedModel
from components.common.errors import InputDataError
from components.common.tfdata import (
    TF_TYPES,
    example_dataset,
    feature_types,
    load_split,
    split_files,
    with_data_sharding,
)
from components.train.config import (
    CategoricalInput,
    NumericInput,
    SamplerConfig,
    TextInput,
    TrainConfig,
)

log = logging.getLogger(__name__)

SERVING_SIGNATURE = "serving_default"
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


def is_chief() -> bool:
    """The worker that exports (every worker trains; only one publishes)."""
    tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = tf_config.get("task", {})
    if not task:
        return True
    cluster = tf_config.get("cluster", {})
    if "chief" in cluster:
        return bool(task.get("type") == "chief")
    return bool(task.get("type") == "worker" and int(task.get("index", 0)) == 0)


def export_saved_model(model: Any, types: Mapping[str, str], path: Path) -> None:
    """SavedModel whose serving signature takes raw features, one [N] tensor per input, and
    returns {'probability': [N]}."""
    import keras
    import tensorflow as tf

    specs = {n: tf.TensorSpec([None], getattr(tf, TF_TYPES[k]), name=n) for n, k in types.items()}
    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name=SERVING_SIGNATURE,
        fn=lambda features: {SERVING_OUTPUT: tf.reshape(model(features, training=False), [-1])},
        input_signature=[specs],
    )
    archive.write_out(str(path), verbose=False)


def _keras_multi_worker_workarounds(model: Any) -> None:
    """Two steps of Keras 3.15's fit fail with two or more workers (tensorflow/tensorflow#72388):
    it builds the model on a batch averaged across workers (strings cannot be averaged), and it
    averages each step's scalar logs across workers with axis=0, which a scalar has not.

    The functional model is built already, so the first step is skipped (fit still runs in the
    strategy: the caller enters its scope); the step logs are averaged across workers without
    an axis. Epoch logs, which early stopping and the history read, come from the metric
    variables, summed across every worker by the strategy.
    """
    from keras import tree
    from keras.src.backend.tensorflow import trainer as keras_trainer

    model._distribute_strategy = None
    original = keras_trainer.reduce_per_replica
    if getattr(original, "retrain_patched", False):
        return

    def reduce_per_replica(values: Any, strategy: Any, reduction: str) -> Any:
        if reduction == "auto" and keras_trainer._collective_all_reduce_multi_worker(strategy):
            return tree.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original(values, strategy, reduction)

    reduce_per_replica.retrain_patched = True  # type: ignore[attr-defined]
    keras_trainer.reduce_per_replica = reduce_per_replica


def positive_share(ratio: float) -> float:
    """Positives per negative -> the share of positives in a draw."""
    return ratio / (1.0 + ratio)


def sampler_schedule(sampler: SamplerConfig, natural_rate: float, epochs: int) -> list[float]:
    """The share of positives drawn in each epoch: from `start_ratio` linearly to the natural
    ratio over `anneal_epochs`, then the natural ratio."""
    natural_ratio = natural_rate / (1.0 - natural_rate)
    shares = []
    for epoch in range(epochs):
        t = min(epoch / sampler.anneal_epochs, 1.0)
        ratio = sampler.start_ratio + (natural_ratio - sampler.start_ratio) * t
        shares.append(positive_share(ratio))
    return shares


def annealed_dataset(
    files: list[str],
    types: Mapping[str, str],
    cfg: TrainConfig,
    shares: list[float],
    steps_per_epoch: int,
) -> Any:
    """Batches drawn from the positives and the negatives (each shuffled with the seed and
    repeated) at each epoch's share, for exactly len(shares) * steps_per_epoch batches."""
    import tensorflow as tf

    examples = example_dataset(files, types, cfg.label, 1024).unbatch()
    by_class = [
        examples.filter(lambda _, y, c=c: tf.equal(y, c))
        .shuffle(cfg.shuffle_buffer, seed=cfg.seed + i, reshuffle_each_iteration=True)
        .repeat()
        for i, c in enumerate((1.0, 0.0))
    ]
    per_epoch = steps_per_epoch * cfg.batch_size
    table = tf.constant(shares, tf.float32)
    weights = tf.data.Dataset.range(len(shares) * per_epoch).map(
        lambda i: tf.stack([table[i // per_epoch], 1.0 - table[i // per_epoch]])
    )
    mixed = tf.data.Dataset.sample_from_datasets(by_class, weights=weights, seed=cfg.seed)
    return with_data_sharding(mixed.batch(cfg.batch_size).prefetch(tf.data.AUTOTUNE))


def vectorised(
    files: list[str], types: Mapping[str, str], cfg: TrainConfig, models: Any, shuffle: bool
) -> Any:
    """The split's batches as the fit model takes them (each n-gram bag vectorised from its
    text, other inputs as they are), computed in the first epoch and cached in memory. The
    train split's examples are shuffled once with the seed into batches, and the batches
    reshuffled every epoch: re-batching sparse bags example by example cost more than the
    fit itself."""
    import tensorflow as tf

    ds = example_dataset(
        files, types, cfg.label, cfg.batch_size, cfg.shuffle_buffer if shuffle else 0, cfg.seed
    )
    ds = ds.map(lambda f, y: (models.fit_features(f), y)).cache()
    if shuffle:
        batches = math.ceil(cfg.shuffle_buffer / cfg.batch_size)
        ds = ds.shuffle(batches, seed=cfg.seed, reshuffle_each_iteration=True)
    return with_data_sharding(ds.prefetch(tf.data.AUTOTUNE))


def timed_backup(checkpoint_dir: str, every_seconds: float) -> Any:
    """Keras' BackupAndRestore, backing up at the end of an epoch only once `every_seconds` have
    passed since the last backup: a backup costs a fraction of a second, more than a small
    table's epoch, and bounds what a kill loses (the epochs since it) all the same."""
    import time

    import keras

    class TimedBackup(keras.callbacks.BackupAndRestore):
        def on_train_begin(self, logs: Any = None) -> None:
            super().on_train_begin(logs)
            self._last_backup = time.monotonic()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            if time.monotonic() - self._last_backup >= every_seconds:
                super().on_epoch_end(epoch, logs)
                self._last_backup = time.monotonic()
            else:  # the epoch counts; its weights are backed up with a later epoch's
                self._current_epoch = epoch + 1
                self._last_batch_seen = 0

    return TimedBackup(checkpoint_dir)


def learning_rate(cfg: TrainConfig, steps_per_epoch: int) -> Any:
    import keras

    lr = cfg.optimizer.learning_rate
    schedule = cfg.optimizer.schedule
    if schedule.kind == "constant":
        return lr
    total = cfg.epochs * steps_per_epoch
    warmup = int(schedule.warmup_epochs * steps_per_epoch)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else lr,
        decay_steps=max(total - warmup, 1),
        alpha=schedule.final_fraction,
        warmup_target=lr if warmup else None,
        warmup_steps=warmup,
    )


def _train_stats(dataset_dir: str) -> dict[str, Any]:
    uri = Dataset.stats(dataset_dir)
    if not fs.exists(uri):
        raise InputDataError(f"{dataset_dir}: no {Dataset.STATS}; run the dataset step first")
    stats = fs.read_json(uri)
    return dict(stats) | {"train": stats["splits"]["train"]}


def _completed_epochs(checkpoint_dir: str) -> int:
    """Epochs already trained by an interrupted run (Keras' BackupAndRestore metadata)."""
    meta = fs.join(checkpoint_dir, "training_metadata.json")
    try:
        return int(fs.read_json(meta)["epoch"]) if fs.exists(meta) else 0
    except (ValueError, KeyError):
        return 0


def monitor_mode(monitor: str) -> str:
    """Whether early stopping's `monitor` is better higher (max) or lower (min): a loss (and an
    error) is minimised, AUC, accuracy and the rest maximised."""
    name = monitor.lower()
    return "min" if name.endswith("loss") or "error" in name else "max"


def best_epoch(hist: Mapping[str, list[float]], monitor: str) -> dict[str, Any]:
    """The metrics of the epoch best by `monitor` (the first of equals, the epoch early
    stopping restores) and its 1-based `best_epoch`; the last epoch's when it was not logged."""
    if not hist or not any(hist.values()):
        return {}
    if monitor not in hist or not hist[monitor]:
        return {k: v[-1] for k, v in hist.items() if v}
    series = hist[monitor]
    pick = min if monitor_mode(monitor) == "min" else max
    idx = series.index(pick(series))
    return {k: v[idx] for k, v in hist.items() if len(v) > idx} | {"best_epoch": idx + 1}


def resolve_inputs(dataset_dir: str, cfg: TrainConfig) -> TrainConfig:
    """`cfg` with its inputs (when omitted: from the dataset's kinds) and its head's defaults
    resolved, logged in one line; the exported train_config.json records the result."""
    from components.common import features

    if cfg.inputs is None:
        kinds = features.model_inputs(dataset_dir, exclude=(cfg.label,))
        types = feature_types(dataset_dir, list(kinds))
    else:
        kinds = {}
        types = {}
    stats = _train_stats(dataset_dir)["train"]["features"]
    try:
        resolved, skipped = cfg.with_default_inputs(kinds, types, stats)
    except ValueError as err:
        raise InputDataError(f"{dataset_dir}: {err}") from err
    for note in skipped:
        log.warning("input left out: %s", note)
    log.info(
        "inputs%s: %s; head %s %s",
        "" if cfg.inputs is not None else " (from the dataset kinds)",
        ", ".join(_describe(i) for i in resolved.input_specs()),
        resolved.head.kind,
        resolved.head.hidden_units,
    )
    return resolved


def _describe(spec: TextInput | CategoricalInput | NumericInput) -> str:
    if isinstance(spec, TextInput):
        return f"{spec.name} text/" + "+".join(
            getattr(e, "mode", e.kind) if e.kind == "ngram_bag" else e.kind for e in spec.encoders()
        )
    if isinstance(spec, CategoricalInput):
        return f"{spec.name} categorical/{spec.embedding_dim}"
    return f"{spec.name} numeric/{spec.transform}"


def train(
    dataset_dir: str,
    cfg: TrainConfig,
    output: Path | None,
    checkpoint_dir: str,
) -> dict:
    """Fit the model of `cfg` on the dataset's train split (validated on eval) and publish it
    to `output`; the best epoch's metrics. `output=None` trains without exporting (a search
    trial). `family: gbt` hands the work to components/train/trees.py."""
    if cfg.family == "gbt":
        from components.train import trees

        return dict(trees.train_gbt(dataset_dir, cfg, output))
    import time

    import keras
    import tensorflow as tf

    from components.train.model import build_models

    started = time.perf_counter()  # train_seconds: after the imports, to the export's end
    # The strategy first: MultiWorkerMirrored must configure collectives before any other op.
    strategy = choose_strategy()
    task = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task")
    if task:
        # Every worker backs up the same (synchronised) weights, each to its own folder:
        # Keras' BackupAndRestore has no notion of a chief and would share one file.
        checkpoint_dir = fs.join(checkpoint_dir, f"{task['type']}-{task['index']}")
    keras.utils.set_random_seed(cfg.seed)
    tf.config.experimental.enable_op_determinism()  # same seed, same model (on one machine)
    cfg = resolve_inputs(dataset_dir, cfg)
    types = feature_types(dataset_dir, [i.name for i in cfg.input_specs()])
    stats = _train_stats(dataset_dir)
    train_info = stats["train"]
    examples = int(train_info["examples"])
    natural = float(train_info.get("positive_rate") or 0.0)
    steps_per_epoch = max(math.ceil(examples / cfg.batch_size), 1)
    train_files = split_files(dataset_dir, "train")
    eval_ds = example_dataset(split_files(dataset_dir, "eval"), types, cfg.label, cfg.batch_size)

    class_weight = None
    fit_steps = None
    if cfg.sampler.kind == "anneal":
        if not 0.0 < natural < 1.0:
            raise InputDataError(
                f"{dataset_dir}: the train split has positive rate {natural}; the anneal "
                "sampler needs both classes"
            )
        start = _completed_epochs(checkpoint_dir)
        shares = sampler_schedule(cfg.sampler, natural, cfg.epochs)
        log.info(
            "sampler: positive share %s over epochs 1-%d (natural %.3f)",
            " ".join(f"{s:.3f}" for s in shares[: cfg.sampler.anneal_epochs + 1]),
            min(cfg.epochs, cfg.sampler.anneal_epochs + 1),
            natural,
        )
        train_ds = annealed_dataset(train_files, types, cfg, shares[start:], steps_per_epoch)
        fit_steps = steps_per_epoch
    else:
        train_ds = example_dataset(
            train_files, types, cfg.label, cfg.batch_size, cfg.shuffle_buffer, cfg.seed
        )
        if cfg.sampler.kind == "class_weight" and 0.0 < natural < 1.0:
            class_weight = {0: 0.5 / (1.0 - natural), 1: 0.5 / natural}
            log.info("class weights %s", {k: round(v, 4) for k, v in class_weight.items()})

    texts = [i.name for i in cfg.input_specs() if isinstance(i, TextInput)]
    # Vocabularies are learned from the train split in file order (not the shuffled stream),
    # so the same dataset always gives the same vocabulary; the split is read once for all.
    columns, labels = (
        load_split(dataset_dir, "train", {n: "string" for n in texts}, cfg.label)
        if texts
        else ({}, None)
    )

    def train_texts(name: str) -> Any:
        return list(columns[name])

    def train_labels() -> Any:
        return labels

    with strategy.scope():
        models = build_models(cfg, types, train_info["features"], train_texts, train_labels)
    model = models.model
    # N-gram bags are vectorised once, before the first epoch, and the fit runs on the bags
    # (the same weights as the raw-text model exported); the anneal sampler draws from the
    # raw records, so it fits the raw-text model.
    if models.vectorizers and cfg.sampler.kind != "anneal":
        model = models.fit_model
        train_ds = vectorised(train_files, types, cfg, models, shuffle=True)
        eval_ds = vectorised(split_files(dataset_dir, "eval"), types, cfg, models, shuffle=False)
        log.info(
            "vocabularies of %s learned in %.1f s; the bags are vectorised once",
            ", ".join(models.vectorizers),
            time.perf_counter() - started,
        )
    with strategy.scope():
        optimizer = keras.optimizers.get(
            {
                "class_name": cfg.optimizer.name,
                "config": {"learning_rate": learning_rate(cfg, steps_per_epoch)},
            }
        )
        model.compile(
            optimizer=optimizer,
            loss="binary_crossentropy",
            metrics=[keras.metrics.AUC(name="auc"), keras.metrics.BinaryAccuracy(name="accuracy")],
        )
    from components.train.progress import EpochProgress

    callbacks: list[Any] = [timed_backup(checkpoint_dir, cfg.backup_seconds)]
    stopper = None
    if cfg.early_stopping:
        stopper = keras.callbacks.EarlyStopping(
            monitor=cfg.early_stopping.monitor,
            mode=monitor_mode(cfg.early_stopping.monitor),
            patience=cfg.early_stopping.patience,
            restore_best_weights=True,
        )
        callbacks.append(stopper)
    # One progress line per epoch (after early stopping's, so it sees the stop); the full
    # metrics of every epoch are in history.json.
    monitor = cfg.early_stopping.monitor if cfg.early_stopping else "val_auc"
    callbacks.append(EpochProgress(cfg.epochs, monitor, stopper))
    # Keras warns that a tf.data input ignores shuffle=True and that a finite input "ran out";
    # both are how this loop is meant to work (shuffled and sized in tf.data).
    warnings.filterwarnings("ignore", message=".*shuffle=True. was passed.*")
    warnings.filterwarnings("ignore", message=".*Your input ran out of data.*")
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        _keras_multi_worker_workarounds(model)
    with strategy.scope():
        history = model.fit(
            train_ds,
            validation_data=eval_ds,
            epochs=cfg.epochs,
            steps_per_epoch=fit_steps,
            class_weight=class_weight,
            callbacks=callbacks,
            verbose=0,
        )
    hist = {k: [round(float(v), 6) for v in vals] for k, vals in history.history.items()}
    hist.pop("learning_rate", None)
    # The epoch early stopping restored (best by its monitor, min for a loss), else the last.
    best = best_epoch(hist, cfg.early_stopping.monitor if cfg.early_stopping else "")
    model = models.model  # raw features in: what is exported

    if output is None:
        return best | {"train_seconds": round(time.perf_counter() - started, 2)}
    if not is_chief():
        # Saving may run collective ops, so every worker saves; only the chief's copy is kept.
        import tempfile

        with tempfile.TemporaryDirectory() as scratch:
            export_saved_model(model, types, Path(scratch) / TrainedModel.SAVED_MODEL)
        log.info("not the chief worker: the chief publishes the model")
        return best
    with fs.staged_dir(output) as stage:
        export_saved_model(model, types, stage / TrainedModel.SAVED_MODEL)
        # Vocabularies, fit and export: what the benchmark sets against the baseline's fit.
        best["train_seconds"] = round(time.perf_counter() - started, 2)
        fs.write_json_atomic(stage / TrainedModel.HISTORY, hist)
        fs.write_json_atomic(stage / TrainedModel.TRAIN_CONFIG, cfg.model_dump())
        fs.write_json_atomic(stage / TrainedModel.METRICS, best)
        # The statistics of the data this model learned from travel with it (a later dataset is
        # compared with them once this model serves).
        stats = fs.read_json(Dataset.stats(dataset_dir))
        fs.write_json_atomic(stage / TrainedModel.DATASET_STATS, stats)
        fs.write_json_atomic(
            stage / TrainedModel.SIGNATURE,
            {
                "signature": SERVING_SIGNATURE,
                "inputs": dict(types),
                "output": SERVING_OUTPUT,
                "tensorflow": tf.__version__,
            },
        )
    log.info("exported %s (%s)", output / TrainedModel.SAVED_MODEL, json.dumps(best))
    return best
