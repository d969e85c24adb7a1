"""The dataset step's shards hold exactly the bytes TensorFlow would write: each record encoded
by tf.train.Example, framed by tf.io.TFRecordWriter, in the shard and order its digest gives,
while the step itself never imports TensorFlow."""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from components.dataset.split import DatasetConfig, assign_split
from tests.conftest import REPO

CFG = DatasetConfig(
    group_key="key",
    salt="bytes",
    drift_threshold=0.1,
    splits={"train": 60, "eval": 20, "test": 20},
    shards={"train": 3, "test": 2},
    features={
        "key": "string",
        "city": "string",
        "city_name": "string",
        "age": "int",
        "score": "float",
        "label": "int",
    },
)


def _records() -> list[dict]:
    out = []
    for i in range(120):
        out.append(
            {
                "key": f"g{i // 2}",  # two records per group: groups never straddle splits
                "city": None if i % 7 == 0 else ["Zürich", "Lyon", "", "東京"][i % 4],
                "city_name": f"c{i % 5}",
                "age": None if i % 11 == 0 else (i * 37) % 90 - 5,
                "score": None if i % 13 == 0 else i / 7.0 - 3,
                "label": int(i % 3 == 0),
            }
        )
    return out


def _build(tmp: Path) -> Path:
    import apache_beam as beam

    from components.common.beam_options import pipeline_options
    from components.dataset import pipeline as dp

    records = tmp / "records"
    records.mkdir()
    (records / "part-0.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _records()))
    out = tmp / "dataset"
    with beam.Pipeline(options=pipeline_options([])) as p:
        dp.build(
            p, str(records / "*.jsonl"), CFG, "label", str(out), str(tmp / "stats"), str(tmp / "f")
        )
    return out


def _tensorflow_shards(tmp: Path) -> dict[str, bytes]:
    """{split/part-...: uncompressed TFRecord bytes}, written with TensorFlow alone."""
    import tensorflow as tf

    from components.dataset.split import to_example_bytes

    per_shard: dict[str, list[bytes]] = {}
    for split in CFG.splits:
        for i in range(CFG.shards.get(split, 1)):
            per_shard[f"{split}/part-{i:05d}-of-{CFG.shards.get(split, 1):05d}.tfrecord.gz"] = []
    for record in _records():
        split = assign_split(str(record[CFG.group_key]), CFG)
        example = to_example_bytes(record, CFG.features)
        digest = hashlib.sha256(example).digest()
        shards = CFG.shards.get(split, 1)
        index = int.from_bytes(digest[:8], "big") % shards
        per_shard[f"{split}/part-{index:05d}-of-{shards:05d}.tfrecord.gz"].append(example)
    out: dict[str, bytes] = {}
    for name, examples in per_shard.items():
        path = tmp / f"tf-{len(out)}.tfrecord"
        with tf.io.TFRecordWriter(str(path)) as writer:
            for example in sorted(examples, key=lambda e: hashlib.sha256(e).digest()):
                writer.write(example)
        out[name] = path.read_bytes()
    return out


def test_shards_are_tensorflows_bytes(tmp_path: Path) -> None:
    built = _build(tmp_path)
    written = {
        str(p.relative_to(built)): gzip.decompress(p.read_bytes())
        for p in built.rglob("*.tfrecord.gz")
    }
    expected = _tensorflow_shards(tmp_path)
    assert sorted(written) == sorted(expected)  # an empty shard is still written
    for name, data in expected.items():
        assert written[name] == data, name
    stats = json.loads((tmp_path / "stats").read_text())
    assert stats["leaked_groups"] == []
    assert sum(stats[s]["examples"] for s in CFG.splits) == 120
    assert sum(stats[f"groups:{s}"] for s in CFG.splits) == 60


def test_leaked_groups_are_found(tmp_path: Path) -> None:
    import apache_beam as beam
    from apache_beam.testing.util import assert_that, equal_to

    from components.dataset.pipeline import LeakedGroups

    with beam.Pipeline() as p:
        pairs = p | beam.Create([("train", "a"), ("test", "a"), ("train", "b"), ("eval", "c")])
        assert_that(pairs | LeakedGroups(), equal_to(["a"]))


@pytest.mark.integration
def test_dataset_step_imports_no_tensorflow(tmp_path: Path) -> None:
    """The whole dataset build, run in a fresh process, never loads TensorFlow."""
    code = (
        "import sys; from pathlib import Path; "
        "from tests.components.test_dataset_bytes import _build; "
        f"_build(Path({str(tmp_path)!r})); "
        "assert 'tensorflow' not in sys.modules, 'the dataset build imported tensorflow'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)
