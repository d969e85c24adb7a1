"""Compile a pipeline to KFP v2 IR YAML with kfp's own compiler (upload it in the KFP UI).

The file starts with a comment saying how its images are named (pinned by digest, or by tag
until `make publish-images` pushed them to the platform's registry); written atomically."""

from __future__ import annotations

import os
from pathlib import Path

from kfp import compiler

from components.common.images import pinning
from pipelines import catalog, platform


def compile_pipeline(
    name: str, out: Path | None = None, platform_file: Path = platform.DEFAULT_PLATFORM
) -> Path:
    out = out or catalog.kfp_manifest(name)
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = platform.load(platform_file)
    pipeline = catalog.load(name, settings)
    tmp = out.with_name(f".{out.stem}.tmp.yaml")
    compiler.Compiler().compile(pipeline_func=pipeline, package_path=str(tmp))
    header = f"# {pinning(settings.image_registry)}\n"
    tmp.write_text(header + tmp.read_text())
    os.replace(tmp, out)
    return out
