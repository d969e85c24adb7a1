"""KFP interface of the deploy step: registry publish, champion move, KServe manifest."""

from typing import Any

from kfp import dsl

# Image family (components/images.yaml) this step runs in.
FAMILY = "beam"


def component(image: str) -> Any:
    """The KFP container component, running in `image` (a full image reference)."""

    @dsl.container_component
    def deploy(
        model: dsl.Input[dsl.Model],
        metrics: dsl.Input[dsl.Metrics],
        config: str,
        registry_root: str,
        canary_percent: int,
        manifest: dsl.Output[dsl.Artifact],
        record: dsl.Output[dsl.Artifact],
    ):
        """Publish the blessed model as an immutable version; canary it in an InferenceService."""
        return dsl.ContainerSpec(
            image=image,
            command=["python", "-m", "components.deploy"],
            args=[
                "--model",
                model.path,
                "--metrics",
                metrics.path,
                "--config",
                config,
                "--registry-root",
                registry_root,
                "--canary-percent",
                canary_percent,
                "--manifest",
                manifest.path,
                "--record",
                record.path,
                "--executor-input",
                dsl.PIPELINE_TASK_EXECUTOR_INPUT_PLACEHOLDER,
            ],
        )

    return deploy
