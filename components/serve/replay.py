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

Everything random comes from `--seed`: arrival times, records, outcomes, simulated latency, and
which arm each simulated unit lands in. The router assigns arms by a hash salted with the
challenger's version, whose name carries the time it was published, so the replay picks each
unit's id until the router's own assignment puts it in the arm a seeded draw chose (`SeededArms`);
the same dataset and models then give the same rounds, whatever the versions are called. Requests
are sent one after another in this process (no threads), so nothing depends on scheduling.

The console shows one row per round and a final sentence; every round's numbers go to
<output>/rounds.jsonl and its readout folder (decision.json, dashboard.html).

    python -m components.serve.replay --dataset runs/<run>/build-dataset/dataset \
        --config config/reviews.yaml --registry-root local-gcs/retrain-dev-models/registry \
        --log-root serving-logs --output ab-runs/replay
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from components.common import fs, tfdata
from components.common.artifacts import (
    CONTINUE,
    NONE,
    PROMOTE,
    ROLLBACK,
    Dataset,
    Readout,
    ServingLogs,
)
from components.common.assignment import CHALLENGER, CHAMPION
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


class SeededArms:
    """Simulated units whose arms follow a seeded draw, not the challenger's salt: for each unit
    a draw from `rng` picks the arm (the challenger with the split's share), then the first id
    of `<base>`, `<base>.1`, `<base>.2`, ... that the router's own assignment (the split the
    router serves now) puts in that arm is the unit's id. Arms stay sticky (a unit keeps its
    id), the shares are the split's, and a rerun with the same seed sends the same units to the
    same arms even when the versions' names, hence the salt, differ."""

    MAX_TRIES = 100_000  # a share of 0.01% needs ~10,000 tries on average

    def __init__(self, router: Any, rng: np.random.Generator) -> None:
        self.router, self.rng = router, rng

    def __call__(self, base: str) -> str:
        state = self.router.state
        if state.split is None or state.challenger is None:
            return base
        want = CHALLENGER if self.rng.random() * 100 < state.split.challenger_percent else CHAMPION
        for k in range(self.MAX_TRIES):
            candidate = f"{base}.{k}" if k else base
            if state.split.arm(candidate) == want:
                return candidate
        raise PipelineError(
            f"no id for unit {base} lands in the {want} arm in {self.MAX_TRIES} tries; "
            f"the challenger's share {state.split.challenger_percent}% is too small to replay"
        )


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
    arms: Callable[[str], str] | None = None,
) -> dict[str, int]:
    """Units `units` each send their requests through the router; outcomes drawn from labels.
    `arms` (SeededArms) turns a unit's base id into the id it sends; None keeps `<prefix><u>`.
    The counts are keyed `<arm>_<HTTP status>`."""
    counts: dict[str, int] = defaultdict(int)
    events = []
    for u in units:
        unit_id = arms(f"{prefix}{u}") if arms else f"{prefix}{u}"
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
    on_round: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Rounds of traffic, each followed by `read_out` and `apply` of its decision, until the
    decision is promote or roll back. With `log_root` the logs are files (what the readout step
    reads: `steps_by_cli`); without, they stay in memory and are handed to `read_out`. The
    request log records `latency` (SimulatedLatency, seeded by `seed`), or the measured time
    when it is None. `on_round` is called with each round's record as it ends."""
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
    arms = SeededArms(router, np.random.default_rng([seed, 2]))  # its own stream, as latency's
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
            arms=arms,
        )
        if log_root is not None:
            result = read_out(k + 1, [], [])
        else:
            result = read_out(k + 1, request_log.entries, outcomes.events)
        applied = apply(k + 1, result)
        rounds.append(
            {
                "round": k + 1,
                "units_sent": (k + 1) * units_per_round,
                "traffic": counts,
                **{k_: result[k_] for k_ in ("decision", "reasons")},
                **{k_: result[k_] for k_ in ROUND_NUMBERS if k_ in result},
                "applied": applied,
            }
        )
        log.debug("round %d: %s (%s)", k + 1, result["decision"], "; ".join(result["reasons"]))
        if on_round is not None:
            on_round(rounds[-1])
        if result["decision"] in (PROMOTE, ROLLBACK):
            break
        router.refresh()
    if log_root is not None:
        request_log.close()
    return rounds


# The readout's numbers each round keeps (decision.json): per arm units and mean outcome, the
# test at the horizon or the interim look before it, the horizon, alpha.
ROUND_NUMBERS = ("arms", "test", "interim", "min_units_per_arm", "alpha", "challenger")
ROUNDS_FILE = "rounds.jsonl"


def _count(n: int | float | None) -> str:
    return "-" if n is None else f"{int(n):,}"


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _failed(traffic: dict[str, int]) -> int:
    return sum(n for key, n in traffic.items() if not key.endswith("_200"))


def _decision_cell(r: dict[str, Any]) -> str:
    word = r["decision"]
    if word == CONTINUE:
        smaller = min((a.get("units", 0) for a in r.get("arms", {}).values()), default=0)
        horizon = r.get("min_units_per_arm")
        return f"continue ({smaller:,} of {horizon:,} per arm)" if horizon else "continue"
    return {PROMOTE: "promote", ROLLBACK: "roll back", NONE: "no experiment"}.get(word, word)


# The console table: (header, width); the decision, last, is left-aligned and unbounded.
COLUMNS = (
    ("round", 5),
    ("units sent", 10),
    ("champion n", 10),
    ("rate", 6),
    ("challenger n", 12),
    ("rate", 6),
    ("delta", 7),
    ("p", 8),
    ("failed", 6),
)


