"""Submit a compiled pipeline to a Kubeflow Pipelines endpoint: one run, or a recurring run.

    python scripts/kfp_submit.py --host https://kfp.example.com run retrain -p data_uri=gs://b/x.csv
    python scripts/kfp_submit.py --host ... schedule retrain --cron "0 0 3 * * *" \
        --experiment nightly -p registry_root=gs://my-models/registry

Uses kfp.Client against the manifest in manifests/kfp/ (what `make compile` wrote), so what runs on
the cluster is the same file `python -m pipelines run` executes locally. Needs a reachable KFP API.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipelines import catalog


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", required=True, help="KFP API endpoint")
    parser.add_argument("--namespace", default=None, help="multi-user KFP namespace")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("run", "schedule"):
        p = sub.add_parser(name)
        p.add_argument("pipeline", choices=sorted(catalog.PIPELINES))
        p.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE")
        p.add_argument("--experiment", default="retrain")
        p.add_argument("--service-account", default=None)
    sched = sub.choices["schedule"]
    sched.add_argument(
        "--cron", required=True, help="KFP cron with seconds, e.g. '0 0 3 * * *' for 03:00 daily"
    )
    sched.add_argument("--name", default=None, help="recurring run name (default: <pipeline>)")
    args = parser.parse_args(argv)

    import kfp

    package = catalog.kfp_manifest(args.pipeline)
    try:
        params = catalog.parse_params(args.param)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    client = kfp.Client(host=args.host, namespace=args.namespace)
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
    experiment = client.create_experiment(args.experiment, namespace=args.namespace)
    recurring = client.create_recurring_run(
        experiment_id=experiment.experiment_id,
        job_name=args.name or args.pipeline,
        cron_expression=args.cron,
        max_concurrency=1,
        no_catchup=True,
        params=params,
        pipeline_package_path=str(package),
        service_account=args.service_account,
    )
    print(f"recurring run {recurring.recurring_run_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
