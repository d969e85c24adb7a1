"""`python -m pipelines`: compile the DAGs, or run a compiled one locally.

python -m pipelines compile              # every pipeline -> manifests/{kfp,argo,cluster}/
python -m pipelines run retrain [-p name=value ...] [--engine kfp|argo] [--stream-logs]
python -m pipelines run retrain --containers   # every task in its image (`make images` first)
python -m pipelines runs [--compare RUN RUN ...]   # recorded runs (MLflow tracking)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipelines import catalog, ir, platform
from pipelines.ir.placeholders import EXECUTOR_OUTPUT
from pipelines.local.containers import BUILT

HIGHLIGHT = {
    "system.Model": "model",
    "system.Metrics": "metrics",
    "system.HTML": "HTML report",
    "system.Dataset": "dataset",
    "system.ClassificationMetrics": "curves",
}


def _compile(args: argparse.Namespace) -> int:
    from pipelines.argo.write import write_manifests
    from pipelines.kfp.compile import compile_pipeline
    from pipelines.ops import serving

    names = args.names or sorted(catalog.PIPELINES)
    for name in names:
        print(compile_pipeline(name, platform_file=args.platform).relative_to(catalog.REPO_ROOT))
    for path in [*write_manifests(names, args.platform), serving.write_manifest(args.platform)]:
        print(path.relative_to(catalog.REPO_ROOT))
    return 0


def _params(items: list[str]) -> dict[str, str]:
    try:
        return catalog.parse_params(items)
    except ValueError as err:
        raise ir.IRError(str(err)) from None


def _runner(args: argparse.Namespace, run_dir: Path) -> Any:
    """The local runner for the chosen engine's compiled file."""
    params = _params(args.param)
    local_gcs = None if args.real_gcs else Path(args.local_gcs)
    if args.containers and args.engine != "kfp":
        raise ir.IRError(
            "--containers runs the KFP IR (--engine kfp); the Argo runner has no container mode"
        )
    if args.engine == "kfp":
        from pipelines.local.kfp import LocalRunner

        manifest = Path(args.manifest) if args.manifest else catalog.kfp_manifest(args.name)
        _exists(manifest)
        containers = None
        if args.containers:
            from pipelines.local.containers import ContainerMode

            mounts = [run_dir] + ([local_gcs] if local_gcs is not None else [])
            containers = ContainerMode.from_build(Path(args.images), mounts)
        return manifest, LocalRunner(
            ir.load(manifest),
            run_dir,
            params,
            cwd=Path.cwd(),
            stream_logs=args.stream_logs,
            local_gcs=local_gcs,
            scheduled_time=args.scheduled_time,
            containers=containers,
        )
    from pipelines.argo import cluster
    from pipelines.local.argo import ArgoLocalRunner, load_objects

    manifest = Path(args.manifest) if args.manifest else catalog.argo_manifest(args.name)
    repo_file = catalog.CLUSTER_MANIFESTS / "artifact-repositories.yaml"
    for path in (manifest, catalog.ARGO_TEMPLATES, repo_file):
        _exists(path)
    repository = cluster.default_repository(load_objects(repo_file)[0])
    bucket = repository.get("gcs", {}).get("bucket") or repository.get("s3", {}).get("bucket")
    return manifest, ArgoLocalRunner(
        load_objects(manifest)[0],
        load_objects(*sorted(catalog.ARGO_TEMPLATES.glob("*.yaml"))),
        run_dir,
        params,
        cwd=Path.cwd(),
        repository=repository,
        repository_root=Path(args.local_gcs).resolve() / str(bucket),
        stream_logs=args.stream_logs,
        local_gcs=local_gcs,
        scheduled_time=args.scheduled_time,
    )


def _exists(path: Path) -> None:
    if not path.exists():
        raise ir.IRError(f"{path} does not exist; run `python -m pipelines compile` first")


