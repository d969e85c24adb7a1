"""Write every Argo manifest: the template library, a Workflow and a CronWorkflow per pipeline,
the Argo Events objects that start a retrain (EventSource and Sensor, from the retrain
Workflow), the plain objects they need, and the Kustomize base of what `kubectl apply` installs,
which an overlay (overlays/example/) changes: namespace, image registry, service account.
Reads the KFP IR the KFP backend wrote under the same root."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import astuple
from pathlib import Path
from typing import Any

from components.common.images import pinning
from pipelines import catalog, platform
from pipelines.argo import CompileError, cluster, events
from pipelines.argo.compile import compile_ir
from pipelines.argo.dump import write_yaml

KUSTOMIZE = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}
TRIGGERED = "retrain"  # the pipeline the Sensor submits
TRIGGERS_FILE = f"{events.NAME}.yaml"


def write_manifests(
    names: Iterable[str],
    platform_file: Path = platform.DEFAULT_PLATFORM,
    root: Path = catalog.MANIFESTS,
) -> list[Path]:
    settings = platform.load(platform_file)
    images = pinning(settings.image_registry)
    library: dict[str, dict[str, Any]] = {}
    owner: dict[str, str] = {}
    written = []
    workflows: dict[str, dict[str, Any]] = {}
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
        workflows[name] = bundle.workflow
        written.append(
            write_yaml(
                argo / f"{name}.yaml",
                [bundle.workflow],
                f"Workflow '{name}': argo submit -n NAMESPACE [--serviceaccount SA]\n# {images}",
            )
        )
        if bundle.cron and schedule:
            written.append(
                write_yaml(
                    argo / f"{name}-cron.yaml",
                    [bundle.cron],
                    f"CronWorkflow '{name}': recurring runs ({astuple(schedule)}); "
                    f"kubectl apply -n NAMESPACE, or -k an overlay\n# {images}",
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
                f"Component '{name}' of the template library; install once per namespace\n"
                f"# {images}",
            )
        )
    triggers = root / "argo" / TRIGGERS_FILE
    if TRIGGERED in workflows:
        written.append(
            write_yaml(
                triggers,
                events.objects(workflows[TRIGGERED], settings),
                f"Argo Events: the EventSource and Sensor that submit '{TRIGGERED}' on a drift or "
                "decay verdict (webhook) and on a new data partition (Pub/Sub); kubectl apply -n "
                "NAMESPACE, or -k an overlay. Needs the Argo Events controller and an EventBus "
                f"(manifests/README.md)\n# {images}",
            )
        )
    elif triggers.exists():  # a compile without the retrain pipeline leaves no stale Sensor
        triggers.unlink()
    for file_name, objects in cluster.objects(settings).items():
        written.append(
            write_yaml(root / "cluster" / file_name, objects, "What the Argo workflows need")
        )
    scheduled = [n for n in names if n in catalog.SCHEDULES]
    written += _kustomize(
        root,
        list(cluster.objects(settings)),
        sorted(library),
        scheduled,
        [TRIGGERS_FILE] if TRIGGERED in workflows else [],
    )
    return written


def _kustomize(
    root: Path,
    cluster_files: list[str],
    templates: list[str],
    scheduled: list[str],
    triggers: list[str],
) -> list[Path]:
    """The Kustomize base: the objects `kubectl apply` installs (not the Workflows, which
    `argo submit` creates under a generated name), and where Argo's templates name images."""
    resources = [f"cluster/{f}" for f in cluster_files]
    resources += [f"argo/templates/{t}.yaml" for t in templates]
    resources += [f"argo/{n}-cron.yaml" for n in sorted(scheduled)]
    resources += [f"argo/{f}" for f in triggers]
    base = {**KUSTOMIZE, "resources": resources, "configurations": ["kustomizeconfig.yaml"]}
    # Kustomize's images transformer knows Pods' `containers`; Argo's templates have one
    # `container` each.
    config = {
        "images": [
            {"path": "spec/templates[]/container/image", "kind": kind}
            for kind in ("WorkflowTemplate", "Workflow")
        ]
        + [{"path": "spec/workflowSpec/templates[]/container/image", "kind": "CronWorkflow"}]
    }
    return [
        write_yaml(
            root / "kustomization.yaml",
            [base],
            "What `kubectl apply -k` installs: the namespace objects, the template library, "
            "the CronWorkflows and the retrain triggers.\n# Change the namespace, registry or "
            "service account in an overlay (overlays/example/ at the repository's top), not here",
        ),
        write_yaml(
            root / "kustomizeconfig.yaml",
            [config],
            "Kustomize configuration: the image fields of Argo's objects",
        ),
    ]
