"""KFP interface of the deploy step: registry publish, champion move, KServe manifest."""

from typing import Any

from kfp import dsl

from components.common.kfp_step import step

# Image family (components/images.yaml) this step runs in.
FAMILY = "beam"


def component(image: str) -> Any:
    """The KFP container component, running in `image` (a full image reference)."""

    @step(
        image,
        "components.deploy",
        executor_input=True,
        cli_defaults={"canary_percent": 10, "record": None},
    )
    def deploy(
        model: dsl.Input[dsl.Model],
        metrics: dsl.Input[dsl.Metrics],
        config: str,
        registry_root: str,
        canary_percent: int,
        manifest: dsl.Output[dsl.Artifact],
        record: dsl.Output[dsl.Artifact],
    ):
        """Publish the blessed model as an immutable version; canary it in an InferenceService.

        Args:
            model: model folder written by train
            metrics: metrics JSON written by evaluate (holds the blessing)
            config: pipeline config YAML (sections: model, deploy)
            registry_root: registry root: a local folder or gs://bucket/prefix
            canary_percent: traffic share (0 to 100) for the new version while the previous one
                serves
            manifest: InferenceService YAML to write
            record: JSON file recording the version, its URI and the previous champion
        """

    return deploy
