"""KFP interface of the ingest step: a container component running `python -m components.ingest`."""

from typing import Any

from kfp import dsl

from components.common.kfp_step import step

# Image family (components/images.yaml) this step runs in.
FAMILY = "beam"


def component(image: str) -> Any:
    """The KFP container component, running in `image` (a full image reference)."""

    @step(image, "components.ingest", flags={"raw": "output"})
    def ingest(
        source: str,
        raw: dsl.Output[dsl.Dataset],
        required_columns: str = "",
        window_end: str = "",
        window_days: int = 0,
        config: str = "",
    ):
        """Snapshot raw files (CSV, JSONL, Parquet; local, gs:// or pkg://) with a manifest;
        with a window, the source's {date} partitions for the days before `window_end`.

        Args:
            source: file, folder or glob; local path, gs://bucket/..., pkg://<installed-package>/
                <path> for bundled sample data, or an event stream
                pubsub://projects/<project>/subscriptions/<name> (config section ingest.stream)
            raw: folder to create: data/ with the copied files, manifest.json
            required_columns: comma-separated columns a CSV/Parquet header must have (default:
                ingest.required_columns of the config)
            window_end: the run's scheduled time (RFC 3339); the window is the window_days whole
                UTC days before its day (default: no window)
            window_days: days of date partitions to read: the source's {date} field is filled
                with each (e.g. gs://bucket/events/dt={date}/*.jsonl); 0 reads the source as given
            config: pipeline config YAML; its optional `ingest` section says how to read the
                files (format; CSV columns when there is no header row, missing-value markers,
                comments)
        """

    return ingest
