"""Run the compiled pipeline on Kubeflow Pipelines: upload a version, one run, or a recurring run.

    python scripts/kfp_submit.py --host https://kfp.example.com upload retrain
    python scripts/kfp_submit.py --host ... run retrain -p data_uri=gs://b/x.csv
    python scripts/kfp_submit.py --host ... schedule retrain -p window_days=7 \\
        -p "data_uri=gs://my-data/events/dt={date}/*.jsonl"

`upload` creates the pipeline, or adds a version named after the compiled file's content (so an
unchanged file is not uploaded twice). `schedule` uploads the same way and creates a recurring run
of that version: the cron of pipelines/catalog.py SCHEDULES (or --cron), at most one run at a time,
no catch-up of missed runs; each run's data window ends at its scheduled time. `--dry-run`
(anywhere on the line) shows what would be done and contacts nothing. `-p` names and values are
checked against the compiled pipeline's parameters and types before anything is contacted. Uses
kfp.Client against manifests/kfp/ (what `make compile` wrote), the same file `python -m pipelines
run` executes locally.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipelines import catalog, ir


def version_name(pipeline: str, package: Path) -> str:
    return f"{pipeline}-{hashlib.sha256(package.read_bytes()).hexdigest()[:12]}"


def typed_params(pipeline: str, items: list[str]) -> dict[str, Any]:
    """`-p name=value` flags as the pipeline's declared types (KFP v2 checks them too, later)."""
    package = catalog.kfp_manifest(pipeline)
    where = str(package.relative_to(catalog.REPO_ROOT))
    return catalog.typed_params(items, catalog.kfp_parameters(package), where)


def plan(args: argparse.Namespace, params: dict[str, Any]) -> list[str]:
    package = catalog.kfp_manifest(args.pipeline)
    version = version_name(args.pipeline, package)
    shown = json.dumps(params, sort_keys=True)
    upload = f"upload {package.relative_to(catalog.REPO_ROOT)} as pipeline '{args.pipeline}' " + (
        f"version '{version}' (skipped if that version exists)"
    )
    if args.command == "upload":
        return [upload]
    if args.command == "run":
        return [f"run {args.pipeline} in experiment '{args.experiment}' with parameters {shown}"]
    return [
        upload,
        f"create recurring run '{args.name or args.pipeline}' of version '{version}' in "
        f"experiment '{args.experiment}': cron '{cron_of(args)}', max concurrency 1, "
        f"no catch-up, parameters {shown}",
    ]


def cron_of(args: argparse.Namespace) -> str:
    if args.cron:
        return str(args.cron)
    if args.pipeline not in catalog.SCHEDULES:
        raise SystemExit(
            f"error: {args.pipeline} has no schedule in catalog.SCHEDULES; pass --cron"
        )
    schedule = catalog.SCHEDULES[args.pipeline]
    if schedule.timezone not in ("UTC", "Etc/UTC"):
        raise SystemExit(
            f"error: the schedule is in {schedule.timezone}; KFP's cron runs in the cluster's "
            "time zone (UTC): pass --cron"
        )
    return schedule.kfp_cron


def upload(client: Any, pipeline: str, package: Path) -> tuple[str, str]:
    """(pipeline id, version id), uploading only what is not there yet."""
    version = version_name(pipeline, package)
    pipeline_id = client.get_pipeline_id(pipeline)
    if pipeline_id is None:
        created = client.upload_pipeline(str(package), pipeline_name=pipeline)
        pipeline_id = created.pipeline_id
    versions = client.list_pipeline_versions(pipeline_id, page_size=200).pipeline_versions or []
    for existing in versions:
        if existing.display_name == version:
            return pipeline_id, existing.pipeline_version_id
    made = client.upload_pipeline_version(str(package), version, pipeline_id=pipeline_id)
    return pipeline_id, made.pipeline_version_id


def main(argv: Sequence[str] | None = None) -> int:
    # The options every command takes, accepted before or after the command's name.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--host", help="KFP API endpoint (not needed with --dry-run)")
    common.add_argument("--namespace", help="multi-user KFP namespace")
    common.add_argument("--dry-run", action="store_true", help="show what would be done")
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, parents=[common]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("upload", "run", "schedule"):
        p = sub.add_parser(name, parents=[common])
        p.add_argument("pipeline", choices=sorted(catalog.PIPELINES))
        p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE")
        p.add_argument("--experiment", default="retrain")
        p.add_argument("--service-account", default=None)
    sched = sub.choices["schedule"]
    sched.add_argument("--cron", default=None, help="KFP cron with seconds (default: catalog)")
    sched.add_argument("--name", default=None, help="recurring run name (default: <pipeline>)")
    args = parser.parse_args(argv)
    for option, default in (("host", None), ("namespace", None), ("dry_run", False)):
        setattr(args, option, getattr(args, option, default))
    try:
        params = typed_params(args.pipeline, args.param)
    except (ValueError, ir.IRError) as err:
        parser.error(str(err))
    pipeline_params = catalog.kfp_parameters(catalog.kfp_manifest(args.pipeline))
    if args.command == "schedule" and catalog.REASON in pipeline_params:
        params.setdefault(catalog.REASON, catalog.REASON_SCHEDULE)  # recorded with each run
    for line in plan(args, params):
        print(("would " if args.dry_run else "") + line)
    if args.dry_run:
        return 0
    if not args.host:
        raise SystemExit("error: --host is required (or use --dry-run)")

    import kfp

    package = catalog.kfp_manifest(args.pipeline)
    client = kfp.Client(host=args.host, namespace=args.namespace)
    if args.command == "upload":
        pipeline_id, version_id = upload(client, args.pipeline, package)
        print(f"pipeline {pipeline_id} version {version_id}")
        return 0
    if args.command == "run":
        result = client.create_run_from_pipeline_package(
            str(package),
            arguments=params,
            experiment_name=args.experiment,
            namespace=args.namespace,
            service_account=args.service_account,
        )
        print(f"run {result.run_id}")
        return 0
    pipeline_id, version_id = upload(client, args.pipeline, package)
    experiment = client.create_experiment(args.experiment, namespace=args.namespace)
    recurring = client.create_recurring_run(
        experiment_id=experiment.experiment_id,
        job_name=args.name or args.pipeline,
        cron_expression=cron_of(args),
        max_concurrency=1,
        no_catchup=True,
        params=params,
        pipeline_id=pipeline_id,
        version_id=version_id,
        service_account=args.service_account,
    )
    print(f"recurring run {recurring.recurring_run_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
