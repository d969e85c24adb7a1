"""The pipelines this repo ships, by name, and where their compiled manifests live."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = REPO_ROOT / "manifests"

# name -> "module:function"; each is one DAG written with kfp.dsl.
PIPELINES = {"retrain": "pipelines.retrain:retrain"}


def load(name: str) -> Any:
    if name not in PIPELINES:
        raise KeyError(f"unknown pipeline '{name}'; known: {sorted(PIPELINES)}")
    module, _, attr = PIPELINES[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def kfp_manifest(name: str) -> Path:
    return MANIFESTS / "kfp" / f"{name}.yaml"
