"""Run the compiled Argo manifests on a cluster that has Argo Workflows (no Kubeflow needed).

    python scripts/argo_submit.py install               # namespace objects + template library
    python scripts/argo_submit.py install --overlay overlays/example   # kubectl apply -k
    python scripts/argo_submit.py submit retrain -p data_uri=gs://b/x.csv --watch
    python scripts/argo_submit.py schedule retrain             # create or update the CronWorkflow

Every command prints what it runs; `--dry-run` (anywhere on the line) prints it and runs
nothing (no cluster needed). `-p` names and values are checked against the compiled Workflow's
parameters and types before anything runs. The compiled files name no namespace: `--namespace`
(default: the platform's) puts them there; another namespace, registry or service account for
the installed objects comes from a Kustomize overlay (`--overlay`, see overlays/example/). The
files are the ones `make compile` wrote under manifests/, so what runs is what the tests checked
(and what `python -m pipelines run NAME --engine argo` runs locally).
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


def commands(args: argparse.Namespace) -> list[list[str]]:
    context = ["--context", args.context] if args.context else []
    ns = ["--namespace", args.namespace]
    rel = lambda p: str(p.relative_to(catalog.REPO_ROOT))  # noqa: E731
    if args.command == "install":
        if args.overlay:
            overlay = args.overlay.resolve()
            shown = rel(overlay) if overlay.is_relative_to(catalog.REPO_ROOT) else str(overlay)
            return [["kubectl", *context, "apply", "-k", shown]]
        # Namespace first (the others live in it), then the objects that name it, then the
        # template library, which names none.
        ns_file = catalog.CLUSTER_MANIFESTS / "namespace.yaml"
        cluster = sorted(set(catalog.CLUSTER_MANIFESTS.glob("*.yaml")) - {ns_file})
        return [
            ["kubectl", *context, "apply", "-f", rel(ns_file)],
            ["kubectl", *context, "apply", *[a for p in cluster for a in ("-f", rel(p))]],
            ["kubectl", *context, "apply", *ns, "-f", rel(catalog.ARGO_TEMPLATES) + "/"],
        ]
    if args.command == "submit":
        cmd = ["argo", *context, "submit", rel(catalog.argo_manifest(args.pipeline)), *ns]
        if args.service_account:
            cmd += ["--serviceaccount", args.service_account]
        for item in args.param:
            cmd += ["-p", item]
        if args.watch:
            cmd.append("--watch")
        return [cmd]
    cron = catalog.argo_manifest(args.pipeline, cron=True)
    if not cron.exists():
        raise SystemExit(f"error: {args.pipeline} has no schedule (catalog.SCHEDULES)")
    return [["kubectl", *context, "apply", *ns, "-f", rel(cron)]]


def parser() -> argparse.ArgumentParser:
    # The options every command takes, accepted before or after the command's name.
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    common.add_argument("--context", help="kube context (default: current)")
    common.add_argument(
        "--platform", type=Path, help="platform file (default: config/platform.json)"
    )
    common.add_argument("--namespace", help="where the workflows run (default: the platform's)")
    top = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, parents=[common]
    )
    sub = top.add_subparsers(dest="command", required=True)
    i = sub.add_parser(
        "install", parents=[common], help="apply manifests/cluster/ and the template library"
    )
    i.add_argument(
        "--overlay",
        type=Path,
        default=None,
        help="a Kustomize overlay of manifests/ to apply instead (kubectl apply -k)",
    )
    s = sub.add_parser("submit", parents=[common], help="argo submit a compiled Workflow")
    s.add_argument("pipeline", choices=sorted(catalog.PIPELINES))
    s.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE")
    s.add_argument("--watch", action="store_true", help="follow the workflow until it ends")
    s.add_argument(
        "--service-account", default=None, help="run as this service account (default: compiled)"
    )
    c = sub.add_parser(
        "schedule", parents=[common], help="create or update the pipeline's CronWorkflow"
    )
    c.add_argument("pipeline", choices=sorted(catalog.PIPELINES))
    return top


def main(argv: Sequence[str] | None = None) -> int:
    cli = parser()
    args = cli.parse_args(argv)
    args.dry_run = getattr(args, "dry_run", False)
    args.context = getattr(args, "context", None)
    settings = platform.load(getattr(args, "platform", platform.DEFAULT_PLATFORM))
    args.namespace = getattr(args, "namespace", None) or settings.namespace
    if args.command == "submit":
        workflow = catalog.argo_manifest(args.pipeline)
        try:
            where = str(workflow.relative_to(catalog.REPO_ROOT))
            catalog.typed_params(args.param, catalog.argo_parameters(workflow), where)
        except ValueError as err:
            cli.error(str(err))
    if args.command == "install" and not args.overlay and args.namespace != settings.namespace:
        cli.error(
            f"--namespace {args.namespace}: manifests/cluster/ is compiled for namespace "
            f"'{settings.namespace}'; install into another with a Kustomize overlay "
            "(--overlay, see overlays/example/)"
        )
    for cmd in commands(args):
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
