"""gs:// paths against a real GCS emulator (gcp-storage-emulator on loopback, started here).

The emulator serves the JSON API that Beam's FileSystems and google-cloud-storage use, so ingest
and the model registry run their real gs:// code. It does not enforce generation preconditions,
so the registry's compare-and-swap is not proven here, only its writes and reads.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.components.test_deploy import BLESSED, fake_model
from tests.conftest import REPO, free_port


def start_emulator(host: str = "127.0.0.1") -> tuple[subprocess.Popen[bytes], dict[str, str]]:
    """A GCS emulator on `host`, in memory; the process and the environment that points
    google-cloud-storage and Beam's FileSystems at it."""
    port = free_port()
    emulator = Path(sys.executable).parent / "gcp-storage-emulator"
    proc = subprocess.Popen(
        [str(emulator), "start", "--host", host, "--port", str(port), "--in-memory"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None, "the GCS emulator exited"
            assert time.monotonic() < deadline, "the GCS emulator did not start in 30 s"
            time.sleep(0.2)
    env = {
        **os.environ,
        "STORAGE_EMULATOR_HOST": f"http://{host}:{port}",
        "GOOGLE_CLOUD_PROJECT": "test-project",
    }
    return proc, env


def create_buckets(env: dict[str, str], *names: str) -> Any:
    """The buckets, on the emulator `env` points at; a storage client of it."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(
        project="test-project",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": env["STORAGE_EMULATOR_HOST"]},
    )
    for name in names:
        client.create_bucket(name)
    return client


@pytest.fixture(scope="module")
def gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    proc, env = start_emulator()
    client = create_buckets(env, "raw-data", "models")
    client.bucket("raw-data").blob("reviews/part-1.csv").upload_from_string(
        "category,text,movie_name\nfresh,A gem.,m1\nrotten,Dull.,m2\n"
    )
    try:
        yield env
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def cli(env: dict[str, str], module: str, *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.integration
def test_ingest_reads_gs(gcs: dict[str, str], tmp_path: Path) -> None:
    result = cli(
        gcs,
        "components.ingest",
        "--source",
        "gs://raw-data/reviews/*.csv",
        "--output",
        tmp_path / "raw",
        "--required-columns",
        "category,text,movie_name",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    manifest = json.loads((tmp_path / "raw" / "manifest.json").read_text())
    assert manifest["row_count"] == 2
    assert manifest["files"][0]["source"] == "gs://raw-data/reviews/part-1.csv"
    missing = cli(
        gcs,
        "components.ingest",
        "--source",
        "gs://raw-data/nope/*.csv",
        "--output",
        tmp_path / "raw2",
    )
    assert missing.returncode == 2 and "matched no files" in missing.stderr


@pytest.mark.integration
def test_registry_on_gs(gcs: dict[str, str], tmp_path: Path) -> None:
    metrics = tmp_path / "metrics.json"
    metrics.write_text(json.dumps(BLESSED))
    args = [
        "--metrics",
        metrics,
        "--config",
        REPO / "config" / "reviews.yaml",
        "--registry-root",
        "gs://models/registry",
        "--manifest",
        tmp_path / "isvc.yaml",
    ]
    first = cli(
        gcs, "components.deploy", "--model", fake_model(tmp_path / "m1"), *args, "--version", "v1"
    )
    assert first.returncode == 0, first.stderr[-2000:]
    second = cli(
        gcs, "components.deploy", "--model", fake_model(tmp_path / "m2"), *args, "--version", "v2"
    )
    assert second.returncode == 0, second.stderr[-2000:]
    check = (
        "import json; from components.common.registry import Registry; "
        "r = Registry('gs://models/registry', 'reviews-sentiment'); "
        "print(json.dumps({'versions': r.versions(), 'champion': r.champion(), "
        "'challenger': r.challenger(), 'history': r.history()}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", check],
        cwd=REPO,
        env=gcs,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    state = json.loads(out.stdout.strip().splitlines()[-1])
    assert state["versions"] == ["v1", "v2"]
    assert state["champion"]["version"] == "v1"
    assert state["challenger"]["version"] == "v2" and state["challenger"]["champion"] == "v1"
    assert [(h["pointer"], h["version"]) for h in state["history"]] == [
        ("champion", "v1"),
        ("challenger", "v2"),
    ]
    assert (
        "gs://models/registry/reviews-sentiment/versions/v2/model"
        in (tmp_path / "isvc.yaml").read_text()
    )


@pytest.mark.integration
def test_request_log_ships_segments_to_gs(
    gcs: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server on a cluster writes its request log in segments and copies each closed one to
    the bucket the readout reads; segments a killed server left behind go up at the next start."""
    import datetime as dt

    from components.common import fs
    from components.common.artifacts import ServingLogs
    from components.serve.requestlog import RequestLog

    for name, value in gcs.items():
        monkeypatch.setenv(name, value)
    at = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    leftover = tmp_path / "m" / "requests" / "2026-11-30" / "old-server-1.jsonl"
    leftover.parent.mkdir(parents=True)
    leftover.write_text('{"request_id": "left"}\n')
    log = RequestLog(tmp_path, "m", "s1", upload_to="gs://models/serving-logs", roll_seconds=0)
    for i in range(3):  # roll_seconds=0: every write starts a new segment
        log.write({"request_id": f"r{i}"}, at)
    log.close()
    uploaded = fs.match(ServingLogs.requests_glob("gs://models/serving-logs", "m"))
    assert len(uploaded) == 4
    lines = sorted(
        json.loads(line)["request_id"] for u in uploaded for line in fs.read_text(u).splitlines()
    )
    assert lines == ["left", "r0", "r1", "r2"]
    assert not list((tmp_path / "m" / "requests").rglob("*.jsonl"))  # nothing kept locally


@pytest.mark.integration
def test_a_gs_output_is_committed_whole_or_not_at_all(
    gcs: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """fs.staged_output on gs://: the Beam steps' outputs appear whole, a failed job leaves the
    previous output as it was, and a new output drops the old one's files."""
    for key in ("STORAGE_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.setenv(key, gcs[key])
    from components.common import fs

    out = "gs://models/step/records"

    def contents() -> dict[str, str]:
        return {f[len(out) + 1 :]: fs.read_text(f) for f in fs.files_under(out)}

    with fs.staged_output(out, last="stats.json") as stage:
        assert stage.startswith("gs://models/step/.records.staging-")
        fs.write_marker(fs.join(stage, "records", "part-0.jsonl"), "a\n")
        fs.write_marker(fs.join(stage, "records", "part-1.jsonl"), "b\n")
        assert contents() == {}  # nothing visible before the commit
        fs.write_json(fs.join(stage, "stats.json"), {"rows": 2})
    first = contents()
    assert set(first) == {"records/part-0.jsonl", "records/part-1.jsonl", "stats.json"}

    with (
        pytest.raises(ValueError, match="job failed"),
        fs.staged_output(out, last="stats.json") as stage,
    ):
        fs.write_marker(fs.join(stage, "records", "part-0.jsonl"), "broken\n")
        raise ValueError("job failed")
    assert contents() == first
    with (
        pytest.raises(RuntimeError, match=r"wrote no stats\.json"),
        fs.staged_output(out, last="stats.json") as stage,
    ):
        fs.write_marker(fs.join(stage, "records", "part-0.jsonl"), "half\n")
    assert contents() == first
    assert [f for f in fs.files_under("gs://models/step") if "staging" in f] == []

    with fs.staged_output(out, last="stats.json") as stage:
        fs.write_marker(fs.join(stage, "records", "part-0.jsonl"), "c\n")
        fs.write_json(fs.join(stage, "stats.json"), {"rows": 1})
    assert contents() == {"records/part-0.jsonl": "c\n", "stats.json": '{\n  "rows": 1\n}\n'}


def _vocabulary_model(path: Path) -> Path:
    """A real SavedModel whose answer comes from a lookup table over an asset file (the way
    a vocabulary ships), so loading it needs the assets, not only the graph."""
    import tensorflow as tf

    vocabulary = path.parent / "vocabulary.txt"
    vocabulary.write_text("gem\ndull\n")

    class Served(tf.Module):
        def __init__(self) -> None:
            super().__init__()
            init = tf.lookup.TextFileInitializer(
                str(vocabulary),
                tf.string,
                tf.lookup.TextFileIndex.WHOLE_LINE,
                tf.int64,
                tf.lookup.TextFileIndex.LINE_NUMBER,
            )
            self.table = tf.lookup.StaticHashTable(init, default_value=-1)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")])
        def serve(self, text: Any) -> dict[str, Any]:
            return {"probability": tf.cast(self.table.lookup(text), tf.float32)}

    module = Served()
    tf.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    vocabulary.unlink()  # the SavedModel carries its own copy
    return path


@pytest.mark.integration
def test_a_saved_model_on_gs_loads_through_our_filesystem(
    gcs: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TensorFlow's own GCS client knows no emulator (nor our timeouts): evaluate and the A/B
    server load a champion on gs:// through components.common.fs, assets included."""
    for key in ("STORAGE_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT"):
        monkeypatch.setenv(key, gcs[key])
    from components.common import fs, tfdata

    local = _vocabulary_model(tmp_path / "model")
    fs.upload_tree(local, "gs://models/vocabulary/saved_model")
    predict = tfdata.load_serving_fn("gs://models/vocabulary/saved_model")
    assert list(predict({"text": ["dull", "gem", "other"]})) == [1.0, 0.0, -1.0]
