"""RFC 3339 times from flags and records, always as aware UTC datetimes."""

from __future__ import annotations

import datetime as dt


def parse_utc(text: str, what: str) -> dt.datetime:
    """`text` (RFC 3339 with a zone) as UTC; ValueError names `what`, the value and the fix."""
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{what}: {text!r} is not an RFC 3339 time; expected an RFC 3339 time such as "
            "2026-11-22T03:00:00Z"
        ) from None
    if when.tzinfo is None:
        raise ValueError(f"{what}: {text!r} has no time zone; add a trailing Z or an offset")
    return when.astimezone(dt.UTC)
