"""`make demo-drift`: continuous training as a short story. Held-out reviews replayed through the
A/B router on a simulated clock, hour after hour; from one hour on the inputs drift (each review
is three reviews of the same sentiment run together: far longer than anything in training); the
monitoring DAG run once per simulated hour on the window that hour closes, its trigger step
starting the retraining DAG when the verdict says drift, and the cooldown keeping it from
starting another; then the triggered retrain waited for and its outcome told.

    python scripts/demo_drift.py                      # after `make demo` (a champion)
    python scripts/demo_drift.py --config small.yaml -p data_uri=reviews_sample.csv

Everything runs on a copy of the champion's registry inside the demo folder
(drift-runs/drift-<UTC stamp>/ unless --output says otherwise): the request and outcome logs,
the monitor and retrain run folders (--runs-dir), their logs. The registry the demo started
from is only read. The console shows one line per simulated hour and the end of the story.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.common.errors import InputDataError, PipelineError
from components.common.registry import Registry
from pipelines.local import results

REPO = Path(__file__).resolve().parent.parent
DEFAULT_REGISTRY = "local-gcs/retrain-dev-models/registry"
DEFAULT_CONFIG = "config/reviews.yaml"
MODEL_NAME = "reviews-sentiment"
JOINED_REVIEWS = 3  # a drifted review: this many reviews of one sentiment run together
DRIFT_SEED = 1  # the drifted texts' own random stream (the traffic's is --seed)
POLL_SECONDS = 2.0
PROGRESS_SECONDS = 60.0
RETRAIN_TIMEOUT_SECONDS = 3600.0

log = logging.getLogger(__name__)


class DemoError(PipelineError):
    """The demo cannot start or a step it runs failed; the message says which and what to do."""


# ---- the world: a copy of the champion, the traffic --------------------------------------------


def champion_of(source_root: Path, model_name: str) -> str:
    """The version the registry's champion pointer names; DemoError saying what to run if none."""
    source = Registry(str(source_root), model_name)
    champion = source.champion() if (source_root / model_name).is_dir() else None
    if champion is None:
        raise DemoError(
            f"{source_root / model_name} has no champion to serve; run `make demo` first (it "
            "trains the review model into the local registry), or pass --registry-root"
        )
    return str(champion["version"])


def copy_champion(source_root: Path, model_name: str, target_root: Path) -> str:
    """The champion's version folder and pointer copied into `target_root` (a registry of one
    version, no challenger: the router serves the champion alone); its version."""
    version = champion_of(source_root, model_name)
    source = Registry(str(source_root), model_name)
    target = Registry(str(target_root), model_name)
    shutil.copytree(source.version_uri(version), target.version_uri(version))
    pointer = Path(source.pointer_uri("champion"))
    shutil.copy2(pointer, Path(target.pointer_uri("champion")))
    return version


def latest_dataset(runs_dir: Path) -> Path:
    """The newest local retrain run's dataset folder (its test split is the traffic)."""
    found = sorted(runs_dir.glob("retrain-*/build-dataset/dataset"))
    if not found:
        raise DemoError(
            f"no {runs_dir}/retrain-*/build-dataset/dataset: the traffic is a retrain run's "
            "held-out test split; run `make demo` first, or pass --dataset"
        )
    return found[-1]


def drifted_traffic(traffic: Any, feature: str, seed: int) -> Any:
    """The same records with `feature`'s text replaced by JOINED_REVIEWS texts of the same label
    run together (the record's own first): reviews longer than the training set ever had, whose
    sentiment (so the outcome the replay draws from the label) is still the record's."""
    import numpy as np

    from components.serve.replay import Traffic

    rng = np.random.default_rng(seed)
    by_label: dict[int, list[int]] = {}
    for i, y in enumerate(traffic.labels.tolist()):
        by_label.setdefault(int(y), []).append(i)
    records = []
    for i, record in enumerate(traffic.records):
        same = by_label[int(traffic.labels[i])]
        others = [int(j) for j in rng.choice(same, JOINED_REVIEWS - 1)]
        texts = [str(traffic.records[j].get(feature) or "") for j in [i, *others]]
        records.append({**record, feature: " ".join(texts)})
    return Traffic(records, traffic.labels)


