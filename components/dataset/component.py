"""KFP interface of the dataset step (Apache Beam writing TFRecord shards)."""

from typing import Any

from kfp import dsl

from components.common.kfp_step import step

# Image family (components/images.yaml) this step runs in.
FAMILY = "tf"


def component(image: str) -> Any:
    """The KFP container component, running in `image` (a full image reference)."""

    @step(
        image,
        "components.dataset",
        flags={"dataset": "output"},
        cli_defaults={"report": None},
        uris=("records", "dataset"),
    )
    def build_dataset(
        records: dsl.Input[dsl.Dataset],
        config: str,
        dataset: dsl.Output[dsl.Dataset],
        report: dsl.Output[dsl.HTML],
        registry_root: str = "",
        beam_options: str = "",
    ):
        """Deterministic group-hash split into train/eval/test TFRecords with per-split schema
        and statistics, an HTML data report, and drift against the serving model's data.

        Args:
            records: preprocess output folder (records/*.jsonl and stats.json)
            config: pipeline config YAML (sections: model, dataset)
            dataset: folder to create: <split>/part-*.tfrecord.gz, <split>/{schema,stats}.json,
                schema.json, stats.json
            report: HTML data report to write
            registry_root: model registry root: compare with the dataset the serving champion
                was trained on (empty: no comparison)
            beam_options: Beam pipeline options as one string, e.g. "--runner=DataflowRunner
                --project=P --region=R --temp_location=gs://B/tmp" (other unknown flags are Beam
                options too); empty: the in-process runner
        """

    return build_dataset
