"""The event model of stream ingest, shared by the pull loop (components.ingest.stream) and its
Beam transforms (components.ingest.stream_pipeline): settings, messages, event times, partitions."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field

from components.common.config import Strict
from components.common.times import parse_utc, precise_stamp

WINDOW_SECONDS = {"hourly": 3600, "daily": 86400}
VALID, DEAD_LETTER, LATE = "valid", "dead_letter", "late"


class StreamSettings(Strict):
    """The `ingest.stream` section of a pipeline config."""

    # The field holding each event's time: RFC 3339 text, or epoch milliseconds.
    event_time_field: str = "event_time"
    # The event-time windows the stream is cut into.
    window: Literal["hourly", "daily"] = "hourly"
    # How long after a window's end its late events are still accepted.
    allowed_lateness_seconds: Annotated[int, Field(ge=0)] = 3600
    # How far behind the newest event time an event may arrive and still count as on time.
    max_out_of_order_seconds: Annotated[int, Field(ge=0)] = 300
    # Stop pulling after this long without a message.
    idle_seconds: Annotated[float, Field(gt=0)] = 5.0
    # A micro-batch never holds more messages than this.
    max_messages: Annotated[int, Field(gt=0)] = 1_000_000


@dataclass(frozen=True)
class Message:
    """One pulled message; `seq` is its place in arrival order (publish time, then pull order)."""

    seq: int
    message_id: str
    publish_time: str
    data: bytes


def parse_event_time(value: Any, field: str) -> dt.datetime:
    """RFC 3339 text (a zone is required) or integer epoch milliseconds -> aware UTC time."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"field '{field}': expected an RFC 3339 time or epoch ms, got {value!r}")
    if isinstance(value, int):
        return dt.datetime.fromtimestamp(value / 1000, dt.UTC)
    if isinstance(value, str):
        return parse_utc(value, f"field '{field}'")
    raise ValueError(
        f"field '{field}': expected an RFC 3339 time or epoch ms, got {type(value).__name__}"
    )


def partition(window_start: dt.datetime, window: str) -> str:
    """The date partition folder of a window: dt=YYYY-MM-DD, plus hour=HH for hourly windows."""
    day = f"dt={window_start:%Y-%m-%d}"
    return f"{day}/hour={window_start:%H}" if window == "hourly" else day


def iso_time(seconds: float) -> str:
    if seconds == float("-inf"):
        return "-inf"
    return precise_stamp(dt.datetime.fromtimestamp(seconds, dt.UTC))


def public_fields(event: dict[str, Any]) -> dict[str, Any]:
    return {
        "message_id": event["message_id"],
        "publish_time": event["publish_time"],
        "event_time": iso_time(event["event_time"]),
        "record": event["record"],
    }
