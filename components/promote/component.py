"""KFP interface of the promote step: apply the readout's decision, re-render the manifest."""

from typing import Any

from kfp import dsl

from components.common.kfp_step import step

# Image family (components/images.yaml) this step runs in (the deploy step's).
FAMILY = "beam"


def component(image: str) -> Any:
    """The KFP container component, running in `image` (a full image reference)."""

    @step(
        image,
        "components.promote",
        executor_input=True,
        cli_defaults={"readout": None, "record": None},
    )
    def promote(
        readout: dsl.Input[dsl.Artifact],
        config: str,
        registry_root: str,
        manifest: dsl.Output[dsl.Artifact],
        record: dsl.Output[dsl.Artifact],
    ):
        """Move the registry pointers as decided; write the InferenceService it implies.

        Args:
            readout: folder the readout wrote (its decision is applied)
            config: pipeline config YAML (sections: model, deploy)
            registry_root: registry root: a local folder or gs://bucket/prefix
            manifest: InferenceService YAML to write
            record: JSON file recording the moves
        """

    return promote
