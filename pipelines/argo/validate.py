"""Check Argo objects against Argo's schema, two ways, with unknown fields rejected.

`strict`: every object the compiler emits goes through hera's models (generated from Argo's
schema) and must come back unchanged. `errors`: against Argo's published JSON schema
(api/jsonschema/schema.json of argoproj/argo-workflows), which is not vendored here (see
manifests/README.md for where it is looked for); the tests use it when it is present.

The same schema holds Argo Events' EventSource and Sensor, generated without Argo Events' own
JSON (un)marshalling, so it differs from what Argo Events' controller reads in a few places
(pkg/apis/events/v1alpha1 of argoproj/argo-events, and its own api/jsonschema/schema.json,
agree on these): no apiVersion and kind; an inlined struct (a webhook's WebhookContext) as a
nested field; K8SResource (a trigger's resource), Amount and Int64OrString as objects of
`value`/`int64Val` instead of the raw object, number, or int-or-string. `events_fixes` puts
these right in the schema, and `strict` reshapes an object the same way before hera's models
(generated from that schema) read it; a trigger's Workflow is checked as a Workflow.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

from pipelines.argo import CompileError

EVENTS = "github.com.argoproj.argo_events.pkg.apis.events.v1alpha1"
# Argo kind -> its definition in Argo's JSON schema (hera's models carry the kind's name).
DEFINITION = {
    "Workflow": "io.argoproj.workflow.v1alpha1.Workflow",
    "WorkflowTemplate": "io.argoproj.workflow.v1alpha1.WorkflowTemplate",
    "CronWorkflow": "io.argoproj.workflow.v1alpha1.CronWorkflow",
    "ClusterWorkflowTemplate": "io.argoproj.workflow.v1alpha1.ClusterWorkflowTemplate",
    "EventSource": f"{EVENTS}.EventSource",
    "Sensor": f"{EVENTS}.Sensor",
}
EVENTS_KINDS = ("EventSource", "Sensor")
# Go structs embedded with `json:",inline"` in Argo Events' types: definition -> the property
# the published schema nests them under instead.
INLINE = {
    f"{EVENTS}.WebhookEventSource": "webhookContext",
    f"{EVENTS}.HDFSEventSource": "watchPathConfig",
    f"{EVENTS}.ResourceEventSource": "groupVersionResource",
}
# Types with their own MarshalJSON (resource.go, amount.go, int64str.go): what they are in JSON.
RAW: dict[str, dict[str, Any]] = {
    f"{EVENTS}.K8SResource": {"type": "object"},  # any object, checked as its own kind
    f"{EVENTS}.Amount": {"type": "number"},
    f"{EVENTS}.Int64OrString": {"type": ["integer", "string"]},
}
# Where a Sensor's trigger holds a Kubernetes object (the Workflow it submits).
TRIGGER_RESOURCES = ("argoWorkflow", "k8s")


def events_fixes(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with Argo Events' definitions as Argo Events reads them (see the module doc)."""
    out = copy.deepcopy(schema)
    definitions = out["definitions"]
    for kind in EVENTS_KINDS:
        properties = definitions[DEFINITION[kind]]["properties"]
        properties["apiVersion"] = {"type": "string", "const": "argoproj.io/v1alpha1"}
        properties["kind"] = {"type": "string", "const": kind}
    for name, field in INLINE.items():
        properties = definitions[name]["properties"]
        inlined = properties.pop(field)["$ref"].rsplit("/", 1)[1]
        properties.update(definitions[inlined]["properties"])
    for name, raw in RAW.items():
        definitions[name] = {**raw, "description": definitions[name].get("description", "")}
    return out


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

    schema = strict_schema(events_fixes(json.loads(Path(path).read_text())))
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
    meta = obj.get("metadata", {})
    name = f"{kind} {meta.get('name') or meta.get('generateName')}"
    for error in cls(root).iter_errors(obj):
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        yield f"{name}: {where}: {error.message}"
    for where, resource in _trigger_resources(obj):
        for problem in errors(resource, schema_path):
            yield f"{name}: {where}: {problem}"


def _trigger_resources(obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """A Sensor's trigger objects, with where they are."""
    if obj.get("kind") != "Sensor":
        return
    for i, trigger in enumerate(obj.get("spec", {}).get("triggers", [])):
        for key in TRIGGER_RESOURCES:
            resource = trigger.get("template", {}).get(key, {}).get("source", {}).get("resource")
            if isinstance(resource, dict):
                yield f"spec/triggers/{i}/template/{key}/source/resource", resource


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
    given = obj
    if kind in EVENTS_KINDS:
        from hera.events import models as events_models

        model: type[BaseModel] = getattr(events_models, kind)
        given = _events_shape(obj)
    else:
        model = getattr(models, kind)
    try:
        parsed = model.model_validate(given)
    except ValidationError as err:
        raise CompileError(f"{kind} does not fit Argo's schema: {err}") from err
    dumped = parsed.model_dump(by_alias=True, exclude_none=True, exclude_unset=True, mode="json")
    problems = list(_differences(given, dumped, kind))
    if problems:
        raise CompileError(f"{kind} has fields Argo's schema does not know: {problems[:5]}")
    return obj


def _events_shape(obj: dict[str, Any]) -> dict[str, Any]:
    """An EventSource or Sensor as Argo's published schema (and so hera) models it, for the
    fields this compiler writes: apiVersion and kind checked and dropped, a webhook's context
    nested, a trigger's resource checked by `strict` as its own kind and left out, a retry's
    Int64OrString/Amount checked for their JSON type and left out."""
    from hera.events import models as events_models

    kind = obj["kind"]
    if obj.get("apiVersion") != "argoproj.io/v1alpha1":
        raise CompileError(
            f"{kind}: apiVersion {obj.get('apiVersion')!r} is not argoproj.io/v1alpha1"
        )
    shaped = {k: copy.deepcopy(v) for k, v in obj.items() if k not in ("apiVersion", "kind")}
    spec = shaped.get("spec", {})
    context = {f.alias or n for n, f in events_models.WebhookContext.model_fields.items()}
    for webhook in spec.get("webhook", {}).values():
        if isinstance(webhook, dict):
            nested = {k: webhook.pop(k) for k in list(webhook) if k in context}
            webhook["webhookContext"] = nested
    for i, trigger in enumerate(spec.get("triggers", [])):
        where = f"{kind}.spec.triggers[{i}]"
        for key in TRIGGER_RESOURCES:
            source = trigger.get("template", {}).get(key, {}).get("source", {})
            if "resource" in source:
                resource = source["resource"]
                if not isinstance(resource, dict) or resource.get("kind") not in DEFINITION:
                    raise CompileError(
                        f"{where}.template.{key}.source.resource: not an Argo object "
                        f"(kind {resource.get('kind') if isinstance(resource, dict) else None!r})"
                    )
                try:
                    strict(resource)
                except CompileError as err:
                    raise CompileError(f"{where}.template.{key}.source.resource: {err}") from err
                source["resource"] = {}
        backoff = trigger.get("retryStrategy", {})
        checks: dict[str, Callable[[Any], bool]] = {
            "duration": lambda v: isinstance(v, int | str) and not isinstance(v, bool),
            "factor": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
            "jitter": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        }
        for field, ok in checks.items():
            if field in backoff:
                if not ok(backoff[field]):
                    raise CompileError(
                        f"{where}.retryStrategy.{field}: {backoff[field]!r} has the wrong type"
                    )
                backoff[field] = {}
    return shaped


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
