"""Raw record readers: every kind of bad input comes back as an error with file and row."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from components.common.errors import InputDataError
from components.common.records import detect_format, header_columns, read_records


def test_csv_rows_carry_file_and_row(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text('category,text\nfresh,"multi\nline"\nrotten,ok\n')
    rows = list(read_records(str(path)))
    assert [r.fields for r in rows] == [
        {"category": "fresh", "text": "multi\nline"},
        {"category": "rotten", "text": "ok"},
    ]
    assert rows[1].source == f"{path}:2"


def test_csv_wrong_column_count_and_bad_bytes_are_errors_not_exceptions(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"category,text\nfresh\nrotten,caf\xe9 au lait\nfresh,fine\n")
    rows = list(read_records(str(path)))
    assert rows[0].error == "expected 2 columns ['category', 'text'], found 1"
    assert "field 'text' has bytes that are not valid UTF-8" in (rows[1].error or "")
    assert "\\xe9" in rows[1].raw  # the raw row is kept, bytes shown, safe for JSON
    json.dumps(rows[1].raw)
    assert rows[2].error is None and rows[2].fields == {"category": "fresh", "text": "fine"}


def test_empty_csv_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    with pytest.raises(InputDataError, match=r"empty.csv: the file is empty"):
        list(read_records(str(path)))


def test_jsonl_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl.gz"
    with gzip.open(path, "wb") as handle:
        handle.write(b'{"text": "ok"}\n[1, 2]\n{broken\n\n{"text": "\xff"}\n')
    rows = list(read_records(str(path)))
    assert rows[0].fields == {"text": "ok"}
    assert rows[1].error == "expected a JSON object, got list"
    assert (rows[2].error or "").startswith("not valid JSON")
    assert rows[3].error == "blank line"
    assert (rows[4].error or "").startswith("bytes that are not valid UTF-8")
    assert rows[4].source.endswith("a.jsonl.gz:5")


def test_parquet(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"text": ["x", "y"], "n": [1, 2]}), path)
    assert [r.fields for r in read_records(str(path))] == [
        {"text": "x", "n": 1},
        {"text": "y", "n": 2},
    ]
    assert header_columns(str(path)) == ["text", "n"]


def test_format_from_name() -> None:
    assert detect_format("gs://b/x.csv.bz2") == "csv"
    assert detect_format("x.ndjson") == "jsonl"
    with pytest.raises(InputDataError, match="cannot tell the format"):
        detect_format("x.txt")


def test_beam_runner_defaults_to_in_process_and_passes_user_flags() -> None:
    from components.common.beam_options import IN_PROCESS_RUNNER, with_runner

    assert with_runner([]) == [f"--runner={IN_PROCESS_RUNNER}"]
    dataflow = ["--runner=DataflowRunner", "--project=p", "--region=r"]
    assert with_runner(dataflow) == dataflow  # untouched
    assert with_runner(["--runner", "FlinkRunner"]) == ["--runner", "FlinkRunner"]


def test_only_one_in_process_worker_counts_as_in_process() -> None:
    from components.common.beam_options import in_process

    assert in_process([]) and in_process(["--direct_num_workers=1"])
    two = ["--direct_num_workers=2", "--direct_running_mode=multi_processing"]
    assert not in_process(two)  # more than one worker: the preprocess rows are spread
    assert not in_process(["--runner=PortableRunner", "--job_endpoint=localhost:8073"])


def test_a_portable_job_may_run_longer_than_five_minutes() -> None:
    """Beam's PortableRunner uses --job_server_timeout (300 s by default) as the deadline of the
    running job's state stream: measured, a Prism job of 5 min ended in DEADLINE_EXCEEDED."""
    from components.common.beam_options import JOB_STREAM_TIMEOUT, with_job_timeout

    for runner in (["--runner=PortableRunner"], ["--runner", "FlinkRunner"], ["--runner=spark"]):
        assert with_job_timeout(runner) == [*runner, f"--job_server_timeout={JOB_STREAM_TIMEOUT}"]
    own = ["--runner=PortableRunner", "--job_server_timeout=60"]
    assert with_job_timeout(own) == own
    for other in ([], ["--runner=DataflowRunner"]):
        assert with_job_timeout(other) == other


def test_an_unreachable_job_server_fails_fast_and_retryable() -> None:
    import socket
    import time

    from components.common.beam_options import check_job_endpoint
    from components.common.errors import EXIT_RETRYABLE, ConfigError, UnreachableError

    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        check_job_endpoint(["--runner=PortableRunner", f"--job_endpoint=localhost:{port}"])
    start = time.monotonic()
    with pytest.raises(UnreachableError, match=f"localhost:{port}") as err:
        check_job_endpoint(["--runner=PortableRunner", f"--job_endpoint=localhost:{port}"], 5)
    assert err.value.exit_code == EXIT_RETRYABLE and time.monotonic() - start < 5
    with pytest.raises(ConfigError, match="HOST:PORT"):
        check_job_endpoint(["--runner=PortableRunner", "--job_endpoint=localhost"])
    check_job_endpoint(["--runner=DataflowRunner", "--job_endpoint=nowhere:1"])  # not portable


def test_remote_beam_workers_run_the_steps_image() -> None:
    from components.common.beam_options import with_worker_image
    from components.common.errors import ConfigError

    image = "registry.example/retrain-beam:1"
    dataflow = ["--runner=DataflowRunner", "--project=p"]
    assert with_worker_image(dataflow, image) == [*dataflow, f"--sdk_container_image={image}"]
    for flink in (["--runner", "FlinkRunner"], ["--runner=flink"], ["--runner=PortableRunner"]):
        assert with_worker_image(flink, image) == [
            *flink,
            "--environment_type=DOCKER",
            f"--environment_config={image}",
        ]
    own = ["--runner=PortableRunner", "--environment_type=EXTERNAL", "--environment_config=h:5"]
    assert with_worker_image(own, image) == own  # the user says how workers run
    assert with_worker_image([], "") == []  # the in-process runner needs no image
    assert with_worker_image(["--runner=DirectRunner"], "") == ["--runner=DirectRunner"]
    with pytest.raises(ConfigError, match="--beam-worker-image"):
        with_worker_image(dataflow, "")
