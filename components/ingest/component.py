"""KFP interface of the ingest step: a container component running `python -m components.ingest`."""

from typing import Any

from kfp import dsl

# Image family (components/images.yaml) this step runs in.
FAMILY = "beam"


def component(image: str) -> Any:
    """The KFP container component, running in `image` (a full image reference)."""

    @dsl.container_component
    def ingest(
        source: str,
        raw: dsl.Output[dsl.Dataset],
        required_columns: str = "",
        window_end: str = "",
        window_days: int = 0,
        config: str = "",
    ):
        """Snapshot raw files (CSV, JSONL, Parquet; local, gs:// or pkg://) with a manifest;
        with a window, the source's {date} partitions for the days before `window_end`."""
        return dsl.ContainerSpec(
            image=image,
            command=["python", "-m", "components.ingest"],
            args=[
                "--source",
                source,
                "--output",
                raw.path,
                "--required-columns",
                required_columns,
                "--window-end",
                window_end,
                "--window-days",
                window_days,
                "--config",
                config,
            ],
        )

    return ingest
