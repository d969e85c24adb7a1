"""`python -m pipelines`: compile the DAGs, or run a compiled one locally.

python -m pipelines compile              # every pipeline -> manifests/{kfp,argo,cluster}/
python -m pipelines run retrain [-p name=value ...] [--engine kfp|argo] [--stream-logs]
python -m pipelines run retrain --containers   # every task in its image (`make images` first)
python -m pipelines run retrain --no-cache     # every task runs (the step cache still records)
python -m pipelines run --resume RUN           # a failed or interrupted run, from where it stopped
python -m pipelines runs [--compare RUN RUN ... [--all]]   # recorded runs
python -m pipelines backfill retrain --from 2026-11-01 --to 2026-11-07   # missed scheduled runs
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from components.common.procs import alive
from pipelines import catalog, ir, platform
from pipelines.local.containers import BUILT


def _compile(args: argparse.Namespace) -> int:
    from pipelines.argo.write import write_manifests
    from pipelines.kfp.compile import compile_pipeline
    from pipelines.ops import serving

    names = args.names or sorted(catalog.PIPELINES)
    for name in names:
        print(compile_pipeline(name, platform_file=args.platform).relative_to(catalog.REPO_ROOT))
    written = [
        *write_manifests(names, args.platform),
        serving.write_manifest(args.platform),
        serving.write_kustomization(),
    ]
    for path in written:
        print(path.relative_to(catalog.REPO_ROOT))
    return 0


def _params(items: list[str]) -> dict[str, str]:
    try:
        return catalog.parse_params(items)
    except ValueError as err:
        raise ir.IRError(str(err)) from None


def _runner(args: argparse.Namespace, run_dir: Path) -> Any:
    """The local runner for the chosen engine's compiled file."""
    from pipelines.local.cache import Reuse, StepCache

    params = args.resumed_arguments if args.resume else _params(args.param)
    params = {**catalog.engine_defaults(args.name or "", "local"), **params}
    # For the steps that start runs of their own (the monitor's trigger): where this run's
    # folder and bucket stand-in are (pipelines/local/process.step_env passes the environment).
    os.environ["RETRAIN_PIPELINES_RUNS_DIR"] = str(run_dir.parent.resolve())
    os.environ["RETRAIN_PIPELINES_ENGINE"] = args.engine
    os.environ["RETRAIN_PIPELINES_LOCAL_GCS"] = str(Path(args.local_gcs).resolve())
    os.environ["RETRAIN_PIPELINES_CWD"] = str(Path.cwd())
    # Resuming, the run's finished tasks are reused; the step cache lives beside its runs.
    reuse = Reuse(StepCache(run_dir.parent, Path.cwd(), read=not args.no_cache), args.finished)
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
            reuse=reuse,
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
        reuse=reuse,
    )


def _manifest_sha256(engine: str, manifest: Path) -> str:
    """The digest of the compiled files a run reads (the Argo runner: its template library too)."""
    import hashlib

    files = [manifest]
    if engine == "argo":
        files += sorted(catalog.ARGO_TEMPLATES.glob("*.yaml"))
        files.append(catalog.CLUSTER_MANIFESTS / "artifact-repositories.yaml")
    digest = hashlib.sha256()
    for path in files:
        digest.update(hashlib.sha256(path.read_bytes()).hexdigest().encode() + b"\n")
    return digest.hexdigest()


RESUMED_OPTIONS = ("engine", "manifest", "scheduled_time", "local_gcs", "real_gcs", "containers")


