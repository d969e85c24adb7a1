"""KFP interface of the train step (TensorFlow Keras; the pipeline asks a GPU for it)."""

from typing import Any

from kfp import dsl

# Image family (components/images.yaml) this step runs in.
FAMILY = "tf-gpu"


def component(image: str) -> Any:
    """The KFP container component, running in `image` (a full image reference)."""

    @dsl.container_component
    def train(dataset: dsl.Input[dsl.Dataset], config: str, model: dsl.Output[dsl.Model]):
        """Train the model the config declares and export a SavedModel that takes raw text."""
        return dsl.ContainerSpec(
            image=image,
            command=["python", "-m", "components.train"],
            args=["--dataset", dataset.path, "--config", config, "--output", model.path],
        )

    return train
