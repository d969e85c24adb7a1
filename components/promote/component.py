"""KFP interface of the promote step: apply the readout's decision, re-render the manifest."""

from typing import Any

from kfp import dsl

# Image family (components/images.yaml) this step runs in (the deploy step's).
FAMILY = "beam"


def component(image: str) -> Any:
    """The KFP container component, running in `image` (a full image reference)."""

    @dsl.container_component
    def promote(
        readout: dsl.Input[dsl.Artifact],
        config: str,
        registry_root: str,
        manifest: dsl.Output[dsl.Artifact],
        record: dsl.Output[dsl.Artifact],
    ):
        """Move the registry pointers as decided; write the InferenceService it implies."""
        return dsl.ContainerSpec(
            image=image,
            command=["python", "-m", "components.promote"],
            args=[
                "--readout",
                readout.path,
                "--config",
                config,
                "--registry-root",
                registry_root,
                "--manifest",
                manifest.path,
                "--record",
                record.path,
                "--executor-input",
                dsl.PIPELINE_TASK_EXECUTOR_INPUT_PLACEHOLDER,
            ],
        )

    return promote
