"""KFP interface of the preprocess step (Apache Beam; DirectRunner unless Beam flags are added)."""

from kfp import dsl

from components.common.images import image


@dsl.container_component
def preprocess(raw: dsl.Input[dsl.Dataset], config: str, records: dsl.Output[dsl.Dataset]):
    """Validate against the config's schema, dead-letter bad rows, NFKC, drop exact duplicates."""
    return dsl.ContainerSpec(
        image=image("beam"),
        command=["python", "-m", "components.preprocess"],
        args=["--raw", raw.path, "--config", config, "--output", records.path],
    )
