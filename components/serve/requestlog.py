"""The request log: one JSON line per routed request (arm, model version, prediction, latency),
under <log root>/<model>/requests/<UTC date>/<server id>.jsonl, read back by the A/B readout.

Each line is written whole with one write() on an unbuffered file opened for appending, so
a killed server leaves at most its last line cut short, which the readout dead-letters.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import IO, Any


def requests_glob(log_root: str, model_name: str) -> str:
    return f"{log_root.rstrip('/')}/{model_name}/requests/*/*.jsonl"


class RequestLog:
    def __init__(self, root: Path, model_name: str, server_id: str) -> None:
        self.folder = root / model_name / "requests"
        self.server_id = server_id
        self._lock = threading.Lock()
        self._day = ""
        self._handle: IO[bytes] | None = None

    def write(self, entry: dict[str, Any], at: dt.datetime) -> None:
        line = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
        with self._lock:
            day = at.strftime("%Y-%m-%d")
            if day != self._day or self._handle is None:
                self._open(day)
            assert self._handle is not None
            self._handle.write(line)

    def _open(self, day: str) -> None:
        if self._handle is not None:
            self._handle.close()
        folder = self.folder / day
        folder.mkdir(parents=True, exist_ok=True)
        self._handle = (folder / f"{self.server_id}.jsonl").open("ab", buffering=0)
        self._day = day

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle = None
