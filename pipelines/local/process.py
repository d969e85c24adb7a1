"""What both local runners share: run one step's command as a subprocess with its log, retries
with backoff, and gs:// parameters mapped to a local folder standing in for the bucket."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Attempt:
    returncode: int
    seconds: float


def local_bucket(name: str, value: Any, local_gcs: Path | None) -> Any:
    """gs://bucket/path -> <local_gcs>/bucket/path: a local folder stands in for the bucket."""
    if not (isinstance(value, str) and value.startswith("gs://")) or local_gcs is None:
        return value
    local = (local_gcs / value.removeprefix("gs://")).resolve()
    print(f"{name}: {value} -> {local} (local folder standing in for the bucket)")
    return str(local)


def local_argv(argv: list[str]) -> list[str]:
    """`python ...` runs in the environment the runner itself runs in."""
    if argv and argv[0] in ("python", "python3"):
        return [sys.executable, *argv[1:]]
    return argv


def step_env(cwd: Path, extra: dict[str, str]) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in (str(cwd), os.environ.get("PYTHONPATH", "")) if p),
        "PYTHONUNBUFFERED": "1",
        **extra,
    }


def run_step(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    log_path: Path,
    label: str,
    display: str,
    stream_logs: bool,
    append: bool = False,
) -> Attempt:
    """Run one attempt; its output goes to `log_path` (and, live, to the terminal)."""
    started = time.monotonic()
    with log_path.open("a" if append else "w", encoding="utf-8", buffering=1) as log_file:
        log_file.write("$ " + " ".join(argv) + "\n")
        log_file.flush()
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        assert proc.stdout is not None
        live = sys.stdout.isatty() and not stream_logs
        for line in proc.stdout:
            log_file.write(line)
            if stream_logs:
                print(f"  {display} | {line}", end="", flush=True)
            elif live and line.strip():
                status_line(f"{label}: {time.monotonic() - started:.0f}s | {line.strip()}")
        returncode = proc.wait()
        if live:
            status_line("")
    return Attempt(returncode, time.monotonic() - started)


def with_retries(
    attempt: Callable[[int], Attempt],
    retries: int,
    should_retry: Callable[[Attempt], bool],
    backoff: Callable[[int], float],
    label: str,
) -> tuple[Attempt, int]:
    """Call `attempt(n)` until it succeeds or the retries are spent; (last attempt, attempts)."""
    n = 0
    while True:
        result = attempt(n)
        if result.returncode == 0 or n >= retries or not should_retry(result):
            return result, n + 1
        delay = backoff(n)
        print(
            f"{label}: exit {result.returncode}; retry {n + 1}/{retries} in {delay:.0f}s",
            flush=True,
        )
        time.sleep(delay)
        n += 1


def print_failure(label: str, attempt: Attempt, log_path: Path) -> None:
    tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-12:]
    print(
        f"{label}: FAILED after {attempt.seconds:.1f}s (exit {attempt.returncode}); last lines "
        f"of {log_path}:",
        flush=True,
    )
    for line in tail:
        print(f"    {line}", flush=True)


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")


def seconds(duration: str | int | float) -> float:
    """A Go duration ('30s', '1m30s', '2h') or a number of seconds, in seconds."""
    if isinstance(duration, int | float):
        return float(duration)
    text = str(duration).strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):
        return float(text)
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {duration!r} (expected e.g. 30s, 5m, 1h30m)")
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * scale[u] for n, u in parts)


def status_line(text: str) -> None:
    """Overwrite one terminal line with the running task's latest log line."""
    width = shutil.get_terminal_size((100, 20)).columns - 1
    sys.stdout.write("\r\033[K" + text[:width])
    sys.stdout.flush()