def _resuming(args: argparse.Namespace) -> tuple[Path, dict[str, Any]]:
    """`--resume RUN`: its folder and record; `args` set as the run was (pipeline, parameters,
    options). Refuses a run that succeeded, is still running, or was recorded without what a
    resume needs."""
    import os

    from pipelines.local.results import RECORD, read_results

    given = Path(args.resume)
    run_dir = given if given.is_dir() else Path(args.runs_dir) / args.resume
    path = run_dir / RECORD
    if not path.is_file():
        raise ir.IRError(f"--resume {args.resume}: no run record at {path}")
    record = json.loads(path.read_text())
    status = record.get("status")
    if status == "succeeded":
        raise ir.IRError(f"--resume {args.resume}: the run succeeded; there is nothing to resume")
    if status == "running" and alive(record.get("pid")) and record.get("pid") != os.getpid():
        raise ir.IRError(
            f"--resume {args.resume}: the run is still running (pid {record['pid']}); "
            "wait for it or stop it first"
        )
    if "resume" not in record:
        raise ir.IRError(f"--resume {args.resume}: {path} has no `resume` section (an older run)")
    if args.name and args.name != record["pipeline"]:
        raise ir.IRError(f"--resume {args.resume}: a run of {record['pipeline']}, not {args.name}")
    args.name = record["pipeline"]
    for option in RESUMED_OPTIONS:
        setattr(args, option, record["resume"]["options"][option])
    args.resumed_arguments = record["arguments"]
    finished = {k: r for k, r in read_results(record).items() if r.ok and r.log}
    args.finished = finished
    return run_dir, record


def _exists(path: Path) -> None:
    if not path.exists():
        raise ir.IRError(f"{path} does not exist; run `python -m pipelines compile` first")


def _run(args: argparse.Namespace) -> int:
    from pipelines.local import display, process
    from pipelines.local.results import TaskFailed, allocate_run_dir, utc_stamp, write_record

    started = utc_stamp()
    earlier: dict[str, Any] | None = None
    if args.resume:
        run_dir, earlier = _resuming(args)
        started = earlier["started_utc"]
    elif not args.name:
        raise ir.IRError("run: name a pipeline, or --resume RUN")
    else:
        run_dir = allocate_run_dir(Path(args.runs_dir), args.name, started)
    try:
        manifest, runner = _runner(args, run_dir)
        resume = {
            "manifest_sha256": _manifest_sha256(args.engine, manifest),
            "options": {**{o: getattr(args, o) for o in RESUMED_OPTIONS}, "manifest": str(manifest)}
            | {"scheduled_time": runner.scheduled_time},
        }
        if (
            earlier is not None
            and earlier["resume"]["manifest_sha256"] != resume["manifest_sha256"]
        ):
            raise ir.IRError(
                f"--resume {args.resume}: {manifest} changed since the run started "
                "(recompiled?); start a new run"
            )
    except BaseException:
        if earlier is None:
            run_dir.rmdir()  # still empty: a run that never started leaves no folder
        raise

    def progress() -> None:  # run.json after every task: a killed run leaves what it finished
        write_record(
            run_dir,
            args.name,
            runner.arguments,
            runner.results,
            "running",
            started,
            time.monotonic() - t0,
            engine=args.engine,
            resume=resume,
        )

    runner.on_result = progress
    t0 = time.monotonic()
    progress()  # "running" from the start, with this pid: a trigger or backfill sees it in flight
    print(
        f"run {run_dir} ({manifest}, {args.engine} engine); "
        f"parameters: {json.dumps(runner.arguments)}"
    )
    status, failure, stopped = "failed", None, None
    try:
        with process.cancel_on_signals():
            runner.run()
        status = "succeeded"
    except TaskFailed as err:
        failure = err
    except KeyboardInterrupt as err:  # Ctrl-C or SIGTERM (process.Cancelled): the task stopped
        status, stopped = "cancelled", err
        interrupted = getattr(err, "result", None)
        if interrupted is not None:
            runner.results.setdefault(interrupted.name, interrupted)
    finally:
        with process.signals_ignored():  # a second Ctrl-C does not cut the record short
            record = write_record(
                run_dir,
                args.name,
                runner.arguments,
                runner.results,
                status,
                started,
                time.monotonic() - t0,
                engine=args.engine,
                resume=resume,
            )
    seconds = time.monotonic() - t0
    if stopped is not None:
        name = getattr(stopped, "signal_name", "SIGINT")
        print(display.cancelled_line(name, seconds, record), file=sys.stderr)
        return 130
    labels = display.ir_labels(runner.spec) if args.engine == "kfp" else {}
    print(display.end_of_run(runner.results, labels, status, seconds, record))
    if failure is not None:
        print(f"error: {failure}", file=sys.stderr)
        return 1
    return 0


