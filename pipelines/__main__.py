"""`python -m pipelines`: compile the DAGs, or run a compiled one locally.

python -m pipelines compile              # every pipeline -> manifests/kfp/<name>.yaml
python -m pipelines run retrain [-p name=value ...] [--runs-dir runs] [--stream-logs]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pipelines import catalog, ir, platform

HIGHLIGHT = {
    "system.Model": "model",
    "system.Metrics": "metrics",
    "system.HTML": "HTML report",
    "system.Dataset": "dataset",
    "system.ClassificationMetrics": "curves",
}


def _compile(args: argparse.Namespace) -> int:
    from pipelines.kfp.compile import compile_pipeline

    for name in args.names or sorted(catalog.PIPELINES):
        print(compile_pipeline(name, platform_file=args.platform).relative_to(catalog.REPO_ROOT))
    return 0


def _params(items: list[str]) -> dict[str, str]:
    try:
        return catalog.parse_params(items)
    except ValueError as err:
        raise ir.IRError(str(err)) from None


def _run(args: argparse.Namespace) -> int:
    from pipelines.local.runner import LocalRunner, TaskFailed, utc_stamp, write_record

    manifest = Path(args.manifest) if args.manifest else catalog.kfp_manifest(args.name)
    if not manifest.exists():
        print(
            f"error: {manifest} does not exist; run `python -m pipelines compile` first",
            file=sys.stderr,
        )
        return 2
    spec = ir.load(manifest)
    started = utc_stamp()
    run_dir = Path(args.runs_dir) / f"{args.name}-{started}"
    runner = LocalRunner(
        spec,
        run_dir,
        _params(args.param),
        cwd=Path.cwd(),
        stream_logs=args.stream_logs,
        local_gcs=None if args.real_gcs else Path(args.local_gcs),
    )
    print(f"run {run_dir} ({manifest}); parameters: {json.dumps(runner.arguments)}")
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
        )
    print(f"\nrun {status} in {time.monotonic() - t0:.0f}s; record: {record}")
    for key, result in runner.results.items():
        if result.status == "skipped":
            print(f"  skipped      {key}: {result.reason}")
        for artifact in result.artifacts.values():
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


def _preflight(args: argparse.Namespace) -> int:
    from pipelines import preflight

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
    c = sub.add_parser("compile", help="compile pipelines to manifests/kfp/")
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
    r = sub.add_parser("run", help="run a compiled pipeline locally (no cluster, no Docker)")
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
    r.add_argument("--manifest", default=None, help="compiled IR (default: manifests/kfp/NAME)")
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
    r.set_defaults(func=_run)
    f = sub.add_parser("preflight", help="check a kube context has what the manifests need")
    f.add_argument("--context", default=None, help="kube context (default: the current one)")
    f.add_argument("--platform", type=Path, default=platform.DEFAULT_PLATFORM)
    f.set_defaults(func=_preflight)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (ir.IRError, platform.PlatformError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
