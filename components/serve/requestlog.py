"""The request log: one JSON line per routed request (arm, model version, prediction, latency),
under <log root>/<model>/requests/<UTC date>/<file>.jsonl, read back by the A/B readout.

Each line is written whole with one write() on an unbuffered file opened for appending, so a
killed server leaves at most its last line cut short, which the readout dead-letters.

With `upload_to` (e.g. gs://artifacts/serving-logs: a server on a cluster, whose disk is not
the readout's), the log is written in segments of `roll_seconds`: a closed segment is copied to
the same relative path under `upload_to` by a background thread (an object appears whole or not
at all) and then deleted locally; a segment whose upload fails stays on disk and is retried by
the next roll, and segments a killed server left behind are uploaded when the next one starts.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import threading
import time
from pathlib import Path
from typing import IO, Any

from components.common import fs
from components.common.artifacts import ServingLogs

log = logging.getLogger(__name__)


class RequestLog:
    def __init__(
        self,
        root: Path,
        model_name: str,
        server_id: str,
        upload_to: str | None = None,
        roll_seconds: float = 300.0,
    ) -> None:
        self.root = root
        self.folder = root / model_name / ServingLogs.REQUESTS
        self.server_id = server_id
        self.upload_to = upload_to
        self.roll_seconds = roll_seconds
        self._lock = threading.Lock()
        self._upload_lock = threading.Lock()
        self._day = ""
        self._opened = 0.0
        self._segments = 0
        self._path: Path | None = None
        self._handle: IO[bytes] | None = None
        self._uploader: threading.Thread | None = None
        if upload_to:
            self._start_upload()  # what an earlier, killed server left behind

    def write(self, entry: dict[str, Any], at: dt.datetime) -> None:
        line = (json.dumps(entry, separators=(",", ":")) + "\n").encode()
        with self._lock:
            day = at.strftime("%Y-%m-%d")
            if self._handle is None or day != self._day or self._due():
                self._open(day)
            assert self._handle is not None
            self._handle.write(line)

    def maybe_roll(self) -> None:
        """Close and upload the open segment when it is due (the server calls this when idle)."""
        with self._lock:
            if self._handle is not None and self._due():
                self._close_segment()
        if self.upload_to:
            self._start_upload()

    def _due(self) -> bool:
        return bool(self.upload_to) and time.monotonic() - self._opened >= self.roll_seconds

    def _open(self, day: str) -> None:
        self._close_segment()
        folder = self.folder / day
        folder.mkdir(parents=True, exist_ok=True)
        # Local logs: one file per server and day. Uploaded logs: one segment per roll.
        self._segments += 1
        name = (
            f"{self.server_id}-{time.time_ns() // 1_000_000}-{self._segments:06d}"
            if self.upload_to
            else self.server_id
        )
        self._path = folder / f"{name}.jsonl"
        self._handle = self._path.open("ab", buffering=0)
        self._day, self._opened = day, time.monotonic()

    def _close_segment(self) -> None:
        if self._handle is None:
            return
        self._handle.close()
        self._handle, self._path = None, None
        if self.upload_to:
            self._start_upload()

    def _start_upload(self) -> None:
        if self._uploader is not None and self._uploader.is_alive():
            return  # it picks up this segment too: it uploads every closed file it finds
        self._uploader = threading.Thread(target=self.upload_closed, daemon=True)
        self._uploader.start()

    def upload_closed(self) -> int:
        """Copy every closed segment under the log root to `upload_to`, then delete it; the
        number uploaded. A failure is logged and the segment kept for the next attempt."""
        if not self.upload_to:
            return 0
        uploaded = 0
        with self._upload_lock:
            for path in sorted(self.folder.glob("*/*.jsonl")):
                if path == self._path:
                    continue  # open (or being opened) for writing
                target = fs.join(self.upload_to, *path.relative_to(self.root).parts)
                try:
                    if fs.is_remote(target):
                        with path.open("rb") as src, fs.beam_filesystems().create(target) as out:
                            shutil.copyfileobj(src, out)
                    else:
                        fs.local_path(target).parent.mkdir(parents=True, exist_ok=True)
                        shutil.copyfile(path, fs.local_path(target))
                    path.unlink()
                    uploaded += 1
                except Exception:
                    log.exception("could not upload %s to %s; kept for the next roll", path, target)
        return uploaded

    def close(self) -> None:
        """Close the open file; with `upload_to`, upload every closed segment before returning."""
        with self._lock:
            if self._handle is not None:
                self._handle.close()
                self._handle, self._path = None, None
        if self.upload_to:
            if self._uploader is not None:
                self._uploader.join()
            self.upload_closed()
