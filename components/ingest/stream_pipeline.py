"""The Beam part of stream ingest, as named composite transforms (see components.ingest.stream).

Messages -> ParseEvents -(dead_letter)-> dead_letter/dead_letter.jsonl
         -> EventTimeWindows (EstimateWatermark, FixedWindows, SplitLate) -(late)-> late/late.jsonl
         -> WriteWindows: data/<partition>/events.jsonl, one file per window, in event order
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import apache_beam as beam
from apache_beam import pvalue
from apache_beam.transforms import window as beam_window

from components.common import fs
from components.ingest.events import (
    DEAD_LETTER,
    LATE,
    VALID,
    WINDOW_SECONDS,
    Message,
    StreamSettings,
    iso_time,
    parse_event_time,
    partition,
    public_fields,
)

EVENTS_FILE = "events.jsonl"


def _parse(message: Message, source: str, field: str) -> Iterator[Any]:
    where = f"{source}#{message.message_id}"

    def dead(reason: str, raw: str) -> Any:
        return pvalue.TaggedOutput(
            DEAD_LETTER,
            {
                "source": where,
                "publish_time": message.publish_time,
                "raw": raw,
                "reason": reason,
                "step": "ingest",
            },
        )

    try:
        text = message.data.decode("utf-8")
    except UnicodeDecodeError as err:
        yield dead(f"not UTF-8: {err}", message.data.decode("utf-8", errors="replace"))
        return
    try:
        record = json.loads(text)
    except ValueError as err:
        yield dead(f"not JSON: {err}", text)
        return
    if not isinstance(record, dict):
        yield dead(f"expected a JSON object, got {type(record).__name__}", text)
        return
    if field not in record:
        yield dead(f"field '{field}' (the event time) is missing", text)
        return
    try:
        when = parse_event_time(record[field], field)
    except ValueError as err:
        yield dead(str(err), text)
        return
    yield {
        "seq": message.seq,
        "message_id": message.message_id,
        "publish_time": message.publish_time,
        "event_time": when.timestamp(),
        "record": record,
    }


class ParseEvents(beam.PTransform):
    """Messages -> events with their event time; undecodable or timeless ones to DEAD_LETTER."""

    def __init__(self, source: str, field: str) -> None:
        super().__init__()
        self._source, self._field = source, field

    def expand(self, messages: beam.PCollection) -> pvalue.DoOutputsTuple:
        return messages | "Parse" >> beam.FlatMap(_parse, self._source, self._field).with_outputs(
            DEAD_LETTER, main=VALID
        )


def with_watermarks(events: Iterable[dict[str, Any]], delay: float) -> Iterator[dict[str, Any]]:
    """Each event with the watermark at its arrival: the largest event time that arrived before
    it, minus `delay` (bounded out-of-orderness); minus infinity before the first event."""
    watermark = float("-inf")
    for event in sorted(events, key=lambda e: e["seq"]):
        yield {**event, "watermark": watermark}
        watermark = max(watermark, event["event_time"] - delay)


class _SplitLate(beam.DoFn):
    """On time, or late within the allowed lateness (kept, flagged), or too late (LATE)."""

    def __init__(self, lateness: int) -> None:
        self._lateness = lateness

    def process(self, event: dict[str, Any], win: Any = beam.DoFn.WindowParam) -> Iterator[Any]:
        start, end = float(win.start), float(win.end)
        watermark = event["watermark"]
        if end + self._lateness <= watermark:
            yield pvalue.TaggedOutput(
                LATE,
                {
                    **public_fields(event),
                    "window_start": iso_time(start),
                    "watermark": iso_time(watermark),
                    "reason": f"its window ended at {iso_time(end)} and the watermark was "
                    f"{iso_time(watermark)} when it arrived, past the allowed lateness of "
                    f"{self._lateness} s",
                },
            )
            return
        yield start, {**event, "late_accepted": end <= watermark}


class EventTimeWindows(beam.PTransform):
    """Events -> (window start, event) for fixed event-time windows; too-late events to LATE."""

    def __init__(self, settings: StreamSettings) -> None:
        super().__init__()
        self._settings = settings

    def expand(self, events: beam.PCollection) -> pvalue.DoOutputsTuple:
        s = self._settings
        return (
            events
            # The watermark depends on arrival order: one ordered pass over the micro-batch.
            | "ArrivalOrder" >> beam.combiners.ToList()
            | "EstimateWatermark" >> beam.FlatMap(with_watermarks, s.max_out_of_order_seconds)
            | "EventTime" >> beam.Map(lambda e: beam_window.TimestampedValue(e, e["event_time"]))
            | "FixedWindows" >> beam.WindowInto(beam_window.FixedWindows(WINDOW_SECONDS[s.window]))
            | "SplitLate"
            >> beam.ParDo(_SplitLate(s.allowed_lateness_seconds)).with_outputs(LATE, main=VALID)
        )


class _WriteWindow(beam.DoFn):
    def __init__(self, root: str, settings: StreamSettings) -> None:
        self._root, self._settings = root, settings

    def process(self, item: tuple[float, Iterable[dict[str, Any]]]) -> Iterator[str]:
        start, events = item
        ordered = sorted(events, key=lambda e: (e["event_time"], e["message_id"]))
        begin = dt.datetime.fromtimestamp(start, dt.UTC)
        folder = partition(begin, self._settings.window)
        lines = [json.dumps(e["record"], ensure_ascii=False, sort_keys=True) for e in ordered]
        fs.write_text_atomic(Path(self._root) / folder / EVENTS_FILE, "\n".join(lines) + "\n")
        yield json.dumps(
            {
                "start": iso_time(start),
                "end": iso_time(start + WINDOW_SECONDS[self._settings.window]),
                "file": f"{folder}/{EVENTS_FILE}",
                "rows": len(ordered),
                "late_accepted": sum(e["late_accepted"] for e in ordered),
            },
            sort_keys=True,
        )


class WriteWindows(beam.PTransform):
    """(window start, event) -> one JSONL file per window under its date partition; yields a
    JSON summary line per window."""

    def __init__(self, root: str, settings: StreamSettings) -> None:
        super().__init__()
        self._root, self._settings = root, settings

    def expand(self, keyed: beam.PCollection) -> beam.PCollection:
        return (
            keyed
            | "Global" >> beam.WindowInto(beam_window.GlobalWindows())
            | "PerWindow" >> beam.GroupByKey()
            | "WriteFile" >> beam.ParDo(_WriteWindow(self._root, self._settings))
        )


def _jsonl(pcoll: beam.PCollection, label: str, prefix: str) -> None:
    _ = (
        pcoll
        | f"{label}Global" >> beam.WindowInto(beam_window.GlobalWindows())
        | f"{label}Json" >> beam.Map(lambda d: json.dumps(d, ensure_ascii=False, sort_keys=True))
        | f"Write{label}"
        >> beam.io.WriteToText(
            prefix, num_shards=1, shard_name_template="", file_name_suffix=".jsonl"
        )
    )


def build(
    pipeline: beam.Pipeline,
    messages: list[Message],
    source: str,
    settings: StreamSettings,
    stage: Path,
) -> None:
    """Wire one micro-batch into `pipeline`, writing into the staging folder `stage`."""
    parsed = (
        pipeline
        | "Messages" >> beam.Create(messages)
        | "ParseEvents" >> ParseEvents(source, settings.event_time_field)
    )
    windowed = parsed[VALID] | "EventTimeWindows" >> EventTimeWindows(settings)
    summaries = windowed[VALID] | "WriteWindows" >> WriteWindows(str(stage / "data"), settings)
    _ = summaries | "WriteSummary" >> beam.io.WriteToText(
        str(stage / "windows"), num_shards=1, shard_name_template="", file_name_suffix=".jsonl"
    )
    _jsonl(windowed[LATE], "Late", str(stage / "late" / "late"))
    _jsonl(parsed[DEAD_LETTER], "DeadLetter", str(stage / "dead_letter" / "dead_letter"))
