"""KFP interface of the dataset step (Apache Beam writing TFRecord shards)."""

from typing import Any

from kfp import dsl

# Image family (components/images.yaml) this step runs in.
FAMILY = "tf"


def component(image: str) -> Any:
    """The KFP container component, running in `image` (a full image reference)."""

    @dsl.container_component
    def build_dataset(
        records: dsl.Input[dsl.Dataset],
        config: str,
        dataset: dsl.Output[dsl.Dataset],
        report: dsl.Output[dsl.HTML],
        registry_root: str = "",
        beam_options: str = "",
    ):
        """Deterministic group-hash split into train/eval/test TFRecords with per-split schema
        and statistics, an HTML data report, and drift against the serving model's data."""
        return dsl.ContainerSpec(
            image=image,
            command=["python", "-m", "components.dataset"],
            args=[
                "--records",
                records.path,
                "--config",
                config,
                "--output",
                dataset.path,
                "--report",
                report.path,
                "--registry-root",
                registry_root,
                "--beam-options",
                beam_options,
            ],
        )

    return build_dataset
