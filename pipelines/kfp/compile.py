"""Compile a pipeline to KFP v2 IR YAML with kfp's own compiler (upload it in the KFP UI)."""

from __future__ import annotations

from pathlib import Path

from kfp import compiler

from pipelines import catalog


def compile_pipeline(name: str, out: Path | None = None) -> Path:
    out = out or catalog.kfp_manifest(name)
    out.parent.mkdir(parents=True, exist_ok=True)
    compiler.Compiler().compile(pipeline_func=catalog.load(name), package_path=str(out))
    return out
