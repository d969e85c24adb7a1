"""Preprocess: schema checks as functions, transforms under TestPipeline, and the CLI's counts."""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
import pytest
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from components.common.config import load_section
from components.preprocess import pipeline as pp
from components.preprocess.executor import reconcile
from components.preprocess.schema import PreprocessConfig, Profile, normalize, validate
from tests.conftest import REPO, run_cli


@pytest.fixture(scope="module")
def config() -> PreprocessConfig:
    return load_section(str(REPO / "config" / "reviews.yaml"), "preprocess", PreprocessConfig)


def test_validate_names_field_and_expectation(config: PreprocessConfig) -> None:
    ok = validate({"category": "fresh", "text": "good", "movie_name": "m"}, config)
    assert ok == {"category": "fresh", "text": "good", "movie_name": "m"}
    with pytest.raises(ValueError, match=r"field 'movie_name': required but missing"):
        validate({"category": "fresh", "text": "good"}, config)
    with pytest.raises(ValueError, match=r"field 'category': 'great' is not one of"):
        validate({"category": "great", "text": "good", "movie_name": "m"}, config)
    with pytest.raises(ValueError, match=r"field 'text': expected a string, got int 3"):
        validate({"category": "fresh", "text": 3, "movie_name": "m"}, config)


def test_numbers_outside_what_features_hold_are_rejected() -> None:
    """An int beyond 64 bits or a non-finite float cannot become a TF feature (and would not
    serialise as JSON): the row is rejected with the field named, never a crash."""
    config = PreprocessConfig.model_validate(
        {
            "schema": [{"name": "n", "type": "int"}, {"name": "x", "type": "float"}],
            "label": {"field": "n", "mapping": {}},
        }
    )
    assert validate({"n": "-9223372036854775808", "x": "1e300"}, config)["n"] == -(2**63)
    with pytest.raises(ValueError, match=r"field 'n': expected a 64-bit int, got '9+'"):
        validate({"n": "9" * 30, "x": "1"}, config)
    for bad in ("nan", "inf", "-Infinity"):
        with pytest.raises(ValueError, match=r"field 'x': expected a finite float"):
            validate({"n": "1", "x": bad}, config)


def test_nfkc_unifies_full_and_half_width() -> None:
    record = normalize({"text": "ＡＢＣ１２３ ｶﾀｶﾅ", "other": "ＡＢＣ"}, ["text"])
    assert record == {"text": "ABC123 カタカナ", "other": "ＡＢＣ"}


def test_unknown_field_in_config_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"fields \['nope'\] are used but not declared"):
        PreprocessConfig.model_validate(
            {"schema": [{"name": "text"}], "label": {"field": "nope", "mapping": {"a": 1}}}
        )


def test_transforms_route_every_row(config: PreprocessConfig) -> None:
    def row(n: int, fields: dict | None, error: str | None = None) -> dict:
        return {"source": f"f.csv:{n}", "fields": fields, "raw": "r", "error": error}

    rows = [
        row(1, {"category": "fresh", "text": "Ｇood", "movie_name": "m"}),
        row(2, {"category": "fresh", "text": "Good", "movie_name": "m"}),  # duplicate after NFKC
        row(3, {"category": "plot", "text": "story", "movie_name": "m"}),
        row(4, {"category": "rotten", "text": "", "movie_name": "m"}),
        row(5, None, "field 'text' has bytes that are not valid UTF-8 (at char 3)"),
    ]
    with TestPipeline() as p:
        split = p | beam.Create(rows) | pp.ValidateAndLabel(config)
        deduped = split[pp.VALID] | pp.DropExactDuplicates(config.dedupe_on)
        assert_that(
            deduped[pp.VALID] | "Text" >> beam.Map(lambda r: (r["text"], r["label"])),
            equal_to([("Good", 1)]),
            label="valid",
        )
        assert_that(deduped[pp.DUPLICATE], equal_to(["f.csv:2"]), label="dups")
        assert_that(split[pp.FILTERED], equal_to(["plot_summary_not_a_review"]), label="filtered")
        assert_that(
            split[pp.DEAD_LETTER] | beam.Map(lambda d: (d["source"], d["step"])),
            equal_to([("f.csv:4", "validate"), ("f.csv:5", "read")]),
            label="dead",
        )


