"""Validate Argo objects against Argo's published JSON schema (api/jsonschema/schema.json of
argoproj/argo-workflows), with unknown fields rejected.

The schema file is not vendored here (see manifests/README.md for where it is looked for); the
tests use it when it is present and the hera models (generated from the same schema) always.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

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
