"""KFP interface of the evaluate step: metrics the KFP UI draws, an HTML report, the blessing."""

from typing import Any

from kfp import dsl

# Image family (components/images.yaml) this step runs in.
FAMILY = "tf"


def component(image: str) -> Any:
    """The KFP container component, running in `image` (a full image reference)."""

    @dsl.container_component
    def evaluate(
        model: dsl.Input[dsl.Model],
        dataset: dsl.Input[dsl.Dataset],
        config: str,
        registry_root: str,
        metrics: dsl.Output[dsl.Metrics],
        classification_metrics: dsl.Output[dsl.ClassificationMetrics],
        report: dsl.Output[dsl.HTML],
        blessed: dsl.OutputPath(bool),  # type: ignore[valid-type]
    ):
        """Score on the test split, compare with the serving champion, decide the blessing."""
        return dsl.ContainerSpec(
            image=image,
            command=["python", "-m", "components.evaluate"],
            args=[
                "--model",
                model.path,
                "--dataset",
                dataset.path,
                "--config",
                config,
                "--registry-root",
                registry_root,
                "--metrics",
                metrics.path,
                "--classification-metrics",
                classification_metrics.path,
                "--report",
                report.path,
                "--blessed",
                blessed,
                "--executor-input",
                dsl.PIPELINE_TASK_EXECUTOR_INPUT_PLACEHOLDER,
            ],
        )

    return evaluate