def _line(cells: Sequence[str], decision: str) -> str:
    return "  ".join(
        [*(c.rjust(w) for c, (_, w) in zip(cells, COLUMNS, strict=True)), decision]
    ).rstrip()


def round_header() -> str:
    return _line([name for name, _ in COLUMNS], "decision")


def round_row(r: dict[str, Any]) -> str:
    """One round: units sent so far, per arm the units read out and their mean outcome, the
    difference (challenger - champion), its one-sided p-value (before the horizon an interim
    look, which decides nothing), the requests that failed this round, the decision."""
    arms = r.get("arms", {})
    champion, challenger = arms.get("champion", {}), arms.get("challenger", {})
    test = r.get("test") or r.get("interim") or {}
    cells = [
        str(r["round"]),
        _count(r.get("units_sent")),
        _count(champion.get("units")),
        _rate(champion.get("mean")),
        _count(challenger.get("units")),
        _rate(challenger.get("mean")),
        f"{test['delta']:+.4f}" if test else "-",
        f"{test['p_value']:.3g}" if test else "-",
        _count(_failed(r.get("traffic", {}))),
    ]
    return _line(cells, _decision_cell(r))


def round_table(rounds: Sequence[dict[str, Any]]) -> str:
    """The header and one row per round (what the replay prints as the rounds finish)."""
    return "\n".join([round_header(), *map(round_row, rounds)])


def final_sentence(rounds: Sequence[dict[str, Any]]) -> str:
    """What the replay ended with, in the readout's own words (its first reason carries the
    test's numbers: delta, interval, p-value against alpha, units per arm)."""
    if not rounds:
        return "no round was run"
    last = rounds[-1]
    reason = "; ".join(last.get("reasons", []))
    plural = "s" * (len(rounds) != 1)
    after = f"after {len(rounds)} round{plural} ({last.get('units_sent', 0):,} units)"
    if last.get("challenger") and reason.startswith("the challenger "):
        reason = reason.replace("the challenger ", f"the challenger {last['challenger']} ", 1)
    if last["decision"] == PROMOTE:
        return f"promoted {after}: {reason}"
    if last["decision"] == ROLLBACK:
        return f"rolled back {after}: {reason}"
    if last["decision"] == NONE:
        return f"no experiment to read out: {reason}"
    return f"still running {after}: {reason}; raise --max-rounds to go on"


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
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="every random draw comes from it: the same seed, dataset and models give the same "
        "rounds (default 0)",
    )
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
    parser.add_argument(
        "--verbose", action="store_true", help="log the steps' progress and TensorFlow's messages"
    )
    return parser.parse_args(argv)


@contextlib.contextmanager
def _stderr_to_file() -> Iterator[Path]:
    """The process's stderr (file descriptor 2, which TensorFlow's C++ logging writes to before
    any setting applies) sent to a temporary file while the block runs."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.NamedTemporaryFile("w+b", suffix=".log") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield Path(sink.name)
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def quiet_tensorflow() -> None:
    """Import TensorFlow without its banners (oneDNN, CPU features, absl's preamble), its
    Python warnings or INFO logs; what it printed is shown only if the import fails."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _stderr_to_file() as captured:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import tensorflow as tf
        except BaseException:
            sys.stderr.write(captured.read_text(errors="replace"))
            raise
    tf.get_logger().setLevel(logging.ERROR)
    tf.autograph.set_verbosity(0)
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)


def check_fresh_logs(log_root: Path, model_name: str, seed: int) -> None:
    """A replay's logs must not exist yet: its readouts read every log under the root, so the
    requests and outcomes of an earlier replay with the same seed would be counted again."""
    name = f"replay-{seed}.jsonl"
    found = sorted(
        str(p)
        for kind in (ServingLogs.REQUESTS, ServingLogs.OUTCOMES)
        for p in (log_root / model_name / kind).glob(f"*/{name}")
    )
    if found:
        raise InputDataError(
            f"{found[0]} exists: a replay with seed {seed} already logged under --log-root "
            f"{log_root}, and its traffic would be read out again; pass a fresh --log-root "
            "(`make demo-ab` gives each replay its own, inside its --output folder)"
        )


def _body(argv: Sequence[str] | None) -> int:
    args = parse_args(argv)
    if not args.verbose:  # the table and the final sentence are the output; warnings still show
        logging.getLogger("components").setLevel(logging.WARNING)
        quiet_tensorflow()
    from components.serve.router import load_model

    model_name = load_model_config(args.config).name
    check_fresh_logs(args.log_root, model_name, args.seed)
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
    print(round_header(), flush=True)
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
        on_round=lambda r: print(round_row(r), flush=True),
    )
    fs.write_text_atomic(
        args.output / ROUNDS_FILE, "".join(json.dumps(r, sort_keys=True) + "\n" for r in rounds)
    )
    if any(r["decision"] == CONTINUE and (r.get("interim") or r.get("test")) for r in rounds):
        print("(before the horizon p is an interim look: the test decides once, at the horizon)")
    print()
    print(final_sentence(rounds))
    print(f"every round's numbers: {args.output / ROUNDS_FILE}")
    print(f"dashboard: {round_folder(args.output, len(rounds)) / Readout.DASHBOARD}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return run_cli("replay", _body, argv)


if __name__ == "__main__":
    raise SystemExit(main())
