"""KFP placeholders and trigger conditions as Argo variables and `when` expressions.

The IR's grammar (pipelines/ir/placeholders.py) on one side, Argo's `{{...}}` variables and
govaluate expressions on the other; the compiler calls these for every argument it carries over.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pipelines.argo import CompileError
from pipelines.ir import placeholders as ph

# Pipeline-job placeholders as Argo workflow variables. The scheduled time has two: a Workflow
# has no schedule, so its creation stands for it; a CronWorkflow's runs have their scheduled time.
JOB_VARIABLES = {
    ph.JOB_NAME: "{{workflow.name}}",
    ph.JOB_RESOURCE_NAME: "{{workflow.name}}",
    ph.JOB_UUID: "{{workflow.uid}}",
    ph.JOB_CREATE_TIME: "{{workflow.creationTimestamp}}",
}
SCHEDULE_TIME_WORKFLOW = "{{workflow.creationTimestamp}}"
SCHEDULE_TIME_CRON = "{{workflow.scheduledTime}}"
EXECUTOR_OUTPUT_PATH = f"{{{{outputs.artifacts.{ph.EXECUTOR_OUTPUT}.path}}}}"


def job_placeholders(text: str, schedule_time: str, where: str) -> str:
    """Pipeline-job placeholders in a task argument, as Argo workflow variables."""
    mapping = {**JOB_VARIABLES, ph.JOB_SCHEDULE_TIME: schedule_time}

    def one(match: re.Match[str]) -> str:
        if match.group(0) not in mapping:
            raise CompileError(f"{where}: placeholder {match.group(0)} has no Argo equivalent")
        return mapping[match.group(0)]

    return ph.PLACEHOLDER.sub(one, text)


def container_text(value: Any, component: dict[str, Any], where: str) -> str:
    """One command, args or env string of a container, its placeholders as Argo variables."""
    if not isinstance(value, str):
        raise CompileError(
            f"{where}: structured placeholder {json.dumps(value)[:60]} (IfPresent/Concat) "
            "is not supported by the Argo backend"
        )
    if ph.is_structured(value):
        raise CompileError(
            f"{where}: structured placeholder {value[:60]!r} (IfPresent/Concat) is not "
            "supported by the Argo backend"
        )
    return ph.PLACEHOLDER.sub(lambda m: _container_placeholder(m.group(0), component, where), value)


def _container_placeholder(placeholder: str, component: dict[str, Any], where: str) -> str:
    if placeholder == ph.EXECUTOR_INPUT:
        return json.dumps(_executor_input(component), sort_keys=True)
    if placeholder == ph.OUTPUT_FILE:
        return EXECUTOR_OUTPUT_PATH
    if placeholder in JOB_VARIABLES:
        return JOB_VARIABLES[placeholder]
    match = ph.IO.match(placeholder)
    if match:
        direction, kind, name, attr = match.groups()
        section = component.get(
            "inputDefinitions" if direction == "inputs" else "outputDefinitions", {}
        ).get(kind, {})
        if name not in section:
            raise CompileError(f"{where}: placeholder {placeholder} names unknown '{name}'")
        if kind == "parameters" and direction == "inputs" and attr is None:
            return f"{{{{inputs.parameters.{name}}}}}"
        if kind == "parameters" and direction == "outputs" and attr == "output_file":
            return f"{{{{outputs.parameters.{name}.path}}}}"
        if kind == "artifacts" and attr in ("path", "uri"):
            # An Argo artifact is a file in the pod, which the executor moves to and from the
            # artifact repository: its URI, for the step, is that path.
            return f"{{{{{direction}.artifacts.{name}.path}}}}"
    raise CompileError(
        f"{where}: placeholder {placeholder} is not supported by the Argo backend "
        "(supported: input parameters, artifact paths and URIs, output parameter files, {{$}}, "
        "the executor output file, pipeline job name/uuid/create time)"
    )


def _executor_input(component: dict[str, Any]) -> dict[str, Any]:
    """KFP's executor input as far as it is known before the pod runs: where outputs go.

    Parameter values are passed on the command line, not here: Argo substitutes text without
    JSON escaping, so a string value could break the document.
    """
    inputs = component.get("inputDefinitions", {})
    outputs = component.get("outputDefinitions", {})

    def runtime(direction: str, name: str, definition: dict[str, Any]) -> dict[str, Any]:
        return {
            "artifacts": [
                {
                    "name": name,
                    "uri": f"{{{{{direction}.artifacts.{name}.path}}}}",
                    "metadata": {},
                    "type": {"schemaTitle": definition["artifactType"]["schemaTitle"]},
                }
            ]
        }

    return {
        "inputs": {
            "artifacts": {
                n: runtime("inputs", n, d) for n, d in inputs.get("artifacts", {}).items()
            },
        },
        "outputs": {
            "artifacts": {
                n: runtime("outputs", n, d) for n, d in outputs.get("artifacts", {}).items()
            },
            "parameters": {
                n: {"outputFile": f"{{{{outputs.parameters.{n}.path}}}}"}
                for n in outputs.get("parameters", {})
            },
            "outputFile": EXECUTOR_OUTPUT_PATH,
        },
    }


def when(condition: str, component: dict[str, Any], sources: dict[str, str], where: str) -> str:
    """A KFP trigger condition (CEL) as an Argo `when` (govaluate) over what feeds it."""
    types = component.get("inputDefinitions", {}).get("parameters", {})

    def ref(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in sources:
            raise CompileError(f"{where}: condition reads '{key}', which is not an input")
        kind = types.get(key, {}).get("parameterType", "STRING")
        return f"'{sources[key]}'" if kind == "STRING" else sources[key]

    text = ph.CONDITION_PARAMETER.sub(ref, condition)
    text = re.sub(r"\b(?:int|double)\(", "(", text)
    if re.search(r"\b[a-z_]+\(", text.replace("{{", "").replace("}}", "")):
        raise CompileError(f"{where}: condition {condition!r} calls a function Argo lacks")
    return text


def uses_executor_output(container: dict[str, Any]) -> bool:
    """Whether a container reads the executor input or writes the executor output file."""
    return any(
        p in a
        for a in container.get("command", []) + container.get("args", [])
        for p in (ph.EXECUTOR_INPUT, ph.OUTPUT_FILE)
    )
