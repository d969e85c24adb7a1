"""Execute compiled KFP v2 IR locally: each container task's command runs as a subprocess.

Placeholders resolve to paths under a run folder (the local stand-in for the pipeline root),
tasks run in dependency order, `dsl.If` conditions are honoured, every task keeps its log, and
a failure stops the run naming the task and its log. Images and Kubernetes settings (GPUs,
tolerations) are ignored here; they are honoured on clusters. kfp.local's SubprocessRunner
refuses container components, hence this runner; it adds no scheduling of its own. With
`containers` set, each task runs in its image instead (pipelines/local/containers.py), with the
same command and placeholders.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pipelines import ir
from pipelines.local import process
from pipelines.local.containers import ContainerMode

log = logging.getLogger(__name__)

_PLACEHOLDER = re.compile(r"\{\{\$[^{}]*\}\}")
_IO = re.compile(
    r"^\{\{\$\.(inputs|outputs)\.(parameters|artifacts)\['([^']+)'\]"
    r"(?:\.(path|uri|output_file|metadata))?\}\}$"
)


class TaskFailed(Exception):
    def __init__(self, task: str, log_path: Path, returncode: int) -> None:
        super().__init__(f"task '{task}' failed with exit code {returncode}; log: {log_path}")
        self.task, self.log_path, self.returncode = task, log_path, returncode


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
    status: str  # succeeded | failed | skipped
    seconds: float = 0.0
    reason: str = ""
    log: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Artifact] = field(default_factory=dict)
    attempts: int = 0


class LocalRunner:
    def __init__(
        self,
        spec: dict[str, Any],
        run_dir: Path,
        arguments: dict[str, Any],
        cwd: Path,
        stream_logs: bool = False,
        local_gcs: Path | None = None,
        scheduled_time: str | None = None,
        containers: ContainerMode | None = None,
    ) -> None:
        self.spec = spec
        self.containers = containers
        self.created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.scheduled_time = scheduled_time or self.created
        # A relative path means something else inside a container (its working directory is
        # the image's), so container mode resolves every path it hands a task from here.
        self.run_dir = run_dir.resolve() if containers is not None else run_dir
        self.cwd = cwd
        self.stream_logs = stream_logs
        self.local_gcs = local_gcs
        self.job_name = run_dir.name
        self.job_id = str(uuid.uuid5(uuid.NAMESPACE_URL, str(run_dir.resolve())))
        self.results: dict[str, TaskResult] = {}
        self.total = len(list(ir.executor_tasks(spec)))
        self.done = 0
        self.arguments = self._root_arguments(arguments)

    # ---- parameters --------------------------------------------------------------------------
    def _root_arguments(self, given: dict[str, Any]) -> dict[str, Any]:
        declared = self.spec["root"].get("inputDefinitions", {}).get("parameters", {})
        unknown = sorted(set(given) - set(declared))
        if unknown:
            raise ir.IRError(
                f"unknown pipeline parameter(s) {unknown}; the pipeline takes {sorted(declared)}"
            )
        out = {}
        for name, definition in declared.items():
            if name in given:
                out[name] = ir.coerce_parameter(name, given[name], definition["parameterType"])
            elif "defaultValue" in definition:
                out[name] = ir.coerce_parameter(
                    name, definition["defaultValue"], definition["parameterType"]
                )
            elif not definition.get("isOptional"):
                raise ir.IRError(f"pipeline parameter '{name}' is required and has no default")
        if self.local_gcs is not None:
            out = {k: process.local_bucket(k, v, self.local_gcs) for k, v in out.items()}
        return out

    # ---- running -----------------------------------------------------------------------------
    def run(self) -> dict[str, TaskResult]:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._run_dag(self.spec["root"]["dag"], self.arguments, {}, prefix="")
        return self.results

    def _resolve_inputs(
        self, task: ir.Task, params: dict[str, Any], artifacts: dict[str, Artifact], scope: str
    ) -> tuple[dict[str, Any], dict[str, Artifact]]:
        inputs = task.spec.get("inputs", {})
        p_out: dict[str, Any] = {}
        for name, src in inputs.get("parameters", {}).items():
            if "componentInputParameter" in src:
                p_out[name] = params[src["componentInputParameter"]]
            elif "taskOutputParameter" in src:
                ref = src["taskOutputParameter"]
                p_out[name] = self._upstream(
                    task, scope, ref, "parameters", ref["outputParameterKey"]
                )
            elif "runtimeValue" in src:
                constant = src["runtimeValue"]["constant"]
                if isinstance(constant, str):  # e.g. dsl.PIPELINE_JOB_SCHEDULE_TIME_UTC_PLACEHOLDER
                    constant = _PLACEHOLDER.sub(lambda m: self._job_value(m.group(0)), constant)
                p_out[name] = constant
            else:
                raise ir.IRError(
                    f"task '{task.name}': input parameter '{name}' uses "
                    f"{sorted(src)}, which the local runner does not support"
                )
        a_out: dict[str, Artifact] = {}
        for name, src in inputs.get("artifacts", {}).items():
            if "componentInputArtifact" in src:
                a_out[name] = artifacts[src["componentInputArtifact"]]
            elif "taskOutputArtifact" in src:
                ref = src["taskOutputArtifact"]
                a_out[name] = self._upstream(
                    task, scope, ref, "artifacts", ref["outputArtifactKey"]
                )
            else:
                raise ir.IRError(
                    f"task '{task.name}': input artifact '{name}' uses "
                    f"{sorted(src)}, which the local runner does not support"
                )
        return p_out, a_out

    def _job_value(self, placeholder: str) -> str:
        values = {
            "{{$.pipeline_job_name}}": self.job_name,
            "{{$.pipeline_job_resource_name}}": self.job_name,
            "{{$.pipeline_job_uuid}}": self.job_id,
            "{{$.pipeline_root}}": str(self.run_dir.resolve()),
            "{{$.pipeline_job_create_time_utc}}": self.created,
            "{{$.pipeline_job_schedule_time_utc}}": self.scheduled_time,
        }
        if placeholder not in values:
            raise ir.IRError(f"placeholder {placeholder} is not supported by the local runner")
        return values[placeholder]

    def _upstream(self, task: ir.Task, scope: str, ref: dict[str, Any], kind: str, key: str) -> Any:
        producer = self.results[scope + ref["producerTask"]]
        outputs = getattr(producer, kind)
        if key not in outputs:
            raise ir.IRError(
                f"task '{task.name}' reads {kind[:-1]} '{key}' of '{ref['producerTask']}', which "
                "has none by that name (outputs of sub-DAGs such as dsl.If/dsl.OneOf are not "
                "supported by the local runner)"
            )
        return outputs[key]

    def _run_dag(
        self,
        dag: dict[str, Any],
        params: dict[str, Any],
        artifacts: dict[str, Artifact],
        prefix: str,
    ) -> None:
        for task in ir.topological(dag.get("tasks", {})):
            key = prefix + task.name
            if "iteratorPolicy" in task.spec or any(
                k in task.spec for k in ("parameterIterator", "artifactIterator")
            ):
                raise ir.IRError(
                    f"task '{key}' is a dsl.ParallelFor loop, which the local "
                    "runner does not support yet"
                )
            upstream_skipped = any(
                self.results[prefix + d].status == "skipped" for d in task.depends_on
            )
            component = self.spec["components"][task.component]
            if upstream_skipped:
                self._skip(key, component, "an upstream task was skipped")
                continue
            t_params, t_artifacts = self._resolve_inputs(task, params, artifacts, prefix)
            if task.condition and not ir.evaluate_condition(task.condition, t_params):
                self._skip(key, component, f"condition false: {task.condition}")
                continue
            if "dag" in component:
                self.results[key] = TaskResult(key, "succeeded")
                self._run_dag(component["dag"], t_params, t_artifacts, prefix=key + "/")
            else:
                self.results[key] = self._run_container(key, task, component, t_params, t_artifacts)

    def _skip(self, key: str, component: dict[str, Any], why: str) -> None:
        self.results[key] = TaskResult(key, "skipped", reason=why)
        skipped = (
            list(ir.executor_tasks(self.spec, component["dag"])) if "dag" in component else [key]
        )
        for name in skipped:
            self.done += 1
            print(f"[{self.done}/{self.total}] {name}: skipped ({why})", flush=True)

    def _run_container(
        self,
        key: str,
        task: ir.Task,
        component: dict[str, Any],
        params: dict[str, Any],
        inputs: dict[str, Artifact],
    ) -> TaskResult:
        executor = self.spec["deploymentSpec"]["executors"][component["executorLabel"]]
        if "container" not in executor:
            raise ir.IRError(f"task '{key}': executor kind {sorted(executor)} is not a container")
        container = executor["container"]
        task_dir = self.run_dir / key.replace("/", "__")
        out_dir = task_dir / "_kfp"
        out_dir.mkdir(parents=True, exist_ok=True)

        outputs = component.get("outputDefinitions", {})
        out_artifacts = {
            name: Artifact(name, str((task_dir / name).resolve()), d["artifactType"]["schemaTitle"])
            for name, d in outputs.get("artifacts", {}).items()
        }
        out_params = {name: out_dir / "parameters" / name for name in outputs.get("parameters", {})}
        for path in out_params.values():
            path.parent.mkdir(parents=True, exist_ok=True)
        output_file = out_dir / "executor_output.json"
        executor_input = {
            "inputs": {
                "parameterValues": params,
                "artifacts": {n: {"artifacts": [a.runtime()]} for n, a in inputs.items()},
            },
            "outputs": {
                "artifacts": {n: {"artifacts": [a.runtime()]} for n, a in out_artifacts.items()},
                "parameters": {n: {"outputFile": str(p)} for n, p in out_params.items()},
                "outputFile": str(output_file),
            },
        }
        context = _Context(
            self, key, params, inputs, out_artifacts, out_params, output_file, executor_input
        )
        command = [context.substitute(a) for a in container.get("command", [])]
        args = [context.substitute(a) for a in container.get("args", [])]
        declared_env = {
            e["name"]: context.substitute(e.get("value", "")) for e in container.get("env", [])
        }
        if self.containers is None:
            argv = process.local_argv(command + args)
            env = process.step_env(self.cwd, declared_env)
        else:
            argv = self.containers.argv(container["image"], command + args, declared_env, params)
            env = dict(os.environ)  # the docker client's; the task gets only declared_env
            self.containers.prepare(task_dir)

        self.done += 1
        label = f"[{self.done}/{self.total}] {task.display_name}"
        print(f"{label}: running", flush=True)
        log_path = task_dir / "log.txt"
        policy = task.spec.get("retryPolicy", {})
        attempt, attempts = process.with_retries(
            lambda n: process.run_step(
                argv,
                cwd=self.cwd,
                env=env,
                log_path=log_path,
                label=label,
                display=task.display_name,
                stream_logs=self.stream_logs,
                append=n > 0,
            ),
            retries=int(policy.get("maxRetryCount", 0)),
            should_retry=lambda _: True,
            backoff=lambda n: min(
                process.seconds(policy.get("backoffDuration", "0s"))
                * float(policy.get("backoffFactor", 2)) ** n,
                process.seconds(policy.get("backoffMaxDuration", "3600s")),
            ),
            label=label,
        )
        seconds = attempt.seconds
        result = TaskResult(
            key,
            "succeeded" if attempt.returncode == 0 else "failed",
            seconds,
            log=str(log_path),
            artifacts=out_artifacts,
            attempts=attempts,
        )
        if attempt.returncode != 0:
            self.results[key] = result
            process.print_failure(label, attempt, log_path)
            raise TaskFailed(key, log_path, attempt.returncode)
        self._collect_outputs(key, result, outputs, out_params, output_file)
        print(f"{label}: done in {seconds:.1f}s", flush=True)
        return result

    def _collect_outputs(
        self,
        key: str,
        result: TaskResult,
        outputs: dict[str, Any],
        out_params: dict[str, Path],
        output_file: Path,
    ) -> None:
        executor_output: dict[str, Any] = {}
        if output_file.exists():
            executor_output = json.loads(output_file.read_text())
        for name, runtime in executor_output.get("artifacts", {}).items():
            if name in result.artifacts:
                result.artifacts[name].metadata = runtime["artifacts"][0].get("metadata", {})
        given = executor_output.get("parameterValues", {})
        for name, definition in outputs.get("parameters", {}).items():
            kind = definition["parameterType"]
            if name in given:
                result.parameters[name] = ir.coerce_parameter(name, given[name], kind)
            elif out_params[name].exists():
                result.parameters[name] = ir.coerce_parameter(
                    name, out_params[name].read_text(), kind
                )
            else:
                raise ir.IRError(
                    f"task '{key}' exited 0 but did not write its output parameter '{name}'; "
                    f"log: {result.log}"
                )
        for name, artifact in result.artifacts.items():
            if not Path(artifact.path).exists():
                raise ir.IRError(
                    f"task '{key}' exited 0 but did not write its output "
                    f"artifact '{name}' at {artifact.path}"
                )


@dataclass
class _Context:
    runner: LocalRunner
    task: str
    params: dict[str, Any]
    inputs: dict[str, Artifact]
    outputs: dict[str, Artifact]
    out_params: dict[str, Path]
    output_file: Path
    executor_input: dict[str, Any]

    def substitute(self, text: str) -> str:
        if text.startswith("{") and not text.startswith("{{"):
            raise ir.IRError(
                f"task '{self.task}': structured placeholder {text[:60]!r} "
                "(IfPresent/Concat) is not supported by the local runner"
            )
        return _PLACEHOLDER.sub(lambda m: self._one(m.group(0)), text)

    def _one(self, placeholder: str) -> str:
        simple = {
            "{{$}}": lambda: json.dumps(self.executor_input),
            "{{$.outputs.output_file}}": lambda: str(self.output_file),
            "{{$.pipeline_task_name}}": lambda: self.task,
            "{{$.pipeline_task_uuid}}": lambda: str(uuid.uuid5(uuid.NAMESPACE_URL, self.task)),
        }
        if placeholder in simple:
            return simple[placeholder]()
        if placeholder.startswith("{{$.pipeline_"):
            return self.runner._job_value(placeholder)
        match = _IO.match(placeholder)
        if match:
            direction, kind, name, attr = match.groups()
            try:
                if kind == "parameters" and direction == "inputs" and attr is None:
                    return ir.render_parameter(self.params[name])
                if kind == "parameters" and direction == "outputs" and attr == "output_file":
                    return str(self.out_params[name])
                if kind == "artifacts" and attr in ("path", "uri"):
                    artifact = (self.inputs if direction == "inputs" else self.outputs)[name]
                    return artifact.path if attr == "path" else artifact.uri
                if kind == "artifacts" and attr == "metadata":
                    return json.dumps(self.inputs[name].metadata)
            except KeyError:
                raise ir.IRError(
                    f"task '{self.task}': placeholder {placeholder} names "
                    f"'{name}', which the task does not have"
                ) from None
        raise ir.IRError(
            f"task '{self.task}': placeholder {placeholder} is not supported by the local runner"
        )


def write_record(
    run_dir: Path,
    pipeline: str,
    arguments: dict[str, Any],
    results: dict[str, TaskResult],
    status: str,
    started: str,
    seconds: float,
    engine: str = "kfp",
) -> Path:
    record = {
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
    path = run_dir / "run.json"
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")
    return path


def utc_stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
