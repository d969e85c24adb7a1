"""KFP interface of the preprocess step (Apache Beam; in-process unless Beam options are given)."""

from typing import Any

from kfp import dsl

from components.common.kfp_step import step

# Image family (components/images.yaml) this step runs in.
FAMILY = "beam"


def component(image: str) -> Any:
    """The KFP container component, running in `image` (a full image reference)."""

    @step(image, "components.preprocess", flags={"records": "output"}, uris=("raw", "records"))
    def preprocess(
        raw: dsl.Input[dsl.Dataset],
        config: str,
        records: dsl.Output[dsl.Dataset],
        beam_options: str = "",
    ):
        """Validate against the schema, dead-letter bad rows, NFKC, drop exact duplicates.

        Args:
            raw: raw snapshot folder written by ingest
            config: pipeline config YAML (section: preprocess)
            records: folder to create: records/*.jsonl, dead_letter/*.jsonl,
                near_duplicates/*.jsonl, stats.json
            beam_options: Beam pipeline options as one string, e.g. "--runner=DataflowRunner
                --project=P --region=R --temp_location=gs://B/tmp" (other unknown flags are Beam
                options too); empty: the in-process runner
        """

    return preprocess
