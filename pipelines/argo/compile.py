"""Compile KFP v2 IR into native Argo Workflows: a WorkflowTemplate per component, a Workflow per
pipeline that uses them by templateRef, and a CronWorkflow for recurring runs. Sub-DAGs
(dsl.If/dsl.Else, dsl.ParallelFor, dsl.ExitHandler) become DAG templates of the Workflow; the
output of a dsl.OneOf, a conditional output artifact of its DAG template.

KFP's own Argo path needs its driver, launcher and metadata store; this one emits plain Argo that
runs on any cluster with the Argo controller. Placeholders and conditions are translated by
`translate`; every object passes through hera's models (`validate.strict`) and must come back
unchanged, so a field Argo does not know cannot slip out. An IR feature outside the supported set
stops the compile with the feature and the task named.

Names follow the KFP UI, so both engines show the same: a DAG task is named by its display name
(`set_display_name`, the IR's taskInfo), and the sub-DAG inputs and outputs KFP calls
`pipelinechannel--<task>-<output>` lose the prefix (`dataset-dataset`, `evaluate-blessed`).
No object names a namespace: `argo submit -n`, `kubectl apply -n` or a Kustomize overlay
(manifests/kustomization.yaml) put them where they run.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines import catalog, ir
from pipelines.argo import CompileError, translate
from pipelines.argo.validate import strict
from pipelines.catalog import IMAGE_UID, PART_OF, Schedule, restricted_container
from pipelines.ir.placeholders import EXECUTOR_OUTPUT
from pipelines.platform import Platform

TEMPLATE = "main"  # the one template inside each component's WorkflowTemplate
IN_DIR, OUT_DIR = "/tmp/inputs", "/tmp/outputs"
ARTIFACT_REPOSITORIES = "artifact-repositories"
# Exit code our components use for bad input or config (components.common.cli): never retried.
USER_ERROR_EXIT = 2
# The pipeline parameters' KFP types, on the Workflow and CronWorkflow (Argo parameters are
# strings): scripts/argo_submit.py checks `-p` values against them before it submits.
PARAMETER_TYPES = "retrain-pipelines/parameter-types"
# A template whose task opted out of caching (set_caching_options(False)) is annotated with
# "false": the local Argo runner's step cache honours it (pipelines/local/cache.py); Argo keeps it.
CACHING_ANNOTATION = "retrain-pipelines/caching"
CHANNEL = "pipelinechannel--"  # KFP's prefix of the values a sub-DAG passes through
_TASK_NAME = re.compile(r"[^-a-zA-Z0-9]+")  # Argo: alphanumerics and '-', alphanumeric first


@dataclass(frozen=True)
class Defaults:
    """Production defaults every template and workflow gets."""

    retry_limit: int = 3
    backoff: str = "30s"
    backoff_factor: int = 2
    backoff_max: str = "15m"
    step_deadline_seconds: int = 8 * 3600
    workflow_deadline_seconds: int = 24 * 3600
    ttl_after_success_seconds: int = 24 * 3600
    ttl_after_failure_seconds: int = 7 * 24 * 3600
    run_as_user: int = IMAGE_UID
    cpu_request: str = "250m"
    memory_request: str = "512Mi"
    cpu_limit: str = "1"
    memory_limit: str = "2Gi"
    cron_starting_deadline_seconds: int = 3600


@dataclass
class Bundle:
    """What one pipeline compiles to."""

    templates: dict[str, dict[str, Any]]  # WorkflowTemplate name -> object
    workflow: dict[str, Any]
    cron: dict[str, Any] | None


class ArgoCompiler:
    def __init__(
        self,
        spec: dict[str, Any],
        platform: Platform,
        defaults: Defaults = Defaults(),
        schedule: Schedule | None = None,
    ) -> None:
        self.spec = spec
        self.platform = platform
        self.defaults = defaults
        self.schedule = schedule
        self.name = spec["pipelineInfo"]["name"]
        self.k8s = (
            spec.get("platforms", {})
            .get("kubernetes", {})
            .get("deploymentSpec", {})
            .get("executors", {})
        )
        self.components: dict[str, dict[str, Any]] = spec["components"]
        self._retry: dict[str, dict[str, Any] | None] = {}
        self._no_cache: set[str] = set()  # components of tasks with caching off
        self._collect_retry(spec["root"]["dag"], "")
        self._task_names: dict[str, str] = {}  # IR task name -> Argo task (display) name
        self._collect_task_names(spec["root"]["dag"], "root")

    # ---- public --------------------------------------------------------------------------------
    def compile(self) -> Bundle:
        templates = {
            self.template_name(name): self._workflow_template(name, component)
            for name, component in sorted(self.components.items())
            if "executorLabel" in component
        }
        workflow = {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {
                "generateName": f"{self.name}-",
                "labels": self._labels(),
                "annotations": self._annotations(),
            },
            "spec": self._workflow_spec(translate.SCHEDULE_TIME_WORKFLOW),
        }
        cron: dict[str, Any] | None = None
        if self.schedule is not None:
            d = self.defaults
            cron_spec = self._workflow_spec(translate.SCHEDULE_TIME_CRON)
            # A scheduled run says so in its record (catalog.REASON: why a run started).
            for param in cron_spec.get("arguments", {}).get("parameters", []):
                if param["name"] == catalog.REASON:
                    param["value"] = catalog.REASON_SCHEDULE
            cron = {
                "apiVersion": "argoproj.io/v1alpha1",
                "kind": "CronWorkflow",
                "metadata": {
                    "name": self.name,
                    "labels": self._labels(),
                    "annotations": self._annotations(),
                },
                "spec": {
                    "schedules": [self.schedule.cron],
                    "timezone": self.schedule.timezone,
                    "concurrencyPolicy": "Forbid",
                    "startingDeadlineSeconds": d.cron_starting_deadline_seconds,
                    "successfulJobsHistoryLimit": 3,
                    "failedJobsHistoryLimit": 5,
                    "workflowMetadata": {"labels": self._labels()},
                    "workflowSpec": cron_spec,
                },
            }
        return Bundle(
            templates={k: strict(v) for k, v in templates.items()},
            workflow=strict(workflow),
            cron=strict(cron) if cron else None,
        )

    @staticmethod
    def template_name(component: str) -> str:
        return component.removeprefix("comp-")

    # ---- names ---------------------------------------------------------------------------------
    def _collect_task_names(self, dag: dict[str, Any], where: str) -> None:
        """Every DAG's tasks by their display names, which must stay distinct within the DAG."""
        taken: dict[str, str] = {}
        for name, task in sorted(dag.get("tasks", {}).items()):
            display = task.get("taskInfo", {}).get("name") or name
            argo = _TASK_NAME.sub("-", display).strip("-")[:128] or name
            if argo in taken:
                raise CompileError(
                    f"tasks '{taken[argo]}' and '{name}' of DAG '{where}' are both shown as "
                    f"'{argo}'; give them distinct display names (set_display_name)"
                )
            taken[argo] = name
            if self._task_names.get(name, argo) != argo:
                raise CompileError(f"task '{name}' of DAG '{where}' is named twice in the IR")
            self._task_names[name] = argo
            component = self.components[task["componentRef"]["name"]]
            if "dag" in component:
                self._collect_task_names(component["dag"], name)

    def task(self, name: str) -> str:
        """The Argo name of the IR task `name`: its display name."""
        return self._task_names.get(name, name)

    def io(self, name: str) -> str:
        """A component input or output name without KFP's channel prefix: `pipelinechannel--x`
        -> `x`, `pipelinechannel--<task>-<output>` -> `<task's display name>-<output>`."""
        if CHANNEL not in name:
            return name
        clean = name.rsplit(CHANNEL, 1)[1]
        task, sep, key = clean.rpartition("-")
        if sep and task in self._task_names:
            return f"{self.task(task)}-{key}"
        return clean

    def _io_names(self, names: Any, where: str) -> None:
        seen: dict[str, str] = {}
        for name in names:
            clean = self.io(name)
            if clean in seen and seen[clean] != name:
                raise CompileError(
                    f"{where}: '{seen[clean]}' and '{name}' would both be named '{clean}'"
                )
            seen[clean] = name

    # ---- metadata ------------------------------------------------------------------------------
    def _labels(self) -> dict[str, str]:
        return {**PART_OF, "retrain-pipelines/pipeline": self.name}

    def _annotations(self) -> dict[str, str]:
        info = self.spec["pipelineInfo"]
        digest = hashlib.sha256(
            json.dumps(self.spec, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        out = {"retrain-pipelines/kfp-ir-sha256": digest}
        parameters = self.spec["root"].get("inputDefinitions", {}).get("parameters", {})
        if parameters:
            types = {n: d["parameterType"] for n, d in sorted(parameters.items())}
            out[PARAMETER_TYPES] = json.dumps(types, separators=(",", ":"))
        if info.get("description"):
            out["workflows.argoproj.io/description"] = info["description"]
        return out

    def _pod_security(self) -> dict[str, Any]:
        uid = self.defaults.run_as_user
        return {
            "runAsNonRoot": True,
            "runAsUser": uid,
            "runAsGroup": uid,
            "fsGroup": uid,
            "seccompProfile": {"type": "RuntimeDefault"},
        }

    def _spec_defaults(self) -> dict[str, Any]:
        d = self.defaults
        return {
            "serviceAccountName": self.platform.service_account,
            "automountServiceAccountToken": True,  # the Argo executor reports through the API
            "securityContext": self._pod_security(),
            "activeDeadlineSeconds": d.workflow_deadline_seconds,
            "podGC": {"strategy": "OnPodSuccess"},
            "ttlStrategy": {
                "secondsAfterSuccess": d.ttl_after_success_seconds,
                "secondsAfterFailure": d.ttl_after_failure_seconds,
            },
        }

    # ---- workflow ------------------------------------------------------------------------------
    def _workflow_spec(self, schedule_time: str) -> dict[str, Any]:
        root = self.spec["root"]
        dag_tasks = dict(root["dag"].get("tasks", {}))
        on_exit, exit_templates = self._exit_handler(dag_tasks, schedule_time)
        templates = [
            self._dag_template(self.name, root, dag_tasks, schedule_time, is_root=True),
            *self._sub_dags(dag_tasks, schedule_time),
            *exit_templates,
        ]
        spec: dict[str, Any] = {
            "entrypoint": self.name,
            **self._spec_defaults(),
            "podMetadata": {"labels": self._labels()},
            "templates": templates,
        }
        parameters = self._workflow_parameters(root)
        if parameters:
            spec["arguments"] = {"parameters": parameters}
        if on_exit:
            spec["onExit"] = on_exit
        return spec

    def _workflow_parameters(self, root: dict[str, Any]) -> list[dict[str, Any]]:
        if root.get("inputDefinitions", {}).get("artifacts"):
            raise CompileError("pipeline inputs of artifact type are not supported by Argo backend")
        out = []
        on_argo = catalog.engine_defaults(self.name, "argo")
        for name, definition in sorted(
            root.get("inputDefinitions", {}).get("parameters", {}).items()
        ):
            param: dict[str, Any] = {"name": name}
            if name in on_argo:
                param["value"] = on_argo[name]
            elif "defaultValue" in definition:
                value = ir.coerce_parameter(
                    name, definition["defaultValue"], definition["parameterType"]
                )
                param["value"] = ir.render_parameter(value)
            if definition.get("description"):
                param["description"] = definition["description"]
            out.append(param)
        return out

    def _exit_handler(
        self, tasks: dict[str, dict[str, Any]], schedule_time: str
    ) -> tuple[str | None, list[dict[str, Any]]]:
        """dsl.ExitHandler: the root task that runs after all upstream tasks completed -> onExit."""
        exits = [
            n
            for n, t in tasks.items()
            if t.get("triggerPolicy", {}).get("strategy") == "ALL_UPSTREAM_TASKS_COMPLETED"
        ]
        if not exits:
            return None, []
        if len(exits) > 1:
            raise CompileError(f"tasks {exits}: only one dsl.ExitHandler per pipeline is supported")
        name = exits[0]
        task = tasks.pop(name)
        if "dag" in self.components[task["componentRef"]["name"]]:
            raise CompileError(f"task '{name}': an exit task must be a container component")
        template = f"{self.name}-exit"
        body = self._dag_task(
            name, task, tasks_scope=None, schedule_time=schedule_time, exit_task=True
        )
        body.pop("depends", None)
        return template, [{"name": template, "dag": {"tasks": [body]}}]

    def _sub_dags(self, tasks: dict[str, dict[str, Any]], schedule_time: str) -> list[dict]:
        out: list[dict[str, Any]] = []
        seen: set[str] = set()

        def walk(dag_tasks: dict[str, dict[str, Any]]) -> None:
            for name, task in sorted(dag_tasks.items()):
                comp_name = task["componentRef"]["name"]
                component = self.components[comp_name]
                if "dag" not in component or comp_name in seen:
                    continue
                seen.add(comp_name)
                inner = component["dag"].get("tasks", {})
                if any(
                    "triggerPolicy" in t and "strategy" in t["triggerPolicy"]
                    for t in inner.values()
                ):
                    raise CompileError(
                        f"task '{name}': a dsl.ExitHandler nested in a sub-DAG is not supported"
                    )
                out.append(
                    self._dag_template(
                        self.template_name(comp_name), component, inner, schedule_time
                    )
                )
                walk(inner)

        walk(tasks)
        return out

    def _dag_template(
        self,
        name: str,
        component: dict[str, Any],
        tasks: dict[str, dict[str, Any]],
        schedule_time: str,
        is_root: bool = False,
    ) -> dict[str, Any]:
        template: dict[str, Any] = {"name": name}
        if not is_root:
            inputs = self._inputs(component, with_paths=False, where=f"sub-DAG '{name}'")
            if inputs:
                template["inputs"] = inputs
        scope = None if is_root else component
        template["dag"] = {
            "tasks": [
                self._dag_task(task.name, task.spec, scope, schedule_time)
                for task in ir.topological(tasks)
            ]
        }
        outputs = _dag_outputs(
            component.get("dag", {}).get("outputs", {}), f"sub-DAG '{name}'", self.task, self.io
        )
        if outputs and not is_root:
            template["outputs"] = outputs
        return template

    def _dag_task(
        self,
        name: str,
        task: dict[str, Any],
        tasks_scope: dict[str, Any] | None,
        schedule_time: str,
        exit_task: bool = False,
    ) -> dict[str, Any]:
        where = f"task '{name}'"
        comp_name = task["componentRef"]["name"]
        component = self.components[comp_name]
        out: dict[str, Any] = {"name": self.task(name)}
        if "dag" in component:
            out["template"] = self.template_name(comp_name)
        elif "executorLabel" in component:
            out["templateRef"] = {"name": self.template_name(comp_name), "template": TEMPLATE}
        else:
            raise CompileError(f"{where}: component '{comp_name}' is neither a DAG nor a container")
        for key in ("iteratorPolicy", "artifactIterator"):
            if key in task:
                raise CompileError(
                    f"{where}: {key} (dsl.ParallelFor over artifacts or with "
                    "parallelism) is not supported by the Argo backend"
                )
        strategy = task.get("triggerPolicy", {}).get("strategy")
        if strategy and not exit_task:
            raise CompileError(
                f"{where}: trigger strategy {strategy} is only supported for the exit task of "
                "a dsl.ExitHandler at the pipeline's top level"
            )

        def upstream(ref: dict[str, Any], kind: str, key: str) -> str:
            producer, output = self.task(ref["producerTask"]), self.io(ref[key])
            return f"{{{{tasks.{producer}.outputs.{kind}.{output}}}}}"

        def scoped(param: str) -> str:
            return (
                f"{{{{inputs.parameters.{self.io(param)}}}}}"
                if tasks_scope is not None
                else f"{{{{workflow.parameters.{param}}}}}"
            )

        sources: dict[str, str] = {}  # input parameter -> Argo expression feeding it
        parameters = []
        inputs = task.get("inputs", {})
        for pname, src in sorted(inputs.get("parameters", {}).items()):
            if "componentInputParameter" in src:
                value = scoped(src["componentInputParameter"])
            elif "taskOutputParameter" in src:
                value = upstream(src["taskOutputParameter"], "parameters", "outputParameterKey")
            elif "runtimeValue" in src:
                constant = src["runtimeValue"]["constant"]
                value = translate.job_placeholders(
                    ir.render_parameter(constant), schedule_time, f"{where}, input '{pname}'"
                )
            else:
                raise CompileError(
                    f"{where}: input parameter '{pname}' comes from {sorted(src)} "
                    "(e.g. a task's final status), which the Argo backend does not support"
                )
            sources[pname] = value
            parameters.append({"name": self.io(pname), "value": value})
        iterator = task.get("parameterIterator")
        if iterator:
            item_input = iterator["itemInput"]
            parameters.append({"name": self.io(item_input), "value": "{{item}}"})
            for sub in component.get("inputDefinitions", {}).get("parameters", {}):
                if sub.startswith(item_input + "-subvar-"):
                    field = sub.removeprefix(item_input + "-subvar-")
                    parameters.append({"name": self.io(sub), "value": f"{{{{item.{field}}}}}"})
            items = iterator["items"]
            if "raw" in items:
                out["withItems"] = json.loads(items["raw"])
            elif "inputParameter" in items:
                out["withParam"] = sources.get(items["inputParameter"]) or scoped(
                    items["inputParameter"]
                )
            else:
                raise CompileError(f"{where}: loop items {sorted(items)} are not supported")
        artifacts = []
        for aname, src in sorted(inputs.get("artifacts", {}).items()):
            if "componentInputArtifact" in src and tasks_scope is not None:
                value = f"{{{{inputs.artifacts.{self.io(src['componentInputArtifact'])}}}}}"
            elif "taskOutputArtifact" in src:
                value = upstream(src["taskOutputArtifact"], "artifacts", "outputArtifactKey")
            else:
                raise CompileError(
                    f"{where}: input artifact '{aname}' comes from {sorted(src)} (importer or "
                    "pipeline artifact input), which the Argo backend does not support"
                )
            artifacts.append({"name": self.io(aname), "from": value})
        if parameters or artifacts:
            out["arguments"] = {}
            if parameters:
                out["arguments"]["parameters"] = sorted(parameters, key=lambda p: p["name"])
            if artifacts:
                out["arguments"]["artifacts"] = artifacts
        depends = set(task.get("dependentTasks", []))
        for section in ("parameters", "artifacts"):
            for src in inputs.get(section, {}).values():
                ref = src.get("taskOutputParameter") or src.get("taskOutputArtifact")
                if ref:
                    depends.add(ref["producerTask"])
        if depends:
            out["depends"] = " && ".join(
                f"{d}.Succeeded" for d in sorted(self.task(d) for d in depends)
            )
        condition = task.get("triggerPolicy", {}).get("condition")
        if condition:
            out["when"] = translate.when(condition, component, sources, where)
        return out

    # ---- component templates -------------------------------------------------------------------
    def _collect_retry(self, dag: dict[str, Any], prefix: str) -> None:
        for name, task in dag.get("tasks", {}).items():
            comp_name = task["componentRef"]["name"]
            component = self.components[comp_name]
            if "dag" in component:
                self._collect_retry(component["dag"], f"{prefix}{name}/")
                continue
            policy = task.get("retryPolicy")
            if comp_name in self._retry and self._retry[comp_name] != policy:
                raise CompileError(
                    f"task '{prefix}{name}': component '{comp_name}' is used with different "
                    "retry policies; Argo sets retries per template"
                )
            self._retry[comp_name] = policy
            if not task.get("cachingOptions", {}).get("enableCache"):
                self._no_cache.add(comp_name)

    def _inputs(self, component: dict[str, Any], with_paths: bool, where: str) -> dict[str, Any]:
        definitions = component.get("inputDefinitions", {})
        names = [*definitions.get("parameters", {}), *definitions.get("artifacts", {})]
        self._io_names(names, where)
        out: dict[str, Any] = {}
        params = []
        for name, d in sorted(definitions.get("parameters", {}).items()):
            param: dict[str, Any] = {"name": self.io(name)}
            if "defaultValue" in d:
                param["default"] = ir.render_parameter(
                    ir.coerce_parameter(name, d["defaultValue"], d["parameterType"])
                )
            params.append(param)
        if params:
            out["parameters"] = params
        artifacts = []
        for name in sorted(definitions.get("artifacts", {})):
            artifact: dict[str, Any] = {"name": self.io(name)}
            if with_paths:
                artifact["path"] = f"{IN_DIR}/{name}"
            if definitions["artifacts"][name].get("isOptional"):
                artifact["optional"] = True
            artifacts.append(artifact)
        if artifacts:
            out["artifacts"] = artifacts
        return out

    def _retry_strategy(self, comp_name: str) -> dict[str, Any]:
        d = self.defaults
        policy = self._retry.get(comp_name) or {}
        backoff = {
            "duration": policy.get("backoffDuration", d.backoff),
            "factor": str(int(policy.get("backoffFactor", d.backoff_factor))),
            "maxDuration": policy.get("backoffMaxDuration", d.backoff_max),
        }
        return {
            "limit": str(int(policy.get("maxRetryCount", d.retry_limit))),
            "retryPolicy": "Always",
            # Pod errors (preemption, eviction) and crashes retry; bad input (exit 2) does not.
            "expression": f"lastRetry.status == 'Error' || "
            f"asInt(lastRetry.exitCode) != {USER_ERROR_EXIT}",
            "backoff": backoff,
        }

    def _workflow_template(self, comp_name: str, component: dict[str, Any]) -> dict[str, Any]:
        name = self.template_name(comp_name)
        where = f"component '{name}'"
        executor_label = component["executorLabel"]
        executor = self.spec["deploymentSpec"]["executors"][executor_label]
        if "container" not in executor:
            raise CompileError(
                f"{where}: executor kind {sorted(executor)} (importer/resolver) is not supported "
                "by the Argo backend; only container components are"
            )
        container_ir = executor["container"]
        unknown = sorted(set(container_ir) - {"image", "command", "args", "env", "resources"})
        if unknown:
            raise CompileError(f"{where}: container settings {unknown} are not supported")

        def text(value: Any) -> str:
            return translate.container_text(value, component, where)

        command = [text(a) for a in container_ir.get("command", [])]
        args = [text(a) for a in container_ir.get("args", [])]
        uses_executor_output = translate.uses_executor_output(container_ir)
        env = [{"name": "HOME", "value": "/tmp"}]  # caches go to the writable /tmp, not /
        env += [
            {"name": e["name"], "value": text(e.get("value", ""))}
            for e in container_ir.get("env", [])
        ]
        volumes: list[dict[str, Any]] = [{"name": "tmp", "emptyDir": {}}]
        mounts: list[dict[str, Any]] = [{"name": "tmp", "mountPath": "/tmp"}]
        container: dict[str, Any] = {
            "image": container_ir["image"],
            "command": command,
            "args": args,
            "env": env,
            "resources": self._resources(container_ir.get("resources", {})),
            "securityContext": restricted_container(),
        }
        template: dict[str, Any] = {
            "name": TEMPLATE,
            "metadata": {"labels": {**PART_OF, "retrain-pipelines/component": name}},
            "securityContext": self._pod_security(),
            # IntOrString fields are written as strings: Argo's JSON schema types them so.
            "activeDeadlineSeconds": str(self.defaults.step_deadline_seconds),
            "retryStrategy": self._retry_strategy(comp_name),
        }
        inputs = self._inputs(component, with_paths=True, where=where)
        if inputs:
            template["inputs"] = inputs
        outputs = self._outputs(component, uses_executor_output)
        if outputs:
            template["outputs"] = outputs
        self._kubernetes(executor_label, template, container, volumes, mounts, where)
        if comp_name in self._no_cache:
            template["metadata"].setdefault("annotations", {})[CACHING_ANNOTATION] = "false"
        container["volumeMounts"] = mounts
        template["container"] = container
        template["volumes"] = volumes
        return {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "WorkflowTemplate",
            "metadata": {
                "name": name,
                "labels": {**PART_OF, "retrain-pipelines/component": name},
            },
            "spec": {"entrypoint": TEMPLATE, **self._spec_defaults(), "templates": [template]},
        }

    def _outputs(self, component: dict[str, Any], executor_output: bool) -> dict[str, Any]:
        definitions = component.get("outputDefinitions", {})
        out: dict[str, Any] = {}
        params = [
            {"name": n, "valueFrom": {"path": f"{OUT_DIR}/parameters/{n}"}}
            for n in sorted(definitions.get("parameters", {}))
        ]
        if params:
            out["parameters"] = params
        artifacts = [
            {"name": n, "path": f"{OUT_DIR}/{n}", "archive": {"none": {}}}
            for n in sorted(definitions.get("artifacts", {}))
        ]
        if executor_output:
            artifacts.append(
                {
                    "name": EXECUTOR_OUTPUT,
                    "path": f"{OUT_DIR}/{EXECUTOR_OUTPUT}.json",
                    "archive": {"none": {}},
                    "optional": True,
                }
            )
        if artifacts:
            out["artifacts"] = artifacts
        return out

    def _resources(self, resources: dict[str, Any]) -> dict[str, Any]:
        d = self.defaults
        limits = {
            "cpu": resources.get("resourceCpuLimit") or d.cpu_limit,
            "memory": resources.get("resourceMemoryLimit") or d.memory_limit,
        }
        # As Kubernetes does: a request left out equals the limit when a limit was set.
        requests = {
            "cpu": resources.get("resourceCpuRequest")
            or (resources.get("resourceCpuLimit") and limits["cpu"])
            or d.cpu_request,
            "memory": resources.get("resourceMemoryRequest")
            or (resources.get("resourceMemoryLimit") and limits["memory"])
            or d.memory_request,
        }
        accelerator = resources.get("accelerator")
        if accelerator:
            kind = accelerator.get("resourceType") or accelerator.get("type")
            count = str(accelerator.get("resourceCount") or accelerator.get("count") or "1")
            limits[kind] = count
            requests[kind] = count  # extended resources: request must equal limit
        return {"requests": requests, "limits": limits}

    def _kubernetes(
        self,
        executor_label: str,
        template: dict[str, Any],
        container: dict[str, Any],
        volumes: list[dict[str, Any]],
        mounts: list[dict[str, Any]],
        where: str,
    ) -> None:
        """kfp-kubernetes settings of one executor, carried over; anything else is refused."""
        settings = dict(self.k8s.get(executor_label, {}))
        node_selector = settings.pop("nodeSelector", None)
        if node_selector:
            if set(node_selector) - {"labels"}:
                raise CompileError(f"{where}: nodeSelector from a parameter is not supported")
            template["nodeSelector"] = dict(sorted(node_selector["labels"].items()))
        tolerations = settings.pop("tolerations", None)
        if tolerations:
            template["tolerations"] = [
                {
                    k: t[k]
                    for k in ("key", "operator", "value", "effect", "tolerationSeconds")
                    if k in t
                }
                for t in tolerations
            ]
        for secret in settings.pop("secretAsEnv", []):
            secret_name = _constant(secret, "secretName", "secretNameParameter", where)
            for item in secret.get("keyToEnv", []):
                ref: dict[str, Any] = {"name": secret_name, "key": item["secretKey"]}
                if secret.get("optional"):
                    ref["optional"] = True
                container["env"].append(
                    {"name": item["envVar"], "valueFrom": {"secretKeyRef": ref}}
                )
        for index, pvc in enumerate(settings.pop("pvcMount", [])):
            claim = _constant(pvc, "constant", "pvcNameParameter", where)
            volume = f"pvc-{index}"
            volumes.append({"name": volume, "persistentVolumeClaim": {"claimName": claim}})
            mounts.append({"name": volume, "mountPath": pvc["mountPath"]})
        metadata = settings.pop("podMetadata", None)
        if metadata:
            template["metadata"]["labels"].update(metadata.get("labels", {}))
            if metadata.get("annotations"):
                template["metadata"]["annotations"] = dict(metadata["annotations"])
        if settings:
            raise CompileError(
                f"{where}: kfp-kubernetes settings {sorted(settings)} are not supported by the "
                "Argo backend (supported: nodeSelector, tolerations, secretAsEnv, pvcMount, "
                "podMetadata)"
            )


def _dag_outputs(
    outputs: dict[str, Any],
    where: str,
    task: Callable[[str], str] = str,
    io: Callable[[str], str] = str,
) -> dict[str, Any]:
    """A sub-DAG's outputs as the outputs of its DAG template, each from the task of the DAG that
    produced it. Several selectors (dsl.OneOf over the branches of dsl.If/dsl.Elif/dsl.Else, of
    which one ran) become Argo's conditional output: an expression that takes the first selector
    whose task succeeded, the last one otherwise, as KFP's driver takes the first that ran.
    `task` and `io` give the Argo names of IR tasks and of IR input/output names."""
    out: dict[str, Any] = {}
    artifacts = []
    for name, spec in sorted(outputs.get("artifacts", {}).items()):
        selectors = spec.get("artifactSelectors", [])
        if not selectors:
            raise CompileError(f"{where}: output artifact '{name}' has no artifactSelectors")
        if len(selectors) == 1:
            producer = task(selectors[0]["producerSubtask"])
            key = io(selectors[0]["outputArtifactKey"])
            artifacts.append(
                {"name": io(name), "from": f"{{{{tasks.{producer}.outputs.artifacts.{key}}}}}"}
            )
            continue

        def artifact(selector: dict[str, str]) -> str:
            return (
                f"tasks['{task(selector['producerSubtask'])}'].outputs.artifacts"
                f"['{io(selector['outputArtifactKey'])}']"
            )

        expression = artifact(selectors[-1])
        for selector in reversed(selectors[:-1]):
            expression = (
                f"tasks['{task(selector['producerSubtask'])}'].status == 'Succeeded' ? "
                f"{artifact(selector)} : {expression}"
            )
        artifacts.append({"name": io(name), "fromExpression": expression})
    if artifacts:
        out["artifacts"] = artifacts
    if outputs.get("parameters"):
        raise CompileError(
            f"{where}: output parameters of a sub-DAG (dsl.OneOf over parameters, "
            "dsl.Collected) are not supported by the Argo backend"
        )
    return out


def _constant(setting: dict[str, Any], plain: str, parameter: str, where: str) -> str:
    if setting.get(plain):
        return str(setting[plain])
    value = setting.get(parameter, {}).get("runtimeValue", {}).get("constant")
    if value is None:
        raise CompileError(f"{where}: {parameter} set from a pipeline parameter is not supported")
    return str(value)


def compile_ir(
    ir_path: Path,
    platform: Platform,
    schedule: Schedule | None = None,
    defaults: Defaults = Defaults(),
) -> Bundle:
    return ArgoCompiler(ir.load(ir_path), platform, defaults, schedule).compile()