def test_near_duplicates_leave_with_the_record_they_repeat() -> None:
    from components.preprocess.schema import NearDedupe

    base = "An unflinching, beautifully acted drama about grief, memory and the families we choose."
    records = [
        {"_source": "a.csv:2", "text": base},
        {"_source": "a.csv:9", "text": base.replace("beautifully", "beautifuly")},  # a typo
        {"_source": "b.csv:1", "text": "A limp, joyless sequel that nobody asked for."},
        {"_source": "a.csv:10", "text": base.upper()},  # other shingles: not a near duplicate
    ]
    spec = NearDedupe(field="text", threshold=0.8)
    assert pp.similarity(pp.minhash(base, spec), pp.minhash(base, spec)) == 1.0
    with TestPipeline() as p:
        out = p | beam.Create(records) | pp.DropNearDuplicates(spec)
        assert_that(
            out[pp.VALID] | beam.Map(lambda r: r["_source"]),
            equal_to(["a.csv:2", "b.csv:1", "a.csv:10"]),
            label="kept",
        )
        assert_that(
            out[pp.NEAR_DUPLICATE] | beam.Map(lambda d: (d["source"], d["duplicates"])),
            equal_to([("a.csv:9", "a.csv:2")]),
            label="dropped",
        )
        assert_that(
            out[pp.NEAR_DUPLICATE] | beam.Map(lambda d: d["similarity"] >= 0.8),
            equal_to([True]),
            label="similarity",
        )


def test_minhash_is_datasketchs_signature() -> None:
    """The signature is computed without a MinHash object per record, and must be the one
    datasketch's own MinHash gives (the same rows are dropped as before, on every version)."""
    import random

    from datasketch import MinHash

    from components.preprocess.schema import NearDedupe

    rng = random.Random(3)
    texts = ["", "a", "abcd", "ｆｕｌｌ-width ﾊﾝｶｸ", "é" * 12]
    texts += ["".join(rng.choices("abc de", k=rng.randint(5, 400))) for _ in range(50)]
    for spec in (NearDedupe(field="t"), NearDedupe(field="t", shingle=3, bands=5, rows=3, seed=9)):
        for text in texts:
            k = spec.shingle
            sketch = MinHash(num_perm=spec.bands * spec.rows, seed=spec.seed)
            shingles = {text[i : i + k] for i in range(max(1, len(text) - k + 1))}
            sketch.update_batch([s.encode("utf-8") for s in shingles])
            assert pp.minhash(text, spec) == tuple(int(v) for v in sketch.hashvalues), text


def test_a_near_duplicate_of_several_is_marked_by_the_earliest() -> None:
    from components.preprocess.schema import NearDedupe

    base = "A patient, luminous film about two sisters, a farm and the winter that changes them."
    records = [
        {"_source": "a.csv:7", "text": base.replace("luminous", "luminus")},
        {"_source": "a.csv:3", "text": base},
        {"_source": "b.csv:2", "text": base.replace("winter", "wintre")},
    ]
    with TestPipeline() as p:
        out = p | beam.Create(records) | pp.DropNearDuplicates(NearDedupe(field="text"))
        assert_that(out[pp.VALID] | beam.Map(lambda r: r["_source"]), equal_to(["a.csv:3"]))
        assert_that(
            out[pp.NEAR_DUPLICATE] | beam.Map(lambda d: (d["source"], d["duplicates"])),
            equal_to([("a.csv:7", "a.csv:3"), ("b.csv:2", "a.csv:3")]),
            label="dropped",
        )


def test_profiles_join_aggregates_by_id() -> None:
    """CombinePerKey + CoGroupByKey: every record gets its id's aggregates; no id, no profile."""
    profile = Profile.model_validate(
        {
            "key": "user",
            "features": [
                {"name": "user_events", "agg": "count"},
                {"name": "user_mean_amount", "agg": "mean", "field": "amount"},
                {"name": "user_mean_chars", "agg": "mean_length", "field": "note"},
                {"name": "user_share_web", "agg": "share", "field": "channel", "equals": "web"},
            ],
        }
    )
    rows = [
        {"user": "u1", "amount": 10, "note": "ab", "channel": "web"},
        {"user": "u1", "amount": 20, "note": "abcd", "channel": "app"},
        {"user": "u1", "amount": None, "note": None, "channel": "web"},
        {"user": "u2", "amount": 5.5, "note": "x", "channel": "app"},
        {"user": None, "amount": 1, "note": "y", "channel": "web"},
    ]
    u1 = {
        "user_events": 3,
        "user_mean_amount": 15.0,
        "user_mean_chars": 3.0,
        "user_share_web": round(2 / 3, 6),
    }
    u2 = {"user_events": 1, "user_mean_amount": 5.5, "user_mean_chars": 1.0, "user_share_web": 0.0}
    none = dict.fromkeys(u1)
    expected = [
        {**rows[0], **u1},
        {**rows[1], **u1},
        {**rows[2], **u1},
        {**rows[3], **u2},
        {**rows[4], **none},
    ]
    with TestPipeline() as p:
        out = p | beam.Create(rows) | pp.JoinProfiles([profile])
        assert_that(out, equal_to(expected))


