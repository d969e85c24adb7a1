"""Execute compiled KFP v2 IR locally: each container task's command runs as a subprocess.

Placeholders resolve to paths under a run folder (the local stand-in for the pipeline root),
tasks run in dependency order, `dsl.If`/`dsl.Elif`/`dsl.Else` conditions are honoured and
sub-DAG outputs (`dsl.OneOf`) resolved, every task keeps its log, and a failure stops the run
naming the task and its log. Images and Kubernetes settings (GPUs, tolerations) are ignored
here; they are honoured on clusters. kfp.local's SubprocessRunner refuses container components,
hence this runner; it adds no scheduling of its own. With `containers` set, each task runs in its
image instead (pipelines/local/containers.py), with the same command and placeholders. Its
results are those of pipelines/local/results.py.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.common.times import stamp
from pipelines import ir
from pipelines.ir import placeholders as ph
from pipelines.local import display, process
from pipelines.local.cache import Reuse
from pipelines.local.containers import ContainerMode
from pipelines.local.results import (
    Artifact,
    TaskFailed,
    TaskResult,
    run_uid,
    take_metadata,
    task_folder,
)

log = logging.getLogger(__name__)


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
        reuse: Reuse | None = None,
    ) -> None:
        self.spec = spec
        # The step cache and, resuming, the run's finished tasks (pipelines/local/cache.py).
        self.reuse = reuse or Reuse()
        self.on_result: Callable[[], None] | None = None  # after each task: run.json updated
        self.containers = containers
        self.created = stamp()
        self.scheduled_time = scheduled_time or self.created
        # A relative path means something else inside a container (its working directory is
        # the image's), so container mode resolves every path it hands a task from here.
        self.run_dir = run_dir.resolve() if containers is not None else run_dir
        self.cwd = cwd
        self.stream_logs = stream_logs
        self.local_gcs = local_gcs
        self.job_name = run_dir.name
        self.job_id = run_uid(run_dir)
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
                    constant = ph.PLACEHOLDER.sub(lambda m: self._job_value(m.group(0)), constant)
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
            ph.JOB_NAME: self.job_name,
            ph.JOB_RESOURCE_NAME: self.job_name,
            ph.JOB_UUID: self.job_id,
            ph.PIPELINE_ROOT: str(self.run_dir.resolve()),
            ph.JOB_CREATE_TIME: self.created,
            ph.JOB_SCHEDULE_TIME: self.scheduled_time,
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
                "has none by that name (of a sub-DAG: none of the tasks that could produce it "
                "ran, e.g. a dsl.OneOf over dsl.If/dsl.Elif without a dsl.Else)"
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
                self._dag_outputs(key, component["dag"])
            else:
                self.results[key] = self._run_container(key, task, component, t_params, t_artifacts)
            if self.on_result is not None:
                self.on_result()

    def _dag_outputs(self, key: str, dag: dict[str, Any]) -> None:
        """A sub-DAG's outputs, as KFP's driver resolves them: each from the first of its
        selectors whose producer ran and produced it (several selectors: a dsl.OneOf over the
        branches of dsl.If/dsl.Elif/dsl.Else, of which one ran). An output no selector yields
        is left out; a task that reads it fails naming it."""
        result = self.results[key]
        outputs = dag.get("outputs", {})
        kinds = (
            ("artifacts", "artifactSelectors", "outputArtifactKey"),
            ("parameters", "parameterSelectors", "outputParameterKey"),
        )
        for kind, many, output_key in kinds:
            for name, spec in outputs.get(kind, {}).items():
                if kind == "artifacts":
                    selectors = spec.get(many, [])
                elif "valueFromParameter" in spec:
                    selectors = [spec["valueFromParameter"]]
                else:
                    selectors = spec.get("valueFromOneof", {}).get(many, [])
                if not selectors:
                    raise ir.IRError(
                        f"task '{key}': sub-DAG output '{name}' uses {sorted(spec)}, which the "
                        "local runner does not support"
                    )
                for selector in selectors:
                    producer = self.results.get(f"{key}/{selector['producerSubtask']}")
                    values = getattr(producer, kind) if producer else {}
                    if producer and producer.ok and selector[output_key] in values:
                        getattr(result, kind)[name] = values[selector[output_key]]
                        break

    def _skip(self, key: str, component: dict[str, Any], why: str) -> None:
        self.results[key] = TaskResult(key, "skipped", reason=why)
        skipped = (  # by display name, as the tasks that run are shown
            list(display.ir_leaf_labels(self.spec, component["dag"]))
            if "dag" in component
            else [display.ir_labels(self.spec).get(key, key)]
        )
        for name in skipped:
            self.done += 1
            print(
                f"[{self.done}/{self.total}] {name}: skipped ({display.readable_reason(why)})",
                flush=True,
            )

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
        task_dir = task_folder(self.run_dir, key.replace("/", "__"))
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
        reused, cache_key = self.reuse.before(
            key,
            label,
            bool(task.spec.get("cachingOptions", {}).get("enableCache", False)),
            self.run_dir,
            {"container": container, "outputs": outputs},
            params,
            {n: (Path(a.path), a.metadata) for n, a in inputs.items()},
            {n: Path(a.path) for n, a in out_artifacts.items()},
            task_dir / "log.txt",
        )
        if reused is not None:
            return reused
        policy = task.spec.get("retryPolicy", {})
        retry = process.Retry(
            limit=int(policy.get("maxRetryCount", 0)),
            should_retry=lambda _: True,
            backoff=lambda n: min(
                process.seconds(policy.get("backoffDuration", "0s"))
                * float(policy.get("backoffFactor", 2)) ** n,
                process.seconds(policy.get("backoffMaxDuration", "3600s")),
            ),
        )
        try:
            step = process.Step(
                argv,
                self.cwd,
                env,
                task_dir / "log.txt",
                label,
                task.display_name,
                self.stream_logs,
            )
            result = process.run_task(key, step, retry, artifacts=out_artifacts)
        except TaskFailed as failed:
            self.results[key] = failed.result or TaskResult(key, "failed")
            raise
        self._collect_outputs(key, result, outputs, out_params, output_file)
        self.reuse.after(cache_key, self.run_dir, result)
        print(f"{label}: done in {result.seconds:.1f}s", flush=True)
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
        take_metadata(result.artifacts, executor_output)
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
        if ph.is_structured(text):
            raise ir.IRError(
                f"task '{self.task}': structured placeholder {text[:60]!r} "
                "(IfPresent/Concat) is not supported by the local runner"
            )
        return ph.PLACEHOLDER.sub(lambda m: self._one(m.group(0)), text)

    def _one(self, placeholder: str) -> str:
        simple = {
            ph.EXECUTOR_INPUT: lambda: json.dumps(self.executor_input),
            ph.OUTPUT_FILE: lambda: str(self.output_file),
            ph.TASK_NAME: lambda: self.task,
            ph.TASK_UUID: lambda: str(uuid.uuid5(uuid.NAMESPACE_URL, self.task)),
        }
        if placeholder in simple:
            return simple[placeholder]()
        if placeholder.startswith("{{$.pipeline_"):
            return self.runner._job_value(placeholder)
        match = ph.IO.match(placeholder)
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
