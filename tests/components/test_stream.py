"""Stream ingest against the real Pub/Sub emulator (gcloud's, started and stopped here), and its
Beam transforms on their own.

The scenario: hourly windows, 30 min allowed lateness, a watermark 5 min behind the largest event
time seen. Out-of-order events whose window is still open land in it; an event whose window
closed less than 30 min of watermark ago is kept and counted late; later ones go to late/;
undecodable or timeless messages go to dead_letter/; and the counts match what was published.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from components.ingest.stream import Message, StreamSettings
from tests.conftest import free_port, run_cli

PROJECT = "local-project"
SETTINGS = {
    "event_time_field": "ts",
    "window": "hourly",
    "allowed_lateness_seconds": 1800,
    "max_out_of_order_seconds": 300,
    "idle_seconds": 2,
}

# (payload, where it must land) in publish order; "10" = the 10:00-11:00 window of 2026-11-20.
EVENTS: list[tuple[bytes, str]] = [
    (b'{"id": "e1", "ts": "2026-11-20T10:05:00Z"}', "10"),  # watermark -inf -> on time
    (b'{"id": "e2", "ts": "2026-11-20T10:50:00Z"}', "10"),  # watermark 10:00
    (b'{"id": "e3", "ts": "2026-11-20T11:10:00Z"}', "11"),  # watermark 10:45
    (b'{"id": "e4", "ts": "2026-11-20T10:30:00Z"}', "10"),  # wm 11:05: closed, within lateness
    (b'{"id": "e5", "ts": "2026-11-20T12:40:00+00:00"}', "12"),  # wm 11:05
    (b'{"id": "e6", "ts": "2026-11-20T10:59:00Z"}', "late"),  # wm 12:35 > 11:00 + 30 min
    (b'{"id": "e7", "ts": "2026-11-20T11:20:00Z"}', "late"),  # wm 12:35 > 12:00 + 30 min
    (b'{"id": "e8", "ts": "2026-11-20T12:10:00Z"}', "12"),  # 13:00 > wm 12:35: on time
    (b'{"id": "e9", "ts": 1795178400000}', "12"),  # epoch ms: 2026-11-20T12:40:00Z
    (b'{"id": "bad-json", "ts": ', "dead"),
    (b'{"id": "no-time"}', "dead"),
    (b'{"id": "naive", "ts": "2026-11-20T10:00:00"}', "dead"),  # no time zone
    (b"\xff\xfe not utf-8", "dead"),
    (b'["a", "list"]', "dead"),
]


def expected_ids(where: str) -> list[str]:
    out = []
    for payload, dest in EVENTS:
        if dest == where:
            out.append(json.loads(payload)["id"])
    return out


@pytest.fixture(scope="module")
def pubsub() -> Iterator[str]:
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        pytest.skip(
            "gcloud is not installed: the Pub/Sub emulator (gcloud beta emulators) is needed"
        )
    port = free_port()
    proc = subprocess.Popen(
        [
            gcloud,
            "beta",
            "emulators",
            "pubsub",
            "start",
            f"--host-port=127.0.0.1:{port}",
            f"--project={PROJECT}",
            "--quiet",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the emulator is a Java child of gcloud: stop the whole group
    )
    host = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, "the Pub/Sub emulator exited"
                if time.monotonic() > deadline:
                    pytest.fail("the Pub/Sub emulator did not start in 90 s")
                time.sleep(0.5)
        yield host
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def _topic(host: str, name: str) -> tuple[str, str]:
    """Create a topic and its subscription on the emulator; return their paths."""
    os.environ["PUBSUB_EMULATOR_HOST"] = host
    from google.cloud import pubsub_v1

    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    topic = publisher.topic_path(PROJECT, name)
    sub = subscriber.subscription_path(PROJECT, f"{name}-ingest")
    publisher.create_topic(name=topic)
    subscriber.create_subscription(name=sub, topic=topic, ack_deadline_seconds=60)
    return topic, sub


def _publish(topic: str, payloads: list[bytes]) -> None:
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    for payload in payloads:  # one at a time: publish order is arrival order
        publisher.publish(topic, payload).result(timeout=30)


def _config(tmp: Path) -> Path:
    path = tmp / "stream.yaml"
    path.write_text(yaml.safe_dump({"ingest": {"stream": SETTINGS}}))
    return path


def _ingest(host: str, sub: str, out: Path, config: Path) -> subprocess.CompletedProcess[str]:
    os.environ["PUBSUB_EMULATOR_HOST"] = host  # run_cli passes the environment on
    return run_cli(
        "components.ingest",
        "--source",
        f"pubsub://{sub}",
        "--output",
        out,
        "--config",
        config,
        # What the retraining DAG passes: its scheduled time, and no file-partition window.
        "--window-end",
        "2026-11-22T03:00:00Z",
        "--window-days",
        "0",
    )


def _ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


@pytest.mark.integration
def test_stream_windows_lateness_and_counts(pubsub: str, tmp_path: Path) -> None:
    topic, sub = _topic(pubsub, "events")
    _publish(topic, [payload for payload, _ in EVENTS])

    out = tmp_path / "raw"
    result = _ingest(pubsub, sub, out, _config(tmp_path))
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    counts = manifest["stream"]["counts"]
    assert counts == {
        "pulled": len(EVENTS),
        "redelivered": 0,
        "in_windows": 7,
        "late_accepted": 1,
        "late": 2,
        "dead_letter": 5,
    }
    assert counts["in_windows"] + counts["late"] + counts["dead_letter"] == len(EVENTS)
    assert manifest["row_count"] == 7
    assert manifest["stream"]["watermark"] == "2026-11-20T12:35:00.000000Z"

    # Date-partitioned files, records in event-time order inside each window.
    files = {f["name"]: f for f in manifest["files"]}
    assert sorted(files) == [f"dt=2026-11-20/hour={h}/events.jsonl" for h in ("10", "11", "12")]
    assert _ids(out / "data/dt=2026-11-20/hour=10/events.jsonl") == ["e1", "e4", "e2"]
    assert _ids(out / "data/dt=2026-11-20/hour=11/events.jsonl") == expected_ids("11")
    assert _ids(out / "data/dt=2026-11-20/hour=12/events.jsonl") == ["e8", "e5", "e9"]
    for name, entry in files.items():
        assert entry["rows"] == len((out / "data" / name).read_text().splitlines())
    windows = {w["start"][11:13]: w for w in manifest["stream"]["windows"]}
    assert windows["10"]["late_accepted"] == 1 and windows["11"]["late_accepted"] == 0

    late = [json.loads(line) for line in (out / "late/late.jsonl").read_text().splitlines()]
    assert [e["record"]["id"] for e in late] == expected_ids("late")
    assert all("allowed lateness of 1800 s" in e["reason"] for e in late)
    assert late[0]["watermark"] == "2026-11-20T12:35:00.000000Z"

    dead = [
        json.loads(line)
        for line in (out / "dead_letter/dead_letter.jsonl").read_text().splitlines()
    ]
    reasons = " | ".join(d["reason"] for d in dead)
    for needle in (
        "not JSON",
        "field 'ts' (the event time) is missing",
        "no time zone",
        "not UTF-8",
        "expected a JSON object, got list",
    ):
        assert needle in reasons
    assert all(d["source"].startswith(f"pubsub://{sub}#") for d in dead)

    # Acknowledged after publishing: a second drain finds nothing and says so.
    again = _ingest(pubsub, sub, tmp_path / "again", _config(tmp_path))
    assert again.returncode == 2
    assert "no messages within 2.0 s" in again.stderr
    assert not (tmp_path / "again").exists()

    # The snapshot reads like a file snapshot: preprocess-ready manifest entries.
    assert all(f["format"] == "jsonl" and len(f["sha256"]) == 64 for f in files.values())


@pytest.mark.integration
def test_failed_run_acknowledges_nothing(pubsub: str, tmp_path: Path) -> None:
    """A run that cannot publish leaves every message in the subscription for the next run."""
    topic, sub = _topic(pubsub, "retry")
    _publish(topic, [b'{"id": "a", "ts": "2026-11-20T10:05:00Z"}'])
    blocker = tmp_path / "file"
    blocker.write_text("a file where the output's parent folder should be")
    failed = _ingest(pubsub, sub, blocker / "raw", _config(tmp_path))
    assert failed.returncode != 0
    time.sleep(1)
    from google.cloud import pubsub_v1

    subscriber = pubsub_v1.SubscriberClient()
    response = subscriber.pull(subscription=sub, max_messages=10, timeout=5)
    if not response.received_messages:
        pytest.fail("the message was acknowledged by a run that failed")
    assert json.loads(response.received_messages[0].message.data)["id"] == "a"


@pytest.mark.integration
def test_nothing_usable_is_kept_acknowledged_and_reported(pubsub: str, tmp_path: Path) -> None:
    """Only unreadable messages: the step fails, but keeps them and does not loop on them."""
    topic, sub = _topic(pubsub, "garbage")
    _publish(topic, [b"not json", b'{"id": "x"}'])
    out = tmp_path / "raw"
    result = _ingest(pubsub, sub, out, _config(tmp_path))
    assert result.returncode == 2
    assert "all 2 messages were late or unreadable" in result.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["files"] == [] and manifest["stream"]["counts"]["dead_letter"] == 2
    assert len((out / "dead_letter/dead_letter.jsonl").read_text().splitlines()) == 2
    again = _ingest(pubsub, sub, tmp_path / "again", _config(tmp_path))
    assert "no messages within" in again.stderr  # acknowledged: not redelivered


def test_unknown_subscription_and_bad_source(pubsub: str, tmp_path: Path) -> None:
    missing = _ingest(
        pubsub, f"projects/{PROJECT}/subscriptions/nope", tmp_path / "o", _config(tmp_path)
    )
    assert missing.returncode == 2 and "no such subscription" in missing.stderr
    bad = run_cli("components.ingest", "--source", "pubsub://topics/x", "--output", tmp_path / "p")
    assert bad.returncode == 2
    assert "expected pubsub://projects/<project-id>/subscriptions/<name>" in bad.stderr


def test_transforms_without_pubsub(tmp_path: Path) -> None:
    """The Beam part alone, on messages given in arrival order: same windows as via Pub/Sub."""
    import apache_beam as beam

    from components.common.beam_options import pipeline_options
    from components.ingest import stream_pipeline

    messages = [
        Message(
            seq=i,
            message_id=f"m{i:02d}",
            publish_time=f"2026-11-21T00:00:{i:02d}.000000Z",
            data=payload,
        )
        for i, (payload, _) in enumerate(EVENTS)
    ]
    settings = StreamSettings.model_validate(SETTINGS)
    with beam.Pipeline(options=pipeline_options([])) as p:
        stream_pipeline.build(p, messages, "pubsub://test", settings, tmp_path)
    assert _ids(tmp_path / "data/dt=2026-11-20/hour=10/events.jsonl") == ["e1", "e4", "e2"]
    late = (tmp_path / "late/late.jsonl").read_text().splitlines()
    assert [json.loads(e)["record"]["id"] for e in late] == ["e6", "e7"]
    assert len((tmp_path / "dead_letter/dead_letter.jsonl").read_text().splitlines()) == 5


def test_daily_windows_and_no_late_without_watermark_movement(tmp_path: Path) -> None:
    """Daily windows put a whole day in one partition; in order events are never late."""
    import apache_beam as beam

    from components.common.beam_options import pipeline_options
    from components.ingest import stream_pipeline

    times = ["2026-11-19T23:59:59Z", "2026-11-20T00:00:00Z", "2026-11-20T23:00:00Z"]
    messages = [
        Message(
            i, f"m{i}", "2026-11-21T00:00:00.000000Z", json.dumps({"id": f"d{i}", "ts": t}).encode()
        )
        for i, t in enumerate(times)
    ]
    settings = StreamSettings.model_validate({**SETTINGS, "window": "daily"})
    with beam.Pipeline(options=pipeline_options([])) as p:
        stream_pipeline.build(p, messages, "pubsub://test", settings, tmp_path)
    assert _ids(tmp_path / "data/dt=2026-11-19/events.jsonl") == ["d0"]
    assert _ids(tmp_path / "data/dt=2026-11-20/events.jsonl") == ["d1", "d2"]
    assert (tmp_path / "late/late.jsonl").read_text() == ""
