"""What a local run produces, whichever runner ran it: each task's result and artifacts, the
failure that stopped the run, and the run record (run.json) beside the task folders."""

from __future__ import annotations

import json
import os
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from components.common import fs
from components.common.checks import safe_name
from components.common.procs import alive
from components.common.times import utc_now

RUN_STAMP = "%Y%m%d-%H%M%S"  # in run folder names: retrain-20261122-030000-3f9a1c
RECORD = "run.json"  # the run record, in the run folder


@dataclass
class Artifact:
    name: str
    uri: str
    schema_title: str
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return self.uri  # local run: the URI is a path

    def runtime(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "uri": self.uri,
            "metadata": self.metadata,
            "type": {"schemaTitle": self.schema_title},
        }


@dataclass
class TaskResult:
    name: str
    status: str  # succeeded | cached | failed | skipped | omitted
    seconds: float = 0.0
    reason: str = ""
    log: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Artifact] = field(default_factory=dict)
    attempts: int = 0
    cached_from: str = ""  # status cached: the run whose result was reused (pipelines/local/cache)

    @property
    def ok(self) -> bool:
        """It produced its outputs: it ran and succeeded, or its earlier result was reused."""
        return self.status in SUCCEEDED


SUCCEEDED = ("succeeded", "cached")  # a cached task succeeded (as Argo's memoized nodes do)


class TaskFailed(Exception):
    """A task exited non-zero after its retries; `result` is what it left, when it ran."""

    def __init__(
        self, task: str, log_path: Path, returncode: int, result: TaskResult | None = None
    ) -> None:
        super().__init__(f"task '{task}' failed with exit code {returncode}; log: {log_path}")
        self.task, self.log_path, self.returncode, self.result = task, log_path, returncode, result


def take_metadata(artifacts: dict[str, Artifact], executor_output: dict[str, Any]) -> None:
    """The artifact metadata (metrics, ...) a task wrote to its KFP executor output file, onto
    its output artifacts."""
    for name, runtime in executor_output.get("artifacts", {}).items():
        if name in artifacts:
            artifacts[name].metadata = runtime["artifacts"][0].get("metadata", {})


def write_record(
    run_dir: Path,
    pipeline: str,
    arguments: dict[str, Any],
    results: dict[str, TaskResult],
    status: str,
    started: str,
    seconds: float,
    engine: str = "kfp",
    resume: dict[str, Any] | None = None,
) -> Path:
    """Write run.json atomically: after every task while the run goes on (status "running"),
    and once at its end, each time with the runner's pid (who started it can find it).
    `resume` is what `--resume` needs to rerun it (the manifest's digest, the run's options)."""
    record: dict[str, Any] = {
        "pipeline": pipeline,
        "engine": engine,
        "status": status,
        "started_utc": started,
        "seconds": round(seconds, 1),
        "arguments": arguments,
        "tasks": {
            k: {
                **asdict(r),
                "seconds": round(r.seconds, 1),
                "artifacts": {n: asdict(a) for n, a in r.artifacts.items()},
            }
            for k, r in results.items()
        },
    }
    if resume is not None:
        record["resume"] = resume
    record["pid"] = os.getpid()
    path = run_dir / RECORD
    fs.write_text_atomic(path, json.dumps(record, indent=2, default=str) + "\n")
    return path


class RunLost(RuntimeError):
    """A run's runner is gone while its record still says it runs (killed, or it crashed)."""


def wait_ended(
    run_dir: Path,
    pid: Any,
    *,
    timeout: float | None = None,
    poll: float = 2.0,
    tick: Callable[[float, dict[str, Any] | None], None] | None = None,
) -> dict[str, Any]:
    """Wait until `run_dir`'s run.json says the run ended (its runner is `pid`); the final
    record. `tick(seconds waited, record or None)` is called at every poll. RunLost when the
    runner is gone before the record ended; TimeoutError after `timeout` seconds."""
    started = time.monotonic()
    while True:
        gone = not alive(pid)  # before the read: a runner that ends after it is seen next poll
        try:
            record: dict[str, Any] | None = json.loads((run_dir / RECORD).read_text())
        except FileNotFoundError:
            record = None
        if record is not None and record.get("status") != "running":
            return record
        waited = time.monotonic() - started
        if gone:
            raise RunLost(
                f"{run_dir}: its runner (pid {pid}) is gone but run.json "
                + ("says it runs" if record else "was never written")
            )
        if timeout is not None and waited > timeout:
            raise TimeoutError(f"{run_dir}: still running after {waited:.0f} s")
        if tick is not None:
            tick(waited, record)
        time.sleep(poll)


def read_results(record: dict[str, Any]) -> dict[str, TaskResult]:
    """The task results a run record holds (write_record's inverse)."""
    out = {}
    for key, task in record.get("tasks", {}).items():
        fields = {k: v for k, v in task.items() if k in TaskResult.__dataclass_fields__}
        fields["artifacts"] = {n: Artifact(**a) for n, a in task.get("artifacts", {}).items()}
        out[key] = TaskResult(**fields)
    return out


def run_uid(run_dir: Path) -> str:
    """The run's uid (KFP's job uuid, Argo's workflow.uid): the same for the same run folder,
    and distinct for distinct folders (allocate_run_dir makes every run's folder new)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, str(run_dir.resolve())))


def utc_stamp() -> str:
    """Now, for a run folder's name."""
    return utc_now().strftime(RUN_STAMP)


def allocate_run_dir(runs_dir: Path, pipeline: str, started: str | None = None) -> Path:
    """A new, empty run folder `<runs_dir>/<pipeline>-<started>-<6 hex>`, created exclusively:
    two runs started in the same second (or the same microsecond) never share a folder, so never
    an output path, a job name or a job id (run_uid). `started` defaults to now (utc_stamp)."""
    safe_name(pipeline, "pipeline name")
    stamp = safe_name(started or utc_stamp(), "run start stamp")
    runs_dir.mkdir(parents=True, exist_ok=True)
    for _ in range(100):
        run_dir = runs_dir / f"{pipeline}-{stamp}-{secrets.token_hex(3)}"
        try:
            run_dir.mkdir()  # exclusive: fails if another run took this name
        except FileExistsError:
            continue
        return run_dir
    raise FileExistsError(f"{runs_dir}: no free run folder name for {pipeline}-{stamp}-*")


def task_folder(run_dir: Path, name: str) -> Path:
    """The folder of the task the runner calls `name` (`dag__task`, `task(0:item)`) in the run
    folder: characters outside [A-Za-z0-9._-] become `_`, a long name is cut and given a hash,
    and the result must be one safe name, so no task name reaches outside the run folder."""
    import hashlib
    import re

    clean = re.sub(r"[^\w.-]+", "_", name, flags=re.ASCII)
    if len(clean) > 100:
        clean = f"{clean[:80]}-{hashlib.sha256(name.encode()).hexdigest()[:12]}"
    return run_dir / safe_name(clean, f"task {name!r}")
