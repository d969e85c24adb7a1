"""Execute a compiled Argo Workflow locally: what the Argo controller would do, one step at a time.

DAG tasks in dependency order (`depends`/`dependencies`, fail-fast), parameters, artifacts passed
through a local folder standing in for the artifact repository (keys from the repository's own
`keyFormat`), `when`, `withItems`/`withParam`, a DAG's output artifacts (`from`, and
`fromExpression` choosing the branch that ran), `retryStrategy` with its backoff and expression,
and `onExit`. Container templates run as subprocesses with the same command and arguments as in
the pod; images, pod security, resources and node selection are cluster matters and are not
simulated. Used to prove the compiled Argo files run, and to compare them with the KFP IR runner.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.common.times import stamp
from pipelines import ir
from pipelines.argo.compile import CACHING_ANNOTATION
from pipelines.ir.placeholders import EXECUTOR_OUTPUT
from pipelines.local import process
from pipelines.local.cache import Reuse, strings
from pipelines.local.display import leaf
from pipelines.local.results import (
    SUCCEEDED,
    Artifact,
    TaskFailed,
    TaskResult,
    run_uid,
    take_metadata,
    task_folder,
)

_VAR = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_DEPENDS = re.compile(r"([A-Za-z0-9][\w-]*)(?:\.(\w+))?")
# A cached task is a Succeeded node, as a memoized one is in Argo.
_STATUS = {
    "succeeded": "Succeeded",
    "cached": "Succeeded",
    "failed": "Failed",
    "skipped": "Skipped",
    "omitted": "Omitted",
}


class ArgoRunError(ir.IRError):
    """The workflow uses something the local Argo runner does not support, or is malformed."""


def load_objects(*paths: Path) -> list[dict[str, Any]]:
    out = []
    for path in paths:
        out += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return out


@dataclass
class _Scope:
    """Values visible to one template invocation: its inputs, and its DAG siblings' outputs."""

    parameters: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, Path] = field(default_factory=dict)
    tasks: dict[str, TaskResult] = field(default_factory=dict)
    item: Any = None
    has_item: bool = False


