"""Where a retrain starts, and where the rule reads the retrains that ran: one class per engine.

- `Local`: the local runner. The runs are the run folders' run.json; a retrain is
  `python -m pipelines run retrain ...`, started detached in the same runs folder, under a lock,
  and the trigger waits until its run.json says it runs (so a second trigger sees it in flight).
- `ArgoEvents`: the retrain Workflows of the namespace (the Kubernetes API, with the pod's
  service account) and the webhook of the `retrain-triggers` EventSource, whose Sensor submits
  the compiled retrain Workflow with the reason (manifests/argo/retrain-triggers.yaml).
- `Kfp`: the runs of the `retrain` pipeline and a new run of its newest version, through the KFP
  API's REST endpoints (v2beta1; the step images have no kfp client).

Only the standard library: urllib for HTTP, so every step image can run it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from components.common.errors import ConfigError, TransientError
from components.common.procs import alive
from components.trigger.rule import Decision, Run


class Target(Protocol):
    """What the trigger step asks of an engine (Local, ArgoEvents, Kfp)."""

    def where(self) -> str:
        """Where the runs are read, for the decision record."""
        ...

    def exclusive(self) -> contextlib.AbstractContextManager[None]:
        """Held while the rule reads the runs and a retrain starts (one trigger at a time)."""
        ...

    def history(self) -> list[Run]:
        """The retrains this engine ran or runs."""
        ...

    def start(
        self,
        decision: Decision,
        window_end: str,
        params: dict[str, str],
        *,
        monitor_run: str = "",
        log: Path,
    ) -> dict[str, Any]:
        """Start a retrain; what identifies it."""
        ...


RETRAIN = "retrain"  # the pipeline a trigger starts
PIPELINE_LABEL = "retrain-pipelines/pipeline"  # on every Workflow the Argo compile writes
SCHEDULED_TIME = "workflows.argoproj.io/scheduled-time"
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
HTTP_TIMEOUT_S = 30.0
START_TIMEOUT_S = 120.0  # a local retrain shows its run.json within this long, or it failed


def parse_time(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def rfc3339(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- HTTP ----------------------------------------------------------------------------------------
def http_json(
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> Any:
    """One JSON request; a service that does not answer is a TransientError naming the URL, a
    refusal (4xx) a ConfigError with the service's own message."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for key, value in (headers or {}).items():
        request.add_header(key, value)
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S, context=context) as response:
            text = response.read().decode() or "null"
    except urllib.error.HTTPError as err:
        message = err.read().decode(errors="replace")[:300].strip()
        if err.code >= 500 or err.code == 429:
            raise TransientError(f"{method} {url}: HTTP {err.code} {message}") from None
        raise ConfigError(
            f"{method} {url}: HTTP {err.code} {message}; check the URL and the service "
            "account's permissions"
        ) from None
    except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
        reason = getattr(err, "reason", err)
        raise TransientError(
            f"{method} {url}: no answer ({reason}); is the service running and reachable?"
        ) from None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


# ---- local ---------------------------------------------------------------------------------------


def local_run(record: dict[str, Any], name: str) -> Run:
    """A run folder's run.json as the rule sees it; a run whose runner died while it ran is
    `cancelled` (it no longer holds the one slot)."""
    options = (record.get("resume") or {}).get("options") or {}
    stamp = options.get("scheduled_time")
    started: datetime | None = None
    with contextlib.suppress(ValueError, TypeError):
        started = (
            parse_time(str(stamp))
            if stamp
            else datetime.strptime(record["started_utc"], "%Y%m%d-%H%M%S").replace(tzinfo=UTC)
        )
    status = str(record.get("status", ""))
    if status == "running" and not alive(record.get("pid")):
        status = "cancelled"
    reason = str((record.get("arguments") or {}).get("reason") or "")
    return Run(name, started, reason, status)


