"""The replay simulator: held-out labelled records of a dataset's test split sent as traffic
through the A/B router, with outcomes drawn from the labels, then read out and applied, round
after round, until the readout promotes or rolls back. For local runs and tests.

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
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from components.common import fs, tfdata
from components.common.cli import run_cli
from components.common.config import load_section
from components.common.registry import Registry
from components.deploy.config import DeployConfig
from components.readout.config import ABTestConfig

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


class OutcomeLog:
    """Outcome events as JSONL under <log root>/<model>/outcomes/<date>/<name>.jsonl (or kept
    in memory when `root` is None)."""

    def __init__(self, root: Path | None, model_name: str, name: str) -> None:
        self.path = root / model_name / "outcomes" / "replay" / f"{name}.jsonl" if root else None
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


def readout_in_memory(
    cfg: ABTestConfig,
    registry: Registry,
    entries: list[dict[str, Any]],
    events: list[dict[str, Any]],
) -> dict[str, Any]:
    """The readout of logs held in memory: the same parsing, unit summaries and decision as the
    Beam job (pipeline.summarize_unit, stats.decide), joined with dicts. Tests use it to run
    hundreds of simulated experiments; `test_readout_paths_agree` holds it to the Beam job."""
    from components.readout import pipeline, stats

    champion, challenger = registry.champion(), registry.challenger()
    assert champion is not None and challenger is not None
    key = cfg.join_on
    outcome_sum: dict[str, float] = defaultdict(float)
    for e in events:
        outcome_sum[e[key]] += e["value"]
    by_unit: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for raw in entries:
        row = pipeline.parse_request(json.dumps(raw))
        if row.get("challenger") == challenger["version"]:
            by_unit[row["unit_id"]].append(
                {**row, "outcome": outcome_sum.get(row["request_id"], 0.0)}
            )
    summaries = [
        pipeline.summarize_unit(u, rows, outcome_sum.get(u, 0.0) if key == "unit_id" else None)
        for u, rows in by_unit.items()
    ]
    units = [s for s in summaries if s["arm"] in pipeline.ARMS]
    latency = {}
    for arm in pipeline.ARMS:
        values = [r["latency_ms"] for rows in by_unit.values() for r in rows if r["arm"] == arm]
        if values:
            q = np.quantile(values, [0.5, 0.99, 1.0])
            latency[arm] = {
                "requests": len(values),
                "errors": sum(
                    r["status"] == "error"
                    for rows in by_unit.values()
                    for r in rows
                    if r["arm"] == arm
                ),
                "p50_ms": float(q[0]),
                "p99_ms": float(q[1]),
                "max_ms": float(q[2]),
            }
    result = stats.decide(cfg, units, latency)
    result.update(champion=champion["version"], challenger=challenger["version"], read_utc="")
    return result


def simulate(
    registry: Registry,
    traffic: Traffic,
    cfg: ABTestConfig,
    *,
    seed: int,
    units_per_round: int,
    max_rounds: int,
    units_per_hour: float = 600,
    requests_per_unit: int = 1,
    log_root: Path | None = None,
    output: Path | None = None,
    beam_args: Sequence[str] = (),
    loader: Callable[..., Any] | None = None,
    start: dt.datetime = dt.datetime(2026, 12, 1, tzinfo=dt.UTC),
) -> list[dict[str, Any]]:
    """Rounds of traffic, each followed by a readout and its decision applied, until the decision
    is promote or roll back. With `log_root` and `output` the logs are files and the readout is
    the Beam job (what users run); without, they stay in memory (the tests' many seeds)."""
    from components.promote.promote import apply
    from components.readout.readout import readout
    from components.serve.requestlog import RequestLog, requests_glob
    from components.serve.router import Router, load_model

    clock = SimClock(start)
    rng = np.random.default_rng(seed)
    name = f"replay-{seed}"
    request_log: Any = RequestLog(log_root, registry.model_name, name) if log_root else MemoryLog()
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
        if log_root is not None and output is not None:
            result = readout(
                requests_glob(str(log_root), registry.model_name),
                f"{log_root}/{registry.model_name}/outcomes/*/*.jsonl",
                cfg,
                registry,
                output / f"round-{k + 1:03d}",
                list(beam_args),
            )
        else:
            result = readout_in_memory(cfg, registry, request_log.entries, outcomes.events)
        applied = apply(result, registry)
        rounds.append(
            {
                "round": k + 1,
                "traffic": counts,
                **{k_: result[k_] for k_ in ("decision", "reasons")},
                "applied": applied,
            }
        )
        log.info("round %d: %s (%s)", k + 1, result["decision"], "; ".join(result["reasons"]))
        if result["decision"] in ("promote", "rollback"):
            break
        router.refresh()
    if log_root is not None:
        request_log.close()
    return rounds


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m components.serve.replay",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--dataset", required=True, help="dataset folder (its test split is replayed)"
    )
    parser.add_argument("--config", required=True, help="pipeline config (abtest, deploy, train)")
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
    return parser.parse_args(argv)


def _body(argv: Sequence[str] | None) -> int:
    from components.serve.router import load_model

    args = parse_args(argv)
    cfg = load_section(args.config, "abtest", ABTestConfig)
    model_name = load_section(args.config, "deploy", DeployConfig).model_name
    label = str(fs.read_json(fs.join(args.dataset, "schema.json"))["label"])
    registry = Registry(args.registry_root, model_name)
    champion = registry.champion()
    if champion is None or registry.challenger() is None:
        from components.common.errors import InputDataError

        raise InputDataError(
            f"{registry.base} needs a champion and a challenger to replay traffic against; run "
            "the retraining pipeline twice (the second blessed model becomes the challenger)"
        )
    features = load_model(registry, champion["version"]).kinds
    traffic = load_traffic(args.dataset, label, features)
    rounds = simulate(
        registry,
        traffic,
        cfg,
        seed=args.seed,
        units_per_round=args.units_per_round,
        max_rounds=args.max_rounds,
        units_per_hour=args.units_per_hour,
        requests_per_unit=args.requests_per_unit,
        log_root=args.log_root,
        output=args.output,
    )
    for r in rounds:
        print(json.dumps(r))
    print(f"dashboard: {args.output / f'round-{len(rounds):03d}' / 'dashboard.html'}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("replay", _body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
