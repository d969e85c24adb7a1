"""Time helpers, the only ones: aware UTC datetimes, and the stamps records and names carry."""

from __future__ import annotations

import datetime as dt

STAMP = "%Y-%m-%dT%H:%M:%SZ"  # RFC 3339 to the second, in manifests, pointers and readouts
PRECISE_STAMP = "%Y-%m-%dT%H:%M:%S.%fZ"  # to the microsecond, for event and publish times
COMPACT_STAMP = "%Y%m%dT%H%M%SZ"  # inside names (model version ids)
DISPLAY_STAMP = "%Y-%m-%d %H:%M UTC"  # for people: the reports' "generated" line


def utc_now() -> dt.datetime:
    """Now, as an aware UTC datetime."""
    return dt.datetime.now(dt.UTC)


def stamp(when: dt.datetime | None = None) -> str:
    """`when` (default: now) as RFC 3339 UTC to the second, e.g. 2026-11-22T03:00:00Z."""
    return (when or utc_now()).astimezone(dt.UTC).strftime(STAMP)


def precise_stamp(when: dt.datetime) -> str:
    """`when` as RFC 3339 UTC to the microsecond, e.g. 2026-11-22T03:00:00.250000Z."""
    return when.astimezone(dt.UTC).strftime(PRECISE_STAMP)


def compact_stamp(when: dt.datetime | None = None) -> str:
    """`when` (default: now) for use inside a name, e.g. 20261122T030000Z."""
    return (when or utc_now()).astimezone(dt.UTC).strftime(COMPACT_STAMP)


def display_stamp(when: dt.datetime | None = None) -> str:
    """`when` (default: now) for a report's reader, e.g. 2026-11-22 03:00 UTC."""
    return (when or utc_now()).astimezone(dt.UTC).strftime(DISPLAY_STAMP)


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
