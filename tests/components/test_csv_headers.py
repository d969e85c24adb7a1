"""Header names, read in one place (components.common.records) for every step: a repeated or
empty name is an error naming the file and the columns, never a silently lost column; a UTF-8
byte-order mark is not part of the first name."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from components.common import records
from components.common.errors import InputDataError
from tests.conftest import REPO, run_cli

BOM = b"\xef\xbb\xbf"


def cli(module: str, *args: object) -> subprocess.CompletedProcess[str]:
    return run_cli(module, *map(str, args))


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("text,category,text", "repeated column name(s) 'text' (columns 1, 3)"),
        ("text,category, text", "repeated column name(s) 'text' (columns 1, 3)"),
        ("a,b,a,b,a", "'a' (columns 1, 3, 5), 'b' (columns 2, 4)"),
        ("text,,category", "empty column name(s) at column(s) 2"),
        ("text,category,", "empty column name(s) at column(s) 3"),
    ],
)
def test_bad_header_is_an_error_naming_file_and_columns(
    tmp_path: Path, header: str, expected: str
) -> None:
    src = tmp_path / "reviews.csv"
    src.write_text(f"{header}\n" + ",".join("x" * len(header.split(","))) + "\n")
    for read in (
        lambda: records.header_columns(str(src)),
        lambda: list(records.read_records(str(src))),
    ):
        with pytest.raises(InputDataError) as err:
            read()
        assert str(err.value).startswith(f"{src}: ")
        assert expected in str(err.value)


def test_configured_columns_are_checked_too(tmp_path: Path) -> None:
    src = tmp_path / "adult.csv"
    src.write_text("39, State-gov, 77516\n")
    options = records.CsvOptions(columns=("age", "workclass", "age"))
    with pytest.raises(InputDataError, match=r"'age' \(columns 1, 3\)"):
        list(records.read_records(str(src), "csv", options))
    with pytest.raises(InputDataError, match=r"'age' \(columns 1, 3\)"):
        records.header_columns(str(src), "csv", options)


def test_parquet_with_repeated_names_is_an_error(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "x.parquet"
    table = pa.Table.from_arrays([pa.array(["a"]), pa.array(["b"])], names=["text", "text"])
    pq.write_table(table, src)
    with pytest.raises(InputDataError, match=r"x\.parquet: repeated column name\(s\) 'text'"):
        records.header_columns(str(src))
    with pytest.raises(InputDataError, match="repeated column name"):
        list(records.read_records(str(src)))


def test_byte_order_mark_is_stripped(tmp_path: Path) -> None:
    src = tmp_path / "excel.csv"
    src.write_bytes(BOM + b"category,text,movie_name\r\nfresh,good,M\r\n")
    assert records.header_columns(str(src)) == ["category", "text", "movie_name"]
    (row,) = records.read_records(str(src))
    assert row.error is None and row.fields == {
        "category": "fresh",
        "text": "good",
        "movie_name": "M",
    }
    gz = tmp_path / "excel.csv.gz"
    import gzip

    gz.write_bytes(gzip.compress(src.read_bytes()))
    assert records.header_columns(str(gz)) == ["category", "text", "movie_name"]
    jsonl = tmp_path / "x.jsonl"
    jsonl.write_bytes(BOM + b'{"text": "a"}\n{"text": "b"}\n')
    assert [r.fields for r in records.read_records(str(jsonl))] == [{"text": "a"}, {"text": "b"}]


def test_a_byte_order_mark_inside_the_data_is_kept(tmp_path: Path) -> None:
    """Only the mark at the start of the file is dropped; a cell's own U+FEFF is content."""
    src = tmp_path / "x.csv"
    src.write_bytes(BOM + b"text\n" + BOM + b"hi\n")
    (row,) = records.read_records(str(src))
    assert row.fields == {"text": "\ufeffhi"}


def test_ingest_cli_refuses_a_repeated_header(tmp_path: Path) -> None:
    src = tmp_path / "reviews.csv"
    src.write_text("category,text,movie_name,text\nfresh,first,M,second\n")
    result = cli("components.ingest", "--source", src, "--output", tmp_path / "raw")
    assert result.returncode == 2, result.stderr
    assert f"{src}: repeated column name(s) 'text' (columns 2, 4)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "raw").exists()


def test_ingest_cli_reads_a_csv_with_a_byte_order_mark(tmp_path: Path) -> None:
    src = tmp_path / "reviews.csv"
    src.write_bytes(BOM + b"category,text,movie_name\nfresh,good,M\nrotten,bad,N\n")
    raw = tmp_path / "raw"
    result = cli(
        "components.ingest",
        "--source",
        src,
        "--output",
        raw,
        "--required-columns",
        "category,text,movie_name",
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((raw / "manifest.json").read_text())
    assert manifest["row_count"] == 2 and manifest["files"][0]["undecodable_rows"] == 0


@pytest.mark.integration
def test_preprocess_cli_refuses_a_repeated_header(tmp_path: Path) -> None:
    """The preprocess step reads the snapshot's headers through the same check (a snapshot
    written before the check existed, or by hand, is refused before the Beam job runs)."""
    src = tmp_path / "reviews.csv"
    src.write_text("category,text,movie_name\nfresh,good,M\n")
    raw = tmp_path / "raw"
    assert cli("components.ingest", "--source", src, "--output", raw).returncode == 0
    (data,) = (raw / "data").iterdir()
    data.write_text("category,text,movie_name,text\nfresh,first,M,second\n")
    result = cli(
        "components.preprocess",
        "--raw",
        raw,
        "--config",
        REPO / "config" / "reviews.yaml",
        "--output",
        tmp_path / "pre",
    )
    assert result.returncode == 2, result.stderr
    assert f"{data}: repeated column name(s) 'text' (columns 2, 4)" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "pre").exists()
