"""Whether a process recorded in a run record still runs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def alive(pid: Any) -> bool:
    """Whether process `pid` runs: it exists (a process of another user counts) and is not a
    zombie waiting to be reaped (on Linux, /proc says so)."""
    try:
        os.kill(int(pid), 0)
    except (TypeError, ValueError, ProcessLookupError, OverflowError):
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{int(pid)}/stat").read_text()
    except OSError:
        return True  # no /proc: existing is all we know
    return stat.rpartition(")")[2].split()[:1] != ["Z"]
