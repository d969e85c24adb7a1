"""KFP interface of the train step (TensorFlow Keras; the pipeline asks a GPU for it)."""

from typing import Any

from kfp import dsl

# Image family (components/images.yaml) this step runs in.
FAMILY = "tf-gpu"


def component(image: str, tfjob: dict[str, Any] | None = None) -> Any:
    """The KFP container component, running in `image` (a full image reference). `tfjob`: the
    platform settings a TFJob of several workers runs with (root, namespace, service account,
    GPU resource, node selector {label: value}, tolerations as taints `key[=value]:effect`)."""
    tfjob = tfjob or {}
    launcher_flags = [
        "--tfjob-image",
        image,
        "--tfjob-root",
        tfjob.get("root", ""),
        "--tfjob-namespace",
        tfjob.get("namespace", "ml-pipelines"),
        "--tfjob-service-account",
        tfjob.get("service_account", "pipeline-runner"),
        "--tfjob-gpu-resource",
        tfjob.get("gpu_resource", "nvidia.com/gpu"),
        "--tfjob-node-selector",
        ",".join(f"{k}={v}" for k, v in sorted(tfjob.get("node_selector", {}).items())),
        "--tfjob-tolerations",
        ",".join(tfjob.get("tolerations", [])),
    ]

    @dsl.container_component
    def train(
        dataset: dsl.Input[dsl.Dataset], config: str, workers: int, model: dsl.Output[dsl.Model]
    ):
        """Train the model the config declares and export a SavedModel that takes raw
        records; with workers > 1, as a Kubeflow Training Operator TFJob."""
        return dsl.ContainerSpec(
            image=image,
            command=["python", "-m", "components.train"],
            args=[
                "--dataset",
                dataset.path,
                "--config",
                config,
                "--output",
                model.path,
                "--workers",
                workers,
                *launcher_flags,
            ],
        )

    return train
