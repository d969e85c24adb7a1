"""Read compiled KFP v2 IR: load and validate it as a PipelineSpec, walk DAGs, evaluate conditions.

Backends that consume the IR (the local runner here, the Argo compiler later) share this reader,
so they all agree with what KFP's compiler wrote.
"""

from __future__ import annotations

import ast
import json
import re
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


_PARAM_REF = re.compile(r"inputs\.parameter_values\['([^']+)'\]")
_CEL_CALLS = {"int": int, "double": float, "string": str}


def evaluate_condition(condition: str, parameters: dict[str, Any]) -> bool:
    """Evaluate a KFP trigger condition (a small CEL subset) over resolved parameter values.

    Supports ==, !=, <, <=, >, >=, &&, ||, !, int()/double()/string(), and JSON literals,
    which is what kfp's compiler emits for dsl.If / dsl.Elif / dsl.Else.
    """
    names: dict[str, Any] = {}

    def ref(match: re.Match[str]) -> str:
        key = match.group(1)
        if key not in parameters:
            raise IRError(
                f"condition {condition!r} reads parameter '{key}' which is not an "
                f"input of the task (inputs: {sorted(parameters)})"
            )
        var = f"_p{len(names)}"
        names[var] = parameters[key]
        return var

    return bool(evaluate_expression(_PARAM_REF.sub(ref, condition), names, _CEL_CALLS, condition))


def evaluate_expression(
    text: str,
    names: dict[str, Any],
    calls: dict[str, Any],
    source: str | None = None,
) -> Any:
    """Evaluate a C-style boolean expression (CEL, Argo's govaluate `when`, expr retry rules).

    `names` maps identifiers already substituted into `text` to values; `calls` the functions
    it may call. Supports ==, !=, <, <=, >, >=, &&, ||, !, and/or/not, quoted strings, numbers,
    true/false/null. Anything else raises IRError naming the expression.
    """
    source = source or text
    names = dict(names)

    def literal(match: re.Match[str]) -> str:  # keep '!' or '&&' inside strings untouched
        var = f"_s{len(names)}"
        names[var] = ast.literal_eval(match.group(0))
        return var

    text = re.sub(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"", literal, text)
    text = re.sub(r"\btrue\b", "True", text)
    text = re.sub(r"\bfalse\b", "False", text)
    text = re.sub(r"\bnull\b", "None", text)
    text = text.replace("&&", " and ").replace("||", " or ")
    text = re.sub(r"!(?!=)", " not ", text)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        raise IRError(f"cannot read expression {source!r}: {err}") from err
    return _eval(tree.body, names, calls, source)


def _eval(node: ast.AST, names: dict[str, Any], calls: dict[str, Any], source: str) -> Any:
    import operator

    ops = {
        ast.Eq: operator.eq,
        ast.NotEq: operator.ne,
        ast.Lt: operator.lt,
        ast.LtE: operator.le,
        ast.Gt: operator.gt,
        ast.GtE: operator.ge,
    }
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    if isinstance(node, ast.BoolOp):
        values = [_eval(v, names, calls, source) for v in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _eval(node.operand, names, calls, source)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval(node.operand, names, calls, source)
    if isinstance(node, ast.Compare) and all(type(o) in ops for o in node.ops):
        left = _eval(node.left, names, calls, source)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            right = _eval(comparator, names, calls, source)
            if not ops[type(op)](left, right):
                return False
            left = right
        return True
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in calls
        and len(node.args) == 1
    ):
        return calls[node.func.id](_eval(node.args[0], names, calls, source))
    raise IRError(
        f"expression {source!r} uses something the local runner does not support: "
        f"{ast.dump(node)[:80]}"
    )
