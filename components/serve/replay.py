"""The replay simulator: held-out labelled records of a dataset's test split sent as traffic
through the A/B router, with outcomes drawn from the labels, then read out and applied, round
after round, until the readout promotes or rolls back. For local runs and tests.

The readout and its decision are pluggable (`simulate(read_out=..., apply=...)`): the command
below drives the readout and promote steps through their CLIs as the pipeline does
(`steps_by_cli`); the tests plug in the in-memory readout (components.readout.memory) and
promote's `apply` to run hundreds of experiments.

Each unit sends `requests_per_unit` requests for records drawn at random; an answered request
whose decision (score >= 0.5) matches the record's label converts (an outcome event of value 1)
with probability `hit_rate`, a wrong one with `miss_rate`. So a more accurate model earns more
outcomes, and the readout sees what a product metric would: the arm, not the label. Time is
simulated (units arrive at `units_per_hour`), so the dashboard's time axis spans hours while the
run takes seconds.

    python -m components.serve.replay --dataset runs/<run>/build-dataset/dataset \
        --config config/reviews.yaml --registry-root local-gcs/retrain-dev-models/registry \
        --log-root serving-logs --output ab-runs/replay
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import math
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from components.common import fs, tfdata
from components.common.artifacts import PROMOTE, ROLLBACK, Dataset, Readout, ServingLogs
from components.common.cli import run_cli
from components.common.errors import InputDataError, PipelineError
from components.common.model import load_model as load_model_config
from components.common.registry import Registry

log = logging.getLogger(__name__)


@dataclass
class Traffic:
    records: list[dict[str, Any]]
    labels: np.ndarray


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def load_traffic(
    dataset_dir: str, label: str, features: Iterable[str], split: str = "test"
) -> Traffic:
    """A split's records as the JSON instances a client would send (None for a missing value)."""
    names = sorted(features)
    types = tfdata.feature_types(dataset_dir, names)
    columns, labels = tfdata.load_split(dataset_dir, split, types, label)
    records = [{n: _jsonable(columns[n][i]) for n in names} for i in range(len(labels))]
    return Traffic(records, labels)


@dataclass
class SimClock:
    now_: dt.datetime

    def now(self) -> dt.datetime:
        return self.now_

    def advance(self, seconds: float) -> None:
        self.now_ += dt.timedelta(seconds=seconds)


@dataclass
class MemoryLog:
    """A request log kept in memory (the fast readout path of the tests)."""

    entries: list[dict[str, Any]] = field(default_factory=list)

    def write(self, entry: dict[str, Any], at: dt.datetime) -> None:
        self.entries.append(entry)


@dataclass(frozen=True)
class SimulatedLatency:
    """The latency the replay records for each request: drawn from a log-normal seeded by the
    run's seed (median `median_ms`, or `by_version[version]` for a model made slower on
    purpose), in place of the time the router measured. A simulation on a busy machine then
    reads out the same as on an idle one: the measured time says how busy the machine was,
    not how fast the model is."""

    median_ms: float = 3.0
    sigma: float = 0.3
    by_version: dict[str, float] = field(default_factory=dict)

    def draw(self, rng: np.random.Generator, version: str) -> float:
        median = self.by_version.get(version, self.median_ms)
        return round(float(median * math.exp(self.sigma * rng.standard_normal())), 3)


class _SimulatedLatencyLog:
    """A request log whose entries get the simulated latency instead of the measured one (the
    measured one is kept as `measured_latency_ms`)."""

    def __init__(self, inner: Any, latency: SimulatedLatency, rng: np.random.Generator) -> None:
        self.inner, self.latency, self.rng = inner, latency, rng

    def write(self, entry: dict[str, Any], at: dt.datetime) -> None:
        simulated = self.latency.draw(self.rng, str(entry.get("model_version")))
        entry = {**entry, "latency_ms": simulated, "measured_latency_ms": entry["latency_ms"]}
        self.inner.write(entry, at)

    def __getattr__(self, name: str) -> Any:  # entries, close, ... of the wrapped log
        return getattr(self.inner, name)