class ArgoLocalRunner:
    def __init__(
        self,
        workflow: dict[str, Any],
        library: list[dict[str, Any]],
        run_dir: Path,
        arguments: dict[str, str],
        cwd: Path,
        repository: dict[str, Any],
        repository_root: Path,
        stream_logs: bool = False,
        local_gcs: Path | None = None,
        scheduled_time: str | None = None,
        reuse: Reuse | None = None,
    ) -> None:
        # The step cache and, resuming, the run's finished tasks (pipelines/local/cache.py).
        self.reuse = reuse or Reuse()
        self.on_result: Callable[[], None] | None = None  # after each task: run.json updated
        if workflow.get("kind") != "Workflow":
            raise ArgoRunError(f"expected a Workflow, got kind {workflow.get('kind')!r}")
        self.spec = workflow["spec"]
        self.run_dir = run_dir
        self.cwd = cwd
        self.stream_logs = stream_logs
        self.templates = {t["name"]: t for t in self.spec.get("templates", [])}
        self.library = {
            o["metadata"]["name"]: {t["name"]: t for t in o["spec"]["templates"]}
            for o in library
            if o.get("kind") == "WorkflowTemplate"
        }
        store = repository.get("gcs") or repository.get("s3") or {}
        self.key_format = store.get("keyFormat", "{{workflow.name}}/{{pod.name}}")
        self.repository = repository_root
        # A given scheduled time stands for the run's time in both variables the compiled files
        # derive the data window from (Workflow: creationTimestamp; CronWorkflow: scheduledTime).
        created = scheduled_time or stamp()
        self.globals = {
            "workflow.name": run_dir.name,
            "workflow.namespace": workflow.get("metadata", {}).get("namespace", "default"),
            "workflow.uid": run_uid(run_dir),
            "workflow.creationTimestamp": created,
            "workflow.scheduledTime": scheduled_time or created,
            "workflow.serviceAccountName": self.spec.get("serviceAccountName", "default"),
        }
        self.scheduled_time = self.globals["workflow.scheduledTime"]
        declared = {p["name"]: p for p in self.spec.get("arguments", {}).get("parameters", [])}
        unknown = sorted(set(arguments) - set(declared))
        if unknown:
            raise ArgoRunError(
                f"unknown workflow parameter(s) {unknown}; the workflow takes {sorted(declared)}"
            )
        self.arguments: dict[str, str] = {}
        for name, param in declared.items():
            value = arguments.get(name, param.get("value"))
            if value is None:
                raise ArgoRunError(f"workflow parameter '{name}' is required and has no value")
            self.arguments[name] = str(process.local_bucket(name, str(value), local_gcs))
        for name, value in self.arguments.items():
            self.globals[f"workflow.parameters.{name}"] = value
        self.results: dict[str, TaskResult] = {}
        self.failure: TaskFailed | None = None
        self.done = 0
        self.total = self._count(self.templates[self.spec["entrypoint"]])
        if self.spec.get("onExit"):
            self.total += self._count(self._template(self.spec["onExit"], None, "onExit"))

    # ---- public ----------------------------------------------------------------------------------
    def run(self) -> dict[str, TaskResult]:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        entry = self.spec["entrypoint"]
        status = "Failed"
        try:
            self._run_template(self.templates[entry], _Scope(), "", entry)
            status = "Succeeded"
        except KeyboardInterrupt:  # Ctrl-C, SIGTERM: stopped as `argo terminate` stops, no onExit
            status = "Terminated"
            raise
        finally:
            self.globals["workflow.status"] = status
            on_exit = self.spec.get("onExit")
            if on_exit and status != "Terminated":
                print(f"onExit ({status}): {on_exit}", flush=True)
                exit_template = self._template(on_exit, None, "onExit")
                self._run_template(exit_template, _Scope(), on_exit, on_exit)
        return self.results

    # ---- templates -------------------------------------------------------------------------------
    def _template(self, name: str | None, ref: dict[str, Any] | None, where: str) -> dict[str, Any]:
        if ref is not None:
            if ref.get("clusterScope"):
                raise ArgoRunError(f"{where}: ClusterWorkflowTemplates are not supported locally")
            library = self.library.get(ref["name"])
            if library is None:
                raise ArgoRunError(
                    f"{where}: templateRef '{ref['name']}' is not in the template library "
                    f"(it has {sorted(self.library)})"
                )
            if ref["template"] not in library:
                raise ArgoRunError(f"{where}: '{ref['name']}' has no template '{ref['template']}'")
            return library[ref["template"]]
        if name not in self.templates:
            raise ArgoRunError(f"{where}: no template named '{name}'")
        return self.templates[name]

    def _count(self, template: dict[str, Any]) -> int:
        if "container" in template:
            return 1
        total = 0
        for task in template.get("dag", {}).get("tasks", []):
            inner = self._template(task.get("template"), task.get("templateRef"), task["name"])
            repeat = len(task["withItems"]) if isinstance(task.get("withItems"), list) else 1
            total += repeat * self._count(inner)
        return total

    def _run_template(
        self, template: dict[str, Any], scope: _Scope, key: str, display: str
    ) -> TaskResult:
        for kind in ("steps", "script", "resource", "containerSet", "http", "plugin", "suspend"):
            if kind in template:
                raise ArgoRunError(f"'{key}': {kind} templates are not supported locally")
        if "dag" in template:
            return self._run_dag(template, scope, key)
        if "container" in template:
            return self._run_container(template, scope, key, display)
        raise ArgoRunError(f"'{key}': template '{template.get('name')}' has nothing to run")

    def _bind_inputs(
        self, template: dict[str, Any], given: dict[str, Any], key: str
    ) -> tuple[dict[str, str], dict[str, Path]]:
        inputs = template.get("inputs", {})
        params: dict[str, str] = {}
        for p in inputs.get("parameters", []):
            if p["name"] in given.get("parameters", {}):
                params[p["name"]] = given["parameters"][p["name"]]
            elif "default" in p:
                params[p["name"]] = str(p["default"])
            elif "value" in p:
                params[p["name"]] = str(p["value"])
            else:
                raise ArgoRunError(f"'{key}': input parameter '{p['name']}' was not given")
        artifacts: dict[str, Path] = {}
        for a in inputs.get("artifacts", []):
            source = given.get("artifacts", {}).get(a["name"])
            if source is None and not a.get("optional"):
                raise ArgoRunError(f"'{key}': input artifact '{a['name']}' was not given")
            if source is not None:
                artifacts[a["name"]] = source
        return params, artifacts

    # ---- DAGs ------------------------------------------------------------------------------------
    def _run_dag(self, template: dict[str, Any], scope: _Scope, key: str) -> TaskResult:
        tasks = {t["name"]: t for t in template["dag"].get("tasks", [])}
        order = self._order(tasks, key)
        result = TaskResult(key, "succeeded")
        if key:
            self.results[key] = result
        for name in order:
            task = tasks[name]
            task_key = f"{key}/{name}" if key else name
            if not self._depends_met(task, scope.tasks, task_key):
                scope.tasks[name] = TaskResult(task_key, "omitted", reason="depends not met")
                self.results[task_key] = scope.tasks[name]
                self._skip_progress(task, task_key, "omitted: its dependencies did not succeed")
                continue
            outcome = self._run_task(task, scope, task_key)
            scope.tasks[name] = outcome
            if self.on_result is not None:
                self.on_result()
            if outcome.status == "failed":  # failFast: nothing new starts after a failure
                result.status = "failed"
                raise self.failure or TaskFailed(task_key, Path(outcome.log or "-"), 1)
        self._dag_outputs(template, scope, result, key)
        return result

    def _dag_outputs(
        self, template: dict[str, Any], scope: _Scope, result: TaskResult, key: str
    ) -> None:
        """A DAG template's outputs, as the controller sets them when the DAG succeeded: each
        artifact `from` a task's output, or `fromExpression` over its tasks (`tasks['a'].status`
        is the task's phase, Skipped included; only the branch of `?:` taken is evaluated)."""
        outputs = template.get("outputs", {})
        if outputs.get("parameters"):
            raise ArgoRunError(f"'{key}': output parameters of a DAG are not supported locally")
        for a in outputs.get("artifacts", []):
            if "from" in a:
                path = self._artifact_ref(a, scope, key)
            elif "fromExpression" in a:
                names = {"tasks": {n: _expression_view(t) for n, t in scope.tasks.items()}}
                value = ir.evaluate_expression(a["fromExpression"], names, {})
                if not isinstance(value, Artifact):
                    raise ArgoRunError(
                        f"'{key}': output artifact '{a['name']}': fromExpression "
                        f"{a['fromExpression']!r} gave {value!r}, which is not an artifact"
                    )
                path = Path(value.uri)
            else:
                raise ArgoRunError(
                    f"'{key}': DAG output artifact '{a['name']}' needs `from` or `fromExpression`"
                )
            result.artifacts[a["name"]] = Artifact(a["name"], str(path), a["name"])

    def _order(self, tasks: dict[str, dict[str, Any]], key: str) -> list[str]:
        deps: dict[str, set[str]] = {}
        for name, task in tasks.items():
            names = set(task.get("dependencies", []))
            if task.get("depends"):
                names |= {m.group(1) for m in _DEPENDS.finditer(task["depends"])} & set(tasks)
            for text in strings(task.get("arguments", {})):
                names |= set(re.findall(r"tasks\.([\w-]+)\.", text))
            unknown = names - set(tasks)
            if unknown:
                raise ArgoRunError(f"'{key}/{name}': depends on unknown task(s) {sorted(unknown)}")
            deps[name] = names
        order: list[str] = []
        while len(order) < len(tasks):
            ready = [n for n in tasks if n not in order and deps[n] <= set(order)]
            if not ready:
                raise ArgoRunError(
                    f"'{key}': dependency cycle among {sorted(set(tasks) - set(order))}"
                )
            order.extend(ready)
        return order

    def _depends_met(self, task: dict[str, Any], done: dict[str, TaskResult], key: str) -> bool:
        if task.get("dependencies"):
            return all(done[d].status in (*SUCCEEDED, "skipped") for d in task["dependencies"])
        text = task.get("depends")
        if not text:
            return True
        names: dict[str, Any] = {}

        def term(match: re.Match[str]) -> str:
            name, state = match.group(1), match.group(2)
            if name in ("and", "or", "not") or name not in done:
                return match.group(0)
            status = _STATUS[done[name].status]
            if state is None:  # a bare name means it succeeded or was skipped
                value = status in ("Succeeded", "Skipped")
            elif state in ("Succeeded", "Failed", "Skipped", "Omitted", "Errored"):
                value = status == state
            elif state == "AnySucceeded":
                value = status == "Succeeded"
            else:
                raise ArgoRunError(f"'{key}': depends uses '{state}', not supported locally")
            var = f"_d{len(names)}"
            names[var] = value
            return var

        expression = _DEPENDS.sub(term, text)
        return bool(ir.evaluate_expression(expression, names, {}, text))

    def _run_task(self, task: dict[str, Any], scope: _Scope, key: str) -> TaskResult:
        template = self._template(task.get("template"), task.get("templateRef"), key)
        if "withSequence" in task:
            raise ArgoRunError(f"'{key}': withSequence is not supported locally")
        if "withItems" in task:
            items: list[Any] | None = list(task["withItems"])
        elif "withParam" in task:
            text = self._substitute(task["withParam"], scope, key)
            try:
                items = json.loads(text)
            except json.JSONDecodeError:
                raise ArgoRunError(f"'{key}': withParam {text!r} is not a JSON list") from None
            if not isinstance(items, list):
                raise ArgoRunError(f"'{key}': withParam {text!r} is not a JSON list")
        else:
            items = None
        if items is None:
            return self._run_one(task, template, scope, key, key)
        if "withParam" in task:  # counted once before its items were known
            self.total += (len(items) - 1) * self._count(template)
        aggregate = TaskResult(key, "succeeded")
        self.results[key] = aggregate
        for index, item in enumerate(items):
            shown = (
                item if isinstance(item, str | int | float) else json.dumps(item, sort_keys=True)
            )
            item_key = f"{key}({index}:{shown})"
            item_scope = _Scope(scope.parameters, scope.artifacts, scope.tasks, item, True)
            outcome = self._run_one(task, template, item_scope, item_key, item_key)
            if outcome.status == "failed":
                aggregate.status = "failed"
                return aggregate
        return aggregate

    def _run_one(
        self,
        task: dict[str, Any],
        template: dict[str, Any],
        scope: _Scope,
        key: str,
        display: str,
    ) -> TaskResult:
        args = task.get("arguments", {})
        given_params = {
            p["name"]: self._substitute(str(p.get("value", "")), scope, key)
            for p in args.get("parameters", [])
        }
        given_artifacts = {
            a["name"]: self._artifact_ref(a, scope, key) for a in args.get("artifacts", [])
        }
        if task.get("when"):
            condition = self._substitute(task["when"], scope, key)
            if not ir.evaluate_expression(condition, {}, {}, task["when"]):
                result = TaskResult(key, "skipped", reason=f"when false: {condition}")
                self.results[key] = result
                self._skip_progress(template, key, f"skipped (when {condition} is false)")
                return result
        params, artifacts = self._bind_inputs(
            template, {"parameters": given_params, "artifacts": given_artifacts}, key
        )
        inner = _Scope(params, artifacts)
        try:
            return self._run_template(template, inner, key, display)
        except TaskFailed:
            failed = self.results.get(key) or TaskResult(key, "failed")
            failed.status = "failed"
            self.results[key] = failed
            return failed

    def _skip_progress(self, template: dict[str, Any], key: str, why: str) -> None:
        inner = template
        if "template" in template or "templateRef" in template:
            inner = self._template(template.get("template"), template.get("templateRef"), key)
        for name in self._leaves(inner, key):  # its container tasks, as KFP's runner shows them
            self.done += 1
            print(f"[{self.done}/{self.total}] {name}: {why}", flush=True)

    def _leaves(self, template: dict[str, Any], key: str) -> list[str]:
        """The names of the container tasks a template runs (one per item of a withItems)."""
        if "container" in template:
            return [leaf(key)]
        names = []
        for task in template.get("dag", {}).get("tasks", []):
            inner = self._template(task.get("template"), task.get("templateRef"), task["name"])
            repeat = len(task["withItems"]) if isinstance(task.get("withItems"), list) else 1
            names += repeat * self._leaves(inner, task["name"])
        return names

    def _artifact_ref(self, argument: dict[str, Any], scope: _Scope, key: str) -> Path:
        source = argument.get("from", "")
        match = _VAR.fullmatch(source.strip())
        if not match:
            raise ArgoRunError(
                f"'{key}': artifact '{argument['name']}' must come `from` a task output or an "
                "input (the only artifact sources the compiler emits)"
            )
        ref = match.group(1)
        parts = ref.split(".")
        if parts[:2] == ["inputs", "artifacts"] and len(parts) == 3 and parts[2] in scope.artifacts:
            return scope.artifacts[parts[2]]
        if parts[0] == "tasks" and len(parts) == 5 and parts[2:4] == ["outputs", "artifacts"]:
            producer = scope.tasks.get(parts[1])
            if producer is not None and parts[4] in producer.artifacts:
                return Path(producer.artifacts[parts[4]].uri)
        raise ArgoRunError(f"'{key}': cannot resolve artifact source {source}")

    # ---- variables -------------------------------------------------------------------------------
    def _substitute(
        self, text: str, scope: _Scope, key: str, extra: dict[str, str] | None = None
    ) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("="):
                raise ArgoRunError(
                    f"'{key}': expression templates {{{{{name}}}}} are not supported locally"
                )
            if extra and name in extra:
                return extra[name]
            if name in self.globals:
                return self.globals[name]
            parts = name.split(".")
            if parts[:2] == ["inputs", "parameters"] and parts[2:] and parts[2] in scope.parameters:
                return scope.parameters[parts[2]]
            if parts[0] == "item" and scope.has_item:
                value = scope.item
                for field_name in parts[1:]:
                    if not isinstance(value, dict) or field_name not in value:
                        raise ArgoRunError(
                            f"'{key}': {{{{{name}}}}}: the item has no '{field_name}'"
                        )
                    value = value[field_name]
                return value if isinstance(value, str) else json.dumps(value)
            if parts[0] == "tasks" and len(parts) == 5 and parts[2:4] == ["outputs", "parameters"]:
                producer = scope.tasks.get(parts[1])
                if producer is not None and parts[4] in producer.parameters:
                    return str(producer.parameters[parts[4]])
            raise ArgoRunError(f"'{key}': cannot resolve {{{{{name}}}}}")

        return _VAR.sub(one, text)

    # ---- containers ------------------------------------------------------------------------------
    def _run_container(
        self, template: dict[str, Any], scope: _Scope, key: str, display: str
    ) -> TaskResult:
        task_dir = task_folder(self.run_dir, key)
        in_dir, out_dir = task_dir / "inputs", task_dir / "outputs"
        pod = f"{self.globals['workflow.name']}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"
        outputs = template.get("outputs", {})
        container = template["container"]
        self.done += 1
        label = f"[{self.done}/{self.total}] {leaf(display)}"
        prefix = self._substitute(self.key_format, _Scope(), key, {"pod.name": pod})
        annotations = template.get("metadata", {}).get("annotations", {})
        reused, cache_key = self.reuse.before(
            key,
            label,
            annotations.get(CACHING_ANNOTATION) != "false",
            self.run_dir,
            {"container": container, "outputs": outputs},
            dict(scope.parameters),
            {n: (Path(p), {}) for n, p in scope.artifacts.items()},
            {a["name"]: self.repository / prefix / a["name"] for a in outputs.get("artifacts", [])},
            task_dir / "log.txt",
        )
        if reused is not None:
            self.results[key] = reused
            return reused
        shutil.rmtree(task_dir, ignore_errors=True)
        in_dir.mkdir(parents=True)
        out_dir.mkdir(parents=True)
        local: dict[str, str] = {"pod.name": pod}
        for name, source in scope.artifacts.items():
            target = in_dir / name
            _copy(source, target)  # "download" from the artifact repository
            local[f"inputs.artifacts.{name}.path"] = str(target.resolve())
        for a in outputs.get("artifacts", []):
            local[f"outputs.artifacts.{a['name']}.path"] = str((out_dir / a["name"]).resolve())
        for p in outputs.get("parameters", []):
            local[f"outputs.parameters.{p['name']}.path"] = str(
                (out_dir / "parameters" / p["name"]).resolve()
            )
        argv = process.local_argv(
            [self._substitute(a, scope, key, local) for a in container.get("command", [])]
            + [self._substitute(a, scope, key, local) for a in container.get("args", [])]
        )
        env_extra: dict[str, str] = {}
        for item in container.get("env", []):
            if "value" in item:
                if item["name"] != "HOME":  # the pod's writable HOME; the runner keeps the user's
                    env_extra[item["name"]] = self._substitute(item["value"], scope, key, local)
            else:
                print(
                    f"  {key}: env {item['name']} comes from the cluster (secret); not set locally"
                )
        strategy = template.get("retryStrategy") or {}
        backoff = strategy.get("backoff") or {}

        def should_retry(attempt: process.Attempt) -> bool:
            expression = strategy.get("expression")
            if not expression:
                return True
            names = {"_status": "Failed", "_code": str(attempt.returncode)}
            text = expression.replace("lastRetry.status", "_status").replace(
                "lastRetry.exitCode", "_code"
            )
            return bool(ir.evaluate_expression(text, names, {"asInt": int}, expression))

        def delay(n: int) -> float:
            base = process.seconds(backoff.get("duration", 0))
            wait = base * float(backoff.get("factor", 1)) ** n
            if backoff.get("cap"):
                wait = min(wait, process.seconds(backoff["cap"]))
            return wait

        def fresh_outputs() -> None:  # a retry starts from empty outputs, as a new pod
            for child in out_dir.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()

        try:
            env = process.step_env(self.cwd, env_extra)
            step = process.Step(
                argv, self.cwd, env, task_dir / "log.txt", label, display, self.stream_logs
            )
            retry = process.Retry(int(strategy.get("limit", 0)), should_retry, delay)
            result = process.run_task(key, step, retry, before_attempt=fresh_outputs)
        except TaskFailed as failed:
            self.results[key] = failed.result or TaskResult(key, "failed")
            self.failure = self.failure or failed
            raise self.failure from None
        self.results[key] = result
        self._save_outputs(template, result, local, out_dir, key)
        self.reuse.after(cache_key, self.run_dir, result)
        print(f"{label}: done in {result.seconds:.1f}s", flush=True)
        return result

    def _save_outputs(
        self,
        template: dict[str, Any],
        result: TaskResult,
        local: dict[str, str],
        out_dir: Path,
        key: str,
    ) -> None:
        outputs = template.get("outputs", {})
        for p in outputs.get("parameters", []):
            path = Path(local[f"outputs.parameters.{p['name']}.path"])
            if path.exists():
                result.parameters[p["name"]] = path.read_text().rstrip("\n")
            elif "default" in p.get("valueFrom", {}):
                result.parameters[p["name"]] = p["valueFrom"]["default"]
            else:
                raise ArgoRunError(
                    f"'{key}' exited 0 but did not write output parameter '{p['name']}'"
                )
        prefix = self._substitute(self.key_format, _Scope(), key, {"pod.name": local["pod.name"]})
        executor_output: dict[str, Any] = {}
        for a in outputs.get("artifacts", []):
            path = Path(local[f"outputs.artifacts.{a['name']}.path"])
            if not path.exists():
                if a.get("optional"):
                    continue
                raise ArgoRunError(
                    f"'{key}' exited 0 but did not write output artifact '{a['name']}'"
                )
            stored = self.repository / prefix / a["name"]
            _copy(path, stored)  # "upload" to the artifact repository under the key
            result.artifacts[a["name"]] = Artifact(a["name"], str(stored), a["name"])
            if a["name"] == EXECUTOR_OUTPUT:
                executor_output = json.loads(path.read_text())
        take_metadata(result.artifacts, executor_output)


def _expression_view(result: TaskResult) -> dict[str, Any]:
    """A finished task as an Argo expression sees it: `tasks['a'].status`, `.outputs...`."""
    return {
        "status": _STATUS[result.status],
        "outputs": {"artifacts": dict(result.artifacts), "parameters": dict(result.parameters)},
    }


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    if Path(source).is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy2(source, target)