def _runs(args: argparse.Namespace) -> int:
    from pipelines.ops import runs

    uri = args.tracking_uri or runs.default_tracking_uri(args.platform, Path(args.local_gcs))
    try:
        if args.compare:
            print(runs.compare_runs(uri, args.compare, show_all=args.all))
        else:
            print(
                runs.list_runs(uri, Path(args.runs_dir), args.experiment, args.limit, args.metric)
            )
    except runs.RunsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


def _backfill(args: argparse.Namespace) -> int:
    import shlex

    from pipelines.ops import backfill as bf

    try:
        schedule = bf.schedule_of(args.name)
        start = bf.parse_time(args.start, "--from")
        end = bf.parse_time(args.end, "--to") if args.end else datetime.now(UTC)
        times = bf.schedule_times(schedule, start, end)
        if args.parallel < 1:
            raise bf.BackfillError(f"--parallel {args.parallel}: expected at least 1")
        workflow = catalog.argo_manifest(args.name)
        where = str(workflow.relative_to(catalog.REPO_ROOT))
        manifest = workflow if args.target == "argo" or args.engine == "argo" else None
        declared = (
            catalog.argo_parameters(workflow)
            if manifest
            else catalog.kfp_parameters(catalog.kfp_manifest(args.name))
        )
        catalog.typed_params(args.param, declared, where)
        if catalog.REASON in declared and catalog.REASON not in catalog.parse_params(args.param):
            args.param.append(f"{catalog.REASON}={catalog.REASON_BACKFILL}")  # in its record
    except (bf.BackfillError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"{args.name}: '{schedule.cron}' ({schedule.timezone}) fires {len(times)} time(s) in "
        f"{bf.rfc3339(start)} .. {bf.rfc3339(end)}"
    )
    runs_dir = Path(args.runs_dir)
    with contextlib.ExitStack() as stack:
        if args.target == "local":
            try:
                stack.enter_context(bf.exclusive(runs_dir, args.name))
            except bf.BackfillError as err:
                print(f"error: {err}", file=sys.stderr)
                return 75
            done, in_flight = bf.local_runs(runs_dir, args.name)
        elif args.dry_run:
            done, in_flight = set(), set()
            print("--dry-run: the cluster's Workflows are not read; every time is listed")
        else:
            done, in_flight = bf.argo_runs(_argo_workflows(args), args.name)
        todo = bf.plan(times, done, in_flight)
        print(todo.summary(args.name))
        if args.target == "local":
            run_args = ["--runs-dir", args.runs_dir, "--engine", args.engine]
            run_args += ["--local-gcs", args.local_gcs]
            run_args += [a for p in args.param for a in ("-p", p)]
            commands = [(t, bf.local_command(args.name, t, run_args)) for t in todo.todo]
        else:
            namespace = args.namespace or platform.load(args.platform).namespace
            commands = [
                (t, bf.argo_command(args.name, t, namespace, args.param, args.context))
                for t in todo.todo
            ]
        for when, cmd in commands:
            print(f"  {bf.rfc3339(when)}: $ {shlex.join(cmd)}")
        if args.dry_run or not commands:
            return 0
        codes = bf.execute(commands, args.parallel)
    failed = [bf.rfc3339(t) for t, code in codes.items() if code != 0]
    print(
        f"backfill {args.name}: {len(codes) - len(failed)} of {len(codes)} run(s) succeeded"
        + (
            f"; failed: {', '.join(failed)} (run the backfill again to retry them)"
            if failed
            else ""
        )
    )
    return 1 if failed else 0


