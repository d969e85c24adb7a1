"""Dataset build: a deterministic, leakage-free group split written as TFRecords."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from components.dataset.split import DatasetConfig, assign_split, bucket
from tests.conftest import REPO, run_cli

CFG = DatasetConfig(
    group_key="movie_name",
    salt="s",
    splits={"train": 80, "eval": 10, "test": 10},
    features={"text": "string", "movie_name": "string", "label": "int"},
)


def test_bucket_is_stable_and_salted() -> None:
    assert bucket("the_matrix", "s") == bucket("the_matrix", "s")
    assert [bucket(f"m{i}", "a") for i in range(50)] != [bucket(f"m{i}", "b") for i in range(50)]
    shares = [assign_split(f"movie-{i}", CFG) for i in range(5000)]
    assert abs(shares.count("train") / 5000 - 0.8) < 0.03
    assert abs(shares.count("test") / 5000 - 0.1) < 0.02


def test_drift_warns_on_a_shifted_baseline(built_dataset: Path) -> None:
    from components.dataset.report import render
    from components.dataset.stats import LABEL_BALANCE, drift

    current = json.loads((built_dataset / "stats.json").read_text())
    shifted = json.loads((built_dataset / "stats.json").read_text())
    for split in shifted["splits"].values():
        split["label_counts"] = {"0": split["examples"], "1": 0}  # all negative before
        text = split["features"]["text"]
        text["quantiles"] = [q * 2 for q in text["quantiles"]]  # reviews twice as long before
    result = drift(current, shifted, threshold=0.1)
    warned = {w.split(":")[0] for w in result["warnings"]}
    assert {f"test/{LABEL_BALANCE}", "test/text"} <= warned
    assert result["splits"]["test"][LABEL_BALANCE]["label_linf"] > 0.5
    assert "movie_name" not in {w.split("/")[1].split(":")[0] for w in result["warnings"]}
    page = render(current, {"text": "string", "label": "int"}, {"baseline": "x", **result})
    assert "Drift above 0.1" in page and "test/text: quantile_shift" in page


def test_config_checks() -> None:
    with pytest.raises(ValueError, match="adding up to 100"):
        DatasetConfig(group_key="m", splits={"train": 90, "test": 20}, features={"m": "string"})
    with pytest.raises(ValueError, match="group_key 'x' must be one of the features"):
        DatasetConfig(group_key="x", splits={"train": 100}, features={"m": "string"})


@pytest.mark.integration
def test_dataset_output(built_dataset: Path) -> None:
    import tensorflow as tf

    stats = json.loads((built_dataset / "stats.json").read_text())
    upstream = json.loads((built_dataset.parent / "records" / "stats.json").read_text())
    assert stats["total_examples"] == upstream["rows_out"]
    assert stats["leaked_groups"] == 0
    seen: dict[str, set[str]] = {}
    for split, info in stats["splits"].items():
        assert info["examples"] > 0
        assert sum(info["label_counts"].values()) == info["examples"]
        files = sorted((built_dataset / split).glob("*.tfrecord.gz"))
        assert [f.name for f in files] == info["files"]
        ds = tf.data.TFRecordDataset([str(f) for f in files], compression_type="GZIP")
        movies = set()
        count = 0
        for raw in ds:
            example = tf.train.Example.FromString(raw.numpy())
            movies.add(example.features.feature["movie_name"].bytes_list.value[0].decode())
            assert example.features.feature["label"].int64_list.value[0] in (0, 1)
            count += 1
        assert count == info["examples"]
        seen[split] = movies
        # Per-split statistics and schema, computed in Beam.
        features = info["features"]
        assert features["label"]["count"] == info["examples"] and features["label"]["missing"] == 0
        assert dict(features["label"]["top"]) == info["label_counts"]
        assert features["movie_name"]["distinct"] == info["groups"] == len(movies)
        text = features["text"]
        assert 1 <= text["min"] <= text["quantiles"][5] <= text["max"]  # lengths
        assert len(text["quantiles"]) == 11 and text["missing_rate"] == 0.0
        # The text's words (the monitor's vocabulary), most frequent first; only for text.
        top_words = text["words"]["top"]
        assert top_words[0][1] >= top_words[-1][1] and len(top_words) <= 5000
        assert text["words"]["total"] >= sum(n for _, n in top_words) > 0
        assert "words" not in features["movie_name"]
        assert json.loads((built_dataset / split / "stats.json").read_text())["split"] == split
        schema = json.loads((built_dataset / split / "schema.json").read_text())["features"]
        assert schema["label"] == {
            "type": "int",
            "required": True,
            "range": [0.0, 1.0],
            "domain": ["0", "1"],
        }
        assert schema["text"]["length_range"] == [int(text["min"]), int(text["max"])]
    assert not seen["train"] & seen["test"] and not seen["train"] & seen["eval"]
    assert not seen["eval"] & seen["test"]
    assert len(stats["splits"]["train"]["files"]) == 4  # shards from config


@pytest.mark.integration
def test_dataset_is_deterministic(tmp_path: Path, built_dataset: Path) -> None:
    records = built_dataset.parent / "records"
    out = tmp_path / "again"
    result = run_cli(
        "components.dataset",
        "--records",
        records,
        "--config",
        REPO / "config" / "reviews.yaml",
        "--output",
        out,
        "--report",
        tmp_path / "report.html",
        "--baseline-stats",
        built_dataset / "stats.json",
    )
    assert result.returncode == 0, result.stderr
    first = json.loads((built_dataset / "stats.json").read_text())
    second = json.loads((out / "stats.json").read_text())
    drift = second.pop("drift")
    assert first == second
    assert drift["warnings"] == [] and drift["baseline"] == str(built_dataset / "stats.json")
    assert all(v == 0 for f in drift["splits"]["train"].values() for v in f.values())
    report = (tmp_path / "report.html").read_text()
    assert "No drift above 0.1" in report
    titles = re.findall(r"<figcaption>(.*?)</figcaption>", report)
    assert "text quantiles" in titles and "movie_mean_review_chars quantiles" in titles
    assert report.count("<img") == len(titles) >= 4
    # The shards themselves are byte-identical: shard and order follow each example's bytes.
    shards = sorted(p.relative_to(built_dataset) for p in built_dataset.rglob("*.tfrecord.gz"))
    assert shards == sorted(p.relative_to(out) for p in out.rglob("*.tfrecord.gz"))
    for shard in shards:
        assert (built_dataset / shard).read_bytes() == (out / shard).read_bytes(), shard
