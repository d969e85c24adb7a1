"""KFP interface of the dataset step (Apache Beam writing TFRecord shards)."""

from kfp import dsl

from components.common.images import image


@dsl.container_component
def build_dataset(records: dsl.Input[dsl.Dataset], config: str, dataset: dsl.Output[dsl.Dataset]):
    """Deterministic group-hash split into train/eval/test TFRecords with per-split stats."""
    return dsl.ContainerSpec(
        image=image("tf"),
        command=["python", "-m", "components.dataset"],
        args=["--records", records.path, "--config", config, "--output", dataset.path],
    )
