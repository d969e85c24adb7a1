"""The pipelines this repo ships, by name: their builders, their schedules, where their compiled
manifests live, and what every object the compile writes carries."""

from __future__ import annotations

import difflib
import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines.platform import Platform

REPO_ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = REPO_ROOT / "manifests"

# name -> "module:builder"; each builder takes the platform settings and returns one kfp.dsl DAG.
PIPELINES = {
    "retrain": "pipelines.retrain:build",
    "ab-readout": "pipelines.ab_readout:build",
    "monitor": "pipelines.monitor:build",
}


@dataclass(frozen=True)
class Schedule:
    """When a recurring run starts: a 5-field cron in an explicit time zone."""

    cron: str
    timezone: str = "Etc/UTC"

    @property
    def kfp_cron(self) -> str:
        return f"0 {self.cron}"  # KFP's cron has a seconds field


# Recurring runs, set at compile time. The Argo CronWorkflow and the KFP recurring run
# (scripts/kfp_submit.py) both read this.
SCHEDULES = {
    "retrain": Schedule("0 3 * * *", "Etc/UTC"),
    "ab-readout": Schedule("30 * * * *", "Etc/UTC"),
    # Hourly: each run measures the hour of serving logs before its scheduled time.
    "monitor": Schedule("0 * * * *", "Etc/UTC"),
}

# The pipeline parameter that says why a run started, recorded with it and shown by `runs`:
# manual by default, schedule for the CronWorkflow and the KFP recurring run, backfill, or the
# trigger's reason ("drift: ...", "decay: ...", "new-data: ...").
REASON = "reason"
REASON_SCHEDULE = "schedule"
REASON_BACKFILL = "backfill"

# Parameter defaults that depend on where a pipeline runs, over the DAG's own (KFP's): the Argo
# compile writes them into the Workflow and the CronWorkflow, the local runner uses them unless
# a -p gives the parameter.
ENGINE_DEFAULTS: dict[str, dict[str, dict[str, str]]] = {
    "monitor": {"argo": {"trigger": "argo-events"}, "local": {"trigger": "local"}},
}


def engine_defaults(pipeline: str, engine: str) -> dict[str, str]:
    return dict(ENGINE_DEFAULTS.get(pipeline, {}).get(engine, {}))


# The label on every object the compile writes, and the images' non-root user
# (images/base.Dockerfile) that every pod and local container runs as.
PART_OF = {"app.kubernetes.io/part-of": "retrain-pipelines"}
IMAGE_UID = 10001


def restricted_container() -> dict[str, object]:
    """The container securityContext of every pod the compile writes (PodSecurity `restricted`,
    with a read-only root filesystem: each pod mounts an emptyDir at /tmp)."""
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
    }


def load(name: str, platform: Platform) -> Any:
    if name not in PIPELINES:
        raise KeyError(f"unknown pipeline '{name}'; known: {sorted(PIPELINES)}")
    module, _, attr = PIPELINES[name].partition(":")
    return getattr(importlib.import_module(module), attr)(platform)


def parse_params(items: list[str]) -> dict[str, str]:
    """`-p name=value` flags as a dict; ValueError names the malformed flag."""
    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise ValueError(f"-p {item!r}: expected name=value")
        out[name] = value
    return out


# KFP parameter types as a person writes them on a command line.
TYPE_NAMES = {
    "STRING": "str",
    "NUMBER_INTEGER": "int",
    "NUMBER_DOUBLE": "float",
    "BOOLEAN": "bool (true or false)",
    "LIST": "JSON list",
    "STRUCT": "JSON object",
}


def typed_params(items: list[str], declared: dict[str, str], where: str) -> dict[str, Any]:
    """`-p name=value` flags checked against a compiled pipeline's parameters (name -> KFP
    type) and converted to those types; ValueError names the flag, what was expected and,
    for a misspelt name, the closest declared one."""
    from pipelines import ir

    given = parse_params(items)
    for name in sorted(set(given) - set(declared)):
        close = difflib.get_close_matches(name, declared, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        raise ValueError(
            f"-p {name}=...: unknown parameter{hint}; {where} takes {sorted(declared)}"
        )
    out: dict[str, Any] = {}
    for name, value in given.items():
        kind = declared[name]
        try:
            out[name] = ir.coerce_parameter(name, value, kind)
        except ir.IRError:
            raise ValueError(
                f"-p {name}={value}: expected {TYPE_NAMES.get(kind, kind)} ({kind}), "
                f"as {where} declares it"
            ) from None
    return out


def kfp_parameters(path: Path) -> dict[str, str]:
    """A compiled KFP IR's pipeline parameters: name -> KFP type."""
    from pipelines import ir

    declared = ir.load(path)["root"].get("inputDefinitions", {}).get("parameters", {})
    return {name: d["parameterType"] for name, d in declared.items()}


def argo_parameters(path: Path) -> dict[str, str]:
    """A compiled Argo Workflow's parameters: name -> KFP type, from the annotation the
    compiler writes (pipelines/argo/compile.py PARAMETER_TYPES); STRING where it has none."""
    import yaml

    from pipelines.argo.compile import PARAMETER_TYPES

    (workflow,) = [d for d in yaml.safe_load_all(path.read_text()) if d]
    types = json.loads(workflow["metadata"].get("annotations", {}).get(PARAMETER_TYPES, "{}"))
    names = [p["name"] for p in workflow["spec"].get("arguments", {}).get("parameters", [])]
    return {name: types.get(name, "STRING") for name in names}


def kfp_manifest(name: str) -> Path:
    return MANIFESTS / "kfp" / f"{name}.yaml"


def argo_manifest(name: str, cron: bool = False) -> Path:
    return MANIFESTS / "argo" / (f"{name}-cron.yaml" if cron else f"{name}.yaml")


ARGO_TEMPLATES = MANIFESTS / "argo" / "templates"  # one WorkflowTemplate per component file
CLUSTER_MANIFESTS = MANIFESTS / "cluster"