def _run(args: argparse.Namespace) -> int:
    from pipelines.local.results import TaskFailed, allocate_run_dir, utc_stamp, write_record

    started = utc_stamp()
    run_dir = allocate_run_dir(Path(args.runs_dir), args.name, started)
    try:
        manifest, runner = _runner(args, run_dir)
    except BaseException:
        run_dir.rmdir()  # still empty: a run that never started leaves no folder
        raise
    print(
        f"run {run_dir} ({manifest}, {args.engine} engine); "
        f"parameters: {json.dumps(runner.arguments)}"
    )
    t0 = time.monotonic()
    status = "failed"
    try:
        runner.run()
        status = "succeeded"
    except TaskFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        record = write_record(
            run_dir,
            args.name,
            runner.arguments,
            runner.results,
            status,
            started,
            time.monotonic() - t0,
            engine=args.engine,
        )
    print(f"\nrun {status} in {time.monotonic() - t0:.0f}s; record: {record}")
    # A sub-DAG's outputs (dsl.OneOf) are artifacts of its tasks, shown once, with their task.
    produced = {a.path for r in runner.results.values() if r.log for a in r.artifacts.values()}
    for key, result in runner.results.items():
        if result.status in ("skipped", "omitted"):
            print(f"  {result.status:<12} {key}: {result.reason}")
        for artifact in result.artifacts.values():
            if artifact.name == EXECUTOR_OUTPUT or (not result.log and artifact.path in produced):
                continue
            kind = HIGHLIGHT.get(artifact.schema_title, artifact.schema_title.split(".")[-1])
            print(f"  {kind:<12} {artifact.path}  ({key})")
            shown = {
                k: round(v, 4) if isinstance(v, float) else v
                for k, v in artifact.metadata.items()
                if not isinstance(v, list | dict)
            }
            if shown:
                print(f"  {'':<12} {json.dumps(shown)}")
    return 0


def _runs(args: argparse.Namespace) -> int:
    from pipelines.ops import runs

    uri = args.tracking_uri or runs.default_tracking_uri(args.platform, Path(args.local_gcs))
    if args.compare:
        print(runs.compare_runs(uri, args.compare))
    else:
        print(runs.list_runs(uri, args.experiment, args.limit))
    return 0


def _preflight(args: argparse.Namespace) -> int:
    from pipelines.ops import preflight

    checks = preflight.run_checks(
        platform.load(args.platform), preflight.real_kubectl(args.context)
    )
    return preflight.report(checks)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pipelines",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compile", help="compile pipelines to manifests/kfp/ and manifests/argo/")
    c.add_argument(
        "names",
        nargs="*",
        help=f"pipelines to compile (default: all of {sorted(catalog.PIPELINES)})",
    )
    c.add_argument(
        "--platform",
        type=Path,
        default=platform.DEFAULT_PLATFORM,
        help="platform settings from Terraform (default: config/platform.json)",
    )
    c.set_defaults(func=_compile)
    r = sub.add_parser(
        "run", help="run a compiled pipeline locally (no cluster; Docker only with --containers)"
    )
    r.add_argument("name", choices=sorted(catalog.PIPELINES))
    r.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="pipeline parameter (repeatable)",
    )
    r.add_argument("--runs-dir", default="runs", help="where run folders go (default: runs)")
    r.add_argument(
        "--engine",
        choices=("kfp", "argo"),
        default="kfp",
        help="which compiled file to run: the KFP IR (manifests/kfp/NAME.yaml, default) or the "
        "Argo Workflow (manifests/argo/NAME.yaml with templates.yaml)",
    )
    r.add_argument("--manifest", default=None, help="compiled file (default: by --engine)")
    r.add_argument(
        "--scheduled-time",
        default=None,
        metavar="RFC3339",
        help="the run's scheduled time, from which the data window derives (default: now)",
    )
    r.add_argument("--stream-logs", action="store_true", help="echo task logs while running")
    r.add_argument(
        "--local-gcs",
        default="local-gcs",
        help="folder that stands in for gs:// buckets in parameters (default: local-gcs)",
    )
    r.add_argument(
        "--real-gcs",
        action="store_true",
        help="pass gs:// parameters through unchanged (needs GCS credentials)",
    )
    r.add_argument(
        "--containers",
        action="store_true",
        help="run every task in its image with `docker run` (built by `make images`), "
        "the run folder bind-mounted, as a non-root user",
    )
    r.add_argument(
        "--images",
        default=str(BUILT),
        help="with --containers: the build record of the images (default: build/images.json)",
    )
    r.set_defaults(func=_run)
    f = sub.add_parser("preflight", help="check a kube context has what the manifests need")
    f.add_argument("--context", default=None, help="kube context (default: the current one)")
    f.add_argument("--platform", type=Path, default=platform.DEFAULT_PLATFORM)
    f.set_defaults(func=_preflight)
    n = sub.add_parser("runs", help="list or compare recorded runs (MLflow tracking)")
    n.add_argument(
        "--tracking-uri",
        default="",
        help="MLflow tracking URI (default: the local runs' store under --local-gcs)",
    )
    n.add_argument("--experiment", default=None, help="one experiment (the config's model.name)")
    n.add_argument("--limit", type=int, default=20, help="newest runs shown (default 20)")
    n.add_argument(
        "--compare", nargs="+", metavar="RUN", default=None, help="run ids (or prefixes)"
    )
    n.add_argument("--local-gcs", default="local-gcs", help="the local stand-in of the buckets")
    n.add_argument("--platform", type=Path, default=platform.DEFAULT_PLATFORM)
    n.set_defaults(func=_runs)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (ir.IRError, platform.PlatformError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
