"""KFP interface of the record step: the run as an MLflow tracking run."""

from typing import Any

from kfp import dsl

# Image family (components/images.yaml) this step runs in.
FAMILY = "tf"


def component(image: str) -> Any:
    """The KFP container component, running in `image` (a full image reference)."""

    @dsl.container_component
    def record(
        raw: dsl.Input[dsl.Dataset],
        dataset: dsl.Input[dsl.Dataset],
        model: dsl.Input[dsl.Model],
        metrics: dsl.Input[dsl.Metrics],
        config: str,
        registry_root: str,
        tracking_uri: str,
        run_url: str,
        images: str,
        run_record: dsl.Output[dsl.Artifact],
    ):
        """Record the run (config, data window, statistics, code, images, metrics, artifact
        URIs, the KFP/Argo run) in MLflow tracking."""
        return dsl.ContainerSpec(
            image=image,
            command=["python", "-m", "components.record"],
            args=[
                "--raw",
                raw.path,
                "--dataset",
                dataset.path,
                "--model",
                model.path,
                "--metrics",
                metrics.path,
                "--config",
                config,
                "--registry-root",
                registry_root,
                "--tracking-uri",
                tracking_uri,
                "--job-name",
                dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
                "--job-id",
                dsl.PIPELINE_JOB_ID_PLACEHOLDER,
                "--run-url",
                run_url,
                "--images",
                images,
                "--record",
                run_record.path,
                "--executor-input",
                dsl.PIPELINE_TASK_EXECUTOR_INPUT_PLACEHOLDER,
            ],
        )

    return record
