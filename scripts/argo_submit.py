"""Run the compiled Argo manifests on a cluster that has Argo Workflows (no Kubeflow needed).

    python scripts/argo_submit.py install               # namespace objects + template library
    python scripts/argo_submit.py submit retrain -p data_uri=gs://b/x.csv --watch
    python scripts/argo_submit.py schedule retrain             # create or update the CronWorkflow

Every command prints what it runs; `--dry-run` prints it and runs nothing (no cluster needed).
The files are the ones `make compile` wrote under manifests/, so what runs is what the tests
checked (and what `python -m pipelines run NAME --engine argo` runs locally).
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipelines import catalog, platform


def commands(args: argparse.Namespace, namespace: str) -> list[list[str]]:
    context = ["--context", args.context] if args.context else []
    rel = lambda p: str(p.relative_to(catalog.REPO_ROOT))  # noqa: E731
    if args.command == "install":
        cluster = sorted(catalog.CLUSTER_MANIFESTS.glob("*.yaml"))
        files = [
            a
            for p in [*cluster, catalog.ARGO_TEMPLATES]
            for a in ("-f", rel(p) + ("/" if p.is_dir() else ""))
        ]
        # Namespace first (the others live in it), then everything else.
        ns_file = catalog.CLUSTER_MANIFESTS / "namespace.yaml"
        return [
            ["kubectl", *context, "apply", "-f", rel(ns_file)],
            ["kubectl", *context, "apply", *files],
        ]
    if args.command == "submit":
        cmd = ["argo", *context, "submit", rel(catalog.argo_manifest(args.pipeline))]
        cmd += ["--namespace", namespace]
        for item in args.param:
            cmd += ["-p", item]
        if args.watch:
            cmd.append("--watch")
        return [cmd]
    cron = catalog.argo_manifest(args.pipeline, cron=True)
    if not cron.exists():
        raise SystemExit(f"error: {args.pipeline} has no schedule (catalog.SCHEDULES)")
    return [["kubectl", *context, "apply", "-f", rel(cron)]]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    parser.add_argument("--context", default=None, help="kube context (default: current)")
    parser.add_argument(
        "--platform", type=Path, default=platform.DEFAULT_PLATFORM, help="for the namespace"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("install", help="apply manifests/cluster/ and the template library")
    s = sub.add_parser("submit", help="argo submit a compiled Workflow")
    s.add_argument("pipeline", choices=sorted(catalog.PIPELINES))
    s.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE")
    s.add_argument("--watch", action="store_true", help="follow the workflow until it ends")
    c = sub.add_parser("schedule", help="create or update the pipeline's CronWorkflow")
    c.add_argument("pipeline", choices=sorted(catalog.PIPELINES))
    args = parser.parse_args(argv)
    try:
        catalog.parse_params(getattr(args, "param", []))
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    namespace = platform.load(args.platform).namespace
    for cmd in commands(args, namespace):
        print("$ " + shlex.join(cmd), flush=True)
        if args.dry_run:
            continue
        if shutil.which(cmd[0]) is None:
            print(
                f"error: `{cmd[0]}` is not on PATH; install it (kubectl, or the argo CLI from "
                "the Argo Workflows release) or use --dry-run to see the commands",
                file=sys.stderr,
            )
            return 2
        result = subprocess.run(cmd, cwd=catalog.REPO_ROOT)
        if result.returncode != 0:
            return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
