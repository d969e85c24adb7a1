"""Event-stream ingest: drain a Pub/Sub subscription into event-time windows, one micro-batch a run.

    pubsub://projects/P/subscriptions/S -> pull until idle (arrival order) -> Beam:
    ParseEvents -(dead_letter)-> dead_letter/dead_letter.jsonl
                -> EstimateWatermark -> FixedWindows on the record's event time -> SplitLate
                                                   -(late)-> late/late.jsonl
                                                   -> data/dt=YYYY-MM-DD[/hour=HH]/events.jsonl

Event time comes from a field of the record, never from the clock. The watermark is the source's
estimate, as a Beam source reports it: after each arrival it is the largest event time seen so
far minus `max_out_of_order_seconds` (bounded out-of-orderness). A record is judged against the
watermark at its arrival, as Beam judges an element at a GroupByKey: its window still open ->
on time; window closed but within `allowed_lateness_seconds` -> kept in its window and counted
late; later than that -> Beam would drop it, here it goes to the late output with its reason.
Messages are acknowledged only after the snapshot is published, so a failed run loses nothing:
Pub/Sub delivers the same messages again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from dataclasses import asdict
from pathlib import Path
from typing import Any

from components.common import fs
from components.common.artifacts import Raw, RawManifest, SnapshotFile
from components.common.errors import InputDataError, ReconciliationError
from components.common.times import precise_stamp, stamp
from components.ingest.events import Message, StreamSettings, iso_time, parse_event_time

log = logging.getLogger(__name__)

SCHEME = "pubsub://"
_SUBSCRIPTION = re.compile(r"^projects/[a-z][a-z0-9-]{4,28}[a-z0-9]/subscriptions/[^/]+$")


def is_stream(source: str) -> bool:
    return source.startswith(SCHEME)


def subscription_path(source: str) -> str:
    path = source.removeprefix(SCHEME)
    if not _SUBSCRIPTION.match(path):
        raise InputDataError(
            f"{source}: expected pubsub://projects/<project-id>/subscriptions/<name>"
        )
    return path


def pull(subscription: str, settings: StreamSettings) -> tuple[list[Message], list[str], int]:
    """Pull until the subscription stays empty for `idle_seconds` (or `max_messages`).

    Returns the unique messages in arrival order, every ack id (redeliveries too, acknowledged
    together after publishing) and the number of redelivered duplicates. Ack deadlines are
    extended on every pull, so the batch stays leased while it is processed.
    """
    from google.api_core import exceptions
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    client = pubsub_v1.SubscriberClient()
    pulled: list[tuple[dt.datetime, int, Any]] = []
    ack_ids: list[str] = []
    seen: set[str] = set()
    redelivered = 0
    try:
        while len(seen) < settings.max_messages:
            want = min(1000, settings.max_messages - len(seen))
            try:
                response = client.pull(
                    subscription=subscription, max_messages=want, timeout=settings.idle_seconds
                )
            except exceptions.NotFound:
                raise InputDataError(
                    f"{SCHEME}{subscription}: no such subscription; create it "
                    "(gcloud pubsub subscriptions create ...) or fix the name"
                ) from None
            except exceptions.DeadlineExceeded:
                break
            received = list(response.received_messages)
            if not received:
                break
            ids = [r.ack_id for r in received]
            client.modify_ack_deadline(
                subscription=subscription, ack_ids=ids, ack_deadline_seconds=600
            )
            ack_ids += ids
            for r in received:
                if r.message.message_id in seen:
                    redelivered += 1
                    continue
                seen.add(r.message.message_id)
                pulled.append((r.message.publish_time, len(pulled), r.message))
    finally:
        client.close()
    pulled.sort(key=lambda item: (item[0], item[1]))
    messages = [
        Message(seq, m.message_id, precise_stamp(published), bytes(m.data))
        for seq, (published, _, m) in enumerate(pulled)
    ]
    return messages, ack_ids, redelivered


def acknowledge(subscription: str, ack_ids: list[str], release: bool = False) -> None:
    """Acknowledge the batch; or, with `release`, hand it back for redelivery at once."""
    from google.cloud import pubsub_v1  # type: ignore[attr-defined]

    client = pubsub_v1.SubscriberClient()
    try:
        for start in range(0, len(ack_ids), 1000):
            ids = ack_ids[start : start + 1000]
            if release:
                client.modify_ack_deadline(
                    subscription=subscription, ack_ids=ids, ack_deadline_seconds=0
                )
            else:
                client.acknowledge(subscription=subscription, ack_ids=ids)
    finally:
        client.close()


def snapshot_stream(source: str, output: Path, settings: StreamSettings) -> RawManifest:
    """Drain `source` into `output` (data/ partitions, late/, dead_letter/, manifest.json), then
    acknowledge what was pulled; on failure hand it back for redelivery. Nothing pulled is left
    out of the counts: pulled = rows in windows + late + dead letter (redeliveries apart)."""
    subscription = subscription_path(source)
    messages, ack_ids, redelivered = pull(subscription, settings)
    log.info("%s: pulled %d messages (%d redelivered)", source, len(messages), redelivered)
    if not messages:
        raise InputDataError(
            f"{source}: no messages within {settings.idle_seconds} s; nothing to snapshot "
            "(publish events first, or raise ingest.stream.idle_seconds)"
        )
    try:
        manifest = _publish(messages, source, output, settings, redelivered)
    except BaseException:
        log.warning("%s: releasing %d messages for redelivery", source, len(messages))
        acknowledge(subscription, ack_ids, release=True)
        raise
    acknowledge(subscription, ack_ids)
    counts = manifest["stream"]["counts"]
    if not manifest["files"]:
        # Published and acknowledged all the same: the messages are kept in late/ and
        # dead_letter/, and redelivering them would only fail again.
        raise InputDataError(
            f"{source}: all {len(messages)} messages were late or unreadable ({counts}); "
            f"they are kept in {output}/late and {output}/dead_letter; nothing to train on"
        )
    log.info(
        "%s: %d events in %d window(s) (%d late but allowed), %d late, %d dead letter",
        source,
        counts["in_windows"],
        len(manifest["files"]),
        counts["late_accepted"],
        counts["late"],
        counts["dead_letter"],
    )
    return manifest


def _publish(
    messages: list[Message],
    source: str,
    output: Path,
    settings: StreamSettings,
    redelivered: int,
) -> RawManifest:
    import apache_beam as beam

    from components.common.beam_options import pipeline_options
    from components.ingest import stream_pipeline

    with fs.staged_dir(output) as stage:
        # In process, always: the micro-batch is already in this step's memory, and the windows
        # are written into this step's staging folder. A continuous stream on Dataflow would be
        # another job (ReadFromPubSub, the same transforms), not this step.
        with beam.Pipeline(options=pipeline_options([])) as p:
            stream_pipeline.build(p, messages, source, settings, stage)
        windows = sorted(_read_jsonl(stage / "windows.jsonl"), key=lambda w: w["start"])
        (stage / "windows.jsonl").unlink()
        late = _read_jsonl(stage / "late" / "late.jsonl")
        dead = _read_jsonl(stage / "dead_letter" / "dead_letter.jsonl")
        files = []
        for w in windows:
            path = stage / Raw.DATA_DIR / w["file"]
            files.append(
                SnapshotFile(
                    name=w["file"],
                    source=f"{source} [{w['start']}, {w['end']})",
                    format="jsonl",
                    rows=w["rows"],
                    undecodable_rows=0,
                    bytes=path.stat().st_size,
                    sha256=fs.sha256_file(path),
                )
            )
        rows = sum(w["rows"] for w in windows)
        counts = {
            "pulled": len(messages),
            "redelivered": redelivered,
            "in_windows": rows,
            "late_accepted": sum(w["late_accepted"] for w in windows),
            "late": len(late),
            "dead_letter": len(dead),
        }
        if counts["pulled"] != rows + counts["late"] + counts["dead_letter"]:
            raise ReconciliationError(
                f"{source}: pulled {counts['pulled']} messages but windows + late + dead letter "
                f"hold {rows + counts['late'] + counts['dead_letter']} ({counts}); not publishing"
            )
        manifest: RawManifest = {
            "source": source,
            "window": None,
            "csv": None,
            "stream": {
                "settings": settings.model_dump(),
                "watermark": final_watermark(messages, settings),
                "windows": windows,
                "counts": counts,
            },
            "created_utc": stamp(),
            "row_count": rows,
            "files": [asdict(f) for f in files],
        }
        fs.write_json_atomic(stage / Raw.MANIFEST, manifest)
    return manifest


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def final_watermark(messages: list[Message], settings: StreamSettings) -> str | None:
    """The watermark after the whole micro-batch (largest event time minus the delay)."""
    latest = None
    for m in messages:
        try:
            when = parse_event_time(json.loads(m.data)[settings.event_time_field], "")
        except (ValueError, TypeError, KeyError, UnicodeDecodeError):
            continue
        latest = when if latest is None or when > latest else latest
    if latest is None:
        return None
    return iso_time(latest.timestamp() - settings.max_out_of_order_seconds)