@dataclass
class Local:
    """The local runner's runs folder (RETRAIN_PIPELINES_RUNS_DIR, set by the local runner)."""

    runs_dir: Path
    engine: str = "kfp"
    local_gcs: str = "local-gcs"
    cwd: Path = field(default_factory=Path.cwd)
    python: str = sys.executable

    @classmethod
    def from_env(cls) -> Local:
        runs = os.environ.get("RETRAIN_PIPELINES_RUNS_DIR")
        if not runs:
            raise ConfigError(
                "trigger local: RETRAIN_PIPELINES_RUNS_DIR is not set; the local runner sets it "
                "(`python -m pipelines run monitor`), or use `python -m pipelines trigger`"
            )
        return cls(
            Path(runs),
            os.environ.get("RETRAIN_PIPELINES_ENGINE", "kfp"),
            os.environ.get("RETRAIN_PIPELINES_LOCAL_GCS", "local-gcs"),
            Path(os.environ.get("RETRAIN_PIPELINES_CWD", os.getcwd())),
        )

    def where(self) -> str:
        return f"{self.runs_dir}/"

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """One trigger at a time decides and starts (two monitors racing start one retrain)."""
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        with open(self.runs_dir / f".trigger-{RETRAIN}.lock", "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # a trigger holds it for seconds: wait
            yield

    def history(self) -> list[Run]:
        out = []
        for path in sorted(self.runs_dir.glob(f"{RETRAIN}-*/run.json")):
            try:
                record = json.loads(path.read_text())
            except (OSError, json.JSONDecodeError):
                continue  # being written (atomically, so: being created) or not a run
            if record.get("pipeline") == RETRAIN:
                out.append(local_run(record, path.parent.name))
        return out

    def command(self, decision: Decision, window_end: str, params: dict[str, str]) -> list[str]:
        cmd = [self.python, "-m", "pipelines", "run", RETRAIN, "--runs-dir", str(self.runs_dir)]
        cmd += ["--engine", self.engine, "--local-gcs", self.local_gcs]
        if window_end:
            cmd += ["--scheduled-time", window_end]
        for key, value in {**params, "reason": decision.reason}.items():
            cmd += ["-p", f"{key}={value}"]
        return cmd

    def _run_of(self, pid: int, before: set[Path]) -> str | None:
        """The run folder, not among `before`, whose run.json names the runner `pid` (an older
        run's may name the same, reused, pid)."""
        for path in self.runs_dir.glob(f"{RETRAIN}-*/run.json"):
            if path.parent in before:
                continue
            with contextlib.suppress(OSError, json.JSONDecodeError):
                if json.loads(path.read_text()).get("pid") == pid:
                    return path.parent.name
        return None

    def start(
        self,
        decision: Decision,
        window_end: str,
        params: dict[str, str],
        *,
        monitor_run: str = "",
        log: Path,
    ) -> dict[str, Any]:
        """Start the retrain detached (its own session: it outlives this step) and wait until
        its run.json names its pid; {run, pid, log, command}."""
        cmd = self.command(decision, window_end, params)
        log.parent.mkdir(parents=True, exist_ok=True)
        before = set(self.runs_dir.glob(f"{RETRAIN}-*"))
        with open(log, "ab") as out:
            child = subprocess.Popen(
                cmd,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            exited = child.poll() is not None  # before the look: an exit after it is seen next
            run = self._run_of(child.pid, before)  # its run.json, running or (if quick) ended
            if run:
                return {"run": run, "pid": child.pid, "log": str(log), "command": cmd}
            if exited:
                tail = log.read_text(errors="replace")[-600:].strip()
                raise ConfigError(
                    f"the retrain exited with code {child.returncode} before it started; "
                    f"log {log}: {tail}"
                )
            time.sleep(0.2)
        raise TransientError(
            f"the retrain (pid {child.pid}) showed no run.json in "
            f"{START_TIMEOUT_S:g} s; its log: {log}"
        )


# ---- Argo (Kubernetes API + Argo Events webhook) -----------------------------------------------
def argo_run(item: dict[str, Any]) -> Run:
    """A Workflow (the Kubernetes API's JSON) as the rule sees it."""
    meta = item.get("metadata") or {}
    stamp = (meta.get("annotations") or {}).get(SCHEDULED_TIME) or meta.get("creationTimestamp")
    started = parse_time(stamp) if stamp else None
    phase = (item.get("status") or {}).get("phase") or "Pending"
    status = {"Succeeded": "succeeded", "Failed": "failed", "Error": "failed"}.get(
        phase, "running" if phase in ("Pending", "Running") else phase.lower()
    )
    params = (item.get("spec") or {}).get("arguments", {}).get("parameters", [])
    reason = next((str(p.get("value", "")) for p in params if p.get("name") == "reason"), "")
    return Run(str(meta.get("name", "?")), started, reason, status)


@dataclass
class ArgoEvents:
    """The namespace's retrain Workflows and the EventSource webhook that submits one."""

    url: str
    namespace: str
    api: str  # the Kubernetes API server, https://host:port
    token: str = ""
    ca_file: str | None = None

    @classmethod
    def in_cluster(cls, url: str, namespace: str = "") -> ArgoEvents:
        host, port = (
            os.environ.get("KUBERNETES_SERVICE_HOST"),
            os.environ.get("KUBERNETES_SERVICE_PORT", "443"),
        )
        if not host:
            raise ConfigError(
                "trigger argo-events: not in a Kubernetes pod (KUBERNETES_SERVICE_HOST unset); "
                "on a laptop use trigger=local"
            )
        token = (SERVICE_ACCOUNT / "token").read_text().strip()
        ns = namespace or (SERVICE_ACCOUNT / "namespace").read_text().strip()
        ca = SERVICE_ACCOUNT / "ca.crt"
        return cls(url, ns, f"https://{host}:{port}", token, str(ca) if ca.exists() else None)

    def where(self) -> str:
        return f"Workflows in namespace {self.namespace}"

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        yield  # the monitor's CronWorkflow runs one at a time (concurrencyPolicy Forbid)

    def history(self) -> list[Run]:
        query = urllib.parse.urlencode({"labelSelector": f"{PIPELINE_LABEL}={RETRAIN}"})
        url = f"{self.api}/apis/argoproj.io/v1alpha1/namespaces/{self.namespace}/workflows?{query}"
        context = ssl.create_default_context(cafile=self.ca_file) if self.ca_file else None
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        listed = http_json("GET", url, headers=headers, context=context)
        return [argo_run(item) for item in (listed or {}).get("items") or []]

    def body(self, decision: Decision, window_end: str, monitor_run: str) -> dict[str, str]:
        kind, _, detail = decision.reason.partition(":")
        return {
            "reason": kind.strip(),
            "detail": detail.strip(),
            "window_end": window_end,
            "monitor_run": monitor_run,
        }

    def start(
        self,
        decision: Decision,
        window_end: str,
        params: dict[str, str],
        *,
        monitor_run: str = "",
        log: Path | None = None,
    ) -> dict[str, Any]:
        body = self.body(decision, window_end, monitor_run)
        http_json("POST", self.url, body)
        return {"posted": self.url, "body": body}


# ---- Kubeflow Pipelines (REST, v2beta1) ----------------------------------------------------------
def kfp_run(run: dict[str, Any]) -> Run:
    """A KFP run (the v2beta1 API's JSON) as the rule sees it."""
    stamp = run.get("scheduled_at") or run.get("created_at")
    started = parse_time(stamp) if stamp and not str(stamp).startswith("1970") else None
    state = str(run.get("state") or "PENDING").upper()
    status = {
        "SUCCEEDED": "succeeded",
        "FAILED": "failed",
        "CANCELED": "cancelled",
        "SKIPPED": "cancelled",
    }.get(state, "running")
    params = (run.get("runtime_config") or {}).get("parameters") or {}
    return Run(
        str(run.get("display_name") or run.get("run_id")),
        started,
        str(params.get("reason", "")),
        status,
    )


@dataclass
class Kfp:
    """The runs of the `retrain` pipeline on a KFP API server."""

    host: str  # e.g. http://ml-pipeline.kubeflow.svc.cluster.local:8888
    namespace: str = ""  # multi-user KFP: the profile namespace
    experiment: str = RETRAIN
    token: str = ""

    @classmethod
    def from_env(cls, host: str) -> Kfp:
        token_file = os.environ.get("KF_PIPELINES_SA_TOKEN_PATH")
        token = (
            Path(token_file).read_text().strip() if token_file and Path(token_file).exists() else ""
        )
        return cls(
            host.rstrip("/") or "http://ml-pipeline.kubeflow.svc.cluster.local:8888", token=token
        )

    def where(self) -> str:
        return f"KFP runs of {RETRAIN} at {self.host}"

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        yield  # the monitor's recurring run has max_concurrency 1

    def _get(self, path: str, **query: Any) -> Any:
        query = {k: v for k, v in query.items() if v not in (None, "")}
        if self.namespace:
            query["namespace"] = self.namespace
        url = f"{self.host}/apis/v2beta1/{path}" + (
            f"?{urllib.parse.urlencode(query)}" if query else ""
        )
        return http_json("GET", url, headers=self._auth())

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def pipeline_id(self) -> str:
        found = self._get(f"pipelines/names/{RETRAIN}")
        if not isinstance(found, dict) or not found.get("pipeline_id"):
            raise ConfigError(
                f"KFP at {self.host} has no pipeline named {RETRAIN}: upload it first "
                f"(`python scripts/kfp_submit.py upload {RETRAIN} --host ...`)"
            )
        return str(found["pipeline_id"])

    def history(self) -> list[Run]:
        pipeline = self.pipeline_id()
        listed = self._get("runs", page_size=100, sort_by="created_at desc")
        return [
            kfp_run(r)
            for r in (listed or {}).get("runs") or []
            if (r.get("pipeline_version_reference") or {}).get("pipeline_id") == pipeline
        ]

    def run_body(self, decision: Decision, params: dict[str, str]) -> dict[str, Any]:
        pipeline = self.pipeline_id()
        versions = self._get(
            f"pipelines/{pipeline}/versions", page_size=1, sort_by="created_at desc"
        )
        newest = ((versions or {}).get("pipeline_versions") or [None])[0]
        if not newest:
            raise ConfigError(f"KFP pipeline {RETRAIN} ({pipeline}) has no version to run")
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        body: dict[str, Any] = {
            "display_name": f"{RETRAIN}-{decision.reason.partition(':')[0]}-{stamp}",
            "description": f"started by the monitor: {decision.reason}",
            "pipeline_version_reference": {
                "pipeline_id": pipeline,
                "pipeline_version_id": newest["pipeline_version_id"],
            },
            "runtime_config": {"parameters": {**params, "reason": decision.reason}},
        }
        experiments = self._get(
            "experiments",
            filter=json.dumps(
                {
                    "predicates": [
                        {
                            "key": "display_name",
                            "operation": "EQUALS",
                            "string_value": self.experiment,
                        }
                    ]
                }
            ),
        )
        found = (experiments or {}).get("experiments") or []
        if found:
            body["experiment_id"] = found[0]["experiment_id"]
        return body

    def start(
        self,
        decision: Decision,
        window_end: str,
        params: dict[str, str],
        *,
        monitor_run: str = "",
        log: Path | None = None,
    ) -> dict[str, Any]:
        created = http_json(
            "POST", f"{self.host}/apis/v2beta1/runs", self.run_body(decision, params), self._auth()
        )
        return {"run_id": (created or {}).get("run_id"), "host": self.host}
