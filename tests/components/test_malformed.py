"""Generated malformed input (hypothesis) through the real ingest and Beam preprocess.

Each example is a file mixing valid rows with bad ones: wrong types, missing fields, values
outside the schema, broken UTF-8, unparseable lines and huge lines. The step must not crash; every
bad row must come out of the dead-letter output with its file, row and reason; and the counts must
reconcile exactly: in = out + dead letter + filtered + duplicates.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from components.common.errors import InputDataError
from components.ingest.ingest import snapshot
from components.preprocess.executor import run as preprocess
from tests.conftest import small_config

HUGE = 300_000  # characters: twice the csv module's default cell limit

texts = st.text(min_size=1, max_size=30).filter(lambda t: t.strip())
good_rows = st.fixed_dictionaries(
    {
        "category": st.sampled_from(["fresh", "rotten", "plot"]),  # plot rows are filtered
        "text": texts,
        "movie_name": st.sampled_from(["m1", "m2", "m3"]),
    }
)
# (kind, is it bad?) for each generated row; good ones carry their dict.
row_kinds = st.one_of(
    good_rows.map(lambda r: ("good", r)),
    st.just(("huge", None)),  # valid, just very long
    st.sampled_from(
        ["bad_value", "missing_text", "broken_utf8", "wrong_type", "unparseable", "wrong_shape"]
    ).map(lambda k: (k, None)),
)
BAD = {"bad_value", "missing_text", "broken_utf8", "wrong_type", "unparseable", "wrong_shape"}


def csv_line(cells: list[str]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue().encode("utf-8")


def render_csv(kind: str, row: dict[str, Any] | None) -> bytes:
    if kind == "good":
        assert row is not None
        return csv_line([row["category"], row["text"], row["movie_name"]])
    return {
        "huge": csv_line(["fresh", "y" * HUGE, "m1"]),
        "bad_value": csv_line(["meh", "fine text", "m1"]),
        "missing_text": csv_line(["fresh", "", "m1"]),
        "broken_utf8": b'rotten,"caf\xe9 \xff",m2\n',
        "wrong_type": csv_line(["fresh", "text", "m1", "extra cell"]),  # CSV has no types:
        # An unclosed quote would join the following lines into one cell, as in every CSV
        # reader, so a short row stands in for an unparseable one.
        "unparseable": csv_line(["fresh"]),
        "wrong_shape": csv_line(["a", "b"]),
    }[kind]


def render_jsonl(kind: str, row: dict[str, Any] | None) -> bytes:
    value: Any = {
        "good": json.dumps(row, ensure_ascii=False),
        "huge": json.dumps({"category": "fresh", "text": "y" * HUGE, "movie_name": "m1"}),
        "bad_value": json.dumps({"category": "meh", "text": "fine", "movie_name": "m1"}),
        "missing_text": json.dumps({"category": "fresh", "movie_name": "m1"}),
        "broken_utf8": b'{"category": "rotten", "text": "caf\xe9", "movie_name": "m2"}',
        "wrong_type": json.dumps({"category": "fresh", "text": 5, "movie_name": "m1"}),
        "unparseable": '{"category": "fresh", "text": ',
        "wrong_shape": "[1, 2, 3]",
    }[kind]
    return (value if isinstance(value, bytes) else value.encode("utf-8")) + b"\n"


def check(fmt: str, rows: list[tuple[str, dict[str, Any] | None]]) -> None:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        src = tmp / f"input.{fmt}"
        if fmt == "csv":
            body = b"category,text,movie_name\n" + b"".join(render_csv(k, r) for k, r in rows)
        else:
            body = b"".join(render_jsonl(k, r) for k, r in rows)
        src.write_bytes(body)
        manifest = snapshot(str(src), tmp / "raw")
        assert manifest["row_count"] == len(rows)
        stats = preprocess(str(tmp / "raw"), str(small_config(tmp)), tmp / "pre", [])

        bad_rows = {i + 1 for i, (kind, _) in enumerate(rows) if kind in BAD}
        assert stats["rows_in"] == len(rows)
        assert stats["dead_letter"] == len(bad_rows)
        assert stats["rows_out"] + stats["dead_letter"] + stats["filtered"] + stats[
            "duplicates_dropped"
        ] + stats["near_duplicates_dropped"] == len(rows)
        dead = [
            json.loads(line)
            for f in (tmp / "pre" / "dead_letter").glob("*.jsonl")
            for line in f.read_text(encoding="utf-8").splitlines()
        ]
        assert {int(d["source"].rsplit(":", 1)[1]) for d in dead} == bad_rows
        # Named as the snapshot names the file, wherever the snapshot lies.
        names = {f["name"] for f in manifest["files"]}
        assert all(d["reason"] and d["source"].rsplit(":", 1)[0] in names for d in dead), dead
        assert all(d["raw"] for d in dead)  # the raw row is kept, not just the reason
        kept = [
            json.loads(line)
            for f in (tmp / "pre" / "records").glob("*.jsonl")
            for line in f.read_text(encoding="utf-8").splitlines()
        ]
        assert len(kept) == stats["rows_out"]
        huge = sum(kind == "huge" for kind, _ in rows)
        assert sum(len(r["text"]) == HUGE for r in kept) == min(huge, 1)  # duplicates dropped


SETTINGS = settings(
    max_examples=8,
    deadline=None,
    derandomize=True,  # the same examples on every run: CI is reproducible
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # each example runs Beam: no shrinking
)


@pytest.mark.integration
@SETTINGS
@given(rows=st.lists(row_kinds, min_size=1, max_size=25))
def test_malformed_csv_is_dead_lettered_and_counted(rows: list) -> None:
    check("csv", rows)


@pytest.mark.integration
@SETTINGS
@given(rows=st.lists(row_kinds, min_size=1, max_size=25))
def test_malformed_jsonl_is_dead_lettered_and_counted(rows: list) -> None:
    check("jsonl", rows)


@pytest.mark.parametrize(
    ("name", "body"), [("empty.csv", b""), ("header.csv", b"a,b\n"), ("empty.jsonl", b"")]
)
def test_empty_files_are_a_clear_error(tmp_path: Path, name: str, body: bytes) -> None:
    src = tmp_path / name
    src.write_bytes(body)
    with pytest.raises(InputDataError, match=name) as err:
        snapshot(str(src), tmp_path / "raw")
    assert "empty" in str(err.value)
    assert not (tmp_path / "raw").exists()