def text_feature(kinds: dict[str, str]) -> str:
    """The text feature whose reviews drift (`text` if there are several)."""
    texts = sorted(n for n, kind in kinds.items() if kind == "text")
    if not texts:
        raise DemoError(f"the champion has no text input to drift (its inputs' kinds: {kinds})")
    return "text" if "text" in texts else texts[0]


@dataclass
class Replay:
    """The router over the demo registry, its logs under `log_root`, and the simulated clock:
    `hour(k, traffic)` sends the requests that arrive in hour k (a Poisson stream of
    `per_hour`), outcome events drawn from the labels (value 1 when the prediction was right:
    the monitor's `outcome: correct`)."""

    router: Any
    clock: Any
    rng: Any
    outcomes: Any
    arms: Any
    start: dt.datetime
    per_hour: float
    sent: int = 0

    def hour(self, k: int, traffic: Any) -> int:
        from components.serve.replay import send

        end = self.start + dt.timedelta(hours=k + 1)
        before = self.sent
        while self.clock.now() < end:
            send(
                self.router,
                traffic,
                range(self.sent, self.sent + 1),
                self.rng,
                self.clock,
                self.outcomes,
                self.per_hour,
                prefix="drift-u",
                hit_rate=1.0,
                miss_rate=0.0,
                arms=self.arms,
            )
            self.sent += 1
        return self.sent - before


def start_replay(
    registry: Registry, log_root: Path, start: dt.datetime, per_hour: float, seed: int
) -> tuple[Replay, Any]:
    import numpy as np

    from components.serve.replay import OutcomeLog, SeededArms, SimClock
    from components.serve.requestlog import RequestLog
    from components.serve.router import Router

    clock = SimClock(start)
    request_log = RequestLog(log_root, registry.model_name, f"drift-{seed}")
    router = Router(registry, request_log, clock=clock.now)
    router.refresh()
    ready, why = router.readiness()
    if not ready:
        raise DemoError(f"the router serves nothing: {why}")
    outcomes = OutcomeLog(log_root, registry.model_name, f"drift-{seed}")
    replay = Replay(
        router,
        clock,
        np.random.default_rng(seed),
        outcomes,
        SeededArms(router, np.random.default_rng([seed, 2])),
        start,
        per_hour,
    )
    return replay, request_log


# ---- the pipelines, through their CLI ----------------------------------------------------------


