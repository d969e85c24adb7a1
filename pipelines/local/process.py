"""What both local runners share: run one container task's command as a subprocess in its own
process group, with its log, its progress shown, retries with backoff and a clean stop on Ctrl-C
(`run_task`), and gs:// parameters mapped to a local folder standing in for the bucket. The
runners differ only in how they read their manifest."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from components.common import progress
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


HEARTBEAT_SECONDS = 30.0  # off a terminal: a running task's latest progress, at most this often
GRACE_SECONDS = 10.0  # a cancelled task's processes: SIGTERM, then SIGKILL after this long
_TICK = 0.2


class Cancelled(KeyboardInterrupt):
    """The run was stopped by a signal (SIGINT, i.e. Ctrl-C, or SIGTERM). A KeyboardInterrupt,
    so nothing that catches Exception swallows it; `result` is the interrupted task's, once
    run_task has stopped it."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name
        self.result: TaskResult | None = None


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextmanager
def cancel_on_signals() -> Iterator[None]:
    """While the run goes on, SIGINT (Ctrl-C) and SIGTERM raise Cancelled in the main thread:
    run_task then stops the running task's processes and re-raises it."""

    def stop(signum: int, _frame: object) -> None:
        raise Cancelled(signal.Signals(signum).name)

    previous = {s: signal.signal(s, stop) for s in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def signals_ignored() -> Iterator[None]:
    """SIGINT and SIGTERM ignored while the run record is written (a second Ctrl-C does not cut
    it short)."""
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


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
    heartbeat: float = HEARTBEAT_SECONDS


def run_task(
    key: str,
    step: Step,
    retry: Retry,
    artifacts: dict[str, Artifact] | None = None,
    before_attempt: Callable[[], None] | None = None,
) -> TaskResult:
    """One container task on this machine, retried as `retry` says. A failure prints the end of
    its log and raises TaskFailed carrying the task's result. Interrupted (KeyboardInterrupt,
    Cancelled), the task's processes are stopped and the interruption re-raised, carrying the
    task's result (status "cancelled") as `result`."""
    print(f"{step.label}: running", flush=True)
    n = 0
    started = time.monotonic()
    try:
        while True:
            if before_attempt is not None:
                before_attempt()
            last = _attempt(step, append=n > 0)
            if last.returncode == 0 or n >= retry.limit or not retry.should_retry(last):
                break
            delay = retry.backoff(n)
            print(
                f"{step.label}: exit {last.returncode}; retry {n + 1}/{retry.limit} in "
                f"{delay:.0f}s",
                flush=True,
            )
            time.sleep(delay)
            n += 1
    except KeyboardInterrupt as stop:
        stop.result = TaskResult(  # type: ignore[attr-defined]
            key,
            "cancelled",
            time.monotonic() - started,
            reason=f"stopped by {getattr(stop, 'signal_name', 'SIGINT')}",
            log=str(step.log_path),
            attempts=n + 1,
        )
        raise
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


class _Watch:
    """What the runner shows of a running task: its latest progress line (components/common/
    progress.py), else its latest log line; on a terminal one status line, rewritten, and off a
    terminal a heartbeat line at most every `step.heartbeat` seconds."""

    def __init__(self, step: Step, started: float) -> None:
        self.step, self.started = step, started
        self.tty = sys.stdout.isatty() and not step.stream_logs
        self.lock = threading.Lock()
        self.progress: str | None = None
        self.line = ""
        self.shown = ""
        self.last_print = started

    def take(self, line: str) -> None:
        """A line the task printed (reader thread)."""
        text = progress.parse(line)
        with self.lock:
            if text is not None:
                self.progress = text
            elif line.strip():
                self.line = line.strip()

    def tick(self, now: float) -> None:
        """Refresh what is shown (main thread)."""
        with self.lock:
            latest = self.progress if self.progress is not None else self.line
        elapsed = progress.duration(now - self.started)
        if self.tty:
            text = f"{self.step.label}: {elapsed}" + (f" | {latest}" if latest else "")
            if text != self.shown:
                status_line(text)
                self.shown = text
        elif not self.step.stream_logs and now - self.last_print >= self.step.heartbeat:
            shown = self.progress or "running, no progress line yet"
            print(f"{self.step.label}: {elapsed} | {shown}", flush=True)
            self.last_print = now

    def close(self) -> None:
        if self.tty:
            status_line("")


def _read(stream: IO[str], log_file: IO[str], step: Step, watch: _Watch) -> None:
    """Copy the task's output to its log (and, with --stream-logs, to the terminal)."""
    try:
        for line in stream:
            log_file.write(line)
            if step.stream_logs:
                print(f"  {step.display} | {line}", end="", flush=True)
            watch.take(line)
    except ValueError:  # the log closed: the task was given up on (a process kept its pipe)
        return


def _attempt(step: Step, append: bool) -> Attempt:
    """Run the command once, in its own session (process group); its output goes to the log
    (and, live, to the terminal). Interrupted, the whole group is stopped before re-raising;
    after the command exits, processes it left in its group are killed."""
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
            start_new_session=True,  # Ctrl-C reaches the runner only; it stops the group
        )
        assert proc.stdout is not None
        watch = _Watch(step, started)
        reader = threading.Thread(
            target=_read, args=(proc.stdout, log_file, step, watch), daemon=True
        )
        reader.start()
        try:
            while True:
                try:
                    returncode = proc.wait(timeout=_TICK)
                    break
                except subprocess.TimeoutExpired:
                    watch.tick(time.monotonic())
            reader.join(timeout=5)  # the rest of its output
        except BaseException:
            watch.close()
            stop_group(proc)
            reader.join(timeout=5)
            raise
        finally:
            _signal_group(proc.pid, signal.SIGKILL)  # whatever it left behind in its group
        reader.join(timeout=5)
        watch.close()
    return Attempt(returncode, time.monotonic() - started)


def _signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to a process group; False when the group has no process left."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def stop_group(proc: subprocess.Popen[str], grace: float | None = None) -> None:
    """Stop a task's process group as Kubernetes stops a pod: SIGTERM, up to `grace` seconds
    (default GRACE_SECONDS) for every process of the group to exit (a second Ctrl-C cuts it
    short), then SIGKILL."""
    grace = GRACE_SECONDS if grace is None else grace
    _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    try:
        proc.wait(timeout=grace)
        while time.monotonic() < deadline and _signal_group(proc.pid, 0):
            time.sleep(0.05)
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        pass
    _signal_group(proc.pid, signal.SIGKILL)
    proc.wait()


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
