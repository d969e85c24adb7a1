"""Data-layer benchmark: Beam preprocess and the TFRecord stage against plain baselines, one run.

On N synthetic review records (JSON lines; about 3% fail the schema, 10% are filtered, 5% are
exact duplicates) it measures, in the same process and on the same file:
  preprocess  the real Beam preprocess job (components.preprocess, in-process runner);
              the same logic as one plain-Python pass (orjson, the same validate/normalize
              functions, a set for dedupe); the same rules vectorised with pyarrow.
  tfrecord    from the preprocessed records: the dataset step's Beam WriteSplit (encode,
              shard by digest, sort, GZIP TFRecord); the same as a plain-Python loop with
              tf.io.TFRecordWriter.
Prints JSON: records/s of each and the ratios the README's performance section quotes.

    python bench/data.py [--records 1000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

CONFIG = {
    "preprocess": {
        "schema": [
            {"name": "category", "type": "string", "allowed": ["fresh", "rotten", "plot"]},
            {"name": "text", "type": "string", "min_length": 1},
            {"name": "movie_name", "type": "string", "min_length": 1},
        ],
        "filters": [{"name": "plot", "field": "category", "equals": "plot"}],
        "label": {"field": "category", "mapping": {"fresh": 1, "rotten": 0}},
        "normalize_nfkc": ["text"],
        "dedupe_on": ["text", "movie_name", "category"],
        "keep_fields": ["text", "movie_name"],
    }
}
WORDS = ["good", "bad", "film", "plot", "actor", "scene", "slow", "great", "boring"]
WORDS += ["ｆｕｌｌ", "ﾊﾝｶｸ", "music"]  # full- and half-width forms: NFKC has work to do


def synthesize(path: Path, n: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    previous: list[str] = []
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            roll = rng.random()
            if roll < 0.05 and previous:
                line = rng.choice(previous)  # an exact duplicate
            else:
                category = "plot" if roll < 0.15 else rng.choice(["fresh", "rotten"])
                if roll > 0.97:
                    category = "meh"  # not in the schema
                words = rng.choices(WORDS, k=rng.randint(5, 40))
                line = json.dumps(
                    {
                        "category": category,
                        "text": " ".join(words) + f" #{i}",
                        "movie_name": f"movie-{rng.randint(0, 5000)}",
                    },
                    ensure_ascii=False,
                )
                if len(previous) < 10_000:
                    previous.append(line)
            out.write(line + "\n")


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def plain_python(src: Path, out: Path, config: Any) -> dict[str, int]:
    """One pass, the preprocess rules as plain Python: orjson, validate, filter, label, NFKC,
    exact dedupe with a set of content hashes, JSON lines out."""
    import orjson

    from components.preprocess.pipeline import _dedupe_key, to_output
    from components.preprocess.schema import matching_filter, normalize, validate

    counts = dict.fromkeys(("rows_in", "rows_out", "dead_letter", "filtered", "duplicates"), 0)
    seen: set[bytes] = set()
    with src.open("rb") as lines, out.open("w", encoding="utf-8") as sink:
        for line in lines:
            counts["rows_in"] += 1
            try:
                fields = orjson.loads(line)
                record = validate(fields, config)
            except (orjson.JSONDecodeError, ValueError):
                counts["dead_letter"] += 1
                continue
            if matching_filter(record, config):
                counts["filtered"] += 1
                continue
            record["label"] = config.label.label_of(record[config.label.field])
            record = normalize(record, config.normalize_nfkc)
            key = _dedupe_key(record, config.dedupe_on)
            if key in seen:
                counts["duplicates"] += 1
                continue
            seen.add(key)
            counts["rows_out"] += 1
            sink.write(to_output(record, config.kept_fields) + "\n")
    return counts


def arrow_rules(table: Any) -> tuple[Any, dict[str, int]]:
    """The preprocess rules as pyarrow kernels, before dedupe: (kept rows with NFKC text and a
    dedupe key, counts). Single-threaded, like every path here."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = table["text"]
    valid = pc.and_(
        pc.is_in(table["category"], value_set=pa.array(["fresh", "rotten", "plot"])),
        pc.and_(
            pc.greater_equal(pc.utf8_length(pc.utf8_trim_whitespace(text)), 1),
            pc.greater_equal(pc.utf8_length(pc.utf8_trim_whitespace(table["movie_name"])), 1),
        ),
    )
    valid = pc.fill_null(valid, False)
    plot = pc.fill_null(pc.equal(table["category"], "plot"), False)
    kept = table.filter(pc.and_(valid, pc.invert(plot)))
    kept = kept.set_column(
        kept.schema.get_field_index("text"), "text", pc.utf8_normalize(kept["text"], "NFKC")
    )
    n_valid = pc.sum(valid).as_py() or 0
    counts = {
        "rows_in": table.num_rows,
        "dead_letter": table.num_rows - n_valid,
        "filtered": pc.sum(pc.and_(valid, plot)).as_py() or 0,
    }
    return kept, counts


