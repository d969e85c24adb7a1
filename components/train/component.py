"""KFP interface of the train step (TensorFlow Keras; the pipeline asks a GPU for it)."""

from kfp import dsl

from components.common.images import image


@dsl.container_component
def train(dataset: dsl.Input[dsl.Dataset], config: str, model: dsl.Output[dsl.Model]):
    """Train the model the config declares and export a SavedModel that takes raw text."""
    return dsl.ContainerSpec(
        image=image("tf-gpu"),
        command=["python", "-m", "components.train"],
        args=["--dataset", dataset.path, "--config", config, "--output", model.path],
    )
