"""KFP interface of the preprocess step (Apache Beam; in-process unless Beam options are given)."""

from typing import Any

from kfp import dsl

# Image family (components/images.yaml) this step runs in.
FAMILY = "beam"


def component(image: str) -> Any:
    """The KFP container component, running in `image` (a full image reference)."""

    @dsl.container_component
    def preprocess(
        raw: dsl.Input[dsl.Dataset],
        config: str,
        records: dsl.Output[dsl.Dataset],
        beam_options: str = "",
    ):
        """Validate against the schema, dead-letter bad rows, NFKC, drop exact duplicates."""
        return dsl.ContainerSpec(
            image=image,
            command=["python", "-m", "components.preprocess"],
            args=[
                "--raw",
                raw.path,
                "--config",
                config,
                "--output",
                records.path,
                "--beam-options",
                beam_options,
            ],
        )

    return preprocess
