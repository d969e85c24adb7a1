"""Progress lines a step prints for the runner that watches it: `progress: <text>` on stdout.

The local runners (pipelines/local/process.py) show a task's latest progress line on their status
line, and off a terminal as a heartbeat; on a cluster they are ordinary log lines.
"""

from __future__ import annotations

import sys

PREFIX = "progress: "


def report(text: str) -> None:
    """Print one progress line now (stdout, flushed: the runner reads it while the step runs)."""
    sys.stdout.write(f"{PREFIX}{text}\n")
    sys.stdout.flush()


def parse(line: str) -> str | None:
    """The text of a progress line, or None for any other line."""
    return line[len(PREFIX) :].strip() if line.startswith(PREFIX) else None


def duration(seconds: float) -> str:
    """Seconds as a short duration: 42s, 2m10s, 1h05m."""
    total = max(round(seconds), 0)
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