def _argo_workflows(args: argparse.Namespace) -> dict[str, Any]:
    """The Workflows the pipeline's CronWorkflow (or a backfill) made, from kubectl."""
    import subprocess

    from pipelines.ops import backfill as bf

    namespace = args.namespace or platform.load(args.platform).namespace
    cmd = ["kubectl", *(["--context", args.context] if args.context else [])]
    cmd += ["get", "workflows", "--namespace", namespace, "-o", "json"]
    cmd += ["-l", f"{bf.CRON_LABEL}={args.name}"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise ir.IRError(f"{' '.join(cmd)}: {out.stderr.strip() or out.returncode}")
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def _preflight(args: argparse.Namespace) -> int:
    from pipelines.ops import preflight

    checks = preflight.run_checks(
        platform.load(args.platform), preflight.real_kubectl(args.context)
    )
    return preflight.report(checks)


def _trigger(args: argparse.Namespace) -> int:
    """`trigger retrain --reason new-data --detail P`: the trigger step's CLI (the rule, then a
    detached local run), as the monitoring DAG runs it, with this runs folder."""
    import subprocess

    from pipelines.local import results
    from pipelines.local.results import utc_stamp

    runs_dir = Path(args.runs_dir).resolve()
    out = runs_dir / ".triggers" / f"{args.reason}-{utc_stamp()}-{os.getpid()}"
    try:
        params = catalog.parse_params(args.param)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    cmd = [sys.executable, "-m", "components.trigger", "--target", "local", "--output", str(out)]
    cmd += ["--kind", args.reason, "--detail", args.detail, "--window-end", args.at]
    cmd += ["--cooldown-hours", str(args.cooldown_hours)]
    cmd += ["--retrain-parameters", json.dumps(params)]
    env = {
        **os.environ,
        "RETRAIN_PIPELINES_RUNS_DIR": str(runs_dir),
        "RETRAIN_PIPELINES_ENGINE": args.engine,
        "RETRAIN_PIPELINES_LOCAL_GCS": str(Path(args.local_gcs).resolve()),
        "RETRAIN_PIPELINES_CWD": str(Path.cwd()),
    }
    done = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=False)
    if done.returncode != 0:
        return done.returncode  # the step said why on stderr
    record = json.loads((out / "trigger.json").read_text())
    if not record["fired"]:
        print(f"no retrain: {record['why']} (decision: {out / 'trigger.json'})")
        return 0
    started = record["started"]
    print(f"retrain started for {record['reason']}: run {runs_dir / started['run']}")
    print(f"  log: {started['log']}")
    if not args.wait:
        return 0
    try:
        status = results.wait_ended(runs_dir / started["run"], started["pid"])["status"]
    except results.RunLost as err:
        print(f"retrain {started['run']}: {err}; its log: {started['log']}", file=sys.stderr)
        return 1
    print(f"retrain {started['run']}: {status}")
    return 0 if status == "succeeded" else 1


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
    r.add_argument("name", nargs="?", choices=sorted(catalog.PIPELINES))
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
    r.add_argument(
        "--no-cache",
        action="store_true",
        help="run every task, reusing no cached result (results are still recorded)",
    )
    r.add_argument(
        "--resume",
        default=None,
        metavar="RUN",
        help="rerun a failed or interrupted run (its folder, or its name under --runs-dir) in "
        "place from its first unfinished task, with its parameters and options",
    )
    r.set_defaults(func=_run, resumed_arguments=None, finished={})
    f = sub.add_parser("preflight", help="check a kube context has what the manifests need")
    f.add_argument("--context", default=None, help="kube context (default: the current one)")
    f.add_argument("--platform", type=Path, default=platform.DEFAULT_PLATFORM)
    f.set_defaults(func=_preflight)
    b = sub.add_parser(
        "backfill",
        help="run (or submit to Argo) the scheduled runs missing in a time range",
        description="One run per time the pipeline's schedule (pipelines/catalog.py) fires in "
        "[--from, --to], skipping the times that already have a succeeded run (or one in "
        "flight) in the run records; running it twice does what running it once did.",
    )
    b.add_argument("name", choices=sorted(catalog.SCHEDULES))
    b.add_argument("--from", dest="start", required=True, metavar="RFC3339", help="first time")
    b.add_argument("--to", dest="end", default=None, metavar="RFC3339", help="last (default: now)")
    b.add_argument(
        "--target",
        choices=("local", "argo"),
        default="local",
        help="local: python -m pipelines run per time (default); argo: argo submit --from "
        "cronwf/NAME --scheduled-time per time (the CronWorkflow must be installed)",
    )
    b.add_argument("--parallel", type=int, default=1, help="runs at a time (default 1)")
    b.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE")
    b.add_argument("--runs-dir", default="runs", help="local run folders (default: runs)")
    b.add_argument("--engine", choices=("kfp", "argo"), default="kfp", help="local: which file")
    b.add_argument("--local-gcs", default="local-gcs", help="local: the stand-in of the buckets")
    b.add_argument("--namespace", default=None, help="argo: namespace (default: the platform's)")
    b.add_argument("--context", default=None, help="argo: kube context (default: current)")
    b.add_argument("--platform", type=Path, default=platform.DEFAULT_PLATFORM)
    b.add_argument("--dry-run", action="store_true", help="print the plan and commands only")
    b.set_defaults(func=_backfill)
    t = sub.add_parser(
        "trigger",
        help="start a retrain locally for a new data partition (or a verdict), under the "
        "trigger's rule: one in flight, one per partition, the cooldown for verdicts",
        description="The local half of the retraining triggers (components/trigger): what the "
        "monitoring DAG's trigger step does for a verdict, and what Argo Events' Sensor does "
        "for a new partition on a cluster. Call it from whatever sees the partition land.",
    )
    t.add_argument("name", choices=("retrain",))
    t.add_argument("--reason", required=True, choices=("new-data", "drift", "decay"))
    t.add_argument("--detail", default="", help="e.g. the partition (local-gcs/b/dt=2026-12-01)")
    t.add_argument("--at", default="", metavar="RFC3339", help="decide as of (default: now)")
    t.add_argument("--cooldown-hours", type=float, default=24.0, help="verdicts (default 24)")
    t.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE")
    t.add_argument("--runs-dir", default="runs", help="local run folders (default: runs)")
    t.add_argument("--engine", choices=("kfp", "argo"), default="kfp", help="which file runs")
    t.add_argument("--local-gcs", default="local-gcs", help="the stand-in of the buckets")
    t.add_argument("--wait", action="store_true", help="wait for the retrain to finish")
    t.set_defaults(func=_trigger)
    n = sub.add_parser(
        "runs", help="list or compare recorded runs (run folders and MLflow tracking)"
    )
    n.add_argument(
        "--tracking-uri",
        default="",
        help="MLflow tracking URI (default: the local runs' store under --local-gcs); a local "
        "store (sqlite:///..., a file store folder) is read directly, a server with MLflow",
    )
    n.add_argument("--runs-dir", default="runs", help="local run folders (default: runs)")
    n.add_argument("--experiment", default=None, help="one experiment (the config's model.name)")
    n.add_argument("--limit", type=int, default=20, help="newest runs shown (default 20)")
    n.add_argument(
        "--compare",
        nargs="+",
        metavar="RUN",
        default=None,
        help="run ids (or prefixes, or run names): what differs, with deltas to the first",
    )
    n.add_argument("--all", action="store_true", help="with --compare: the equal values too")
    n.add_argument("--metric", default="roc_auc", help="the metric column (default roc_auc)")
    n.add_argument("--local-gcs", default="local-gcs", help="the local stand-in of the buckets")
    n.add_argument("--platform", type=Path, default=platform.DEFAULT_PLATFORM)
    n.set_defaults(func=_runs)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (ir.IRError, platform.PlatformError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # before a run started, or in another command: no traceback
        print("cancelled by Ctrl-C", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
