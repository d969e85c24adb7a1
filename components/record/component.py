"""KFP interface of the record step: the run as an MLflow tracking run."""

from typing import Any

from kfp import dsl

from components.common.kfp_step import step

# Image family (components/images.yaml) this step runs in.
FAMILY = "tf"


def component(image: str) -> Any:
    """The KFP container component, running in `image` (a full image reference)."""

    @step(
        image,
        "components.record",
        flags={"run_record": "record"},
        extra={
            "job-name": dsl.PIPELINE_JOB_NAME_PLACEHOLDER,
            "job-id": dsl.PIPELINE_JOB_ID_PLACEHOLDER,
        },
        executor_input=True,
        cli_defaults={
            "registry_root": "",
            "tracking_uri": "",
            "run_url": "",
            "images": "{}",
            "reason": "",
        },
    )
    def record(
        raw: dsl.Input[dsl.Dataset],
        dataset: dsl.Input[dsl.Dataset],
        model: dsl.Input[dsl.Model],
        metrics: dsl.Input[dsl.Metrics],
        config: str,
        registry_root: str,
        tracking_uri: str,
        run_url: str,
        images: str,
        reason: str,
        run_record: dsl.Output[dsl.Artifact],
    ):
        """Record the run (config, data window, statistics, code, images, metrics, artifact
        URIs, the KFP/Argo run) in MLflow tracking.

        Args:
            raw: raw snapshot folder written by ingest
            dataset: dataset folder written by dataset
            model: model folder written by train
            metrics: metrics JSON written by evaluate
            config: pipeline config YAML
            registry_root: model registry root (empty: none)
            tracking_uri: MLflow tracking URI (empty: a local store beside a local registry)
            run_url: the run's page in the KFP or Argo UI, with {job_name} and {job_id} filled
                in, e.g. https://KFP_HOST/#/runs/details/{job_id} or
                https://ARGO_HOST/workflows/NAMESPACE/{job_name}
            images: JSON: image family -> reference (empty: {})
            reason: why the run started: schedule, backfill, or a trigger's reason (drift,
                decay or new-data, with its detail); empty: not known
            run_record: run record JSON to write
        """

    return record