class OutcomeLog:
    """Outcome events as JSONL under <log root>/<model>/outcomes/<date>/<name>.jsonl (or kept
    in memory when `root` is None)."""

    def __init__(self, root: Path | None, model_name: str, name: str) -> None:
        self.path = (
            root / model_name / ServingLogs.OUTCOMES / "replay" / f"{name}.jsonl" if root else None
        )
        self.events: list[dict[str, Any]] = []
        if self.path:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, events: list[dict[str, Any]]) -> None:
        self.events.extend(events)
        if self.path and events:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events))


def send(
    router: Any,
    traffic: Traffic,
    units: range,
    rng: np.random.Generator,
    clock: SimClock,
    outcomes: OutcomeLog,
    units_per_hour: float,
    requests_per_unit: int = 1,
    prefix: str = "u",
    hit_rate: float = 0.9,
    miss_rate: float = 0.1,
) -> dict[str, int]:
    """Units `units` each send their requests through the router; outcomes drawn from labels."""
    counts: dict[str, int] = defaultdict(int)
    events = []
    for u in units:
        unit_id = f"{prefix}{u}"
        for k in range(requests_per_unit):
            clock.advance(rng.exponential(3600 / units_per_hour / requests_per_unit))
            i = int(rng.integers(len(traffic.records)))
            status, body = router.route(unit_id, [traffic.records[i]], f"{unit_id}-{k}")
            counts[f"{body.get('arm', 'none')}_{status}"] += 1
            if status != 200:
                continue
            correct = (body["predictions"][0] >= 0.5) == (traffic.labels[i] == 1)
            if rng.random() < (hit_rate if correct else miss_rate):
                events.append(
                    {
                        "request_id": body["request_id"],
                        "unit_id": unit_id,
                        "time": clock.now().isoformat(timespec="milliseconds"),
                        "value": 1,
                    }
                )
    outcomes.write(events)
    return dict(counts)


ReadOut = Callable[[int, list[dict[str, Any]], list[dict[str, Any]]], dict[str, Any]]
"""(round, request log entries, outcome events) -> the readout's decision.json; the two lists are
the logs kept in memory (empty when the logs are files under a log root)."""
Apply = Callable[[int, dict[str, Any]], dict[str, Any]]
"""(round, decision) -> what applying it moved (the promote step's record)."""


def simulate(
    registry: Registry,
    traffic: Traffic,
    read_out: ReadOut,
    apply: Apply,
    *,
    seed: int,
    units_per_round: int,
    max_rounds: int,
    units_per_hour: float = 600,
    requests_per_unit: int = 1,
    log_root: Path | None = None,
    loader: Callable[..., Any] | None = None,
    start: dt.datetime = dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
    latency: SimulatedLatency | None = SimulatedLatency(),
) -> list[dict[str, Any]]:
    """Rounds of traffic, each followed by `read_out` and `apply` of its decision, until the
    decision is promote or roll back. With `log_root` the logs are files (what the readout step
    reads: `steps_by_cli`); without, they stay in memory and are handed to `read_out`. The
    request log records `latency` (SimulatedLatency, seeded by `seed`), or the measured time
    when it is None."""
    from components.serve.requestlog import RequestLog
    from components.serve.router import Router, load_model

    clock = SimClock(start)
    rng = np.random.default_rng(seed)
    name = f"replay-{seed}"
    request_log: Any = RequestLog(log_root, registry.model_name, name) if log_root else MemoryLog()
    if latency is not None:  # its own stream: the traffic drawn from `rng` stays as it was
        request_log = _SimulatedLatencyLog(request_log, latency, np.random.default_rng([seed, 1]))
    outcomes = OutcomeLog(log_root, registry.model_name, name)
    router = Router(registry, request_log, clock=clock.now, loader=loader or load_model)
    router.refresh()
    rounds = []
    for k in range(max_rounds):
        counts = send(
            router,
            traffic,
            range(k * units_per_round, (k + 1) * units_per_round),
            rng,
            clock,
            outcomes,
            units_per_hour,
            requests_per_unit,
            prefix=f"s{seed}-u",
        )
        if log_root is not None:
            result = read_out(k + 1, [], [])
        else:
            result = read_out(k + 1, request_log.entries, outcomes.events)
        applied = apply(k + 1, result)
        rounds.append(
            {
                "round": k + 1,
                "traffic": counts,
                **{k_: result[k_] for k_ in ("decision", "reasons")},
                "applied": applied,
            }
        )
        log.info("round %d: %s (%s)", k + 1, result["decision"], "; ".join(result["reasons"]))
        if result["decision"] in (PROMOTE, ROLLBACK):
            break
        router.refresh()
    if log_root is not None:
        request_log.close()
    return rounds