def arrow_dedupe(kept: Any, out: Path) -> dict[str, int]:
    """Exact dedupe on (text, movie_name, category) with group_by; write Parquet with labels."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    unique = kept.group_by(["text", "movie_name", "category"], use_threads=False).aggregate([])
    label = pc.if_else(pc.equal(unique["category"], "fresh"), 1, 0)
    pq.write_table(unique.append_column("label", label).drop_columns(["category"]), out)
    return {"rows_out": unique.num_rows, "duplicates": kept.num_rows - unique.num_rows}


def read_arrow(data: bytes | Path) -> Any:
    import io

    import pyarrow.json as pj

    source = io.BytesIO(data) if isinstance(data, bytes) else data
    return pj.read_json(source, read_options=pj.ReadOptions(use_threads=False))


def pyarrow_vectorised(src: Path, out: Path) -> dict[str, int]:
    """The same rules as columnar kernels: read_json, is_in / length masks, NFKC, group_by."""
    kept, counts = arrow_rules(read_arrow(src))
    return counts | arrow_dedupe(kept, out)


def chunks(src: Path, size: int) -> list[tuple[int, int]]:
    """Byte ranges of about `size` that end at line ends."""
    total = src.stat().st_size
    edges = [0]
    with src.open("rb") as f:
        while edges[-1] < total:
            f.seek(min(edges[-1] + size, total))
            f.readline()
            edges.append(min(f.tell(), total))
    return list(itertools.pairwise(edges))


def beam_batched(src: Path, out: Path, partitions: int = 8) -> dict[str, int]:
    """The pyarrow rules inside Beam, one element per batch instead of per record: byte-range
    chunks of the file are parsed and checked as tables, split by a function of the dedupe key,
    grouped (GroupByKey moves tables, not rows), deduplicated per partition and written."""
    import apache_beam as beam
    import pyarrow as pa
    import pyarrow.compute as pc

    from components.common.beam_options import pipeline_options

    out.mkdir(parents=True, exist_ok=True)

    def check(span: tuple[int, int]) -> Any:
        with src.open("rb") as f:
            f.seek(span[0])
            kept, counts = arrow_rules(read_arrow(f.read(span[1] - span[0])))
        yield beam.pvalue.TaggedOutput("counts", counts)
        key = pc.binary_join_element_wise(
            kept["text"], kept["movie_name"], kept["category"], "\x1f"
        )
        part = pc.bit_wise_and(pc.binary_length(key), partitions - 1)  # same key, same part
        for p in range(partitions):
            yield p, kept.filter(pc.equal(part, p))

    def dedupe(item: tuple[int, Any]) -> dict[str, int]:
        p, tables = item
        return arrow_dedupe(pa.concat_tables(tables), out / f"part-{p:05d}.parquet")

    def add(counts: Any) -> dict[str, int]:
        total: dict[str, int] = {}
        for c in counts:
            for k, v in c.items():
                total[k] = total.get(k, 0) + v
        return total

    with beam.Pipeline(options=pipeline_options([])) as p:
        checked = (
            p
            | "Chunks" >> beam.Create(chunks(src, 8 << 20))
            | "ParseAndCheck" >> beam.FlatMap(check).with_outputs("counts", main="kept")
        )
        deduped = checked.kept | "ByKeyPart" >> beam.GroupByKey() | "Dedupe" >> beam.Map(dedupe)
        counts = (
            (checked.counts, deduped)
            | beam.Flatten()
            | beam.CombineGlobally(add)
            | beam.Map(json.dumps)
        )
        _ = counts | beam.io.WriteToText(
            str(out / "counts"), num_shards=1, shard_name_template="", file_name_suffix=".json"
        )
    return {k: int(v) for k, v in json.loads((out / "counts.json").read_text()).items()}


def beam_preprocess(raw: Path, work: Path, config_path: Path) -> dict[str, int]:
    """The preprocess step's own run() on the ingest snapshot of the same file."""
    from components.preprocess.executor import run

    stats = run(str(raw), str(config_path), work / "beam-pre", [])
    return {k: stats[k] for k in ("rows_in", "rows_out", "dead_letter", "filtered")} | {
        "duplicates": stats["duplicates_dropped"]
    }


FEATURES = {"text": "string", "movie_name": "string", "label": "int"}


def plain_tfrecord(records: list[Path], out: Path, shards: int) -> int:
    """The dataset step's TFRecord stage as a plain loop: encode each record as a
    tf.train.Example, pick its shard from its digest, sort each shard, write GZIP TFRecords."""
    import hashlib

    import tensorflow as tf

    from components.dataset.split import to_example_bytes

    per_shard: list[list[tuple[bytes, bytes]]] = [[] for _ in range(shards)]
    for f in records:
        with f.open(encoding="utf-8") as lines:
            for line in lines:
                example = to_example_bytes(json.loads(line), FEATURES)
                digest = hashlib.sha256(example).digest()
                per_shard[int.from_bytes(digest[:8], "big") % shards].append((digest, example))
    options = tf.io.TFRecordOptions(compression_type="GZIP")
    for i, shard in enumerate(per_shard):
        path = out / f"part-{i:05d}-of-{shards:05d}.tfrecord.gz"
        with tf.io.TFRecordWriter(str(path), options) as writer:
            for _, example in sorted(shard):
                writer.write(example)
    return sum(len(s) for s in per_shard)