def rfc3339(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def monitor_parameters() -> set[str]:
    from pipelines import catalog

    return set(catalog.kfp_parameters(catalog.kfp_manifest("monitor")))


@dataclass
class Hour:
    """One monitor run: its folder, verdict.json and (with the trigger step) trigger.json."""

    run_dir: Path
    seconds: float
    verdict: dict[str, Any]
    trigger: dict[str, Any] | None
    metrics: dict[str, Any]

    def psi(self, feature: str) -> float | None:
        """The champion's PSI of `feature` over the window (None: no traffic to judge)."""
        version = self.metrics.get("versions", {}).get(self.verdict.get("champion"), {})
        value = version.get("features", {}).get(feature, {}).get("psi")
        return float(value) if isinstance(value, int | float) else None

    def report(self) -> Path | None:
        found = sorted(self.run_dir.rglob("report.html"))
        return found[0] if found else None


def _one(run_dir: Path, name: str) -> Path | None:
    found = sorted(run_dir.rglob(name))
    return found[0] if found else None


def run_monitor(
    when: dt.datetime,
    runs_dir: Path,
    local_gcs: Path,
    params: dict[str, str],
    log_file: Path,
) -> Hour:
    """`python -m pipelines run monitor --scheduled-time WHEN`; its verdict and trigger record."""
    before = set(runs_dir.glob("monitor-*"))
    cmd = [sys.executable, "-m", "pipelines", "run", "monitor", "--runs-dir", str(runs_dir)]
    cmd += ["--local-gcs", str(local_gcs), "--scheduled-time", rfc3339(when)]
    cmd += [a for name, value in params.items() for a in ("-p", f"{name}={value}")]
    t0 = time.monotonic()
    with log_file.open("w") as out:
        done = subprocess.run(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, check=False)
    seconds = time.monotonic() - t0
    new = sorted(set(runs_dir.glob("monitor-*")) - before)
    if done.returncode != 0 or len(new) != 1:
        tail = log_file.read_text(errors="replace").strip().splitlines()[-15:]
        raise DemoError(
            f"the monitor run at {rfc3339(when)} exited {done.returncode} (log {log_file}):\n"
            + "\n".join(tail)
        )
    run_dir = new[0]
    verdict_file = _one(run_dir, "verdict.json")
    if verdict_file is None:
        raise DemoError(f"{run_dir}: the monitor run succeeded but left no verdict.json")
    trigger_file = _one(run_dir, "trigger.json")
    trigger = json.loads(trigger_file.read_text()) if trigger_file else None
    metrics = json.loads(verdict_file.with_name("metrics.json").read_text())
    return Hour(run_dir, seconds, json.loads(verdict_file.read_text()), trigger, metrics)


def retrain_runs(runs_dir: Path) -> list[Path]:
    return sorted(runs_dir.glob("retrain-*"))


def wait_for_retrain(
    runs_dir: Path, trigger: dict[str, Any], timeout: float = RETRAIN_TIMEOUT_SECONDS
) -> tuple[Path, dict[str, Any], float]:
    """Wait until the triggered retrain's run.json says it ended (a progress line every
    PROGRESS_SECONDS); (its folder, its record, seconds waited)."""
    what = started(trigger)
    if not what.get("run"):
        raise DemoError(f"the trigger started a retrain but named no run folder: {what}")
    run_dir = runs_dir / what["run"]
    t0 = last = time.monotonic()

    def tick(waited: float, record: dict[str, Any] | None) -> None:
        nonlocal last
        if time.monotonic() - last < PROGRESS_SECONDS:
            return
        last = time.monotonic()
        tasks = (record or {}).get("tasks", {})
        latest = list(tasks)[-1].split("/")[-1] if tasks else "none yet"
        print(
            f"  ... retrain running for {waited:.0f}s: {len(tasks)} task(s) finished, "
            f"the last {latest}",
            flush=True,
        )

    try:
        record = results.wait_ended(
            run_dir, what.get("pid"), timeout=timeout, poll=POLL_SECONDS, tick=tick
        )
    except (results.RunLost, TimeoutError) as err:
        raise DemoError(f"the triggered retrain: {err}; its log: {what.get('log')}") from None
    return run_dir, record, time.monotonic() - t0


# ---- the story ---------------------------------------------------------------------------------


def short(text: str, width: int = 120) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def started(trigger: dict[str, Any]) -> dict[str, Any]:
    """What the trigger step started: {run, pid, log, command} (its `started`, or the record
    itself when it keeps them at the top)."""
    inner = trigger.get("started")
    return dict(inner) if isinstance(inner, dict) else dict(trigger)


def trigger_cell(trigger: dict[str, Any] | None, has_trigger: bool) -> str:
    """The trigger step's decision; it runs only on a drift or decay verdict."""
    if trigger is None:
        return "-" if has_trigger else "(the compiled monitor has no trigger step)"
    if trigger.get("fired"):
        what = started(trigger)
        return f"FIRED: {what.get('run') or 'a retrain'} (pid {what.get('pid')})"
    return f"skipped: {compact_why(str(trigger.get('why') or '-'))}"


def compact_why(why: str, width: int = 112) -> str:
    """The trigger's why, its quoted reason elided when long: 'retrain R (drift: ...) is in
    flight; one at a time' -> 'retrain R (...) is in flight; one at a time'."""
    if len(why) <= width or " (" not in why or ") " not in why:
        return short(why, width)
    return short(f"{why.partition(' (')[0]} (...) {why.rpartition(') ')[2]}", width)


def hour_line(k: int, drifting: bool, n: int, hour: Hour, feature: str, has_trigger: bool) -> str:
    """hour, inputs, requests, the text's length PSI, verdict, seconds, trigger; then the
    verdict's first reason."""
    v = hour.verdict
    reasons = v.get("reasons") or ["-"]
    psi = hour.psi(feature)
    cells = [
        f"{k + 1:>4}",
        f"{'drifted' if drifting else 'usual':>7}",
        f"{n:>8,}",
        f"{'-' if psi is None else f'{psi:.3f}':>8}",
        f"{v.get('verdict', '?'):>7}",
        f"{hour.seconds:>6.1f}s",
    ]
    return (
        "  ".join(cells)
        + f"  {trigger_cell(hour.trigger, has_trigger)}\n{'':>12}{short(reasons[0])}"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python scripts/demo_drift.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--registry-root",
        type=Path,
        default=Path(DEFAULT_REGISTRY),
        help=f"where the champion is (default {DEFAULT_REGISTRY}); only read: it is copied",
    )
    parser.add_argument(
        "--config",
        default=DEFAULT_CONFIG,
        help="the config the monitor reads and the triggered retrain trains with "
        f"(default {DEFAULT_CONFIG}; a small one makes the retrain fast)",
    )
    parser.add_argument(
        "--dataset",
        type=Path,
        default=None,
        help="dataset folder whose test split is the traffic (default: the newest "
        "runs/retrain-*/build-dataset/dataset)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="the demo folder, which must not exist (default drift-runs/drift-<UTC stamp>)",
    )
    parser.add_argument("--hours", type=int, default=8, help="simulated hours (default 8)")
    parser.add_argument(
        "--drift-from",
        type=int,
        default=4,
        help="the inputs drift from the start of this hour, counted from 0 (default 4)",
    )
    parser.add_argument(
        "--requests-per-hour", type=float, default=400, help="mean arrivals (default 400)"
    )
    parser.add_argument("--seed", type=int, default=0, help="the traffic's draws (default 0)")
    parser.add_argument(
        "--start",
        default="2026-12-01T00:00:00Z",
        help="the simulated clock's start, a full hour (default 2026-12-01T00:00:00Z)",
    )
    parser.add_argument(
        "-p",
        "--retrain-param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a parameter of the triggered retrain (the monitor's retrain_parameters), e.g. "
        "data_uri=reviews.csv (repeatable)",
    )
    parser.add_argument(
        "--local-gcs",
        type=Path,
        default=None,
        help="the stand-in of the buckets for the runs (default <demo folder>/local-gcs)",
    )
    parser.add_argument(
        "--after-hours",
        type=int,
        default=2,
        help="drifted hours simulated after the triggered retrain ended, where the cooldown "
        "keeps the trigger from starting another (default 2)",
    )
    parser.add_argument(
        "--no-wait", action="store_true", help="do not wait for the triggered retrain"
    )
    args = parser.parse_args(argv)
    if args.hours < 1:
        parser.error(f"--hours {args.hours}: expected at least 1")
    if args.after_hours < 0:
        parser.error(f"--after-hours {args.after_hours}: expected 0 or more")
    if not 0 <= args.drift_from <= args.hours:
        parser.error(f"--drift-from {args.drift_from}: expected 0 .. --hours ({args.hours})")
    if args.requests_per_hour <= 0:
        parser.error(f"--requests-per-hour {args.requests_per_hour}: expected a positive rate")
    try:
        args.start = dt.datetime.fromisoformat(args.start.replace("Z", "+00:00"))
    except ValueError:
        parser.error(f"--start {args.start}: expected an RFC 3339 time, e.g. 2026-12-01T00:00:00Z")
    if args.start.tzinfo is None or args.start.minute or args.start.second:
        parser.error(f"--start {args.start}: expected a full hour with a zone (…T00:00:00Z)")
    extra: dict[str, str] = {}
    for item in args.retrain_param:
        name, sep, value = item.partition("=")
        if not sep or not name:
            parser.error(f"-p {item!r}: expected NAME=VALUE")
        extra[name] = value
    args.retrain_parameters = extra
    return args


def _abs(path: str | Path) -> Path:
    p = Path(path)
    return p if p.is_absolute() else (Path.cwd() / p).resolve()


def demo(args: argparse.Namespace) -> int:
    from components.common import fs
    from components.common.artifacts import Dataset, ServingLogs
    from components.common.model import load_model as load_model_config
    from components.serve.replay import load_traffic, quiet_tensorflow

    t_start = time.monotonic()
    config = _abs(args.config)
    if not config.is_file():
        raise DemoError(f"--config {args.config}: no such file")
    model_name = load_model_config(str(config)).name
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    out = _abs(args.output or Path("drift-runs") / f"drift-{stamp}")
    if out.exists():
        raise DemoError(f"--output {out} exists; the demo needs a fresh folder")
    champion_of(_abs(args.registry_root), model_name)
    dataset = _abs(args.dataset) if args.dataset else latest_dataset(REPO / "runs")
    if not fs.exists(Dataset.schema(str(dataset))):
        raise DemoError(
            f"--dataset {dataset}: not a dataset folder (no {Dataset.schema(str(dataset))})"
        )
    out.mkdir(parents=True)
    registry_root, log_root, runs_dir = out / "registry", out / "logs", out / "runs"
    local_gcs = _abs(args.local_gcs) if args.local_gcs else out / "local-gcs"
    step_logs = out / "step-logs"
    step_logs.mkdir()
    version = copy_champion(_abs(args.registry_root), model_name, registry_root)
    registry = Registry(str(registry_root), model_name)

    logging.getLogger("components").setLevel(logging.WARNING)
    quiet_tensorflow()
    from components.serve.router import load_model

    inputs = load_model(registry, version).kinds
    schema = fs.read_json(Dataset.schema(str(dataset)))
    label = str(schema["label"])
    # A client sends the model's inputs, as `make demo-ab` does; the dataset's kinds say which
    # of them is text.
    kinds = {n: str(k) for n, k in (schema.get("kinds") or {}).items() if n in inputs}
    usual = load_traffic(str(dataset), label, inputs)
    feature = text_feature(kinds)
    drifted = drifted_traffic(usual, feature, DRIFT_SEED)
    mean = lambda t: sum(len(str(r[feature] or "")) for r in t.records) / len(t.records)  # noqa: E731

    declared = monitor_parameters()
    params = {
        "requests": ServingLogs.requests_glob(str(log_root), model_name),
        "outcomes": ServingLogs.outcomes_glob(str(log_root), model_name),
        "config": str(config),
        "registry_root": str(registry_root),
    }
    has_trigger = "trigger" in declared
    if has_trigger:
        params["trigger"] = "local"
        params["retrain_parameters"] = json.dumps(args.retrain_parameters, sort_keys=True)

    print(f"demo folder: {out}")
    print(
        f"serving champion {version} of {model_name} (a copy of {args.registry_root}); traffic: "
        f"{len(usual.records):,} held-out reviews of {dataset}"
    )
    print(
        f"{args.hours} simulated hours from {rfc3339(args.start)}, ~{args.requests_per_hour:g} "
        f"requests an hour; from hour {args.drift_from + 1} each '{feature}' is "
        f"{JOINED_REVIEWS} reviews of one sentiment run together (mean "
        f"{mean(usual):.0f} -> {mean(drifted):.0f} characters)"
    )
    if not has_trigger:
        print("the compiled monitor pipeline has no trigger step: verdicts only, no retrain")
    print(
        "the monitor runs at the end of every hour on the hour it closes (PSI: the "
        f"'{feature}' length's against the training statistics; drift above the config's "
        "monitor.psi_drift):"
    )
    print(
        f"{'hour':>4}  {'inputs':>7}  {'requests':>8}  {'PSI':>8}  {'verdict':>7}  {'took':>7}"
        "  trigger"
    )

    replay, request_log = start_replay(
        registry, log_root, args.start, args.requests_per_hour, args.seed
    )
    hours: list[Hour] = []
    fired: list[Hour] = []

    def simulate(k: int) -> None:
        """Hour k's traffic, then the monitor run on the window it closes; its story line."""
        drifting = k >= args.drift_from
        n = replay.hour(k, drifted if drifting else usual)  # each line written unbuffered
        when = args.start + dt.timedelta(hours=k + 1)
        hour = run_monitor(
            when, runs_dir, local_gcs, params, step_logs / f"monitor-{k + 1:02d}.log"
        )
        hours.append(hour)
        if hour.trigger and hour.trigger.get("fired"):
            fired.append(hour)
        print(hour_line(k, drifting, n, hour, feature, has_trigger), flush=True)

    code = 0
    try:
        for k in range(args.hours):
            simulate(k)
        print()
        if fired:
            trig = fired[0].trigger or {}
            print(
                f"retrain triggered at {fired[0].verdict['window_end']}: reason "
                f"{trig.get('reason')!r}"
            )
            print(f"  log: {started(trig).get('log')}")
        else:
            print("no retrain was triggered")
        if fired and not args.no_wait:
            print("waiting for the triggered retrain to finish ...", flush=True)
            run_dir, record, waited = wait_for_retrain(runs_dir, fired[0].trigger or {})
            reason = (record.get("arguments") or {}).get("reason", "(no reason recorded)")
            print(
                f"retrain {record.get('status')} in {record.get('seconds')}s (waited "
                f"{waited:.0f}s): {run_dir}"
            )
            print(f"  reason: {short(str(reason), 110)}")
            for line in retrain_outcome(run_dir, record, registry):
                print(f"  {line}")
            if record.get("status") != "succeeded":
                code = 1
        if args.after_hours:
            replay.router.refresh()  # a version the retrain deployed is served from now on
            print()
            print(f"the drift goes on for {args.after_hours} more hour(s), the retrain over:")
            for k in range(args.hours, args.hours + args.after_hours):
                simulate(k)
    finally:
        request_log.close()

    print()
    drift_hours = [h for h in hours[args.drift_from :] if h.verdict.get("verdict") != "ok"]
    if drift_hours:
        first = drift_hours[0]
        print(f"first drift verdict: {first.verdict['window_end']}; its report: {first.report()}")
    print(f"last report: {hours[-1].report()}")
    skipped = [h for h in hours if h.trigger and not h.trigger.get("fired")]
    monitor_seconds = sum(h.seconds for h in hours)
    print(
        f"{len(hours)} monitor runs ({monitor_seconds:.0f}s), {len(fired)} retrain(s) triggered, "
        f"{len(skipped)} skipped; {time.monotonic() - t_start:.0f}s in all"
    )
    summary = {
        "output": str(out),
        "hours": [
            {
                "window_end": h.verdict.get("window_end"),
                "verdict": h.verdict.get("verdict"),
                "reasons": h.verdict.get("reasons"),
                f"{feature}_psi": h.psi(feature),
                "trigger": h.trigger,
                "run": str(h.run_dir),
                "report": str(h.report()),
                "seconds": round(h.seconds, 1),
            }
            for h in hours
        ],
        "retrains": [str(p) for p in retrain_runs(runs_dir)],
    }
    fs.write_text_atomic(out / "story.json", json.dumps(summary, indent=2) + "\n")
    print(f"the story's numbers: {out / 'story.json'}")
    return code


def retrain_outcome(run_dir: Path, record: dict[str, Any], registry: Registry) -> list[str]:
    """What the retrain decided (its evaluate step's blessing, first reason) and left in the
    demo registry (versions, champion, a challenger under A/B test)."""
    lines = []
    metrics = ((record.get("tasks") or {}).get("evaluate") or {}).get("artifacts", {})
    uri = (metrics.get("metrics") or {}).get("uri")
    if uri and Path(uri).is_file():
        blessing = json.loads(Path(uri).read_text()).get("blessing") or {}
        word = "blessed" if blessing.get("blessed") else "not blessed"
        reasons = blessing.get("reasons") or ["-"]
        lines.append(f"evaluate: {word}: {short(str(reasons[0]), 110)}")
    versions = registry.versions()
    champion = (registry.champion() or {}).get("version")
    challenger = (registry.challenger() or {}).get("version")
    state = f"registry: {len(versions)} version(s), champion {champion}"
    if challenger:
        state += f", challenger {challenger} (the A/B test of `make demo-ab` would read it out)"
    lines.append(state)
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return demo(args)
    except (DemoError, InputDataError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except PipelineError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