def round_folder(output: Path, number: int) -> Path:
    return output / f"round-{number:03d}"


def steps_by_cli(
    config: str,
    registry_root: str,
    log_root: Path,
    output: Path,
    model_name: str,
    beam_args: Sequence[str] = (),
) -> tuple[ReadOut, Apply]:
    """The readout and promote steps as the pipeline runs them, through their CLIs
    (`python -m components.readout`, `python -m components.promote`): round k reads the logs
    under `log_root` into <output>/round-k/ and applies its decision to the registry."""

    def step(module: str, *args: str | Path) -> None:
        proc = subprocess.run(
            [sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise PipelineError(f"{module} exited {proc.returncode}: {proc.stderr.strip()[-2000:]}")

    def read_out(number: int, _requests: object, _outcomes: object) -> dict[str, Any]:
        folder = round_folder(output, number)
        step(
            "components.readout",
            "--requests",
            ServingLogs.requests_glob(str(log_root), model_name),
            "--outcomes",
            ServingLogs.outcomes_glob(str(log_root), model_name),
            "--config",
            config,
            "--registry-root",
            registry_root,
            "--output",
            folder,
            *beam_args,
        )
        return dict(fs.read_json(str(folder / Readout.DECISION)))

    def apply(number: int, _decision: object) -> dict[str, Any]:
        folder = round_folder(output, number)
        record = folder.with_name(folder.name + ".promote.json")
        step(
            "components.promote",
            "--readout",
            folder,
            "--config",
            config,
            "--registry-root",
            registry_root,
            "--manifest",
            folder.with_name(folder.name + ".inferenceservice.yaml"),
            "--record",
            record,
        )
        return dict(fs.read_json(str(record)))

    return read_out, apply


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m components.serve.replay",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dataset", required=True, help="dataset folder (its test split is replayed)"
    )
    parser.add_argument("--config", required=True, help="pipeline config (sections model, abtest)")
    parser.add_argument(
        "--registry-root", required=True, help="registry with a champion and a challenger"
    )
    parser.add_argument(
        "--log-root", required=True, type=Path, help="request and outcome logs go here"
    )
    parser.add_argument("--output", required=True, type=Path, help="one readout folder per round")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--units-per-round", type=int, default=500)
    parser.add_argument("--max-rounds", type=int, default=20)
    parser.add_argument("--units-per-hour", type=float, default=600)
    parser.add_argument("--requests-per-unit", type=int, default=1)
    parser.add_argument(
        "--measured-latency",
        action="store_true",
        help="log the latency the router measured on this machine instead of a simulated one "
        "(log-normal, median 3 ms, seeded): a busy machine then shows in the latency guardrail",
    )
    return parser.parse_args(argv)


def _body(argv: Sequence[str] | None) -> int:
    from components.serve.router import load_model

    args = parse_args(argv)
    model_name = load_model_config(args.config).name
    label = str(fs.read_json(Dataset.schema(args.dataset))["label"])
    registry = Registry(args.registry_root, model_name)
    champion = registry.champion()
    if champion is None or registry.challenger() is None:
        raise InputDataError(
            f"{registry.base} needs a champion and a challenger to replay traffic against; run "
            "the retraining pipeline twice (the second blessed model becomes the challenger)"
        )
    features = load_model(registry, champion["version"]).kinds
    traffic = load_traffic(args.dataset, label, features)
    read_out, apply = steps_by_cli(
        args.config, args.registry_root, args.log_root, args.output, model_name
    )
    rounds = simulate(
        registry,
        traffic,
        read_out,
        apply,
        seed=args.seed,
        units_per_round=args.units_per_round,
        max_rounds=args.max_rounds,
        units_per_hour=args.units_per_hour,
        requests_per_unit=args.requests_per_unit,
        log_root=args.log_root,
        latency=None if args.measured_latency else SimulatedLatency(),
    )
    for r in rounds:
        print(json.dumps(r))
    print(f"dashboard: {round_folder(args.output, len(rounds)) / Readout.DASHBOARD}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("replay", _body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