@pytest.mark.parametrize(
    ("feature", "message"),
    [
        ({"name": "p", "agg": "mean", "field": "category"}, "leaks the label"),
        ({"name": "text", "agg": "count"}, "would overwrite a field"),
        ({"name": "p", "agg": "mean"}, "needs a field"),
        ({"name": "p", "agg": "share", "field": "text"}, "needs `equals`"),
        ({"name": "p", "agg": "count", "field": "nope"}, "not declared in schema"),
    ],
)
def test_profile_config_errors(feature: dict, message: str) -> None:
    import yaml

    from components.common.errors import ConfigError

    cfg = yaml.safe_load((REPO / "config" / "reviews.yaml").read_text())["preprocess"]
    cfg["profiles"] = [{"key": "movie_name", "features": [feature]}]
    with pytest.raises((ValueError, ConfigError), match=message):
        PreprocessConfig.model_validate(cfg)


def test_reconcile_refuses_a_mismatch() -> None:
    counts = {
        "rows_in": 10,
        "rows_out": 5,
        "dead_letter": 2,
        "filtered": 2,
        "duplicates_dropped": 0,
    }
    with pytest.raises(Exception, match="counts do not reconcile"):
        reconcile(counts)
    assert reconcile({**counts, "duplicates_dropped": 1})["rows_in"] == 10


@pytest.mark.integration
def test_cli_counts_reconcile_with_bad_rows(tmp_path: Path, sample_csv: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "sample.csv").write_bytes(sample_csv.read_bytes())
    (src / "bad.csv").write_bytes(
        b"category,text,movie_name\n"
        b"fresh,caf\xe9,m1\n"  # not UTF-8
        b"meh,ok text,m1\n"  # not an allowed category
        b"rotten,only two\n"  # missing a column
        b"fresh,A fine film.,m2\n"
        b"fresh,A fine film.,m2\n"
    )  # exact duplicate
    (src / "typed.jsonl").write_text(
        '{"category": "fresh", "text": 5, "movie_name": "m3"}\n'
        '{"category": "rotten", "text": "Flat.", "movie_name": "m3"}\n'
    )
    raw = tmp_path / "raw"
    assert run_cli("components.ingest", "--source", src, "--output", raw).returncode == 0
    out = tmp_path / "pre"
    result = run_cli(
        "components.preprocess",
        "--raw",
        raw,
        "--config",
        REPO / "config" / "reviews.yaml",
        "--output",
        out,
    )
    assert result.returncode == 0, result.stderr
    stats = json.loads((out / "stats.json").read_text())
    assert stats["reconciled"] is True
    assert stats["rows_in"] == stats["manifest_row_count"]
    assert stats["rows_in"] == (
        stats["rows_out"]
        + stats["dead_letter"]
        + stats["filtered"]
        + stats["duplicates_dropped"]
        + stats["near_duplicates_dropped"]
    )
    dead = [
        json.loads(line)
        for f in (out / "dead_letter").glob("*.jsonl")
        for line in f.read_text().splitlines()
    ]
    bad = {d["source"].rsplit(":", 1)[1]: d for d in dead if "bad.csv" in d["source"]}
    assert "not valid UTF-8" in bad["1"]["reason"] and "\\xe9" in bad["1"]["raw"]
    assert "'meh' is not one of" in bad["2"]["reason"]
    assert "expected 3 columns" in bad["3"]["reason"]
    (typed,) = [d for d in dead if "typed.jsonl" in d["source"]]
    assert typed["source"].endswith("typed.jsonl:1")
    assert typed["reason"] == "field 'text': expected a string, got int 5"
    assert stats["duplicates_dropped"] >= 1
    assert stats["filtered:plot_summary_not_a_review"] > 0
    records = [
        json.loads(line)
        for f in (out / "records").glob("*.jsonl")
        for line in f.read_text().splitlines()
    ]
    assert len(records) == stats["rows_out"]
    assert {r["label"] for r in records} == {0, 1}
    assert set(records[0]) == {
        "text",
        "movie_name",
        "label",
        "movie_review_count",
        "movie_mean_review_chars",
    }
    # The per-movie profile, joined by movie, agrees with the records it was computed from.
    per_movie: dict[str, list[dict]] = {}
    for r in records:
        per_movie.setdefault(r["movie_name"], []).append(r)
    for movie, rows in per_movie.items():
        mean_chars = round(sum(len(r["text"]) for r in rows) / len(rows), 6)
        for r in rows:
            assert r["movie_review_count"] == len(rows), movie
            assert r["movie_mean_review_chars"] == pytest.approx(mean_chars), movie


@pytest.mark.integration
def test_cli_missing_column_fails_early(tmp_path: Path) -> None:
    src = tmp_path / "x.csv"
    src.write_text("category,text\nfresh,hello\n")
    raw = tmp_path / "raw"
    assert run_cli("components.ingest", "--source", src, "--output", raw).returncode == 0
    result = run_cli(
        "components.preprocess",
        "--raw",
        raw,
        "--config",
        REPO / "config" / "reviews.yaml",
        "--output",
        tmp_path / "pre",
    )
    assert result.returncode == 2
    assert "missing required column(s) ['movie_name']" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "pre").exists()
