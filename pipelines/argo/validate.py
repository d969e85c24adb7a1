"""Check Argo objects against Argo's schema, two ways, with unknown fields rejected.

`strict`: every object the compiler emits goes through hera's models (generated from Argo's
schema) and must come back unchanged. `errors`: against Argo's published JSON schema
(api/jsonschema/schema.json of argoproj/argo-workflows), which is not vendored here (see
manifests/README.md for where it is looked for); the tests use it when it is present.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from pipelines.argo import CompileError

# Argo kind -> its definition in Argo's JSON schema (hera's models carry the kind's name).
DEFINITION = {
    "Workflow": "io.argoproj.workflow.v1alpha1.Workflow",
    "WorkflowTemplate": "io.argoproj.workflow.v1alpha1.WorkflowTemplate",
    "CronWorkflow": "io.argoproj.workflow.v1alpha1.CronWorkflow",
    "ClusterWorkflowTemplate": "io.argoproj.workflow.v1alpha1.ClusterWorkflowTemplate",
}


def strict_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with `additionalProperties: false` on every object definition with properties."""
    out = copy.deepcopy(schema)
    for definition in out["definitions"].values():
        if "properties" in definition and "additionalProperties" not in definition:
            definition["additionalProperties"] = False
    return out


@cache
def _validator(path: str) -> Any:
    import jsonschema

    schema = strict_schema(json.loads(Path(path).read_text()))
    cls = jsonschema.validators.validator_for(schema)
    return schema, cls


def errors(obj: dict[str, Any], schema_path: Path) -> Iterator[str]:
    """Every schema violation of one Argo object, as 'path: message'."""
    schema, cls = _validator(str(schema_path))
    kind = obj.get("kind", "")
    if kind not in DEFINITION:
        yield f"kind {kind!r} is not an Argo workflow kind"
        return
    root = {**schema, "$ref": f"#/definitions/{DEFINITION[kind]}"}
    root.pop("oneOf", None)
    for error in cls(root).iter_errors(obj):
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        meta = obj.get("metadata", {})
        yield f"{kind} {meta.get('name') or meta.get('generateName')}: {where}: {error.message}"


def strict(obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` parsed by hera's model for its kind and dumped again; any difference is an error.

    hera's models are generated from Argo's schema, so a misspelt or unknown field (which the
    models would drop) or a wrong type fails here instead of on the cluster.
    """
    from hera.workflows import models
    from pydantic import BaseModel, ValidationError

    kind = obj.get("kind")
    if kind not in DEFINITION:
        raise CompileError(f"not an Argo object: kind {kind!r}")
    model: type[BaseModel] = getattr(models, kind)
    try:
        parsed = model.model_validate(obj)
    except ValidationError as err:
        raise CompileError(f"{kind} does not fit Argo's schema: {err}") from err
    dumped = parsed.model_dump(by_alias=True, exclude_none=True, exclude_unset=True, mode="json")
    problems = list(_differences(obj, dumped, kind))
    if problems:
        raise CompileError(f"{kind} has fields Argo's schema does not know: {problems[:5]}")
    return obj


def _differences(given: Any, parsed: Any, path: str) -> Iterator[str]:
    if isinstance(given, dict) and isinstance(parsed, dict):
        for key in given:
            if key not in parsed:
                yield f"{path}.{key}"
            else:
                yield from _differences(given[key], parsed[key], f"{path}.{key}")
    elif isinstance(given, list) and isinstance(parsed, list):
        if len(given) != len(parsed):
            yield f"{path}: list length"
        for i, (a, b) in enumerate(zip(given, parsed, strict=False)):
            yield from _differences(a, b, f"{path}[{i}]")
    elif given != parsed and not (isinstance(given, int | float) and str(given) == str(parsed)):
        yield f"{path}: {given!r} became {parsed!r}"
