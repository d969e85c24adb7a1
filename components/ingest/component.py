"""KFP interface of the ingest step: a container component running `python -m components.ingest`."""

from kfp import dsl

from components.common.images import image


@dsl.container_component
def ingest(source: str, raw: dsl.Output[dsl.Dataset], required_columns: str = ""):
    """Snapshot raw files (CSV, JSONL, Parquet; local, gs:// or pkg://) with a manifest."""
    return dsl.ContainerSpec(
        image=image("beam"),
        command=["python", "-m", "components.ingest"],
        args=["--source", source, "--output", raw.path, "--required-columns", required_columns],
    )
