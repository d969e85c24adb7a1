"""KFP interface of the evaluate step: metrics the KFP UI draws, an HTML report, the blessing."""

from typing import Any

from kfp import dsl

from components.common.kfp_step import step

# Image family (components/images.yaml) this step runs in.
FAMILY = "tf"


def component(image: str) -> Any:
    """The KFP container component, running in `image` (a full image reference)."""

    @step(image, "components.evaluate", executor_input=True, cli_defaults={"registry_root": ""})
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
        """Score on the test split, compare with the serving champion, decide the blessing.

        Args:
            model: model folder written by train
            dataset: dataset folder (test/ shards)
            config: pipeline config YAML (sections: model, evaluate)
            registry_root: model registry root to find the serving champion; empty: none
            metrics: metrics JSON to write
            classification_metrics: ROC points and confusion matrix JSON to write
            report: HTML report to write
            blessed: file to write 'true' or 'false' into (a KFP output parameter)
        """

    return evaluate
