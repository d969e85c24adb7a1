"""Compile a pipeline to KFP v2 IR YAML with kfp's own compiler (upload it in the KFP UI)."""

from __future__ import annotations

from pathlib import Path

from kfp import compiler

from pipelines import catalog, platform


def compile_pipeline(
    name: str, out: Path | None = None, platform_file: Path = platform.DEFAULT_PLATFORM
) -> Path:
    out = out or catalog.kfp_manifest(name)
    out.parent.mkdir(parents=True, exist_ok=True)
    pipeline = catalog.load(name, platform.load(platform_file))
    compiler.Compiler().compile(pipeline_func=pipeline, package_path=str(out))
    return out
