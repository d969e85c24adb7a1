"""Backfill: one run per scheduled time missed in a range, never two for the same time.

The schedule's times come from the catalog's cron and time zone (pipelines/catalog.py
SCHEDULES), the runs that already succeeded from the run records: locally the run folders'
run.json (each records the scheduled time the run's data window ends at); on Argo the
Workflows the CronWorkflow (or an earlier backfill) created, which carry the time in Argo's own
`workflows.argoproj.io/scheduled-time` annotation. A time with a succeeded run, or with a run
still in flight, is skipped; a failed one is run again. So running a backfill twice does what
running it once did.

Locally each missing time is `python -m pipelines run NAME --scheduled-time T` (at most
`parallel` at a time, under a lock so two backfills never race for the same times); on Argo
it is `argo submit --from cronwf/NAME --scheduled-time T`, the path Argo's CLI documents for
backfilling (the Workflow is made from the CronWorkflow and `workflow.scheduledTime` is T).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from components.common.procs import alive
from pipelines.catalog import SCHEDULES, Schedule

SCHEDULED_TIME_ANNOTATION = "workflows.argoproj.io/scheduled-time"  # set by Argo's cron and CLI
CRON_LABEL = "workflows.argoproj.io/cron-workflow"  # on every Workflow a CronWorkflow made
MAX_TIMES = 1000  # like argo cron backfill's --maxworkflowcount: a typo in a year is not 8,760 runs


class BackfillError(Exception):
    """The range, the pipeline or the run records are not usable; the message says how to fix it."""


def parse_time(text: str, what: str) -> datetime:
    """An RFC 3339 time (`2026-11-02T03:00:00Z`, an offset, or a date meaning its midnight UTC)."""
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BackfillError(
            f"{what} {text!r}: expected an RFC 3339 time such as 2026-11-02T03:00:00Z or a "
            "date such as 2026-11-02"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def schedule_times(schedule: Schedule, start: datetime, end: datetime) -> list[datetime]:
    """The times the cron fires in [start, end] (both ends included), in UTC, computed in the
    schedule's time zone (a daily 03:00 in Europe/Berlin follows its daylight saving)."""
    from cronsim import CronSim, CronSimError

    if end < start:
        raise BackfillError(f"--to {rfc3339(end)} is before --from {rfc3339(start)}")
    zone = ZoneInfo(schedule.timezone)
    try:
        # CronSim yields the times after the one it starts from: one second before `start`.
        times = CronSim(schedule.cron, (start - timedelta(seconds=1)).astimezone(zone))
    except CronSimError as err:
        raise BackfillError(f"cron {schedule.cron!r}: {err}") from None
    out: list[datetime] = []
    for when in times:
        if when > end:
            break
        out.append(when.astimezone(UTC))
        if len(out) > MAX_TIMES:
            raise BackfillError(
                f"{rfc3339(start)}..{rfc3339(end)} holds more than {MAX_TIMES} times of "
                f"'{schedule.cron}'; backfill a shorter range at a time"
            )
    return out


@dataclass
class Plan:
    """What a backfill of `times` found: done (a succeeded run), in flight, and to run."""

    times: list[datetime]
    done: list[datetime] = field(default_factory=list)
    in_flight: list[datetime] = field(default_factory=list)
    todo: list[datetime] = field(default_factory=list)

    def summary(self, pipeline: str) -> str:
        return (
            f"backfill {pipeline}: {len(self.times)} scheduled time(s), {len(self.done)} already "
            f"succeeded, {len(self.in_flight)} in flight, {len(self.todo)} to run"
        )


def plan(times: list[datetime], done: set[datetime], in_flight: set[datetime]) -> Plan:
    out = Plan(times)
    for when in times:
        if when in done:
            out.done.append(when)
        elif when in in_flight:
            out.in_flight.append(when)
        else:
            out.todo.append(when)
    return out


