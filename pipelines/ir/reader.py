"""Read compiled KFP v2 IR: load and validate it as a PipelineSpec, walk DAGs, type parameters.

Backends that consume the IR (the Argo compiler, the local IR runner) share this reader, so they
all agree with what KFP's compiler wrote.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


class IRError(Exception):
    """The IR uses something this reader does not support, or is malformed."""


def load(path: Path) -> dict[str, Any]:
    """Parse an IR YAML file and check it against KFP's PipelineSpec proto."""
    from google.protobuf import json_format
    from kfp.pipeline_spec import pipeline_spec_pb2

    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    if not docs:
        raise IRError(f"{path}: empty file; expected a compiled KFP pipeline")
    spec = docs[0]
    try:
        json_format.ParseDict(spec, pipeline_spec_pb2.PipelineSpec())
    except json_format.ParseError as err:
        raise IRError(f"{path}: not a valid KFP PipelineSpec: {err}") from err
    if len(docs) > 1:
        spec = {**spec, "platforms": docs[1].get("platforms", {})}
    return spec


@dataclass(frozen=True)
class Task:
    name: str
    spec: dict[str, Any]

    @property
    def component(self) -> str:
        return self.spec["componentRef"]["name"]

    @property
    def display_name(self) -> str:
        return self.spec.get("taskInfo", {}).get("name", self.name)

    @property
    def depends_on(self) -> list[str]:
        return list(self.spec.get("dependentTasks", []))

    @property
    def condition(self) -> str | None:
        return self.spec.get("triggerPolicy", {}).get("condition")


def topological(tasks: dict[str, dict[str, Any]]) -> list[Task]:
    """Tasks of one DAG in an order that respects dependencies; name order breaks ties."""
    deps: dict[str, set[str]] = {}
    for name, spec in tasks.items():
        upstream = set(spec.get("dependentTasks", []))
        for section in ("parameters", "artifacts"):
            for value in spec.get("inputs", {}).get(section, {}).values():
                producer = (
                    value.get("taskOutputParameter") or value.get("taskOutputArtifact") or {}
                ).get("producerTask")
                if producer:
                    upstream.add(producer)
        unknown = upstream - set(tasks)
        if unknown:
            raise IRError(f"task '{name}' depends on unknown task(s) {sorted(unknown)}")
        deps[name] = upstream
    order: list[Task] = []
    done: set[str] = set()
    while len(order) < len(tasks):
        ready = sorted(n for n in tasks if n not in done and deps[n] <= done)
        if not ready:
            raise IRError(f"dependency cycle among {sorted(set(tasks) - done)}")
        for name in ready:
            order.append(Task(name, tasks[name]))
            done.add(name)
    return order


def executor_tasks(spec: dict[str, Any], dag: dict[str, Any] | None = None) -> Iterable[str]:
    """Names of all container tasks, nested DAGs included (for progress counting)."""
    dag = dag if dag is not None else spec["root"]["dag"]
    for name, task in dag.get("tasks", {}).items():
        comp = spec["components"][task["componentRef"]["name"]]
        if "dag" in comp:
            yield from executor_tasks(spec, comp["dag"])
        else:
            yield name


_TYPES = {
    "STRING": str,
    "NUMBER_INTEGER": int,
    "NUMBER_DOUBLE": float,
    "BOOLEAN": bool,
    "LIST": list,
    "STRUCT": dict,
}


def coerce_parameter(name: str, value: Any, kind: str) -> Any:
    """A parameter value (from the CLI, a default or an output file) as its IR type."""
    if kind not in _TYPES:
        raise IRError(f"parameter '{name}' has unsupported type {kind}")
    if kind == "STRING":
        return value if isinstance(value, str) else json.dumps(value)
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise IRError(f"parameter '{name}': {value!r} is not a valid {kind}") from None
    if kind == "NUMBER_INTEGER" and isinstance(value, float) and value.is_integer():
        value = int(value)
    if kind == "NUMBER_DOUBLE" and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    expected = _TYPES[kind]
    if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
        raise IRError(f"parameter '{name}': expected {kind}, got {value!r}")
    return value


def render_parameter(value: Any) -> str:
    """How KFP puts a parameter on a command line: strings raw, everything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value)
