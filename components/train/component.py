"""KFP interface of the train step (TensorFlow Keras; the pipeline asks a GPU for it)."""

from typing import Any

from kfp import dsl

from components.common.kfp_step import step

# Image family (components/images.yaml) this step runs in on a GPU pool, and where the platform
# has none (the CPU TensorFlow image of dataset and evaluate).
FAMILY = "tf-gpu"
CPU_FAMILY = "tf"


def component(image: str, tfjob: dict[str, Any] | None = None) -> Any:
    """The KFP container component, running in `image` (a full image reference). `tfjob`: the
    platform settings a TFJob of several workers runs with (root, namespace, service account,
    GPUs per worker (0: none), GPU resource, node selector {label: value}, tolerations as taints
    `key[=value]:effect`)."""
    tfjob = tfjob or {}

    @step(
        image,
        "components.train",
        flags={"model": "output"},
        extra={
            "tfjob-image": image,
            "tfjob-root": tfjob.get("root", ""),
            "tfjob-namespace": tfjob.get("namespace", "ml-pipelines"),
            "tfjob-service-account": tfjob.get("service_account", "pipeline-runner"),
            "tfjob-gpus": str(tfjob.get("gpus", 1)),
            "tfjob-gpu-resource": tfjob.get("gpu_resource", "nvidia.com/gpu"),
            "tfjob-node-selector": ",".join(
                f"{k}={v}" for k, v in sorted(tfjob.get("node_selector", {}).items())
            ),
            "tfjob-tolerations": ",".join(tfjob.get("tolerations", [])),
        },
    )
    def train(
        dataset: dsl.Input[dsl.Dataset],
        config: str,
        model: dsl.Output[dsl.Model],
        workers: int = 1,
    ):
        """Train the model the config declares and export a SavedModel that takes raw
        records; with workers > 1, as a Kubeflow Training Operator TFJob.

        Args:
            dataset: dataset folder (train/, eval/ shards)
            config: pipeline config YAML (section: train)
            model: model folder to create: saved_model/, history.json, metrics.json
            workers: 1: train here. N > 1: create a TFJob of N workers running this command,
                wait, and copy the chief's model to the model output
        """

    return train
