"""Write every Argo manifest: the template library, a Workflow and a CronWorkflow per pipeline,
and the plain objects they need. Reads the KFP IR the KFP backend wrote under the same root."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import astuple
from pathlib import Path
from typing import Any

from pipelines import catalog, platform
from pipelines.argo import CompileError, cluster
from pipelines.argo.compile import compile_ir
from pipelines.argo.dump import write_yaml


def write_manifests(
    names: Iterable[str],
    platform_file: Path = platform.DEFAULT_PLATFORM,
    root: Path = catalog.MANIFESTS,
) -> list[Path]:
    settings = platform.load(platform_file)
    library: dict[str, dict[str, Any]] = {}
    owner: dict[str, str] = {}
    written = []
    for name in names:
        schedule = catalog.SCHEDULES.get(name)
        bundle = compile_ir(root / "kfp" / f"{name}.yaml", settings, schedule)
        for template, obj in bundle.templates.items():
            if template in library and library[template] != obj:
                raise CompileError(
                    f"component '{template}' of pipeline '{name}' differs from the one of "
                    f"pipeline '{owner[template]}'; the template library holds one per name"
                )
            library[template], owner[template] = obj, name
        argo = root / "argo"
        written.append(
            write_yaml(argo / f"{name}.yaml", [bundle.workflow], f"Workflow '{name}': argo submit")
        )
        if bundle.cron and schedule:
            written.append(
                write_yaml(
                    argo / f"{name}-cron.yaml",
                    [bundle.cron],
                    f"CronWorkflow '{name}': recurring runs ({astuple(schedule)})",
                )
            )
    templates = root / "argo" / "templates"
    stale = set(templates.glob("*.yaml")) - {templates / f"{k}.yaml" for k in library}
    for path in stale:  # a component that no pipeline uses any more
        path.unlink()
    for name in sorted(library):
        written.append(
            write_yaml(
                templates / f"{name}.yaml",
                [library[name]],
                f"Component '{name}' of the template library; install once per namespace",
            )
        )
    for file_name, objects in cluster.objects(settings).items():
        written.append(
            write_yaml(root / "cluster" / file_name, objects, "What the Argo workflows need")
        )
    return written
