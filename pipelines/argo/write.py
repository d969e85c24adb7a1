"""Write every Argo manifest: the template library, a Workflow and a CronWorkflow per pipeline,
and the plain objects they need. Reads the KFP IR the KFP backend wrote under the same root."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from components.common.config import load_section
from components.deploy.config import DeployConfig
from pipelines import catalog, platform, serving
from pipelines.argo import cluster
from pipelines.argo.compile import CompileError, Schedule, compile_ir, dump_yaml

DEFAULT_CONFIG = "config/reviews.yaml"


def _write(path: Path, objects: list[dict[str, Any]], header: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(dump_yaml(objects, header))
    os.replace(tmp, path)
    return path


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
        bundle = compile_ir(
            root / "kfp" / f"{name}.yaml", settings, Schedule(*schedule) if schedule else None
        )
        for template, obj in bundle.templates.items():
            if template in library and library[template] != obj:
                raise CompileError(
                    f"component '{template}' of pipeline '{name}' differs from the one of "
                    f"pipeline '{owner[template]}'; the template library holds one per name"
                )
            library[template], owner[template] = obj, name
        argo = root / "argo"
        written.append(
            _write(argo / f"{name}.yaml", [bundle.workflow], f"Workflow '{name}': argo submit")
        )
        if bundle.cron:
            written.append(
                _write(
                    argo / f"{name}-cron.yaml",
                    [bundle.cron],
                    f"CronWorkflow '{name}': recurring runs ({schedule})",
                )
            )
    templates = root / "argo" / "templates"
    stale = set(templates.glob("*.yaml")) - {templates / f"{k}.yaml" for k in library}
    for path in stale:  # a component that no pipeline uses any more
        path.unlink()
    for name in sorted(library):
        written.append(
            _write(
                templates / f"{name}.yaml",
                [library[name]],
                f"Component '{name}' of the template library; install once per namespace",
            )
        )
    for file_name, objects in cluster.objects(settings).items():
        written.append(
            _write(root / "cluster" / file_name, objects, "What the Argo workflows need")
        )
    # The A/B model server of the default config's model (engine-independent; kubectl apply).
    deploy_cfg = load_section(str(catalog.REPO_ROOT / DEFAULT_CONFIG), "deploy", DeployConfig)
    written.append(
        _write(
            root / "serving" / "ab-router.yaml",
            serving.objects(settings, deploy_cfg),
            f"The A/B model server of {DEFAULT_CONFIG}: kubectl apply -f manifests/serving/",
        )
    )
    return written
