"""Small kfp.dsl pipelines that use every IR feature the Argo backend supports (and some it does
not), with steps that are one-line Python programs so they run in milliseconds."""

from pathlib import Path
from typing import Any

from kfp import compiler, dsl, kubernetes

IMAGE = "python:3.11-slim"

# Each step's program: argv[1:] are its arguments.
PRODUCE = (
    "import sys, pathlib; text, out, size, log = sys.argv[1:5]; "
    "sys.exit(3) if text == 'fail' else None; "
    "pathlib.Path(out).parent.mkdir(parents=True, exist_ok=True); "
    "pathlib.Path(out).write_text(text); "
    "pathlib.Path(size).parent.mkdir(parents=True, exist_ok=True); "
    "pathlib.Path(size).write_text(str(len(text))); "
    "pathlib.Path(log, 'produce').write_text(text)"
)
CONSUME = (
    "import sys, pathlib; item, data, log = sys.argv[1:4]; "
    "pathlib.Path(log, 'consume-' + item).write_text(pathlib.Path(data).read_text())"
)
# Fails with exit 1 on its first attempt (a crash: retried), succeeds on the next; with
# code=2 it fails as bad input would, which the retry rule does not retry.
FLAKY = (
    "import sys, pathlib; log, code = sys.argv[1], int(sys.argv[2]); "
    "marks = pathlib.Path(log, 'flaky-attempts'); "
    "n = int(marks.read_text()) if marks.exists() else 0; "
    "marks.write_text(str(n + 1)); sys.exit(code if code == 2 else (1 if n == 0 else 0))"
)
NOTIFY = "import sys, pathlib; pathlib.Path(sys.argv[1], 'exit-handler').write_text('ran')"


@dsl.container_component
def produce(text: str, log_dir: str, out: dsl.Output[dsl.Artifact], size: dsl.OutputPath(int)):
    return dsl.ContainerSpec(
        image=IMAGE, command=["python", "-c", PRODUCE], args=[text, out.path, size, log_dir]
    )


@dsl.container_component
def consume(item: str, data: dsl.Input[dsl.Artifact], log_dir: str):
    return dsl.ContainerSpec(
        image=IMAGE, command=["python", "-c", CONSUME], args=[item, data.path, log_dir]
    )


@dsl.container_component
def flaky(log_dir: str, code: int):
    return dsl.ContainerSpec(image=IMAGE, command=["python", "-c", FLAKY], args=[log_dir, code])


@dsl.container_component
def notify(log_dir: str):
    return dsl.ContainerSpec(image=IMAGE, command=["python", "-c", NOTIFY], args=[log_dir])


@dsl.pipeline(name="features", description="Every IR feature the Argo backend maps.")
def features(log_dir: str, text: str = "hello", items: list = ["a", "b"], flaky_code: int = 1):  # noqa: B006
    done = notify(log_dir=log_dir)
    with dsl.ExitHandler(done, name="cleanup"):
        made = produce(text=text, log_dir=log_dir)
        made.set_cpu_request("100m").set_cpu_limit("500m")
        made.set_retry(num_retries=1, backoff_duration="0s")
        kubernetes.use_secret_as_env(made, secret_name="api", secret_key_to_env={"token": "TOKEN"})
        kubernetes.mount_pvc(made, pvc_name="scratch", mount_path="/scratch")
        kubernetes.add_node_selector(made, label_key="pool", label_value="cpu")
        retried = flaky(log_dir=log_dir, code=flaky_code)
        retried.set_retry(num_retries=2, backoff_duration="0s", backoff_max_duration="1s")
        retried.after(made)
        with dsl.ParallelFor(items=["x", "y"]) as fixed:
            consume(item=fixed, data=made.outputs["out"], log_dir=log_dir).after(retried)
        with dsl.ParallelFor(items=items) as given:
            consume(item=given, data=made.outputs["out"], log_dir=log_dir).after(retried)
        with dsl.If(made.outputs["size"] > 3, name="long"):
            consume(item="long", data=made.outputs["out"], log_dir=log_dir)
        with dsl.If(made.outputs["size"] > 100, name="very-long"):
            consume(item="very-long", data=made.outputs["out"], log_dir=log_dir)


@dsl.pipeline(name="branches", description="dsl.If/dsl.Else, their output as a dsl.OneOf.")
def branches(log_dir: str, workers: int = 1):
    with dsl.If(workers == 1, name="one"):
        here = produce(text="one worker", log_dir=log_dir)
    with dsl.Else(name="many"):
        launched = produce(text="many workers", log_dir=log_dir)
    chosen = dsl.OneOf(here.outputs["out"], launched.outputs["out"])
    consume(item="chosen", data=chosen, log_dir=log_dir)


@dsl.pipeline(name="uses-importer")
def uses_importer():
    data = dsl.importer(artifact_uri="gs://b/x", artifact_class=dsl.Dataset)
    consume(item="i", data=data.output, log_dir="/tmp")


@dsl.pipeline(name="uses-final-status")
def uses_final_status():
    @dsl.component(base_image=IMAGE)
    def report(status: dsl.PipelineTaskFinalStatus) -> None:
        print(status)

    with dsl.ExitHandler(report()):
        notify(log_dir="/tmp")


@dsl.pipeline(name="uses-parallelism")
def uses_parallelism():
    with dsl.ParallelFor(items=["a", "b"], parallelism=1) as item:
        notify(log_dir=item)


@dsl.pipeline(name="uses-pull-policy")
def uses_pull_policy():
    task = notify(log_dir="/tmp")
    kubernetes.set_image_pull_policy(task, "Always")


def compile_to(pipeline: Any, path: Path) -> Path:
    compiler.Compiler().compile(pipeline_func=pipeline, package_path=str(path))
    return path
