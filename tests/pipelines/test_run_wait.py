"""`results.wait_ended`, what `pipelines trigger --wait` and the drift demo wait with: the final
record of a run that ends, RunLost for a runner that died while its record says it runs."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pipelines.local.results import RunLost, wait_ended, write_record


def _record(run_dir: Path, status: str) -> None:
    write_record(run_dir, "retrain", {}, {}, status, "2026-12-02T00:00:00Z", 1.0)


def test_returns_the_final_record_once_the_run_ends(tmp_path: Path) -> None:
    import os

    _record(tmp_path, "running")
    ticks: list[float] = []
    threading.Timer(0.3, _record, (tmp_path, "succeeded")).start()
    record = wait_ended(tmp_path, os.getpid(), poll=0.05, tick=lambda s, _: ticks.append(s))
    assert record["status"] == "succeeded"
    assert record["pid"] == os.getpid()  # the final record names its runner too
    assert ticks  # polled (and told) while it ran


def test_a_runner_gone_while_running_is_lost(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    _record(tmp_path, "running")
    with pytest.raises(RunLost, match=rf"pid {dead.pid}\) is gone but run.json says it runs"):
        wait_ended(tmp_path, dead.pid, poll=0.05)
    with pytest.raises(RunLost, match="was never written"):
        wait_ended(tmp_path / "never", dead.pid, poll=0.05)


def test_a_timeout_ends_the_wait(tmp_path: Path) -> None:
    import os

    _record(tmp_path, "running")
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="still running"):
        wait_ended(tmp_path, os.getpid(), timeout=0.2, poll=0.05)
    assert time.monotonic() - started < 5
