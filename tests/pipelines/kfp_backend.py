"""Our Argo Workflow and KFP's backend Workflow for the same IR, as comparable tables.

KFP's backend compiler (argocompiler, run by tools/kfp-compiler) does not put a step's image,
resources or inputs into the pod: each step is a driver pod that reads the task, component,
container and Kubernetes specs it is handed (JSON arguments) and patches the launcher's pod at run
time. So its side of the table is read from those arguments, and ours from the DAG tasks and the
component templates. Both become rows `(task path, aspect, key) -> value`, with every input
resolved to where it comes from (`pipeline.<param>`, `task <path>.<output>`, `const <value>`).
The backend's side is named as ours: tasks by display name, sub-DAG inputs and outputs without
KFP's `pipelinechannel--` prefix (`Names`, our compiler's own renaming).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

Key = tuple[str, str, str]  # (task path, aspect, key)


class Names:
    """IR task and input/output names as our Argo compiler names them (identity by default)."""

    def task(self, name: str) -> str:
        return name

    def io(self, name: str) -> str:
        return name


SAME_NAMES = Names()

Table = dict[Key, str]
Scope = Mapping[str, str]  # a DAG's input name -> where its value comes from

# What an engine needs that the other has no counterpart for: present on one side only.
BACKEND_RUNTIME = {
    "entrypoint": "the backend's root: a ROOT_DAG driver (root-driver) creates the run's MLMD "
    "execution, then runs the pipeline's root DAG",
    "system-dag-driver": "KFP's driver for every DAG (the root and each sub-DAG): resolves its "
    "inputs, evaluates dsl.If conditions (CEL) and records an MLMD execution",
    "system-container-driver": "KFP's driver for every step: resolves inputs, checks the cache, "
    "evaluates the condition and writes the pod-spec patch (image, command, resources, node "
    "selector, tolerations) the executor pod runs with",
    "system-container-executor": "runs the step unless the driver found it cached",
    "system-container-impl": "the step's pod: KFP's launcher (init container) wraps the "
    "component's command to fetch and upload artifacts and record outputs in MLMD",
}
OURS_RUNTIME = (
    "our steps are WorkflowTemplates (manifests/argo/templates/) run directly: Argo passes "
    "parameters and artifacts itself, with no driver, launcher, MLMD or cache"
)


@dataclass(frozen=True)
class Known:
    """An expected difference: rows matching these globs differ for the stated reason."""

    aspect: str
    key: str
    ours: str
    backend: str
    reason: str

    def matches(self, key: Key, ours: str | None, backend: str | None) -> bool:
        path_key = f"{key[0]}:{key[2]}"
        return (
            fnmatch.fnmatchcase(key[1], self.aspect)
            and fnmatch.fnmatchcase(path_key, self.key)
            and fnmatch.fnmatchcase(str(ours), self.ours)
            and fnmatch.fnmatchcase(str(backend), self.backend)
        )


KNOWN = (
    Known(
        "param",
        "*:window_end",
        "const {{workflow.creationTimestamp}}",
        "const {{$.pipeline_job_schedule_time_utc}}",
        "the run's schedule time: KFP's driver substitutes the recurring run's scheduled time "
        "and, for a one-off run, falls back to the Workflow's creation time "
        "(backend/src/v2/cmd/driver/main.go); our Workflow is the one-off run (our "
        "CronWorkflow passes {{workflow.scheduledTime}})",
    ),
    Known(
        "param",
        "*:window_end",
        "const {{workflow.scheduledTime}}",
        "const {{$.pipeline_job_schedule_time_utc}}",
        "the run's schedule time: in a recurring run KFP's driver substitutes the scheduled "
        "time (the ScheduledWorkflow's workflowEpoch label), which is Argo's "
        "workflow.scheduledTime in our CronWorkflow",
    ),
    Known(
        "resources",
        "*:accelerator.requests",
        "*=*",
        "None",
        "KFP's driver sets only the GPU limit; Kubernetes defaults an extended resource's "
        "request to its limit (they must be equal), so both pods request the same GPUs",
    ),
    Known("runtime", "*:WorkflowTemplate *", "ours", "None", OURS_RUNTIME),
    *(
        Known("runtime", f"*:template {name}", "None", "backend", reason)
        for name, reason in BACKEND_RUNTIME.items()
    ),
)


@dataclass(frozen=True)
class Difference:
    key: Key
    ours: str | None
    backend: str | None
    reason: str | None  # None: unexplained


# -- values --------------------------------------------------------------------------------------

_SUFFIX = {
    "m": Fraction(1, 1000),
    "k": Fraction(10**3),
    "K": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
}


def quantity(text: object) -> str:
    """A Kubernetes quantity ('250m', '16G', 4.0) as one canonical number."""
    match = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(text).strip())
    if match is None or match.group(2) not in ("", *_SUFFIX):
        raise ValueError(f"not a Kubernetes quantity: {text!r}")
    number = Fraction(match.group(1)) * _SUFFIX.get(match.group(2), Fraction(1))
    return str(number.numerator if number.denominator == 1 else float(number))


def condition(text: str, refs: Mapping[str, str]) -> str:
    """A dsl.If condition in one form: references replaced by their sources, CEL's int() casts,
    parentheses and spaces dropped (Argo compares numbers without a cast)."""
    for ref, source in refs.items():
        text = text.replace(ref, "<" + source.replace(" ", ":") + ">")
    text = text.replace("int(", "(")
    return re.sub(r"[()\s]", "", text)


def toleration(item: Mapping[str, Any]) -> str:
    fields = ("key", "operator", "value", "effect")
    return ",".join(f"{f}={item.get(f, '')}" for f in fields)


# -- our Workflow --------------------------------------------------------------------------------

_REF = re.compile(r"\{\{\s*([^}]+?)\s*\}\}")
# tasks.T.outputs.artifacts.A (a template) or tasks['T'].outputs.artifacts['A'] (an expression)
_TASK_ARTIFACT = re.compile(
    r"tasks(?:\['([^']+)'\]|\.([\w-]+))\.outputs\.artifacts(?:\['([^']+)'\]|\.([\w-]+))"
)


def _resolve_ours(text: str, scope: Scope, prefix: str) -> str:
    """Where one of our argument values comes from."""
    whole = _REF.fullmatch(text)
    if whole is None:
        return f"const {text}"
    ref = whole.group(1)
    parts = ref.split(".")
    if parts[:2] == ["workflow", "parameters"]:
        return f"pipeline.{parts[2]}"
    if parts[0] == "inputs":
        return scope[parts[2]]
    if parts[0] == "tasks":
        return f"task {prefix}{parts[1]}.{parts[4]}"
    return f"const {text}"


def _depends(text: str | None) -> str:
    names = re.findall(r"([A-Za-z0-9-]+)\.Succeeded", text or "")
    return ",".join(sorted(set(names)))


def ours_table(workflow: Mapping[str, Any], library: Mapping[str, Mapping[str, Any]]) -> Table:
    """Our Workflow (with its WorkflowTemplates, by name) as rows."""
    spec = workflow["spec"]
    local = {t["name"]: t for t in spec["templates"]}
    table: Table = {}

    def walk(template: Mapping[str, Any], prefix: str, scope: Scope) -> None:
        for task in template["dag"]["tasks"]:
            path = prefix + task["name"]
            arguments = task.get("arguments", {})
            bound: dict[str, str] = {}
            for p in arguments.get("parameters", []):
                bound[p["name"]] = _resolve_ours(str(p["value"]), scope, prefix)
                table[(path, "param", p["name"])] = bound[p["name"]]
            for a in arguments.get("artifacts", []):
                bound[a["name"]] = _resolve_ours(a["from"], scope, prefix)
                table[(path, "artifact", a["name"])] = bound[a["name"]]
            table[(path, "depends", "")] = _depends(task.get("depends"))
            if "when" in task:
                refs = {
                    m.group(0): _resolve_ours(m.group(0), scope, prefix)
                    for m in _REF.finditer(task["when"])
                }
                table[(path, "condition", "")] = condition(task["when"], refs)
            if "templateRef" in task:
                name = task["templateRef"]["name"]
                table[(path, "component", "")] = name
                table[("*", "runtime", f"WorkflowTemplate {name}")] = "ours"
                component = library[name]["spec"]
                (main,) = [t for t in component["templates"] if t["name"] == "main"]
                container_rows(table, path, main)
            else:
                child = local[task["template"]]
                table[(path, "component", "")] = f"dag {task['template']}"
                outputs_rows(table, path, child, path + "/")
                walk(child, path + "/", bound)

    def container_rows(out: Table, path: str, main: Mapping[str, Any]) -> None:
        container = main["container"]
        out[(path, "image", "")] = container["image"]
        out[(path, "command", "")] = " ".join(container.get("command", []))
        resources = container.get("resources", {})
        for kind in ("requests", "limits"):
            for name, value in resources.get(kind, {}).items():
                if name in ("cpu", "memory"):
                    out[(path, "resources", f"{name}.{kind}")] = quantity(value)
                else:  # an accelerator (a GPU)
                    out[(path, "resources", f"accelerator.{kind}")] = f"{name}={value}"
        for label, value in main.get("nodeSelector", {}).items():
            out[(path, "nodeSelector", label)] = value
        if main.get("tolerations"):
            out[(path, "tolerations", "")] = ";".join(
                sorted(toleration(t) for t in main["tolerations"])
            )

    def outputs_rows(out: Table, path: str, child: Mapping[str, Any], inner: str) -> None:
        """A sub-DAG's outputs: the task outputs they select (`from`, or the `fromExpression`
        that picks the branch of dsl.If/dsl.Else that ran)."""
        for artifact in child.get("outputs", {}).get("artifacts", []):
            text = artifact.get("fromExpression") or artifact.get("from", "")
            found = _TASK_ARTIFACT.findall(text)
            out[(path, "output", artifact["name"])] = ";".join(
                sorted(f"task {inner}{t1 or t2}.{a1 or a2}" for t1, t2, a1, a2 in found)
            )

    for p in spec.get("arguments", {}).get("parameters", []):
        table[("(pipeline)", "default", p["name"])] = str(p.get("value"))
    walk(local[spec["entrypoint"]], "", {})
    return table


# -- KFP's backend Workflow ------------------------------------------------------------------------


def _kfp_input(spec: Mapping[str, Any], scope: Scope, prefix: str, names: Any = SAME_NAMES) -> str:
    """Where an input of a KFP task spec comes from (TaskInputsSpec.InputParameterSpec)."""
    if "componentInputParameter" in spec:
        return scope[spec["componentInputParameter"]]
    if "componentInputArtifact" in spec:
        return scope[spec["componentInputArtifact"]]
    if "taskOutputParameter" in spec:
        out = spec["taskOutputParameter"]
        producer, key = names.task(out["producerTask"]), names.io(out["outputParameterKey"])
        return f"task {prefix}{producer}.{key}"
    if "taskOutputArtifact" in spec:
        out = spec["taskOutputArtifact"]
        producer, key = names.task(out["producerTask"]), names.io(out["outputArtifactKey"])
        return f"task {prefix}{producer}.{key}"
    if "runtimeValue" in spec:
        value = spec["runtimeValue"]["constant"]
        return f"const {value if isinstance(value, str) else json.dumps(value)}"
    raise ValueError(f"an input kind this comparison does not read: {spec}")


def backend_table(workflow: Mapping[str, Any], names: Any = SAME_NAMES) -> Table:
    """KFP's backend Workflow as rows, read from the arguments its drivers get; `names` (e.g.
    our ArgoCompiler for the same IR) renames its tasks, inputs and outputs as ours."""
    spec = workflow["spec"]
    params = {p["name"]: p.get("value") for p in spec["arguments"]["parameters"]}
    templates = {t["name"]: t for t in spec["templates"]}
    table: Table = {}

    def arg(task: Mapping[str, Any], name: str) -> Any:
        for p in task.get("arguments", {}).get("parameters", []):
            if p["name"] == name:
                value = str(p["value"])
                ref = re.fullmatch(r"\{\{workflow\.parameters\.([^}]+)\}\}", value)
                return json.loads(params[ref.group(1)] if ref else value) if value else None
        return None

    def walk(template: Mapping[str, Any], prefix: str, scope: Scope) -> None:
        tasks = {t["name"]: t for t in template["dag"]["tasks"]}
        for driver_name, driver in tasks.items():
            if not driver_name.endswith("-driver"):
                continue
            name = driver_name.removesuffix("-driver")
            path, task, body = prefix + names.task(name), arg(driver, "task"), tasks[name]
            component = arg(driver, "component")
            bound: dict[str, str] = {}
            for kind in ("parameters", "artifacts"):
                for key, source in task.get("inputs", {}).get(kind, {}).items():
                    bound[key] = _kfp_input(source, scope, prefix, names)
                    aspect = kind.removesuffix("s").replace("parameter", "param")
                    table[(path, aspect, names.io(key))] = bound[key]
            upstream = set(_depends(driver.get("depends")).split(",")) | set(
                _depends(body.get("depends")).split(",")
            )
            upstream -= {"", driver_name}
            table[(path, "depends", "")] = ",".join(sorted(names.task(u) for u in upstream))
            text = task.get("triggerPolicy", {}).get("condition")
            if text:
                refs = {f"inputs.parameter_values['{k}']": v for k, v in bound.items()}
                table[(path, "condition", "")] = condition(text, refs)
            if "dag" in component:
                child = templates[body["template"]]
                table[(path, "component", "")] = f"dag {body['template'].removeprefix('comp-')}"
                for key, out in component["dag"].get("outputs", {}).get("artifacts", {}).items():
                    table[(path, "output", names.io(key))] = ";".join(
                        sorted(
                            f"task {path}/{names.task(s['producerSubtask'])}."
                            f"{names.io(s['outputArtifactKey'])}"
                            for s in out["artifactSelectors"]
                        )
                    )
                walk(child, path + "/", bound)
            else:
                table[(path, "component", "")] = task["componentRef"]["name"].removeprefix("comp-")
                container_rows(
                    table, path, arg(driver, "container"), arg(driver, "kubernetes-config")
                )

    def container_rows(
        out: Table, path: str, container: Mapping[str, Any], k8s: Mapping[str, Any] | None
    ) -> None:
        out[(path, "image", "")] = container["image"]
        out[(path, "command", "")] = " ".join(container.get("command", []))
        resources = container.get("resources", {})
        for name in ("Cpu", "Memory"):
            for kind, word in (("requests", "Request"), ("limits", "Limit")):
                value = resources.get(f"resource{name}{word}")
                if value:
                    out[(path, "resources", f"{name.lower()}.{kind}")] = quantity(value)
        accelerator = resources.get("accelerator")
        if accelerator:
            count = accelerator.get("resourceCount") or accelerator.get("count")
            kind = accelerator.get("resourceType") or accelerator.get("type")
            # the driver sets the limit only (backend/src/v2/driver/driver.go)
            out[(path, "resources", "accelerator.limits")] = f"{kind}={count}"
        k8s = k8s or {}
        for label, value in k8s.get("nodeSelector", {}).get("labels", {}).items():
            out[(path, "nodeSelector", label)] = value
        if k8s.get("tolerations"):
            out[(path, "tolerations", "")] = ";".join(
                sorted(toleration(t) for t in k8s["tolerations"])
            )

    entry_tasks = {t["name"]: t for t in templates[spec["entrypoint"]]["dag"]["tasks"]}
    runtime_config = arg(entry_tasks["root-driver"], "runtime-config") or {}
    for name, value in runtime_config.get("parameterValues", {}).items():
        text = value if isinstance(value, str) else json.dumps(value)
        table[("(pipeline)", "default", name)] = text
    entry = entry_tasks["root"]
    root_component = json.loads(params["components-root"])
    scope = {
        name: f"pipeline.{name}"
        for name in root_component["inputDefinitions"].get("parameters", {})
    }
    walk(templates[entry["template"]], "", scope)
    for name in sorted(templates):
        if name in BACKEND_RUNTIME:
            table[("*", "runtime", f"template {name}")] = "backend"
    return table


# -- the comparison ------------------------------------------------------------------------------


def compare(ours: Table, backend: Table, known: tuple[Known, ...] = KNOWN) -> list[Difference]:
    """Every row where the two tables differ, with the reason when it is a known one."""
    out: list[Difference] = []
    for key in sorted(set(ours) | set(backend)):
        mine, theirs = ours.get(key), backend.get(key)
        if mine == theirs:
            continue
        reason = next((k.reason for k in known if k.matches(key, mine, theirs)), None)
        out.append(Difference(key, mine, theirs, reason))
    return out


def unexplained(differences: list[Difference]) -> list[Difference]:
    return [d for d in differences if d.reason is None]


def render(pipeline: str, ours: Table, backend: Table, differences: list[Difference]) -> str:
    """The difference table, one line per row that differs, then its reason."""
    counts = aspects({**ours, **backend})
    lines = [
        f"{pipeline}: {len(set(ours) | set(backend))} rows compared "
        f"({', '.join(f'{a} {n}' for a, n in counts.items())}), {len(differences)} differ"
    ]

    def cell(value: str | None) -> str:
        text = "(absent)" if value is None else value
        return text if len(text) <= 60 else text[:57] + "..."

    for d in differences:
        task, aspect, key = d.key
        lines.append(
            f"  {task:<40} {aspect:<12} {key:<28} ours={cell(d.ours)}  kfp={cell(d.backend)}"
        )
        lines.append(f"      {'UNEXPLAINED' if d.reason is None else 'why: ' + d.reason}")
    return "\n".join(lines)


def aspects(table: Table) -> dict[str, int]:
    """How many rows of each aspect a table has (so a test can see what it compared)."""
    counts: dict[str, int] = {}
    for _, aspect, _ in table:
        counts[aspect] = counts.get(aspect, 0) + 1
    return dict(sorted(counts.items()))