def beam_tfrecord(records: list[Path], out: Path, shards: int) -> int:
    """The dataset step's own WriteSplit transform on the same records."""
    import apache_beam as beam

    from components.common.beam_options import pipeline_options
    from components.dataset.pipeline import WriteSplit

    with beam.Pipeline(options=pipeline_options([])) as p:
        _ = (
            p
            | "Read" >> beam.io.ReadFromText(str(records[0].parent / "*.jsonl"))
            | "Parse" >> beam.Map(lambda line: ("train", json.loads(line)))
            | "Write" >> WriteSplit("train", str(out / "part"), shards, FEATURES)
        )
    return sum(len(f.read_text(encoding="utf-8").splitlines()) for f in records)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--keep", type=Path, default=None, help="keep the files here")
    args = parser.parse_args()

    import apache_beam  # noqa: F401  (imports are not timed: every path gets them warm)
    import tensorflow  # noqa: F401
    import yaml

    import components.preprocess.pipeline  # noqa: F401
    from components.preprocess.schema import PreprocessConfig

    # What the imports made (TensorFlow's is large) lives to the end: keep the collector from
    # rescanning it in every path's full collections, as the preprocess step does for its own.
    gc.collect()
    gc.freeze()

    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-data-"))
    work.mkdir(parents=True, exist_ok=True)
    config_path = work / "config.yaml"
    config_path.write_text(yaml.safe_dump(CONFIG))
    config = PreprocessConfig.model_validate(CONFIG["preprocess"])
    src = work / "records.jsonl"
    synth_s, _ = timed(lambda: synthesize(src, args.records))
    print(f"synthesized {args.records} records in {synth_s:.1f} s", file=sys.stderr)
    # The preprocess step reads an ingest snapshot; making it is ingest's work, not timed here.
    from components.ingest.ingest import snapshot

    snapshot(str(src), work / "raw")

    results: dict[str, Any] = {"records": args.records, "preprocess": {}, "tfrecord": {}}
    runs = {
        "plain_python": lambda: plain_python(src, work / "plain.jsonl", config),
        "pyarrow": lambda: pyarrow_vectorised(src, work / "arrow.parquet"),
        "beam": lambda: beam_preprocess(work / "raw", work, config_path),
        "beam_batched": lambda: beam_batched(src, work / "beam-batched"),
    }
    for name, fn in runs.items():
        seconds, counts = timed(fn)
        results["preprocess"][name] = {
            "seconds": round(seconds, 2),
            "records_per_s": round(args.records / seconds),
            "counts": counts,
        }
        print(f"preprocess {name}: {seconds:.1f} s", file=sys.stderr)
    pre = results["preprocess"]
    same = {json.dumps(v["counts"], sort_keys=True) for v in pre.values()}
    results["preprocess"]["counts_agree"] = len(same) == 1

    records = sorted((work / "beam-pre" / "records").glob("*.jsonl"))
    writers: dict[str, Callable[[list[Path], Path, int], int]] = {
        "plain_python": plain_tfrecord,
        "beam": beam_tfrecord,
    }
    for name, writer in writers.items():
        out = work / f"tfrecord-{name}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir()
        start = time.perf_counter()
        n = writer(records, out, args.shards)
        seconds = time.perf_counter() - start
        results["tfrecord"][name] = {
            "seconds": round(seconds, 2),
            "examples_per_s": round(n / seconds),
            "bytes": sum(f.stat().st_size for f in out.iterdir()),
        }
        print(f"tfrecord {name}: {seconds:.1f} s", file=sys.stderr)

    import gzip

    unpacked = {
        name: [
            gzip.decompress(f.read_bytes()) for f in sorted((work / f"tfrecord-{name}").iterdir())
        ]
        for name in writers
    }
    results["tfrecord"]["same_records"] = unpacked["beam"] == unpacked["plain_python"]

    def ratio(a: float, b: float) -> float:
        return round(a / b, 3)

    results["ratios"] = {
        "beam_per_record_vs_plain_python": ratio(
            pre["beam"]["records_per_s"], pre["plain_python"]["records_per_s"]
        ),
        "beam_batched_vs_pyarrow": ratio(
            pre["beam_batched"]["records_per_s"], pre["pyarrow"]["records_per_s"]
        ),
        "plain_python_vs_pyarrow": ratio(
            pre["plain_python"]["records_per_s"], pre["pyarrow"]["records_per_s"]
        ),
        "beam_tfrecord_vs_plain_writer": ratio(
            results["tfrecord"]["beam"]["examples_per_s"],
            results["tfrecord"]["plain_python"]["examples_per_s"],
        ),
    }
    results["targets"] = {
        "beam_per_record_vs_plain_python": 0.35,
        "beam_tfrecord_vs_plain_writer": 0.5,
        "beam_batched_vs_pyarrow": 0.4,
    }
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