def local_runs(runs_dir: Path, pipeline: str) -> tuple[set[datetime], set[datetime]]:
    """(succeeded, in flight) scheduled times of the local runs of `pipeline` in `runs_dir`.
    A run.json that cannot be read is named on stderr and counts as neither."""
    done: set[datetime] = set()
    running: set[datetime] = set()
    if not runs_dir.is_dir():
        return done, running
    for record_path in sorted(runs_dir.glob(f"{pipeline}-*/run.json")):
        try:
            record = json.loads(record_path.read_text())
            scheduled = record["resume"]["options"]["scheduled_time"]
            when = parse_time(str(scheduled), f"{record_path}: scheduled_time")
        except (OSError, ValueError, KeyError, TypeError, BackfillError) as err:
            print(f"backfill: skipping {record_path}: unreadable ({err})", file=sys.stderr)
            continue
        if record.get("pipeline") != pipeline:
            continue
        if record.get("status") == "succeeded":
            done.add(when)
        elif record.get("status") == "running" and alive(record.get("pid")):
            running.add(when)
    return done, running


def argo_runs(workflows: dict[str, Any], pipeline: str) -> tuple[set[datetime], set[datetime]]:
    """(succeeded, in flight) scheduled times in a `kubectl get workflows -o json` list."""
    done: set[datetime] = set()
    running: set[datetime] = set()
    for item in workflows.get("items", []):
        meta = item.get("metadata", {})
        if (meta.get("labels") or {}).get(CRON_LABEL) != pipeline:
            continue
        stamp = (meta.get("annotations") or {}).get(SCHEDULED_TIME_ANNOTATION)
        if not stamp:
            continue
        when = parse_time(stamp, f"Workflow {meta.get('name')}: {SCHEDULED_TIME_ANNOTATION}")
        phase = (item.get("status") or {}).get("phase") or "Pending"
        if phase == "Succeeded":
            done.add(when)
        elif phase in ("Pending", "Running"):
            running.add(when)
    return done, running


@contextlib.contextmanager
def exclusive(runs_dir: Path, pipeline: str) -> Iterator[None]:
    """Hold the backfill lock of `pipeline` in `runs_dir`; a second backfill fails at once."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    with open(runs_dir / f".backfill-{pipeline}.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackfillError(
                f"another backfill of {pipeline} is running on {runs_dir}; wait for it (it "
                "runs the same missing times) and run this again to see what is left"
            ) from None
        yield


def local_command(pipeline: str, when: datetime, run_args: Sequence[str]) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pipelines",
        "run",
        pipeline,
        "--scheduled-time",
        rfc3339(when),
        *run_args,
    ]


def argo_command(
    pipeline: str, when: datetime, namespace: str, params: Sequence[str], context: str | None
) -> list[str]:
    cmd = ["argo", *(["--context", context] if context else []), "submit"]
    cmd += ["--from", f"cronwf/{pipeline}", "--namespace", namespace]
    cmd += ["--scheduled-time", rfc3339(when), "--wait"]
    for item in params:
        cmd += ["-p", item]
    return cmd


Runner = Callable[[list[str]], int]


def _subprocess(cmd: list[str]) -> int:
    return subprocess.run(cmd, check=False).returncode


def execute(
    commands: list[tuple[datetime, list[str]]], parallel: int, runner: Runner | None = None
) -> dict[datetime, int]:
    """Run `commands` (a subprocess each, by default) at most `parallel` at a time; {time:
    exit code}."""
    if parallel < 1:
        raise BackfillError(f"--parallel {parallel}: expected at least 1")
    run = runner or _subprocess
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        codes = pool.map(lambda item: run(item[1]), commands)
        return {when: code for (when, _), code in zip(commands, codes, strict=True)}


def schedule_of(pipeline: str) -> Schedule:
    if pipeline not in SCHEDULES:
        raise BackfillError(
            f"{pipeline} has no schedule; the scheduled pipelines are {sorted(SCHEDULES)}"
        )
    return SCHEDULES[pipeline]
