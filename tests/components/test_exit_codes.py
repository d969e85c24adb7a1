"""Issue 19, point 6: exit codes tell the retry rules the truth. A lost race or a service that
did not answer exits 75 (retried) with one line; bad input exits 2 (never retried) naming the
file; an unreachable bucket fails within a configurable timeout saying what to check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from components.common.cli import run_cli as run_body
from components.common.errors import (
    EXIT_RETRYABLE,
    EXIT_USER_ERROR,
    ConflictError,
    InputDataError,
    UnreachableError,
)
from pipelines import ir
from tests.components.test_hardening_registry import (  # noqa: F401 (the fixture)
    fake_gcs,
    registry_with_challenger,
)
from tests.conftest import REPO, free_port, run_cli


def retried_by_argo(code: int) -> bool:
    """The compiled retryStrategy expression of a step, as the Argo runner evaluates it."""
    template = yaml.safe_load((REPO / "manifests/argo/templates/promote.yaml").read_text())
    expression = template["spec"]["templates"][0]["retryStrategy"]["expression"]
    text = expression.replace("lastRetry.status", "_status").replace("lastRetry.exitCode", "_code")
    names = {"_status": "Failed", "_code": str(code)}
    return bool(ir.evaluate_expression(text, names, {"asInt": int}, expression))


def test_the_retry_rule_retries_transient_and_crashes_never_bad_input() -> None:
    assert retried_by_argo(EXIT_RETRYABLE) and retried_by_argo(1)
    assert not retried_by_argo(EXIT_USER_ERROR)


def body_raising(err: BaseException):
    def body(_: Sequence[str] | None) -> int:
        raise err

    return body


def test_run_cli_maps_errors_to_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_body("t", body_raising(ConflictError("moved by another writer"))) == 75
    assert "moved by another writer" in capsys.readouterr().err
    assert run_body("t", body_raising(UnreachableError("bucket b did not answer"))) == 75
    assert run_body("t", body_raising(InputDataError("f.csv: bad"))) == 2
    capsys.readouterr()
    assert run_body("t", body_raising(ConnectionRefusedError("[Errno 111] refused"))) == 75
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and "transient" in lines[0] and "ConnectionRefusedError" in lines[0]
    wrapped = RuntimeError("listing failed")
    wrapped.__cause__ = TimeoutError("read timed out")
    assert run_body("t", body_raising(wrapped)) == 75
    with pytest.raises(ZeroDivisionError):  # a bug stays a crash: traceback, exit 1
        run_body("t", body_raising(ZeroDivisionError("x")))


def test_beam_io_errors_of_unreachable_paths_are_transient() -> None:
    from apache_beam.io.filesystem import BeamIOError

    from components.common.cli import transient_reason

    assert transient_reason(BeamIOError("match", {"gs://b/x": ConnectionError("refused")}))
    assert transient_reason(BeamIOError("match", {"gs://b/x": ValueError("bad glob")})) is None


def test_a_lost_race_exits_retryable_from_the_cli(tmp_path: Path) -> None:
    """A CLI whose pointer read goes stale before its move (the race, made certain)."""
    code = (
        "import sys\n"
        "from components.common.registry import Registry\n"
        "from components.promote import promote\n"
        "real = Registry.challenger\n"
        "def stale(self):\n"
        "    seen = real(self)\n"
        "    doc = self.read('challenger')\n"
        "    f = {k: doc[k] for k in ('experiment', 'salt', 'champion', 'started_utc')}\n"
        "    self.move('challenger', doc['version'], 'racer', expect=doc, percent=60, **f)\n"
        "    return seen\n"
        "Registry.challenger = stale\n"
        "from components.promote.main import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    registry = registry_with_challenger(tmp_path / "registry")
    result = subprocess.run(
        [sys.executable, "-c", code, "--ramp-percent", "50", "--config",
         str(REPO / "config/reviews.yaml"), "--registry-root", str(tmp_path / "registry"),
         "--manifest", str(tmp_path / "isvc.yaml")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == EXIT_RETRYABLE, result.stderr
    assert "another writer moved it" in result.stderr and "Traceback" not in result.stderr
    current = registry.challenger()
    assert current is not None and current["percent"] == 60  # the racer's, not ours
    assert not (tmp_path / "isvc.yaml").exists()


def test_a_stale_decision_is_bad_input_not_retried(tmp_path: Path) -> None:
    registry_with_challenger(tmp_path / "registry")
    readout = tmp_path / "readout"
    readout.mkdir()
    stale = {"decision": "rollback", "champion": "v1", "challenger": "v9", "reasons": []}
    (readout / "decision.json").write_text(json.dumps(stale))
    result = promote_readout(tmp_path, readout)
    assert result.returncode == EXIT_USER_ERROR
    assert "decision.json" in result.stderr and "read out again" in result.stderr


def promote_readout(tmp: Path, readout: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(
        "components.promote",
        "--readout",
        str(readout),
        "--config",
        str(REPO / "config" / "reviews.yaml"),
        "--registry-root",
        str(tmp / "registry"),
        "--manifest",
        str(tmp / "isvc.yaml"),
    )


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"decision": "promote", ', "not a JSON document"),
        ("\xff\xfe garbage", "not a JSON document"),
        ("[1, 2]", "expected a JSON object"),
        ('{"decision": "ship-it"}', "is not one of"),
        ('{"decision": "promote", "challenger": 7}', "challenger 7"),
        ('{"decision": "rollback", "reasons": "x"}', "reasons"),
    ],
)
def test_a_malformed_decision_names_the_file(tmp_path: Path, text: str, says: str) -> None:
    registry = registry_with_challenger(tmp_path / "registry")
    before = registry.history()
    readout = tmp_path / "readout"
    readout.mkdir()
    (readout / "decision.json").write_bytes(text.encode("latin-1"))
    result = promote_readout(tmp_path, readout)
    assert result.returncode == EXIT_USER_ERROR, result.stderr
    assert str(readout / "decision.json") in result.stderr and says in result.stderr
    assert "Traceback" not in result.stderr
    assert registry.history() == before


def ingest(source: Path | str, out: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "components.ingest", "--source", str(source), "--output", str(out)],
        cwd=REPO,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_corrupt_parquet_is_bad_input_naming_the_file(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    garbage = tmp_path / "garbage" / "part.parquet"
    garbage.parent.mkdir()
    garbage.write_bytes(b"PAR1 this is not parquet at all " * 10)
    # A real file whose data pages are overwritten: the footer reads, the rows do not.
    damaged = tmp_path / "damaged" / "part.parquet"
    damaged.parent.mkdir()
    table = pa.table({"text": [f"review {i} " * 20 for i in range(2000)], "label": [1] * 2000})
    pq.write_table(table, damaged, compression="snappy")
    data = bytearray(damaged.read_bytes())
    data[100 : len(data) // 2] = os.urandom(len(data) // 2 - 100)
    damaged.write_bytes(bytes(data))
    for path in (garbage, damaged):
        result = ingest(path.parent, tmp_path / f"raw-{path.parent.name}")
        assert result.returncode == EXIT_USER_ERROR, result.stderr[-2000:]
        assert str(path) in result.stderr and "not a readable parquet file" in result.stderr
        assert "Traceback" not in result.stderr
        assert not (tmp_path / f"raw-{path.parent.name}").exists()


def test_truncated_gzip_is_bad_input_naming_the_file(tmp_path: Path) -> None:
    import gzip

    path = tmp_path / "src" / "part.csv.gz"
    path.parent.mkdir()
    full = gzip.compress(b"category,text\n" + b"fresh,A gem.\n" * 5000)
    path.write_bytes(full[: len(full) // 2])
    result = ingest(path, tmp_path / "raw")
    assert result.returncode == EXIT_USER_ERROR, result.stderr[-2000:]
    assert str(path) in result.stderr and "Traceback" not in result.stderr


@pytest.mark.integration
def test_an_unreachable_bucket_fails_in_time_and_says_what_to_check(tmp_path: Path) -> None:
    started = time.monotonic()
    result = ingest(
        "gs://raw-data/reviews/*.csv",
        tmp_path / "raw",
        STORAGE_EMULATOR_HOST=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        GOOGLE_CLOUD_PROJECT="test",
        RETRAIN_GCS_TIMEOUT_SECONDS="3",
    )
    took = time.monotonic() - started
    assert result.returncode == EXIT_RETRYABLE, result.stderr[-2000:]
    assert "did not answer within 3 s" in result.stderr
    assert (
        "check the network path" in result.stderr and "RETRAIN_GCS_TIMEOUT_SECONDS" in result.stderr
    )
    assert "Traceback" not in result.stderr
    assert took < 60, f"took {took:.0f} s (Beam alone would retry for 120 s)"


def test_a_bad_timeout_setting_is_bad_input(tmp_path: Path) -> None:
    result = ingest("gs://raw-data/x.csv", tmp_path / "raw", RETRAIN_GCS_TIMEOUT_SECONDS="soon")
    assert result.returncode == EXIT_USER_ERROR and "RETRAIN_GCS_TIMEOUT_SECONDS" in result.stderr


@pytest.mark.integration
@pytest.mark.tools
def test_a_missing_bucket_is_bad_input(fake_gcs: dict[str, str], tmp_path: Path) -> None:  # noqa: F811
    result = ingest("gs://no-such-bucket/x/*.csv", tmp_path / "raw", **fake_gcs)
    assert result.returncode == EXIT_USER_ERROR, result.stderr[-2000:]
    assert "bucket no-such-bucket does not exist" in result.stderr
