"""What both local runners share: run one container task's command as a subprocess with its log
and retries with backoff (`run_task`), and gs:// parameters mapped to a local folder standing in
for the bucket. The runners differ only in how they read their manifest."""

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

from pipelines.local.results import Artifact, TaskFailed, TaskResult


@dataclass(frozen=True)
class Attempt:
    returncode: int
    seconds: float


@dataclass(frozen=True)
class Retry:
    """How a task's failed attempts are retried: at most `limit` times, when `should_retry` says
    so, after `backoff(n)` seconds."""

    limit: int
    should_retry: Callable[[Attempt], bool]
    backoff: Callable[[int], float]


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


@dataclass(frozen=True)
class Step:
    """One container task's command as this machine runs it, and where its log goes."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]
    log_path: Path
    label: str  # "[3/7] dataset": progress lines
    display: str  # "dataset": streamed log lines
    stream_logs: bool


def run_task(
    key: str,
    step: Step,
    retry: Retry,
    artifacts: dict[str, Artifact] | None = None,
    before_attempt: Callable[[], None] | None = None,
) -> TaskResult:
    """One container task on this machine, retried as `retry` says. A failure prints the end of
    its log and raises TaskFailed carrying the task's result."""
    print(f"{step.label}: running", flush=True)
    n = 0
    while True:
        if before_attempt is not None:
            before_attempt()
        last = _attempt(step, append=n > 0)
        if last.returncode == 0 or n >= retry.limit or not retry.should_retry(last):
            break
        delay = retry.backoff(n)
        print(
            f"{step.label}: exit {last.returncode}; retry {n + 1}/{retry.limit} in {delay:.0f}s",
            flush=True,
        )
        time.sleep(delay)
        n += 1
    result = TaskResult(
        key,
        "succeeded" if last.returncode == 0 else "failed",
        last.seconds,
        log=str(step.log_path),
        artifacts=artifacts if artifacts is not None else {},
        attempts=n + 1,
    )
    if last.returncode != 0:
        _print_failure(step, last)
        raise TaskFailed(key, step.log_path, last.returncode, result)
    return result


def _attempt(step: Step, append: bool) -> Attempt:
    """Run the command once; its output goes to the log (and, live, to the terminal)."""
    started = time.monotonic()
    with step.log_path.open("a" if append else "w", encoding="utf-8", buffering=1) as log_file:
        log_file.write("$ " + " ".join(step.argv) + "\n")
        log_file.flush()
        proc = subprocess.Popen(
            step.argv,
            cwd=step.cwd,
            env=step.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        assert proc.stdout is not None
        live = sys.stdout.isatty() and not step.stream_logs
        for line in proc.stdout:
            log_file.write(line)
            if step.stream_logs:
                print(f"  {step.display} | {line}", end="", flush=True)
            elif live and line.strip():
                status_line(f"{step.label}: {time.monotonic() - started:.0f}s | {line.strip()}")
        returncode = proc.wait()
        if live:
            status_line("")
    return Attempt(returncode, time.monotonic() - started)


def _print_failure(step: Step, attempt: Attempt) -> None:
    tail = step.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-12:]
    print(
        f"{step.label}: FAILED after {attempt.seconds:.1f}s (exit {attempt.returncode}); last "
        f"lines of {step.log_path}:",
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
